#pragma once
// The adjusted likelihood of variational Bayesian unlearning (docs/concepts.md; Nguyen, Low &
// Jaillet 2020):
//
//   p̃(D_e | θ) = p(D_e | θ)   if q(θ|D) > λ · q(mode|D)
//               = 1           otherwise.
//
// One indicator per sample θ_s multiplies the *sum* of the erased points' log-likelihoods.
// Everything is computed in log space: keep iff log q(θ_s|D) − log q(mode|D) > ln λ (strict),
// so λ may go down to 1e-12 and below; λ = 0 means ln λ = −∞ and keeps every sample. For a
// Gaussian q(θ|D) the test is the Mahalanobis ball M² < 2 ln(1/λ), and the fraction of
// q(θ|D)-samples inside it is the χ² CDF F_{χ²_P}(2 ln(1/λ)).
//
// High dimensions: the samples of a P-dimensional Gaussian have M² ≈ P ± √(2P), so the region
// holds any of them only for λ near e^{−P/2} — below the smallest double once P > ~1 400 (a
// LeNet's 61 706 weights: ln λ ≈ −30 853 keeps about half). Such thresholds are given as ln λ
// (`log_lambdas` in the unlearners' options, LogLambdas for their objectives); the masks only
// ever use ln λ.
//
// Several λ are handled at once: `log_lambdas({0, 1e-5, 0.5})` is a [R] tensor and every mask
// function broadcasts it against log-densities [..., S] (shared samples [S] give masks [R, S]).
//
//   namespace F = unlearn::functional;
//   auto lp = q->log_prob(theta);                                        // [S]
//   auto keep = F::adjusted_likelihood_mask(lp, q->log_prob_at_mode(),
//                                           F::log_lambdas({1e-3, 0.0}, lp.options()));  // [2, S]
//   auto ll = F::erased_log_likelihood(model, theta, erased, /*chunk_size=*/512);        // [S]
//   auto adjusted = torch::where(keep, ll, 0.0);                                         // [2, S]
#include <string>
#include <vector>

#include <torch/torch.h>

#include "unlearn/data/batch.h"
#include "unlearn/model.h"

namespace unlearn {

/// Thresholds given as ln λ (each ≤ 0, −∞ for λ = 0), for the objectives' constructors:
/// `EuboObjective(model, q, erased, LogLambdas{{-30853.0, -inf}})`.
struct LogLambdas {
  /// ln λ per threshold, in the order the runs are built (each ≤ 0, −∞ allowed).
  std::vector<double> values;
};

}  // namespace unlearn

namespace unlearn::functional {

/// Checks that λ is a number in [0, 1]: "lambda = 1.5 is outside [0, 1]" otherwise.
void check_lambda(double lambda);

/// Checks that ln λ is ≤ 0 (−∞ for λ = 0) and not NaN: "log_lambda = 0.5 must be <= 0" otherwise.
void check_log_lambda(double log_lambda);

/// The thresholds as ln λ: `log_lambdas` when it is not empty (each checked), otherwise ln of each
/// of `lambdas` (checked; −∞ for λ = 0). Errors when both are empty.
std::vector<double> resolve_log_lambdas(c10::ArrayRef<double> lambdas, c10::ArrayRef<double> log_lambdas);

/// The λ a run reports: `lambdas` as given when `log_lambdas` is empty, else e^{ln λ} (0 where
/// that underflows).
std::vector<double> reported_lambdas(c10::ArrayRef<double> lambdas, c10::ArrayRef<double> log_lambdas);

/// "lambda = 0.001" when λ = e^{log_lambda} is a normal double (or 0), else "ln lambda = -30853":
/// how messages and reports name a threshold.
std::string describe_threshold(double log_lambda);

/// ln λ for each λ (−∞ for λ = 0) as a [R] tensor with these options; checks every λ and that
/// the list is not empty.
torch::Tensor log_lambdas(c10::ArrayRef<double> lambdas,
                          const torch::TensorOptions& options = torch::kFloat64);
/// The same from thresholds given as ln λ (checked).
torch::Tensor log_lambda_tensor(const LogLambdas& log_lambdas, const torch::TensorOptions& options = torch::kFloat64);

/// The adjusted-likelihood indicator, in log space: keep iff log_q − log_q_mode > log_lambda
/// (strict); log_lambda = −∞ (λ = 0) keeps every sample, whatever log_q is.
///   log_q       [..., S]  log q(θ_s | D)
///   log_q_mode  [...]     log q(mode | D) (broadcast against log_q without its sample dim)
///   log_lambda  [...]     ln λ, e.g. [R] from log_lambdas (or [] for one λ)
/// Returns a bool tensor of the broadcast shape [..., S]; no gradient flows through it.
torch::Tensor adjusted_likelihood_mask(const torch::Tensor& log_q, const torch::Tensor& log_q_mode,
                                       const torch::Tensor& log_lambda);
/// One λ (checked).
torch::Tensor adjusted_likelihood_mask(const torch::Tensor& log_q, const torch::Tensor& log_q_mode,
                                       double lambda);

/// The same test for a Gaussian q(θ|D), from the squared Mahalanobis distance of each sample:
/// keep iff M² < 2 ln(1/λ) = −2 log_lambda (λ = 0: every finite M²). One comparison: the form
/// the unlearners' hot loops use. mahalanobis_sq [..., S], log_lambda [...] -> bool [..., S].
torch::Tensor gaussian_adjusted_likelihood_mask(const torch::Tensor& mahalanobis_sq,
                                                const torch::Tensor& log_lambda);

/// The erased batch cut into consecutive chunks of at most chunk_size points (views, no copy).
std::vector<data::Batch> chunk_batch(const data::Batch& batch, int64_t chunk_size);

/// log p(D_e | θ_s) = Σ_{i ∈ D_e} log p(y_i | x_i, θ_s) for θ [S, P] -> [S], summed exactly over
/// the erased points in chunks of at most chunk_size points per model call (memory stays
/// O(S · chunk_size)). Differentiable in θ.
torch::Tensor erased_log_likelihood(Model& model, const torch::Tensor& theta,
                                    const data::Batch& erased, int64_t chunk_size);
/// As above over chunks made once by chunk_batch (the form the hot loops use).
torch::Tensor erased_log_likelihood(Model& model, const torch::Tensor& theta,
                                    const std::vector<data::Batch>& chunks);

}  // namespace unlearn::functional
