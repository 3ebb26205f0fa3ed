#include "unlearn/distributed/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace unlearn::distributed {
namespace {

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
}

class LocalCluster final : public Cluster {
 public:
  int64_t world_size() const override { return 1; }
  int64_t rank() const override { return 0; }
  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override { check_defined(tensors); }
  void all_reduce_max(std::vector<torch::Tensor>& tensors) override { check_defined(tensors); }
  void broadcast(std::vector<torch::Tensor>& tensors, int64_t root) override {
    TORCH_CHECK(root == 0, "broadcast: root ", root, " is not a rank of a world of 1");
    check_defined(tensors);
  }
  void barrier() override {}

 private:
  static void check_defined(const std::vector<torch::Tensor>& tensors) {
    for (const auto& t : tensors) TORCH_CHECK(t.defined(), "collective: an undefined tensor");
  }
};

class GlooCluster final : public Cluster {
 public:
  explicit GlooCluster(const ClusterOptions& o) : options_(o) {
    auto [host, port] = parse_rendezvous(o.rendezvous());
    c10d::TCPStoreOptions so;
    so.port = port;
    so.isServer = o.rank() == 0;
    so.numWorkers = static_cast<size_t>(o.world_size());
    so.waitWorkers = true;
    so.timeout = to_ms(o.timeout_s());
    try {
      store_ = c10::make_intrusive<c10d::TCPStore>(host, so);
      auto pg_options = c10d::ProcessGroupGloo::Options::create(to_ms(o.timeout_s()));
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
        pg_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (host == "localhost" || host.rfind("127.", 0) == 0) {
        pg_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        pg_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, static_cast<int>(o.rank()),
                                                           static_cast<int>(o.world_size()), pg_options);
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "rank ", o.rank(), " of ", o.world_size(), ": rendezvous at ", o.rendezvous(),
                  " failed within the timeout of ", o.timeout_s(), " s (did every rank start, with the same ",
                  "--world-size and --rendezvous?): ", what(e));
    }
  }

  int64_t world_size() const override { return options_.world_size(); }
  int64_t rank() const override { return options_.rank(); }

  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override { reduce(tensors, c10d::ReduceOp::SUM, "all_reduce_sum"); }
  void all_reduce_max(std::vector<torch::Tensor>& tensors) override { reduce(tensors, c10d::ReduceOp::MAX, "all_reduce_max"); }

  void broadcast(std::vector<torch::Tensor>& tensors, int64_t root) override {
    TORCH_CHECK(root >= 0 && root < world_size(), "broadcast: root ", root, " is not a rank of a world of ",
                world_size());
    for_each_dtype(tensors, "broadcast", [&](std::vector<at::Tensor>& flat) {
      c10d::BroadcastOptions bo;
      bo.rootRank = static_cast<int>(root);
      return group_->broadcast(flat, bo);
    });
  }

  void barrier() override {
    run("barrier", [&] { group_->barrier()->wait(to_ms(options_.timeout_s())); });
  }

 private:
  static std::string what(const std::exception& e) {
    if (auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
    return e.what();
  }

  template <typename Fn>
  void run(const char* op, Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "rank ", rank(), " of ", world_size(), ": ", op,
                  " failed: another rank died or stalled beyond the timeout of ", options_.timeout_s(),
                  " s (", what(e), ")");
    }
  }

  void reduce(std::vector<torch::Tensor>& tensors, c10d::ReduceOp op, const char* name) {
    for_each_dtype(tensors, name, [&](std::vector<at::Tensor>& flat) {
      c10d::AllreduceOptions ao;
      ao.reduceOp = op;
      ao.timeout = to_ms(options_.timeout_s());
      return group_->allreduce(flat, ao);
    });
  }

  // Tensors of one dtype are flattened into one contiguous buffer, the collective runs on it, and
  // the results are copied back: one message per dtype whatever the number of tensors.
  template <typename Collective>
  void for_each_dtype(std::vector<torch::Tensor>& tensors, const char* name, Collective&& collective) {
    std::map<int, std::vector<size_t>> by_dtype;
    for (size_t i = 0; i < tensors.size(); ++i) {
      TORCH_CHECK(tensors[i].defined(), name, ": tensor ", i, " is undefined");
      TORCH_CHECK(tensors[i].device().is_cpu(), name, ": ProcessGroupGloo takes CPU tensors; tensor ", i,
                  " is on ", tensors[i].device(), " (GPUs: a ProcessGroupNCCL build)");
      by_dtype[static_cast<int>(tensors[i].scalar_type())].push_back(i);
    }
    for (auto& [dtype, idx] : by_dtype) {
      std::vector<at::Tensor> flat;
      if (idx.size() == 1 && tensors[idx[0]].is_contiguous()) {
        flat.push_back(tensors[idx[0]].detach());  // in place, no copy
      } else {
        std::vector<torch::Tensor> parts;
        for (auto i : idx) parts.push_back(tensors[i].detach().reshape({-1}));
        flat.push_back(torch::cat(parts));
      }
      run(name, [&] { collective(flat)->wait(to_ms(options_.timeout_s())); });
      if (!(idx.size() == 1 && tensors[idx[0]].is_contiguous())) {
        torch::NoGradGuard no_grad;
        int64_t offset = 0;
        for (auto i : idx) {
          const int64_t n = tensors[i].numel();
          tensors[i].detach().copy_(flat[0].narrow(0, offset, n).view(tensors[i].sizes()));
          offset += n;
        }
      }
    }
  }

  ClusterOptions options_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

}  // namespace

