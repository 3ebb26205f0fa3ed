#include "unlearn/distributed/data_parallel.h"

#include <cstdint>

#include "unlearn/unlearning/adjusted_likelihood.h"

namespace unlearn::distributed {
namespace {

// Forward: the identity. Backward: the gradient summed over the ranks. Applied to θ before
// this rank's share of a sum over data, it turns the rank's partial gradient into the whole one.
struct SumGradientOverRanks : public torch::autograd::Function<SumGradientOverRanks> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, int64_t cluster) {
    ctx->saved_data["cluster"] = cluster;
    return x.clone();
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* cluster = reinterpret_cast<Cluster*>(ctx->saved_data["cluster"].toInt());
    std::vector<torch::Tensor> g{grads[0].contiguous().clone()};
    cluster->all_reduce_sum(g);
    return {g[0], torch::Tensor()};
  }
};

// Forward: the sum over the ranks. Backward: the identity (every rank's downstream computation
// is the same, so each passes the same gradient, and d(Σ_r x_r)/dx_r = 1).
struct SumOverRanks : public torch::autograd::Function<SumOverRanks> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x, int64_t cluster) {
    std::vector<torch::Tensor> v{x.detach().contiguous().clone()};
    reinterpret_cast<Cluster*>(cluster)->all_reduce_sum(v);
    return v[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grads) {
    return {grads[0], torch::Tensor()};
  }
};

int64_t handle(const std::shared_ptr<Cluster>& cluster) { return reinterpret_cast<int64_t>(cluster.get()); }

// The rows of `local` with these ids, as one batch (a copy).
data::Batch rows_of(const data::Dataset& local, const torch::Tensor& ids) {
  auto pos = local.positions_of(ids);
  return {local.x().index_select(0, pos), local.y().index_select(0, pos), ids};
}

data::Batch first_row(const data::Dataset& local) {
  return {local.x().narrow(0, 0, 1), local.y().narrow(0, 0, 1), local.ids().narrow(0, 0, 1)};
}

}  // namespace

torch::Tensor owner_of(const torch::Tensor& ids, int64_t world_size) {
  TORCH_CHECK(world_size >= 1, "owner_of: world_size = ", world_size, " must be >= 1");
  return torch::remainder(ids.to(torch::kLong), world_size);
}

data::Dataset shard(const data::Dataset& data, int64_t world_size, int64_t rank) {
  TORCH_CHECK(rank >= 0 && rank < world_size, "shard: rank ", rank, " is not in [0, ", world_size, ")");
  if (world_size == 1) return data;
  auto mine = data.ids().masked_select(owner_of(data.ids(), world_size) == rank);
  return data.subset(mine);  // in the original order: masked_select keeps it
}

ShardedData shard_for_training(const std::shared_ptr<Cluster>& cluster, const data::Dataset& data) {
  TORCH_CHECK(cluster != nullptr, "shard_for_training: the cluster is null");
  cluster->check_same(data.size(), "the number of rows of the data set");
  if (cluster->world_size() == 1) return {data, data, {}};
  return shard_for_training(cluster, shard(data, cluster->world_size(), cluster->rank()), data.ids());
}

