#pragma once
// Reverse-KL unlearning (docs/concepts.md; Nguyen, Low & Jaillet 2020, eq. 8 with the adjusted
// likelihood).
//
// θ_s ~ q(θ|D) (fresh every step, no gradient); ℓ_s = mask_s · log p(D_e | θ_s);
// self-normalised weights w̄_s ∝ exp(−ℓ_s), computed in log space (−ℓ reaches hundreds);
// q_v maximises  Σ_s w̄_s log q_v(θ_s)  (the reference code's mean_s of weights normalised to
// mean 1: the same number).
//
// Two ways to the maximiser:
//  - reverse_kl_unlearn: Adam from q(θ|D) with fresh samples every step (the paper's method).
//    For a Gaussian q_v the objective depends on the samples only through their weighted mean
//    and covariance, so each step computes those two moments (no gradient) and then the exact
//    objective Σ_s w̄_s log q_v(θ_s) from them: same value and gradient as the per-sample sum,
//    but the backward pass never touches an [S, P] tensor.
//  - reverse_kl_closed_form: the maximiser itself, the weighted mean and covariance (weighted
//    per-dimension variance for mean-field), from one pass over many samples, accumulated in
//    blocks with a running log-sum-exp (the result does not depend on the block size).
//
// Many λ at once, as in eubo.h: R = number of λ runs in one posterior with a leading run
// dimension. The samples of q(θ|D) do not depend on the run, so ONE sample block [S, P] and ONE
// model call serve every run; only the masks [R, S] and weights [R, S] differ. The samples come
// from a CPU generator seeded with `seed` (unlearn/random/normal.h). Common random numbers: run r of
// a batched call equals a call with lambdas({λ_r}) and the same seed (tested).
//
//   auto closed = unlearn::reverse_kl_closed_form(model, *q_full, erased,
//       unlearn::ReverseKlClosedFormOptions().lambdas({1e-9, 0.0}).num_samples(100000));
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

/// log w̄_s = log_w_s − logsumexp_s(log_w): weights that sum to one over the last dimension,
/// computed without overflow. [..., S] -> [..., S].
torch::Tensor self_normalised_log_weights(const torch::Tensor& log_w);

/// Effective sample size (Σw)² / Σw² from (possibly unnormalised) log-weights, in log space:
/// exp(2·lse(log_w) − lse(2·log_w)). [..., S] -> [...]; between 1 and S.
torch::Tensor effective_sample_size(const torch::Tensor& log_w);

/// Weighted mean and covariance Σ_s w̄_s (θ_s − μ)(θ_s − μ)ᵀ (the maximum-likelihood, "biased"
/// form: the maximiser of Σ_s w̄_s log N(θ_s | μ, Σ)). θ [..., S, P] (or [S, P] shared by every
/// run), log-weights [..., S] normalised or not -> ([..., P], [..., P, P]).
std::pair<torch::Tensor, torch::Tensor> weighted_gaussian_moments(const torch::Tensor& theta,
                                                                  const torch::Tensor& log_w);

/// Weighted mean and per-dimension variance (the mean-field maximiser): ([..., P], [..., P]).
std::pair<torch::Tensor, torch::Tensor> weighted_diagonal_moments(const torch::Tensor& theta,
                                                                  const torch::Tensor& log_w);

/// Σ_s w̄_s log N(θ_s | loc, L Lᵀ) from the weighted moments of the θ_s (weights summing to one):
///   −½ [tr(Σ⁻¹ C) + (m − loc)ᵀ Σ⁻¹ (m − loc)] − log|det L| − (P/2) log 2π,
/// with m = weighted mean [..., P], C = weighted covariance [..., P, P] (may be singular).
/// Differentiable in loc and L. -> [...].
torch::Tensor weighted_log_prob_tril(const torch::Tensor& weighted_mean,
                                     const torch::Tensor& weighted_cov, const torch::Tensor& loc,
                                     const torch::Tensor& scale_tril);

/// The same for a diagonal Gaussian N(loc, diag(scale²)) from weighted variances [..., P].
torch::Tensor weighted_log_prob_diag(const torch::Tensor& weighted_mean,
                                     const torch::Tensor& weighted_var, const torch::Tensor& loc,
                                     const torch::Tensor& scale);

}  // namespace functional

/// Reverse KL's options: the settings every iterative variational unlearner shares (vbu_options.h).
using ReverseKlOptions = VbuOptions;

