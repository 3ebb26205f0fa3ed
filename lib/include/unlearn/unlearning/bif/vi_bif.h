#pragma once
// Bayesian inference forgetting for Gaussian variational posteriors (docs/concepts.md, "BIF").
//
// γ = the posterior module's parameters as one flat vector: (loc, ρ) for a mean-field Gaussian,
// (loc, the lower triangle of raw_tril) for a full-rank one (its upper entries are unused).
// The energy is
//   F(γ, S) = KL(q_γ ‖ prior) + Σ_{z∈S} h(γ, z),   h(γ, z) = −E_q[log p(z | θ)],
// full-data scaled: a minibatch b of a set of n points estimates it by KL + (n/|b|) Σ_b h.
// E_q is a Monte-Carlo average over common random numbers (one fixed noise tensor [S_mc, P]
// drawn per request), or a closed form where the caller provides one.
// Forgetting a batch S′ is one Newton step
//   γ ← γ + H⁻¹ Σ_{z∈S′} ∇h(γ, z),   H = ∇²F(γ, S) on the set S that still contains S′,
// plus sign, h summed over S′, no 1/n; S′ is dropped (n updated) after the step.
//
//   auto opts = ViBifOptions().solver(InverseHvpOptions().kind(SolverKind::kConjugateGradient));
//   auto step = vi_bif_step(*model, *q, train, train.subset(ids).batch(), opts, gen);  // q updated
//   // step.solve: the inverse-HVP solve; sequential batches: the request loop (request.h) with
//   // the "bif" method (methods.h)
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "unlearn/data/dataset.h"
#include "unlearn/inference/data_parallel.h"
#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/bif/inverse_hvp.h"

namespace unlearn::bif {

/// E_q[log p(z_i | θ)] for every datum of the batch, in closed form: (q, batch) -> [B],
/// differentiable in q's parameters. Optional: models whose likelihood is quadratic in θ
/// (linear regression) have one.
using ExpectedLogLikelihood =
    std::function<torch::Tensor(const GaussianPosteriorImpl& q, const data::Batch& batch)>;

/// How a ViEnergy estimates E_q: Monte Carlo samples S_mc, moment matching, the LiSSA
/// minibatch, and data-parallel hooks.
struct ViEnergyOptions {
  /// S_mc, Monte-Carlo samples of θ per energy evaluation (>= 1).
  TORCH_ARG(int64_t, mc_samples) = 64;
  /// Centre and whiten the noise so that its sample mean is 0 and its sample second moment is
  /// exactly I (needs mc_samples > P): then E_q of any quadratic in θ is exact.
  TORCH_ARG(bool, moment_matched_noise) = false;
  /// Minibatch of each LiSSA term's Hessian estimate (a fresh one per term); 0 = full data.
  TORCH_ARG(int64_t, hvp_batch_size) = 0;
  /// Data parallel (distributed::shard_for_training): the data sets and batches the energy sees
  /// are then the *index* sets (every rank the same ids, so the same minibatches and noise);
  /// `local_batch` maps each to this rank's rows and `average` makes every gradient and HVP the
  /// one-process one. Empty: one process.
  TORCH_ARG(inference::DataParallel, parallel) = {};
};

/// The VI energy F(γ, S) of a posterior module and a model (both borrowed, not owned).
class ViEnergy {
 public:
  /// Borrows `model` and `posterior` (they must outlive the energy; posterior.dim() must equal
  /// model.num_params()). With `closed_form`, h uses it instead of Monte Carlo samples. Draw or
  /// set the noise before evaluating a Monte Carlo energy.
  ViEnergy(Model& model, GaussianPosteriorImpl& posterior, const ViEnergyOptions& options = {},
           ExpectedLogLikelihood closed_form = nullptr);

  /// γ as FlatParameters over the module's parameters (see the file comment).
  const FlatParameters& gamma() const { return gamma_; }
  /// The options the energy was built with.
  const ViEnergyOptions& options() const { return options_; }

