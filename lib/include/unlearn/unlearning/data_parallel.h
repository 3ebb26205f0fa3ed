#pragma once
// Data-parallel variational unlearning (docs/architecture.md, "Tiers"): the one hook EUBO and reverse KL need.
//
// Both methods touch D_e only through s(θ_s) = Σ_{z ∈ D_e} log p(z | θ_s), one number per
// sample. With D_e spread over W ranks, each rank passes ITS erased rows to eubo_unlearn /
// reverse_kl_unlearn / reverse_kl_closed_form and an ErasedLogLikelihoodFn that returns the sum
// over every rank's rows (unlearn/distributed/unlearning.h builds one on c10d: the local sums are
// all-reduced, and so is their gradient with respect to θ). Everything else in those methods
// (noise, masks, weights, Adam) is replicated, so every rank computes the same posterior.
// Null (the default): the local sum, functional::erased_log_likelihood.
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "unlearn/data/batch.h"
#include "unlearn/model.h"

namespace unlearn {

/// (model, θ [S, P], this rank's erased chunks) -> [S] the erased log-likelihood summed over all
/// ranks, differentiable in θ.
using ErasedLogLikelihoodFn =
    std::function<torch::Tensor(Model& model, const torch::Tensor& theta, const std::vector<data::Batch>& chunks)>;

}  // namespace unlearn
