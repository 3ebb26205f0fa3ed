#include "unlearn/posterior/functional.h"

#include <cmath>

namespace unlearn::functional {
namespace {
constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// Solves L z = (θ - loc)ᵀ for every sample at once. θ [..., S, P], L [..., P, P] -> z [..., S, P].
torch::Tensor whiten(const torch::Tensor& theta, const torch::Tensor& loc,
                     const torch::Tensor& scale_tril) {
  TORCH_CHECK(theta.size(-1) == loc.size(-1), "theta has ", theta.size(-1),
              " parameters but the Gaussian has ", loc.size(-1));
  auto diff = theta - loc.unsqueeze(-2);  // [..., S, P]
  auto z = torch::linalg_solve_triangular(scale_tril, diff.transpose(-1, -2), /*upper=*/false);
  return z.transpose(-1, -2);
}
}  // namespace

torch::Tensor half_log_det_tril(const torch::Tensor& scale_tril) {
  return scale_tril.diagonal(0, -2, -1).log().sum(-1);
}

torch::Tensor mahalanobis_sq_tril(const torch::Tensor& theta, const torch::Tensor& loc,
                                  const torch::Tensor& scale_tril) {
  return whiten(theta, loc, scale_tril).square().sum(-1);
}

torch::Tensor gaussian_log_prob_tril(const torch::Tensor& theta, const torch::Tensor& loc,
                                     const torch::Tensor& scale_tril) {
  const double p = static_cast<double>(loc.size(-1));
  auto m2 = mahalanobis_sq_tril(theta, loc, scale_tril);
  return -0.5 * m2 - half_log_det_tril(scale_tril).unsqueeze(-1) - 0.5 * p * kLog2Pi;
}

torch::Tensor gaussian_log_prob_diag(const torch::Tensor& theta, const torch::Tensor& loc,
                                     const torch::Tensor& scale) {
  TORCH_CHECK(theta.size(-1) == loc.size(-1), "theta has ", theta.size(-1),
              " parameters but the Gaussian has ", loc.size(-1));
  const double p = static_cast<double>(loc.size(-1));
  auto z = (theta - loc.unsqueeze(-2)) / scale.unsqueeze(-2);
  return -0.5 * z.square().sum(-1) - scale.log().sum(-1).unsqueeze(-1) - 0.5 * p * kLog2Pi;
}

torch::Tensor gaussian_entropy_tril(const torch::Tensor& scale_tril) {
  const double p = static_cast<double>(scale_tril.size(-1));
  return 0.5 * p * (1.0 + kLog2Pi) + half_log_det_tril(scale_tril);
}

torch::Tensor gaussian_kl_tril(const torch::Tensor& loc_q, const torch::Tensor& scale_tril_q,
                               const torch::Tensor& loc_p, const torch::Tensor& scale_tril_p) {
  const double p = static_cast<double>(loc_q.size(-1));
  // tr(Σp⁻¹ Σq) = ‖Lp⁻¹ Lq‖²_F ; Mahalanobis term = ‖Lp⁻¹ (μq − μp)‖².
  auto shape = at::infer_size(scale_tril_p.sizes(), scale_tril_q.sizes());
  auto a = torch::linalg_solve_triangular(scale_tril_p.expand(shape), scale_tril_q.expand(shape),
                                          /*upper=*/false);
  auto trace = a.square().sum({-2, -1});
  auto m2 = mahalanobis_sq_tril(loc_q.unsqueeze(-2), loc_p, scale_tril_p).squeeze(-1);
  return 0.5 * (trace + m2 - p) + half_log_det_tril(scale_tril_p) - half_log_det_tril(scale_tril_q);
}

torch::Tensor gaussian_kl_diag(const torch::Tensor& loc_q, const torch::Tensor& scale_q,
                               const torch::Tensor& loc_p, const torch::Tensor& scale_p) {
  auto ratio = (scale_q / scale_p).square();
  auto m = ((loc_q - loc_p) / scale_p).square();
  return 0.5 * (ratio + m - 1.0 - ratio.log()).sum(-1);
}

torch::Tensor cholesky_or_throw(const torch::Tensor& covariance, const char* what) {
  auto [factor, info] = torch::linalg_cholesky_ex(covariance);
  TORCH_CHECK(info.max().item<int64_t>() == 0, what,
              " is not symmetric positive definite (Cholesky failed at leading minor ",
              info.max().item<int64_t>(), ")");
  return factor;
}

torch::Tensor softplus(const torch::Tensor& x) {
  // max(x, 0) + log1p(exp(-|x|)): exact for large |x| in both directions.
  return x.clamp_min(0) + torch::log1p(torch::exp(-x.abs()));
}

torch::Tensor inverse_softplus(const torch::Tensor& y) {
  return y + torch::log(-torch::expm1(-y));
}

}  // namespace unlearn::functional