ShardedData shard_for_training(const std::shared_ptr<Cluster>& cluster, const data::Dataset& local,
                               const torch::Tensor& all_ids) {
  TORCH_CHECK(cluster != nullptr, "shard_for_training: the cluster is null");
  const int64_t world = cluster->world_size(), rank = cluster->rank();
  const int64_t n = all_ids.numel();
  cluster->check_same(n, "the number of rows of the data set");
  auto ids = all_ids.to(local.device(), torch::kLong).reshape({-1});
  // Every local row is owned by this rank and listed in all_ids; with the shard sizes summing to
  // N (ids unique within each shard, owners disjoint), the shards cover all_ids exactly.
  const bool own = local.size() == 0 || (owner_of(local.ids(), world) == rank).all().item<bool>();
  const bool listed = local.size() == 0 || torch::isin(local.ids(), ids).all().item<bool>();
  std::vector<torch::Tensor> counts{torch::tensor({local.size(), int64_t{own && listed ? 0 : 1}}, torch::kLong)};
  cluster->all_reduce_sum(counts);
  const int64_t total = counts[0][0].item<int64_t>(), bad = counts[0][1].item<int64_t>();
  TORCH_CHECK(bad == 0, cluster->describe(), ": ", bad, " rank(s) hold rows they do not own (id mod ", world,
              ") or that the data set does not list", own && listed ? "" : " (this rank is one of them)");
  TORCH_CHECK(total == n, cluster->describe(), ": the shards hold ", total, " rows in all, the data set ", n);
  std::vector<torch::Tensor> min_size{torch::tensor({-local.size()}, torch::kLong)};
  cluster->all_reduce_max(min_size);
  TORCH_CHECK(min_size[0].item<int64_t>() < 0, cluster->describe(), ": some rank holds no rows (N = ", n,
              ", W = ", world, "): use fewer ranks");

  ShardedData out;
  out.local = local;
  out.index = data::Dataset(ids.unsqueeze(1), ids.clone(), ids);
  auto c = cluster;
  const auto local_rows = local;
  out.parallel.local_batch = [c, local_rows, n, world, rank](const data::Batch& drawn,
                                                             double scale) -> std::pair<data::Batch, double> {
    const double factor = scale * static_cast<double>(world);
    if (drawn.size() == n) return {local_rows.batch(), factor};  // full batch: every local row
    auto mine = drawn.ids.masked_select(owner_of(drawn.ids, world) == rank);
    if (mine.numel() == 0) return {first_row(local_rows), 0.0};  // a stand-in that adds nothing
    return {rows_of(local_rows, mine), factor};
  };
  out.parallel.average = [c](std::vector<torch::Tensor>& tensors) { c->all_reduce_mean(tensors); };
  return out;
}

ErasedShare erased_share(const std::shared_ptr<Cluster>& cluster, const data::Dataset& local, const torch::Tensor& ids) {
  TORCH_CHECK(cluster != nullptr, "erased_share: the cluster is null");
  const int64_t world = cluster->world_size(), rank = cluster->rank();
  auto request = ids.to(local.device(), torch::kLong).reshape({-1});
  cluster->check_same(request.numel(), "the number of ids in the erase request");
  ErasedShare share;
  if (world == 1) {
    share.erased = local.subset(request).batch();
    share.count = request.numel();
    return share;
  }
  auto mine = request.masked_select(owner_of(request, world) == rank);
  share.count = mine.numel();
  TORCH_CHECK(local.size() > 0, cluster->describe(), ": erased_share needs at least one local row");
  share.erased = share.count > 0 ? rows_of(local, mine) : first_row(local);
  const bool holds_none = share.count == 0;
  auto c = cluster;
  share.sum = [c, holds_none](Model& model, const torch::Tensor& theta,
                              const std::vector<data::Batch>& chunks) -> torch::Tensor {
    auto shared = SumGradientOverRanks::apply(theta, handle(c));
    torch::Tensor part;
    if (holds_none) {
      part = shared.sum(-1) * 0.0;  // zero, but in the graph: the backward collective still runs here
    } else {
      part = functional::erased_log_likelihood(model, shared, chunks);
    }
    return SumOverRanks::apply(part, handle(c));
  };
  return share;
}

ForgetParallel forget_parallel(const std::shared_ptr<Cluster>& cluster, const ShardedData& sharded) {
  ForgetParallel p;
  if (cluster->world_size() == 1) return p;
  p.training = sharded.parallel;
  auto local = sharded.local;
  p.erased = [cluster, local](const torch::Tensor& ids) {
    auto share = erased_share(cluster, local, ids);
    return std::make_pair(share.erased, share.sum);
  };
  return p;
}

}  // namespace unlearn::distributed
