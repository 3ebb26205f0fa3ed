#include "distributed_args.h"

#include "unlearn/io/config_error.h"

namespace unlearn::app {

void add_distributed_options(CLI::App* cmd, DistributedArgs& a) {
  cmd->add_option("--world-size", a.world_size, "data-parallel processes in this run (default 1)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->group("Data parallel");
  cmd->add_option("--rank", a.rank, "this process's rank in [0, world size)")
      ->check(CLI::NonNegativeNumber)
      ->group("Data parallel");
  cmd->add_option("--rendezvous", a.rendezvous, "HOST:PORT of the TCPStore that rank 0 serves")
      ->group("Data parallel");
  cmd->add_option("--dist-timeout", a.timeout_s,
                  "seconds to wait for the other ranks (rendezvous and every collective) before failing")
      ->check(CLI::PositiveNumber)
      ->group("Data parallel");
}

std::shared_ptr<distributed::Cluster> connect_cluster(const DistributedArgs& a) {
  if (a.world_size == 1) {
    if (a.rank != 0) throw io::ConfigError("--rank " + std::to_string(a.rank) + " needs --world-size > 1");
    return distributed::local_cluster();
  }
  if (a.rank >= a.world_size)
    throw io::ConfigError("--rank " + std::to_string(a.rank) + " must be below --world-size " +
                          std::to_string(a.world_size));
  if (a.rendezvous.empty())
    throw io::ConfigError("--world-size " + std::to_string(a.world_size) +
                          " needs --rendezvous HOST:PORT (or use `unlearn launch -n W -- ...`)");
  try {
    distributed::parse_rendezvous(a.rendezvous);
  } catch (const c10::Error& e) {
    throw io::ConfigError(std::string("--rendezvous: ") + e.what_without_backtrace());
  }
  return distributed::connect(distributed::ClusterOptions()
                                  .world_size(a.world_size)
                                  .rank(a.rank)
                                  .rendezvous(a.rendezvous)
                                  .timeout_s(a.timeout_s));
}

bool any_rank(distributed::Cluster& cluster, bool flag) {
  if (cluster.world_size() == 1) return flag;
  std::vector<torch::Tensor> v{torch::tensor({int64_t{flag ? 1 : 0}}, torch::kLong)};
  cluster.all_reduce_max(v);
  return v[0].item<int64_t>() != 0;
}

}  // namespace unlearn::app
