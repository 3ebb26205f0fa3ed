#pragma once
// EUBO unlearning (docs/concepts.md; Nguyen, Low & Jaillet 2020, eq. 6 with the adjusted likelihood).
//
// q_u starts at q(θ|D) and minimises, by Adam over its parameters,
//
//   EUBO(q_u) = mean_s [ mask_s · log p(D_e | θ_s) + log q_u(θ_s) − log q(θ_s | D) ],
//   θ_s = loc_u + L_u ε_s  (reparameterised; gradients flow through θ_s in every term),
//
// where mask_s is the adjusted-likelihood indicator of θ_s under q(θ|D) (adjusted_likelihood.h).
// At λ = 0 its minimiser is p(θ|D_r) when q(θ|D) is the exact posterior.
//
// Many λ at once: `lambdas({0.5, 0.1, 1e-3, 1e-5, 1e-9, 0})` trains R = 6 runs as ONE batched
// computation: q_u = q(θ|D).replicate(R) (loc [R, P]); the R·S samples go to the model as one
// [S·R, P] batch per chunk of D_e; masks are [R, S]; the loss is the sum of the R objectives, so
// the runs stay independent (disjoint parameters, elementwise Adam).
//
// Noise (common random numbers): each step draws ONE standard-normal block ε [S, P] from a
// CPU generator seeded with `seed` (unlearn/random/normal.h), and every run uses it
// (θ_rs = loc_r + L_r ε_s). So run r of a batched call follows exactly the path of a call with
// lambdas({λ_r}) and the same seed (tested), and differences between λ are not blurred by
// independent noise. Each run's marginal law is that of the plain single-run algorithm; the
// runs are coupled only through the shared noise.
//
// How a step is computed (the value and gradient are those of the definition, to rounding):
//  - θ for all runs is one matrix product ε [S, P] · [L_1ᵀ … L_Rᵀ] -> [S, R·P]; the model sees
//    the S·R samples as one batch (sample-major: row s·R + r is sample s of run r).
//  - log q_u(θ_s) = log N(ε_s; 0, I) − log|det L_u|: the density at θ_s and its total derivative
//    (θ_s = loc + L ε_s is the reparameterisation), without a solve.
//  - mean_s log q(θ_s|D) from the sufficient statistics ε̄ and mean ε εᵀ of the noise, so its
//    gradient never touches an [S, P] tensor; the per-sample value is computed without gradient
//    for the mask (only when some λ > 0).
//
//   auto result = unlearn::eubo_unlearn(model, *q_full, erased,
//                                       unlearn::EuboOptions().lambdas({1e-5, 0.0}).max_steps(30000));
//   auto q_unlearned = result.runs[1].posterior;   // λ = 0
#include <memory>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "unlearn/data/batch.h"
#include "unlearn/model.h"
#include "unlearn/unlearning/adjusted_likelihood.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/data_parallel.h"
#include "unlearn/unlearning/vbu_options.h"
#include "unlearn/unlearning/vbu_result.h"

namespace unlearn {
namespace detail {
struct FixedGaussian;
}

namespace functional {
/// The Monte Carlo EUBO per run: mean over the sample dimension of
/// adjusted_log_lik + log_q_u − log_q_full, all [..., S] -> [...].
torch::Tensor eubo_estimate(const torch::Tensor& adjusted_log_lik, const torch::Tensor& log_q_u,
                            const torch::Tensor& log_q_full);
}  // namespace functional

/// EUBO's options: the settings every iterative variational unlearner shares (vbu_options.h).
using EuboOptions = VbuOptions;

/// The EUBO of R runs for given noise: the per-step computation of eubo_unlearn, exposed so that
/// it can be evaluated with fixed noise (finite differences, common random numbers).
/// q(θ|D) is preprocessed once (its factor and inverse factor, detached).
class EuboObjective {
 public:
  /// erased: D_e; chunk_size: erased points per model call.
  EuboObjective(Model& model, const GaussianPosteriorImpl& q_full, const data::Batch& erased,
                c10::ArrayRef<double> lambdas, int64_t chunk_size = 1024);
  /// The thresholds as ln λ (adjusted_likelihood.h).
  EuboObjective(Model& model, const GaussianPosteriorImpl& q_full, const data::Batch& erased,
                const LogLambdas& log_lambdas, int64_t chunk_size = 1024);

  /// One evaluation of the objective for every run.
  struct Terms {
    torch::Tensor objective;  ///< [R] the EUBO estimate per run, differentiable in q_u
    torch::Tensor inside;     ///< [R, S] bool: sample s of run r is inside the λ_r region
  };
  /// q_u with R runs (R = number of λ); noise [S, P] standard normal, shared by the runs.
  Terms operator()(const GaussianPosteriorImpl& q_u, const torch::Tensor& noise) const;
  /// As above over other erased chunks (a minibatch), its log-likelihood multiplied by scale.
  Terms evaluate(const GaussianPosteriorImpl& q_u, const torch::Tensor& noise,
                 const std::vector<data::Batch>& chunks, double scale) const;

  /// R: the number of thresholds λ, one run each.
  int64_t runs() const { return log_lambda_.size(0); }
  /// D_e split into the chunks of `chunk_size` points that each model call sees.
  const std::vector<data::Batch>& chunks() const { return chunks_; }
  /// Replaces the local sum over D_e (data_parallel.h); null: the local sum.
  void set_erased_log_likelihood(ErasedLogLikelihoodFn fn) { erased_log_likelihood_ = std::move(fn); }

 private:
  Model* model_;
  std::shared_ptr<const detail::FixedGaussian> full_;  // q(θ|D), detached and preprocessed
  std::vector<data::Batch> chunks_;
  torch::Tensor log_lambda_;  // [R]
  bool needs_mask_ = false;   // some λ > 0
  ErasedLogLikelihoodFn erased_log_likelihood_;  // null: F::erased_log_likelihood
};

/// EUBO unlearning of `erased` from q_full = q(θ|D) (a posterior without runs; unchanged), for
/// every λ in options.lambdas at once. Works for MeanFieldGaussian and FullRankGaussian and any
/// Model; the model's own parameters are frozen (no gradient is computed for them).
VbuResult eubo_unlearn(Model& model, const GaussianPosteriorImpl& q_full,
                       const data::Batch& erased, const EuboOptions& options = EuboOptions());

}  // namespace unlearn
