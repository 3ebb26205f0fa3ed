#pragma once
// How a trainer (VITrainer, SGMCMCTrainer) takes part in data-parallel training (docs/architecture.md, "Tiers").
// unlearn/distributed/ builds one over a c10d process group; a default-constructed DataParallel
// (the trainers' default) is one process and changes nothing.
//
// The rule that makes W ranks compute what one process computes:
//  - every rank runs the trainer over the same *index* data set (the ids of the whole data set,
//    in the same order), so every rank draws the same minibatch of ids and consumes its
//    generator identically: the Monte Carlo / Langevin noise is the same on every rank;
//  - `local_batch` maps that minibatch to the rows this rank holds, and the factor of their
//    log-likelihood sum: W·N/B instead of N/B (0 with a stand-in row when the rank holds none);
//  - after backward, `average` replaces every gradient (and the step's objective) by its mean
//    over the ranks. The mean of the per-rank objectives  prior terms − W·(N/B)·Σ_{local rows}
//    is exactly the one-process objective, so the averaged gradient is the one-process gradient
//    (up to summation order), bitwise identical on every rank, and so is every update.
#include <functional>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "unlearn/data/batch.h"

namespace unlearn::inference {

/// The two hooks by which a trainer takes part in data-parallel training: map the drawn minibatch
/// to this rank's rows (with the factor W·N/B), and average gradients over the ranks. Empty (the
/// default): one process, nothing changes.
struct DataParallel {
  /// (minibatch of the index data set, its usual factor N/B) -> (this rank's rows of it, the
  /// factor of their log-likelihood sum).
  std::function<std::pair<data::Batch, double>(const data::Batch& drawn, double scale)> local_batch;
  /// In place: each tensor becomes its mean over the ranks. Called once per step with the
  /// gradients of every trained tensor (undefined ones skipped by the caller) and the objective.
  std::function<void(std::vector<torch::Tensor>& tensors)> average;

  /// True when set up for more than one process.
  explicit operator bool() const { return static_cast<bool>(local_batch) && static_cast<bool>(average); }
};

}  // namespace unlearn::inference

namespace unlearn::inference::detail {

/// What a trainer calls after backward: averages the gradients of `trained` (defined ones) and a
/// copy of the step's objective over the ranks; returns the averaged objective (detached).
inline torch::Tensor average_step(const DataParallel& parallel, const std::vector<torch::Tensor>& trained,
                                  const torch::Tensor& objective) {
  std::vector<torch::Tensor> tensors;
  tensors.reserve(trained.size() + 1);
  for (const auto& p : trained) {
    if (p.grad().defined()) tensors.push_back(p.grad());
  }
  auto reported = objective.detach().clone();
  tensors.push_back(reported);
  parallel.average(tensors);
  return reported;
}

/// This rank's rows of `batch` and the factor of their log-likelihood sum; for one process (an
/// empty DataParallel) the batch itself and `scale`.
inline std::pair<data::Batch, double> local_share(const DataParallel& parallel, const data::Batch& batch,
                                                  double scale) {
  if (!parallel) return {batch, scale};
  return parallel.local_batch(batch, scale);
}

/// `t` replaced by its mean over the ranks (returned as is for one process).
inline torch::Tensor averaged(const DataParallel& parallel, torch::Tensor t) {
  if (!parallel) return t;
  std::vector<torch::Tensor> v{t.contiguous()};
  parallel.average(v);
  return v[0];
}

}  // namespace unlearn::inference::detail