  /// Draws the common random numbers [S_mc, P] from gen (moment-matched if asked).
  void draw_noise(torch::Generator& gen);
  /// Uses this noise [S, P] instead (e.g. shared with another computation).
  void set_noise(torch::Tensor noise);
  /// The common random numbers [S_mc, P] (undefined until draw_noise or set_noise).
  const torch::Tensor& noise() const { return noise_; }

  /// B(γ) = KL(q ‖ prior): closed form for a Gaussian prior, otherwise −entropy − E_q log p(θ)
  /// on the common random numbers.
  torch::Tensor kl() const;
  /// h(γ, z) = −E_q log p(z | θ) for every datum: [B] (this process's rows; not data parallel).
  torch::Tensor h(const data::Batch& batch) const;
  /// Σ_{z∈batch} ∇_γ h(γ, z), [P_γ]; data parallel: `batch` holds ids, summed over every rank.
  torch::Tensor h_sum_gradient(const data::Batch& batch) const;
  /// KL + (n / |batch|) Σ_batch h: the full-data-scaled estimate of F on a set of n points.
  torch::Tensor energy(const data::Batch& batch, int64_t n) const;
  /// F on `data` as an EnergyFn: term kFullHessian uses all of data; each call with term >= 0
  /// uses the next minibatch of hvp_batch_size rows of a sampler seeded with `seed`.
  EnergyFn energy_fn(const data::Dataset& data, uint64_t seed) const;
  /// Minimises F(γ, data) over the posterior's parameters by full-data L-BFGS (strong Wolfe line
  /// search, on the current common random numbers): a forgetting step is a Newton step and
  /// assumes γ sits at a stationary point of F, which SGD only approaches. Returns F at the end.
  torch::Tensor minimise(const data::Dataset& data, int64_t max_iter = 500, double tolerance_grad = 1e-9,
                         double tolerance_change = 1e-14) const;

 private:
  Model* model_;
  GaussianPosteriorImpl* posterior_;
  ViEnergyOptions options_;
  ExpectedLogLikelihood closed_form_;
  FlatParameters gamma_;
  torch::Tensor noise_;
};

/// γ of a Gaussian posterior (as ViEnergy::gamma()).
FlatParameters variational_parameters(GaussianPosteriorImpl& posterior);

/// Options of BIF for a Gaussian VI posterior (vi_bif_step and the "bif" method): the energy's
/// estimator, the inverse-HVP solver and LiSSA's n-scaled scale.
struct ViBifOptions {
  /// How F and its derivatives are estimated.
  TORCH_ARG(ViEnergyOptions, energy) = {};
  /// The inverse-HVP solver of the Newton step.
  TORCH_ARG(InverseHvpOptions, solver) = {};
  /// > 0: LiSSA's scale is set to s = lissa_c / n for every step (n = the current set's size,
  /// the papers' convention); 0 keeps solver.lissa.scale as given.
  TORCH_ARG(double, lissa_c) = 0.0;
};

/// What one forgetting step did.
struct BifStep {
  SolverResult solve;     ///< the inverse-HVP solve (solution = the step Δγ)
  torch::Tensor gradient; ///< Σ_{z∈S′} ∇h(γ, z), [P_γ]
};

/// One forgetting step, in place on `posterior`: γ ← γ + H⁻¹ Σ_{z∈S′} ∇h(γ, z), with H the
/// Hessian of F on `current` (which still contains `removed`). Draws the common random numbers
/// (and the LiSSA minibatch seed) from gen.
BifStep vi_bif_step(Model& model, GaussianPosteriorImpl& posterior, const data::Dataset& current,
                    const data::Batch& removed, const ViBifOptions& options, torch::Generator& gen,
                    const ExpectedLogLikelihood& closed_form = nullptr);

}  // namespace unlearn::bif
