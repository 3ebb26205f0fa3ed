#pragma once
// Bayesian inference forgetting for SG-MCMC chains (docs/concepts.md, "BIF"; Fu, He & Tao,
// ICLR 2022).
//
// θ = the chain state. For each removal batch S′ the chain keeps running on the set S that still
// contains S′ for samp_T (sample_steps) sampler steps, with the step size frozen at the last value
// used in training. Over those chain states θ_1..θ_J it averages
//   ∇h = (1/J) Σ_j Σ_{z∈S′} −∇ log p(z | θ_j)           (h summed over S′, no 1/n)
//   H  = (1/J) Σ_j ∇²U_S(θ_j),  U_S = −log p(θ) − (n/|b|) Σ_{z∈b} log p(z | θ)   (full-data scaled)
// solves Δ = H⁻¹ ∇h with the selected inverse-HVP solver, and applies θ ← θ + Δ to the chain state
// AND to every sample in the bank. S′ is dropped (n updated) after the step. By default the
// forgetting steps' own states are not offered to the bank: the bank stays the (corrected)
// training samples. With refresh_samples the corrected chain state of every batch replaces the
// oldest sample, so that after m batches the bank's m newest samples are states of the chain that
// kept running on the shrinking set — as the papers' reference code evaluates the chain itself
// (each still receives the corrections of the later batches).
//
//   auto opts = SgmcmcBifOptions().solver(InverseHvpOptions().kind(SolverKind::kDense));
//   auto chain = inference::chain_state_of(trainer);
//   auto samples = trainer.bank().samples().clone();
//   auto step = sgmcmc_bif_step(*model, chain, samples, train, train.subset(ids).batch(), opts, gen);
//   // sequential batches: the request loop (request.h) with the "bif" method (methods.h)
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "unlearn/data/dataset.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/unlearning/bif/inverse_hvp.h"
#include "unlearn/unlearning/bif/vi_bif.h"

namespace unlearn::bif {

/// The curvature H a forgetting step inverts.
enum class Curvature {
  kHessian,      ///< ∇²U_S, the papers' BIF
  /// −∇² log p(θ) + the likelihood's generalised Gauss–Newton matrix (gauss_newton.h): positive
  /// semi-definite, so LiSSA cannot expand along negative curvature. Classifiers only
  /// (Model::predict_log_proba); the step is then no longer the papers' influence function.
  kGaussNewton,
};
/// "hessian" or "gauss_newton".
std::string to_string(Curvature curvature);
/// Inverse of to_string; an unknown name is an error listing the allowed ones.
Curvature curvature_from_string(const std::string& name);

/// Optional closed form supplied by a model: chain states thetas [J, P], a batch of B points and
/// G dividing B -> [G, P, P], entry g = Σ_j Σ_{z in rows g·B/G .. (g+1)·B/G} −∇²_θ log p(z | θ_j).
/// With it every Hessian of the step is explicit (H = prior precision + scale · entry / J; a
/// Gaussian prior's precision in closed form, otherwise by autograd): the dense solve uses it
/// directly, CG and the residuals multiply by it, and LiSSA's T minibatch Hessians come from one
/// call on the T·|b| rows drawn at once (G = T) — no double-backward pass per HVP.
/// E.g. models::GmmImpl::neg_log_likelihood_hessian.
using LikelihoodHessians =
    std::function<torch::Tensor(const torch::Tensor& thetas, const data::Batch& batch, int64_t groups)>;

/// Options of BIF for an SG-MCMC posterior: the inverse-HVP solver, the frozen sampler steps
/// per removal batch and the minibatches of the Hessian estimates.
struct SgmcmcBifOptions {
  /// The inverse-HVP solver of each removal batch's step (H averaged over the chain states).
  TORCH_ARG(InverseHvpOptions, solver) = {};
  /// samp_T (>= 1): sampler steps per removal batch over which ∇h and H are averaged.
  TORCH_ARG(int64_t, sample_steps) = 5;
  /// K: ∇h and H average over the last K of the samp_T states only (0 = all of them). Each HVP
  /// costs K double-backward passes, so K < samp_T buys more sampler steps per batch cheaply.
  TORCH_ARG(int64_t, hessian_states) = 0;
  /// Minibatch of those sampler steps; -1 = the chain's training batch size; 0 = full data.
  TORCH_ARG(int64_t, minibatch_size) = -1;
  /// Minibatch of each LiSSA term's Hessian estimate (a fresh one per term); 0 = full data.
  /// CG, the dense solve and residuals use the deterministic operator (next option).
  TORCH_ARG(int64_t, hvp_batch_size) = 0;
  /// Rows of the deterministic operator (CG, the dense solve, residuals): one minibatch drawn per
  /// removal batch and kept for the whole solve (a subsampled Newton step, Byrd et al. 2011),
  /// weighted n/|b|; 0 = the full current set. Not with likelihood_hessians.
  TORCH_ARG(int64_t, curvature_batch_size) = 0;
  /// > 0: LiSSA's scale is s = lissa_c / n for every batch (the papers: c = 1 for the GMM);
  /// 0 keeps solver.lissa.scale as given.
  TORCH_ARG(double, lissa_c) = 0.0;
  /// What H is (see Curvature); kGaussNewton needs a classifier and no likelihood_hessians.
  TORCH_ARG(Curvature, curvature) = Curvature::kHessian;
  /// Closed-form likelihood Hessians (see LikelihoodHessians); empty = autograd (double backward).
  TORCH_ARG(LikelihoodHessians, likelihood_hessians) = nullptr;
  /// Data parallel (distributed::shard_for_training): `current` and the removal batches are the
  /// *index* set's (ids; every rank the same, so the same minibatches and noise), mapped to this
  /// rank's rows by `local_batch`; every gradient and HVP is averaged over the ranks, so each rank
  /// computes the one-process step. Not with likelihood_hessians. Empty: one process.
  TORCH_ARG(inference::DataParallel, parallel) = {};
  /// After each batch, the corrected chain state replaces the oldest sample of `samples` (see the
  /// file comment); false keeps the training samples.
  TORCH_ARG(bool, refresh_samples) = false;
};

/// One forgetting step on `state` (θ and velocity advanced by samp_T steps, then corrected) and on
/// `samples` [m, P] (corrected in place; may be undefined). `current` still contains `removed`.
/// Draws minibatches and noise from gen.
BifStep sgmcmc_bif_step(Model& model, inference::ChainState& state, torch::Tensor& samples,
                        const data::Dataset& current, const data::Batch& removed,
                        const SgmcmcBifOptions& options, torch::Generator& gen);

}  // namespace unlearn::bif
