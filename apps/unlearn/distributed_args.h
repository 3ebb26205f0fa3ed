#pragma once
// The data-parallel options shared by `unlearn train` and `unlearn forget` (docs/architecture.md, "Tiers"):
//   --world-size W --rank R --rendezvous HOST:PORT [--dist-timeout SECONDS]
// `unlearn launch -n W -- <subcommand ...>` (launch.cpp) adds them for W local processes.
// Rank 0 writes the run directory (config, checkpoints, audit log) and prints; the other ranks
// only compute. Without --world-size (or with 1) nothing changes.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "unlearn/distributed/cluster.h"

namespace unlearn::app {

struct DistributedArgs {
  int64_t world_size = 1;
  int64_t rank = 0;
  std::string rendezvous;
  double timeout_s = 60.0;
};

/// Adds --world-size, --rank, --rendezvous and --dist-timeout to a subcommand.
void add_distributed_options(CLI::App* cmd, DistributedArgs& args);

/// The Cluster of these options (a local one for W = 1); io::ConfigError for inconsistent
/// options (W > 1 without --rendezvous, rank out of range), c10::Error when the rendezvous fails.
std::shared_ptr<distributed::Cluster> connect_cluster(const DistributedArgs& args);

/// True on every rank when `flag` is true on any (a Ctrl-C seen by one rank stops all of them at
/// the same step). One tiny all-reduce; free when W = 1.
bool any_rank(distributed::Cluster& cluster, bool flag);

}  // namespace unlearn::app
