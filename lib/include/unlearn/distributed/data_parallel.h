#pragma once
// Data parallelism on a Cluster (docs/architecture.md, "Tiers"): which rank holds which row, and the hooks that
// make the trainers and the variational unlearning methods compute on W ranks what one process
// computes on the whole data set.
//
// Sharding rule: the row with id i lives on rank  i mod W  (non-negative remainder). Routing an
// id — a training row, an erase request — needs nothing but the id: no table, no communication,
// and with dense ids every shard has ⌊N/W⌋ or ⌈N/W⌉ rows. Shards keep the original row order.
//
//   auto cluster = distributed::connect(ClusterOptions().world_size(W).rank(r).rendezvous(...));
//   auto sharded = distributed::shard_for_training(*cluster, dataset);     // dataset: all rows
//   inference::VITrainer trainer(model, q, sharded.index, options);        // index: all ids
//   trainer.set_data_parallel(sharded.parallel);
//   trainer.train();      // q identical on every rank, equal to a one-process run (see below)
//
// Equality with one process: every rank draws the same minibatch of ids and the same noise;
// each sums its own rows' log-likelihoods ×W and the gradients are averaged (inference/
// data_parallel.h). In float64 the result differs from W = 1 only by summation order: on the
// tests' configs (300 Adam / SGLD steps, then EUBO / reverse-KL requests) the largest difference
// in a posterior parameter was 2.2e-16; the tests allow 1e-9 (tests/lib/distributed,
// tests/apps/test_cli_distributed.cpp). The ranks of one run agree bit for bit (the all-reduce
// hands every rank the same bytes).
#include <memory>

#include <torch/torch.h>

#include "unlearn/data/dataset.h"
#include "unlearn/distributed/cluster.h"
#include "unlearn/inference/data_parallel.h"
#include "unlearn/unlearning/data_parallel.h"
#include "unlearn/unlearning/unlearner.h"

namespace unlearn::distributed {

/// The rank that holds each id: ids mod W in [0, W). [k] int64 -> [k] int64.
torch::Tensor owner_of(const torch::Tensor& ids, int64_t world_size);
/// The rows of `data` whose ids rank `rank` of `world_size` holds, in their original order.
data::Dataset shard(const data::Dataset& data, int64_t world_size, int64_t rank);

/// What shard_for_training gives one rank: its own rows, the index data set every rank trains
/// over, and the trainer hooks that connect the two.
struct ShardedData {
  /// This rank's rows (all rows when W = 1).
  data::Dataset local;
  /// What the trainer is built over: W = 1 the data set itself; otherwise every id in the whole
  /// set's order (x = the ids [N, 1], y = the ids), so that every rank draws the same minibatches
  /// and a trainer checkpoint (N rows) loads at any world size.
  data::Dataset index;
  /// The trainer hooks (empty when W = 1).
  inference::DataParallel parallel;
};

/// From the whole data set (every rank loaded it; each keeps its shard). Checks on every rank
/// that the ranks agree on N.
ShardedData shard_for_training(const std::shared_ptr<Cluster>& cluster, const data::Dataset& data);
/// From this rank's rows only, plus the ids of the whole set in its order (for loaders that read
/// only their shard). Checks that the shards are disjoint and cover `all_ids`.
ShardedData shard_for_training(const std::shared_ptr<Cluster>& cluster, const data::Dataset& local, const torch::Tensor& all_ids);

/// This rank's part of an erase request, for eubo_unlearn / reverse_kl_unlearn /
/// reverse_kl_closed_form: pass `erased` as D_e and `sum` as options.erased_log_likelihood.
struct ErasedShare {
  /// The requested rows this rank holds; when it holds none, one stand-in row that `sum` ignores
  /// (the methods need a non-empty batch to know the data's shape).
  data::Batch erased;
  /// How many requested rows this rank holds.
  int64_t count = 0;
  /// Σ over all ranks of their erased rows' log-likelihoods: forward, the local sums [S] are
  /// all-reduced; backward, the gradient with respect to θ is all-reduced (the two collectives
  /// run on every rank in the same order, also on ranks that hold none of D_e). Null when W = 1.
  ErasedLogLikelihoodFn sum;
};

/// `ids`: the whole request (every rank passes the same); `local`: this rank's rows, which must
/// include every requested id it owns (c10::Error naming them otherwise, on that rank only —
/// check the request against the checkpoint's ids on every rank first).
ErasedShare erased_share(const std::shared_ptr<Cluster>& cluster, const data::Dataset& local, const torch::Tensor& ids);

/// The data-parallel hooks of a forgetting call (unlearner.h, ForgetContext::parallel): the
/// training hooks of `sharded` and the erased-rows hook over its local rows. Pass `sharded.index`
/// as the method's data. For W = 1 the result is empty (one process).
ForgetParallel forget_parallel(const std::shared_ptr<Cluster>& cluster, const ShardedData& sharded);

}  // namespace unlearn::distributed
