#pragma once
// Closed-form Gaussian math as pure functions (docs/architecture.md, "Idioms"): the modules hold state, these
// hold the formulas, and the tests hit them directly.
//
// A Gaussian is given by loc [..., P] and a lower-triangular scale factor L [..., P, P] with a
// positive diagonal (Σ = L Lᵀ), or by a diagonal scale [..., P]. Leading dimensions are batch
// (run) dimensions and broadcast.
#include <torch/torch.h>

/// Closed-form Gaussian formulas as pure functions of tensors (log densities, Mahalanobis
/// distances, entropies, KLs, softplus and its inverse, Cholesky with a clear error; the adjusted
/// likelihood's threshold terms): loc [..., P] with L [..., P, P] or a diagonal scale [..., P],
/// leading dimensions broadcasting as runs.
namespace unlearn::functional {

/// log N(θ | loc, L Lᵀ) for samples θ [..., S, P] -> [..., S].
torch::Tensor gaussian_log_prob_tril(const torch::Tensor& theta, const torch::Tensor& loc,
                                     const torch::Tensor& scale_tril);

/// log N(θ | loc, diag(scale²)) for samples θ [..., S, P] -> [..., S].
torch::Tensor gaussian_log_prob_diag(const torch::Tensor& theta, const torch::Tensor& loc,
                                     const torch::Tensor& scale);

/// Squared Mahalanobis distance (θ - loc)ᵀ Σ⁻¹ (θ - loc), θ [..., S, P] -> [..., S].
torch::Tensor mahalanobis_sq_tril(const torch::Tensor& theta, const torch::Tensor& loc,
                                  const torch::Tensor& scale_tril);

/// Sum of log diag(L) = ½ log det Σ, [..., P, P] -> [...].
torch::Tensor half_log_det_tril(const torch::Tensor& scale_tril);

/// Differential entropy of N(·, L Lᵀ): P/2 (1 + log 2π) + Σ log diag L.
torch::Tensor gaussian_entropy_tril(const torch::Tensor& scale_tril);

/// KL( N(loc_q, L_q L_qᵀ) ‖ N(loc_p, L_p L_pᵀ) ) in closed form, -> [...].
torch::Tensor gaussian_kl_tril(const torch::Tensor& loc_q, const torch::Tensor& scale_tril_q,
                               const torch::Tensor& loc_p, const torch::Tensor& scale_tril_p);

/// KL between diagonal Gaussians (O(P), no P×P matrices), -> [...].
torch::Tensor gaussian_kl_diag(const torch::Tensor& loc_q, const torch::Tensor& scale_q,
                               const torch::Tensor& loc_p, const torch::Tensor& scale_p);

/// Cholesky factor of a covariance, with an error that says which matrix was not SPD.
torch::Tensor cholesky_or_throw(const torch::Tensor& covariance, const char* what);

/// softplus and its inverse, written to stay accurate in float64 at both ends
/// (softplus⁻¹(y) = y + log(-expm1(-y))).
torch::Tensor softplus(const torch::Tensor& x);
/// softplus⁻¹(y) = log(eʸ − 1) for y > 0, elementwise (e.g. the ρ with softplus(ρ) = σ).
torch::Tensor inverse_softplus(const torch::Tensor& y);

}  // namespace unlearn::functional