/// Options of reverse_kl_closed_form: one importance-weighted pass over samples of q(θ|D), whose
/// weighted moments are the reverse-KL optimum within the Gaussian family of q(θ|D).
struct ReverseKlClosedFormOptions {
  /// λ of the adjusted likelihood, one run each (each in [0, 1]).
  TORCH_ARG(std::vector<double>, lambdas) = std::vector<double>{0.0};
  /// The thresholds as ln λ (each ≤ 0, −∞ for λ = 0), one run each; when not empty it replaces
  /// `lambdas`. For high-dimensional posteriors, whose useful λ (≈ e^{−P/2}) underflow a double
  /// (adjusted_likelihood.h). Runs report λ = e^{ln λ} (0 when that underflows) and ln λ.
  TORCH_ARG(std::vector<double>, log_lambdas) = std::vector<double>{};
  /// Samples of q(θ|D) in the one pass.
  TORCH_ARG(int64_t, num_samples) = 100000;
  /// Samples per block: memory is O(sample_chunk · (P + chunk_size)); the moments are
  /// accumulated exactly across blocks (running log-sum-exp).
  TORCH_ARG(int64_t, sample_chunk) = 10000;
  /// Erased points per model call.
  TORCH_ARG(int64_t, chunk_size) = 1024;
  /// Added to the diagonal of every weighted covariance (0: none). With very degenerate
  /// weights (ESS ≤ P) the weighted covariance is singular and has no Gaussian maximiser.
  TORCH_ARG(double, jitter) = 0.0;
  /// Seed of the generator of the samples.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Data-parallel runs (data_parallel.h): the erased log-likelihood summed over every rank's
  /// share of D_e; null: this process's D_e only.
  TORCH_ARG(ErasedLogLikelihoodFn, erased_log_likelihood) = nullptr;
};

/// The per-step computation of reverse_kl_unlearn, exposed for fixed-noise evaluation.
class ReverseKlObjective {
 public:
  /// model: the likelihood of D_e; q_full: q(θ|D), the proposal whose samples are re-weighted;
  /// erased: D_e; lambdas: one run per threshold λ; chunk_size: erased points per model call.
  ReverseKlObjective(Model& model, const GaussianPosteriorImpl& q_full, const data::Batch& erased,
                     c10::ArrayRef<double> lambdas, int64_t chunk_size = 1024);
  /// The thresholds as ln λ (adjusted_likelihood.h).
  ReverseKlObjective(Model& model, const GaussianPosteriorImpl& q_full, const data::Batch& erased,
                     const LogLambdas& log_lambdas, int64_t chunk_size = 1024);

  /// What the samples θ_s = loc + L ε_s of q(θ|D) contribute (no gradient).
  struct Statistics {
    torch::Tensor mean;         ///< [R, P] weighted mean of the θ_s
    torch::Tensor covariance;   ///< [R, P, P] weighted covariance (mean-field q: variances [R, P])
    torch::Tensor inside;       ///< [R, S] bool: θ_s inside the λ_r region
    torch::Tensor log_weights;  ///< [R, S] self-normalised log-weights
    torch::Tensor ess;          ///< [R] effective sample size of the weights
  };
  /// noise [S, P]: standard normal; the samples are θ_s = loc + L ε_s of q(θ|D).
  Statistics statistics(const torch::Tensor& noise) const;
  /// As above over other erased chunks (a minibatch), the log-likelihood multiplied by scale.
  Statistics statistics(const torch::Tensor& noise, const std::vector<data::Batch>& chunks,
                        double scale) const;
  /// Σ_s w̄_s log q_v(θ_s) per run [R], differentiable in q_v's parameters (q_v with R runs and
  /// the family of q(θ|D)).
  torch::Tensor objective(const GaussianPosteriorImpl& q_v, const Statistics& stats) const;

  /// R: the number of thresholds λ, one run each.
  int64_t runs() const { return log_lambda_.size(0); }
  /// D_e split into the chunks of `chunk_size` points that each model call sees.
  const std::vector<data::Batch>& chunks() const { return chunks_; }
  /// Replaces the local sum over D_e (data_parallel.h); null: the local sum.
  void set_erased_log_likelihood(ErasedLogLikelihoodFn fn) { erased_log_likelihood_ = std::move(fn); }

 private:
  Model* model_;
  std::shared_ptr<const detail::FixedGaussian> full_;
  std::vector<data::Batch> chunks_;
  torch::Tensor log_lambda_;  // [R]
  bool needs_mask_ = false;   // some λ > 0
  ErasedLogLikelihoodFn erased_log_likelihood_;  // null: F::erased_log_likelihood
};

/// Reverse-KL unlearning by Adam from q(θ|D) (q_full, without runs; unchanged) for every λ at
/// once. Works for MeanFieldGaussian and FullRankGaussian and any Model.
VbuResult reverse_kl_unlearn(Model& model, const GaussianPosteriorImpl& q_full,
                             const data::Batch& erased,
                             const ReverseKlOptions& options = ReverseKlOptions());

/// The closed-form reverse-KL optimum for Gaussian q_v: the weighted mean and covariance
/// (weighted per-dimension variances for mean-field) of num_samples samples of q(θ|D), one pass.
/// Errors naming λ and the ESS when a weighted covariance is not positive definite.
VbuResult reverse_kl_closed_form(
    Model& model, const GaussianPosteriorImpl& q_full, const data::Batch& erased,
    const ReverseKlClosedFormOptions& options = ReverseKlClosedFormOptions());

}  // namespace unlearn
