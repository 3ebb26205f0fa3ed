#include "gmm/gmm.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include <fmt/format.h>

namespace unlearn::models {
namespace {
constexpr double kHalfLog2Pi = 0.91893853320467274178032973640562;
constexpr double kPi = 3.14159265358979323846264338327950288;
}  // namespace

GmmImpl::GmmImpl(const GmmOptions& options) : options_(options) {
  TORCH_CHECK(options.num_components() >= 1, "gmm: num_components = ", options.num_components(),
              " must be >= 1");
  TORCH_CHECK(options.dim() >= 1, "gmm: dim = ", options.dim(), " must be >= 1");
  TORCH_CHECK(options.prior_std() > 0, "gmm: prior_std = ", options.prior_std(), " must be > 0");
  device_anchor_ = register_buffer("device_anchor", torch::zeros({0}, options.dtype()));
}

torch::TensorOptions GmmImpl::theta_options() const { return device_anchor_.options(); }

torch::Tensor GmmImpl::means(const torch::Tensor& theta) const {
  TORCH_CHECK(theta.size(-1) == num_params(), "gmm: theta must have ", num_params(),
              " = K·d entries in its last dimension, got ", theta.sizes());
  auto shape = theta.sizes().vec();
  shape.pop_back();
  shape.push_back(options_.num_components());
  shape.push_back(options_.dim());
  return theta.reshape(shape);
}

torch::Tensor GmmImpl::log_likelihood(const torch::Tensor& theta, const data::Batch& batch) {
  TORCH_CHECK(theta.dim() == 2 && theta.size(1) == num_params(), "gmm: theta must be [S, ",
              num_params(), "], got ", theta.sizes());
  const int64_t d = options_.dim();
  auto x = batch.x.to(theta.scalar_type());
  TORCH_CHECK(x.dim() == 2 && x.size(1) == d, "gmm: x must be [B, ", d, "], got ", batch.x.sizes());
  auto mu = means(theta);                                          // [S, K, d]
  // -½‖x − μ‖² = -½‖x‖² + x·μ − ½‖μ‖², with one batched matmul for the cross term.
  auto cross = torch::matmul(mu, x.t());                           // [S, K, B]
  auto mu_sq = mu.square().sum(-1).unsqueeze(-1);                  // [S, K, 1]
  auto x_sq = x.square().sum(-1);                                  // [B]
  auto log_comp = cross - 0.5 * mu_sq;                             // [S, K, B] without x terms
  const double constant = -std::log(static_cast<double>(options_.num_components())) -
                          static_cast<double>(d) * kHalfLog2Pi;
  return torch::logsumexp(log_comp, /*dim=*/1) - 0.5 * x_sq + constant;
}

torch::Tensor GmmImpl::neg_log_likelihood_hessian(const torch::Tensor& thetas, const data::Batch& batch,
                                                  int64_t groups) const {
  TORCH_CHECK(thetas.dim() == 2 && thetas.size(1) == num_params(), "gmm: thetas must be [J, ",
              num_params(), "], got ", thetas.sizes());
  const int64_t k = options_.num_components();
  const int64_t d = options_.dim();
  const int64_t p = num_params();
  const int64_t J = thetas.size(0);
  auto th = thetas.detach();
  auto x = batch.x.to(th.scalar_type());
  TORCH_CHECK(x.dim() == 2 && x.size(1) == d, "gmm: x must be [B, ", d, "], got ", batch.x.sizes());
  const int64_t b = x.size(0);
  TORCH_CHECK(groups >= 1 && b % groups == 0, "gmm: ", b, " rows do not split into ", groups, " equal groups");
  const int64_t bs = b / groups;
  torch::NoGradGuard no_grad;
  auto mu = means(th);                                                       // [J, K, d]
  auto log_comp = torch::matmul(mu, x.t()) - 0.5 * mu.square().sum(-1).unsqueeze(-1);  // [J, K, B]
  auto r = torch::softmax(log_comp, /*dim=*/1).transpose(1, 2);              // [J, B, K]
  auto e = x.unsqueeze(0).unsqueeze(2) - mu.unsqueeze(1);                    // [J, B, K, d]
  auto re = r.unsqueeze(-1) * e;                                             // [J, B, K, d]
  // Σ_j Σ_{b∈g} A Aᵀ, one [P, P] per group (a view for one group: no copy).
  auto a = re.reshape({J, groups, bs, p}).permute({1, 0, 2, 3}).reshape({groups, J * bs, p});
  auto out = torch::matmul(a.transpose(1, 2), a).contiguous();               // [G, P, P]
  // Block k: Σ r (I − e eᵀ) = (Σ r) I − Σ r e eᵀ; Σ r e eᵀ is the k-th diagonal block of SᵀS
  // with S = √r e (one more product of the same shape instead of per-block copies).
  auto sq = (r.sqrt().unsqueeze(-1) * e).reshape({J, groups, bs, p}).permute({1, 0, 2, 3}).reshape({groups, J * bs, p});
  auto second = torch::matmul(sq.transpose(1, 2), sq).view({groups, k, d, k, d});  // [G, K, d, K, d]
  auto mass = r.reshape({J, groups, bs, k}).sum(c10::IntArrayRef{0, 2});     // [G, K]
  auto eye = torch::eye(d, x.options());
  auto view = out.view({groups, k, d, k, d});
  for (int64_t c = 0; c < k; ++c) {
    view.select(3, c).select(1, c).add_(mass.select(1, c).unsqueeze(-1).unsqueeze(-1) * eye -
                                        second.select(3, c).select(1, c));
  }
  return out;
}

torch::Tensor GmmImpl::variational_log_weights(const torch::Tensor& loc, const torch::Tensor& var,
                                               const data::Batch& batch) const {
  const int64_t d = options_.dim();
  TORCH_CHECK(loc.dim() == 1 && loc.size(0) == num_params() && var.sizes() == loc.sizes(),
              "gmm: the variational loc and var must be [", num_params(), "], got ", loc.sizes(),
              " and ", var.sizes());
  auto x = batch.x.to(loc.scalar_type());
  TORCH_CHECK(x.dim() == 2 && x.size(1) == d, "gmm: x must be [B, ", d, "], got ", batch.x.sizes());
  auto m = means(loc);                                                       // [K, d]
  auto tr = means(var).sum(-1);                                              // [K]: Σ_j s_kj²
  // −½‖x − m‖² = −½‖x‖² + x·m − ½‖m‖².
  auto a = torch::matmul(x, m.t()) - 0.5 * (m.square().sum(-1) + tr);        // [B, K]
  const double constant = -std::log(static_cast<double>(options_.num_components())) -
                          static_cast<double>(d) * kHalfLog2Pi;
  return a - 0.5 * x.square().sum(-1, /*keepdim=*/true) + constant;
}

torch::Tensor GmmImpl::responsibilities(const torch::Tensor& loc, const torch::Tensor& var,
                                        const data::Batch& batch) const {
  return torch::softmax(variational_log_weights(loc, var, batch), /*dim=*/1);
}

torch::Tensor GmmImpl::variational_expected_log_likelihood(const torch::Tensor& loc,
                                                           const torch::Tensor& var,
                                                           const data::Batch& batch) const {
  return torch::logsumexp(variational_log_weights(loc, var, batch), /*dim=*/1);
}

torch::Tensor GmmImpl::variational_expected_log_likelihood(const GaussianPosteriorImpl& q,
                                                           const data::Batch& batch) const {
  TORCH_CHECK(q.runs() == 0, "gmm: posteriors with runs are not supported here");
  return variational_expected_log_likelihood(q.loc(), q.stddev().square(), batch);
}

torch::Tensor GmmImpl::log_prior(const torch::Tensor& theta) {
  const double t = options_.prior_std();
  auto z = theta / t;
  return -0.5 * z.square().sum(-1) -
         static_cast<double>(num_params()) * (std::log(t) + kHalfLog2Pi);
}

torch::Tensor GmmImpl::init_theta() {
  const int64_t k = options_.num_components();
  const int64_t d = options_.dim();
  auto mu = torch::zeros({k, d}, theta_options());
  const double r = options_.prior_std();
  for (int64_t j = 0; j < k; ++j) {
    if (d >= 2) {
      const double a = 2.0 * kPi * static_cast<double>(j) / static_cast<double>(k);
      mu[j][0] = r * std::cos(a);
      mu[j][1] = r * std::sin(a);
    } else {
      mu[j][0] = k > 1 ? r * (-1.0 + 2.0 * static_cast<double>(j) / static_cast<double>(k - 1)) : 0.0;
    }
  }
  return mu.reshape({-1});
}

std::string GmmImpl::architecture() const {
  return fmt::format("gmm(K={},d={},prior_std={})", options_.num_components(), options_.dim(),
                     options_.prior_std());
}

std::optional<GaussianPrior> GmmImpl::gaussian_prior() {
  auto opts = theta_options();
  return GaussianPrior{torch::zeros({num_params()}, opts),
                       options_.prior_std() * torch::eye(num_params(), opts)};
}

double matched_centre_distance(const torch::Tensor& a, const torch::Tensor& b) {
  TORCH_CHECK(a.dim() == 2 && a.sizes() == b.sizes(), "matched_centre_distance: two [K, d] sets, got ",
              a.sizes(), " and ", b.sizes());
  const int64_t k = a.size(0);
  TORCH_CHECK(k >= 1 && k <= 8, "matched_centre_distance: K = ", k, " must be in [1, 8]");
  auto dist = torch::cdist(a.detach().to(torch::kFloat64).cpu(), b.detach().to(torch::kFloat64).cpu());
  auto acc = dist.accessor<double, 2>();
  std::vector<int64_t> perm(static_cast<size_t>(k));
  std::iota(perm.begin(), perm.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    double total = 0.0;
    for (int64_t i = 0; i < k; ++i) total += acc[i][perm[static_cast<size_t>(i)]];
    best = std::min(best, total);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best / static_cast<double>(k);
}

}  // namespace unlearn::models