void ClusterOptions::validate() const {
  TORCH_CHECK(world_size() >= 1, "cluster: world_size = ", world_size(), " must be >= 1");
  TORCH_CHECK(rank() >= 0 && rank() < world_size(), "cluster: rank = ", rank(), " must be in [0, ", world_size(),
              ")");
  TORCH_CHECK(std::isfinite(timeout_s()) && timeout_s() > 0, "cluster: timeout_s = ", timeout_s(),
              " must be > 0 and finite");
  if (world_size() > 1) parse_rendezvous(rendezvous());
}

std::pair<std::string, uint16_t> parse_rendezvous(const std::string& rendezvous) {
  const auto colon = rendezvous.rfind(':');
  TORCH_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < rendezvous.size(), "rendezvous \"",
              rendezvous, "\" must be HOST:PORT, e.g. 127.0.0.1:29500");
  const std::string port_text = rendezvous.substr(colon + 1);
  int64_t port = -1;
  try {
    size_t used = 0;
    port = std::stoll(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  TORCH_CHECK(port >= 1 && port <= 65535, "rendezvous \"", rendezvous, "\": port \"", port_text,
              "\" must be an integer in [1, 65535]");
  return {rendezvous.substr(0, colon), static_cast<uint16_t>(port)};
}

uint16_t find_free_port(const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  TORCH_CHECK(fd >= 0, "find_free_port: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  TORCH_CHECK(ok, "find_free_port: could not bind a port on ", host);
  return ntohs(addr.sin_port);
}

std::string Cluster::describe() const {
  return "rank " + std::to_string(rank()) + " of " + std::to_string(world_size());
}

void Cluster::all_reduce_mean(std::vector<torch::Tensor>& tensors) {
  for (const auto& t : tensors) {
    TORCH_CHECK(t.defined() && t.is_floating_point(), "all_reduce_mean: floating tensors only");
  }
  all_reduce_sum(tensors);
  if (world_size() == 1) return;
  torch::NoGradGuard no_grad;
  const double inv = 1.0 / static_cast<double>(world_size());
  for (auto& t : tensors) t.mul_(inv);
}

torch::Tensor Cluster::summed(const torch::Tensor& tensor) {
  std::vector<torch::Tensor> v{tensor.detach().clone()};
  all_reduce_sum(v);
  return v[0];
}

void Cluster::check_same(int64_t value, const std::string& what) {
  if (world_size() == 1) return;
  std::vector<torch::Tensor> v{torch::tensor({value, -value}, torch::kLong)};
  all_reduce_max(v);
  const int64_t hi = v[0][0].item<int64_t>(), lo = -v[0][1].item<int64_t>();
  TORCH_CHECK(hi == lo, describe(), ": ", what, " differs between ranks (from ", lo, " to ", hi,
              "; this rank has ", value, "): every rank must run the same configuration");
}

std::shared_ptr<Cluster> local_cluster() { return std::make_shared<LocalCluster>(); }

std::shared_ptr<Cluster> connect(const ClusterOptions& options) {
  options.validate();
  if (options.world_size() == 1) return local_cluster();
  return std::make_shared<GlooCluster>(options);
}

void average_gradients(Cluster& cluster, const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (!grads.empty()) cluster.all_reduce_mean(grads);
}

void average_gradients(Cluster& cluster, torch::nn::Module& module) {
  average_gradients(cluster, module.parameters(/*recurse=*/true));
}

}  // namespace unlearn::distributed
