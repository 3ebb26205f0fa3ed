#pragma once
// The processes of one data-parallel run (docs/architecture.md, "Tiers"), on LibTorch's own distributed engine:
// rendezvous through a c10d::TCPStore served by rank 0 at HOST:PORT, collectives through
// c10d::ProcessGroupGloo (CPU tensors). One process (world_size 1) needs neither: connect()
// then returns a local Cluster whose collectives are no-ops.
//
//   auto cluster = unlearn::distributed::connect(
//       ClusterOptions().world_size(2).rank(r).rendezvous("127.0.0.1:29500").timeout_s(60));
//   std::vector<torch::Tensor> grads = ...;
//   cluster->all_reduce_mean(grads);          // in place, one message per dtype
//
// Failure: a collective that cannot finish because a rank died (its sockets close: noticed at
// once) or stalled (noticed after timeout_s) throws c10::Error naming this rank, the operation
// and the timeout, on every surviving rank. The rendezvous fails the same way when a rank never
// arrives within timeout_s. Nothing here retries: a data-parallel run is all ranks or none.
//
// Threading: one Cluster per process (or per thread in tests); its collectives are blocking
// and must be called in the same order on every rank.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

/// Data-parallel runs over several processes: the Cluster of ranks (c10d TCPStore rendezvous,
/// Gloo collectives), the id-based sharding rule (id mod W) and the hooks that make the trainers
/// and the unlearning methods compute on W ranks what one process computes.
namespace unlearn::distributed {

/// Who this process is in a data-parallel run and how it finds the others: W, its rank, rank 0's
/// HOST:PORT and the timeout of the rendezvous and of every collective.
struct ClusterOptions {
  /// W, the number of processes (>= 1).
  TORCH_ARG(int64_t, world_size) = 1;
  /// This process's rank in [0, W).
  TORCH_ARG(int64_t, rank) = 0;
  /// HOST:PORT of the TCPStore rank 0 serves (ignored when W = 1).
  TORCH_ARG(std::string, rendezvous) = "127.0.0.1:29500";
  /// Seconds the rendezvous and every collective wait for the other ranks (> 0).
  TORCH_ARG(double, timeout_s) = 60.0;

 public:
  /// TORCH_CHECKs every field, naming the value.
  void validate() const;
};

/// HOST:PORT -> (host, port); c10::Error naming the text when it is not of that form.
std::pair<std::string, uint16_t> parse_rendezvous(const std::string& rendezvous);

/// The ranks of one data-parallel run and their blocking collectives (sum, max, broadcast,
/// barrier) on CPU tensors. Build one with connect() or local_cluster(); every rank must call
/// the collectives in the same order.
class Cluster {
 public:
  virtual ~Cluster() = default;
  /// W, the number of processes (1 for the local cluster).
  virtual int64_t world_size() const = 0;
  /// This process's rank in [0, W).
  virtual int64_t rank() const = 0;
  /// Whether this is rank 0 (the one that serves the rendezvous and writes shared outputs).
  bool is_root() const { return rank() == 0; }
  /// "rank R of W" for messages.
  std::string describe() const;

  /// In place: each tensor becomes its sum over the ranks. Tensors of one dtype travel in one
  /// flattened buffer (one collective per dtype). Undefined tensors are an error.
  virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors) = 0;
  /// In place: elementwise maximum over the ranks.
  virtual void all_reduce_max(std::vector<torch::Tensor>& tensors) = 0;
  /// In place: every rank gets root's values.
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int64_t root = 0) = 0;
  /// Returns when every rank has called it (or throws after the timeout).
  virtual void barrier() = 0;

  /// Sum, then divide by W (floating tensors only).
  void all_reduce_mean(std::vector<torch::Tensor>& tensors);
  /// A copy of `tensor` summed over the ranks.
  torch::Tensor summed(const torch::Tensor& tensor);
  /// Every rank's `value` must be equal: c10::Error on EVERY rank naming `what` and the range
  /// of values otherwise (for seeds, data sizes, config hashes).
  void check_same(int64_t value, const std::string& what);
};

/// A TCP port on `host` that nobody listens on right now (the kernel's choice, released again:
/// a launcher hands it to rank 0; another process could take it in between, which then fails
/// the rendezvous with a clear error rather than joining the wrong run).
uint16_t find_free_port(const std::string& host = "127.0.0.1");

/// The local Cluster of one process (W = 1, rank 0): every collective returns at once.
std::shared_ptr<Cluster> local_cluster();
/// W = 1: local_cluster(). Otherwise the TCPStore rendezvous and a ProcessGroupGloo over it
/// (devices: GLOO_SOCKET_IFNAME when set, else the loopback for 127.x / localhost rendezvous,
/// else this host's name). Blocks until every rank has arrived or timeout_s passed.
std::shared_ptr<Cluster> connect(const ClusterOptions& options);

/// In place, mean over the ranks of the gradients of `parameters` (those with a gradient).
void average_gradients(Cluster& cluster, const std::vector<torch::Tensor>& parameters);
/// The same for every parameter of a module.
void average_gradients(Cluster& cluster, torch::nn::Module& module);

}  // namespace unlearn::distributed
