#include "sparse_gp/sparse_gp.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "logistic/logistic.h"

namespace unlearn::models {
namespace {
constexpr double kHalfLog2Pi = 0.91893853320467274178032973640562;

// Gauss–Hermite rule for E[g(ε)], ε ~ N(0, 1), by Golub–Welsch: the nodes are the eigenvalues of
// the Jacobi matrix of the probabilists' Hermite polynomials (off-diagonal √k), the weights the
// squared first components of its eigenvectors. Returns {nodes [K], log weights [K]}.
std::pair<torch::Tensor, torch::Tensor> gauss_hermite(int64_t k) {
  auto off = torch::arange(1, k, torch::kFloat64).sqrt();
  auto jacobi = torch::diag(off, 1) + torch::diag(off, -1);
  auto [nodes, vectors] = torch::linalg_eigh(jacobi);
  auto log_w = 2.0 * vectors[0].abs().log();
  return {nodes, log_w - torch::logsumexp(log_w, 0)};  // normalised: Σ w = 1 exactly
}
}  // namespace

namespace functional {

torch::Tensor se_ard_kernel(const torch::Tensor& a, const torch::Tensor& b,
                            const torch::Tensor& variance, const torch::Tensor& length_scales) {
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1),
              "se_ard_kernel: a [N, D] and b [M, D] needed, got ", a.sizes(), " and ", b.sizes());
  TORCH_CHECK(length_scales.dim() == 1 && length_scales.size(0) == a.size(1),
              "se_ard_kernel: length_scales must be [", a.size(1), "], got ", length_scales.sizes());
  // Differences, not |a|² + |b|² − 2abᵀ: exact zeros on the diagonal of k(Z,Z).
  auto diff = (a.unsqueeze(1) - b.unsqueeze(0)) / length_scales;  // [N, M, D]
  return variance * torch::exp(-0.5 * diff.square().sum(-1));
}

}  // namespace functional

SparseGPImpl::SparseGPImpl(const SparseGPOptions& options) : options_(options) {
  const auto& z = options.inducing_inputs();
  TORCH_CHECK(z.defined() && z.dim() == 2 && z.size(0) >= 1 && z.size(1) >= 1,
              "sparse_gp: inducing_inputs must be [M >= 1, D >= 1], got ",
              z.defined() ? z.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(options.dtype() == torch::kFloat64 || options.dtype() == torch::kFloat32,
              "sparse_gp: dtype = ", options.dtype(), " must be float32 or float64");
  TORCH_CHECK(torch::isfinite(z).all().item<bool>(), "sparse_gp: inducing_inputs contain a non-finite value");
  num_inducing_ = z.size(0);
  input_dim_ = z.size(1);
  TORCH_CHECK(options.kernel_variance() > 0 && std::isfinite(options.kernel_variance()),
              "sparse_gp: kernel_variance = ", options.kernel_variance(), " must be finite and > 0");
  TORCH_CHECK(options.jitter() >= 0 && std::isfinite(options.jitter()), "sparse_gp: jitter = ",
              options.jitter(), " must be finite and >= 0");
  std::vector<double> ls = options.length_scales();
  if (ls.empty()) ls.assign(1, 1.0);
  TORCH_CHECK(ls.size() == 1 || static_cast<int64_t>(ls.size()) == input_dim_,
              "sparse_gp: length_scales has ", ls.size(), " values; need 1 or D = ", input_dim_);
  if (ls.size() == 1) ls.assign(input_dim_, ls[0]);
  for (double l : ls)
    TORCH_CHECK(l > 0 && std::isfinite(l), "sparse_gp: length scale ", l, " must be finite and > 0");
  const auto& lv = options.likelihood_variance();
  TORCH_CHECK(lv == "ignore" || lv == "probit" || lv == "quadrature", "sparse_gp: likelihood_variance = '", lv,
              "' is not one of 'ignore', 'probit', 'quadrature'");
  probit_ = lv == "probit";
  quadrature_ = lv == "quadrature";
  TORCH_CHECK(options.quadrature_points() >= 2 && options.quadrature_points() <= 100,
              "sparse_gp: quadrature_points = ", options.quadrature_points(), " must be in [2, 100]");

  auto opts = torch::TensorOptions().dtype(options.dtype()).device(z.device());
  if (quadrature_) {
    auto [nodes, log_w] = gauss_hermite(options.quadrature_points());
    gh_nodes_ = nodes.to(opts);
    gh_log_weights_ = log_w.to(opts);
  }
  log_variance_ = register_parameter(
      "log_variance", torch::full({}, std::log(options.kernel_variance()), opts), options.learn_kernel());
  log_length_scales_ = register_parameter(
      "log_length_scales", torch::tensor(ls, torch::kFloat64).log().to(opts),
      options.learn_kernel());
  inducing_inputs_ = register_parameter("inducing_inputs", z.detach().to(opts).clone(),
                                        options.learn_inducing());
}

torch::TensorOptions SparseGPImpl::theta_options() const {
  return inducing_inputs_.options().requires_grad(false);
}

torch::Tensor SparseGPImpl::inputs(const torch::Tensor& x) const {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == input_dim_, "sparse_gp: x must be [B, ", input_dim_,
              "], got ", x.sizes());
  return x.to(inducing_inputs_.scalar_type());
}

void SparseGPImpl::check_theta(const torch::Tensor& theta) const {
  TORCH_CHECK(theta.dim() == 2 && theta.size(1) == num_inducing_, "sparse_gp: theta must be [S, ",
              num_inducing_, "], got ", theta.sizes());
}

torch::Tensor SparseGPImpl::kernel(const torch::Tensor& a, const torch::Tensor& b) {
  return functional::se_ard_kernel(a, b, kernel_variance(), length_scales());
}

torch::Tensor SparseGPImpl::kzz() {
  auto k = kernel(inducing_inputs_, inducing_inputs_);
  if (options_.jitter() > 0)
    k = k + options_.jitter() * torch::eye(num_inducing_, k.options().requires_grad(false));
  return k;
}

torch::Tensor SparseGPImpl::kzz_cholesky() {
  auto k = kzz();
  auto [L, info] = torch::linalg_cholesky_ex(k);
  TORCH_CHECK(info.item<int64_t>() == 0,
              "sparse_gp: K_ZZ is not positive definite (leading minor ", info.item<int64_t>(),
              "); raise jitter (now ", options_.jitter(), ") or check the inducing inputs for duplicates");
  return L;
}

torch::Tensor SparseGPImpl::whitened_cross(const torch::Tensor& x, const torch::Tensor& L) {
  auto kzx = kernel(inducing_inputs_, inputs(x));  // [M, B]
  return torch::linalg_solve_triangular(L, kzx, /*upper=*/false);
}

torch::Tensor SparseGPImpl::projection(const torch::Tensor& x) {
  auto L = kzz_cholesky();
  auto w = whitened_cross(x, L);  // L⁻¹ k(Z,x)
  if (options_.whiten()) return w;
  return torch::linalg_solve_triangular(L.transpose(0, 1), w, /*upper=*/true);  // K⁻¹ k(Z,x)
}

torch::Tensor SparseGPImpl::conditional_variance(const torch::Tensor& x) {
  auto w = whitened_cross(x, kzz_cholesky());
  return (kernel_variance() - w.square().sum(0)).clamp_min(0);
}

torch::Tensor SparseGPImpl::latent_mean(const torch::Tensor& theta, const torch::Tensor& x) {
  check_theta(theta);
  return torch::matmul(theta, logit_map(x).a);
}

// ---- the frozen-hyper-parameter cache ------------------------------------------------------

bool SparseGPImpl::hypers_frozen() const {
  if (!torch::GradMode::is_enabled()) return true;
  return !log_variance_.requires_grad() && !log_length_scales_.requires_grad() && !inducing_inputs_.requires_grad();
}

SparseGPImpl::HyperKey SparseGPImpl::hyper_key() const {
  auto ptr = [](const torch::Tensor& t) { return reinterpret_cast<int64_t>(t.data_ptr()); };
  return {ptr(log_variance_),      static_cast<int64_t>(log_variance_._version()),
          ptr(log_length_scales_), static_cast<int64_t>(log_length_scales_._version()),
          ptr(inducing_inputs_),   static_cast<int64_t>(inducing_inputs_._version())};
}

torch::Tensor SparseGPImpl::cholesky() {
  if (!hypers_frozen()) return kzz_cholesky();
  std::lock_guard<std::recursive_mutex> lock(cache_mutex_);
  const auto key = hyper_key();
  if (key != cache_key_ || !cached_cholesky_.defined()) {
    torch::NoGradGuard no_grad;
    cached_maps_.clear();
    cached_cholesky_ = kzz_cholesky();
    cache_key_ = key;
  }
  return cached_cholesky_;
}

SparseGPImpl::LogitMap SparseGPImpl::compute_logit_map(const torch::Tensor& x) {
  auto L = hypers_frozen() ? cholesky() : kzz_cholesky();
  auto w = whitened_cross(x, L);  // [M, B]
  LogitMap m;
  m.a = options_.whiten() ? w : torch::linalg_solve_triangular(L.transpose(0, 1), w, true);
  if (probit_) {
    auto var = (kernel_variance() - w.square().sum(0)).clamp_min(0);  // [B]
    m.scale = torch::rsqrt(1.0 + (M_PI / 8.0) * var);
  }
  if (quadrature_) m.sd = (kernel_variance() - w.square().sum(0)).clamp_min(0).sqrt();  // [B]
  return m;
}

SparseGPImpl::LogitMap SparseGPImpl::logit_map(const torch::Tensor& x) {
  auto xin = inputs(x);
  if (!hypers_frozen()) return compute_logit_map(xin);
  std::lock_guard<std::recursive_mutex> lock(cache_mutex_);
  cholesky();  // refreshes the key; drops the maps if the hyper-parameters changed
  const auto version = static_cast<int64_t>(xin._version());
  for (size_t i = 0; i < cached_maps_.size(); ++i) {
    if (cached_maps_[i].x.is_same(xin) && cached_maps_[i].x_version == version) {
      if (i != 0) std::rotate(cached_maps_.begin(), cached_maps_.begin() + i, cached_maps_.begin() + i + 1);
      return cached_maps_.front().map;
    }
  }
  LogitMap m;
  {
    torch::NoGradGuard no_grad;
    m = compute_logit_map(xin);
  }
  cached_maps_.insert(cached_maps_.begin(), CachedMap{xin, version, m});
  if (cached_maps_.size() > kCachedInputs) cached_maps_.pop_back();
  return m;
}

torch::Tensor SparseGPImpl::logit(const torch::Tensor& theta, const torch::Tensor& x) {
  check_theta(theta);
  auto m = logit_map(x);
  auto f = torch::matmul(theta, m.a);  // [S, B]
  return m.scale.defined() ? f * m.scale : f;
}

torch::Tensor SparseGPImpl::quadrature_log_sigmoid(const torch::Tensor& f, const torch::Tensor& sd,
                                                   const torch::Tensor& sign) {
  // [S, B, K]: the latent at every node, signed; then a log-sum-exp over the nodes.
  auto g = (f.unsqueeze(-1) + sd.unsqueeze(-1) * gh_nodes_) * sign.unsqueeze(-1);
  return torch::logsumexp(functional::log_sigmoid(g) + gh_log_weights_, -1);
}

torch::Tensor SparseGPImpl::log_likelihood(const torch::Tensor& theta, const data::Batch& batch) {
  TORCH_CHECK(batch.y.dim() == 1 && batch.y.size(0) == batch.x.size(0),
              "sparse_gp: y must be [B] with B = ", batch.x.size(0), ", got ", batch.y.sizes());
  if (quadrature_) {
    check_theta(theta);
    auto m = logit_map(batch.x);
    auto sign = 2.0 * batch.y.to(theta.scalar_type()) - 1.0;  // y ∈ {0, 1} -> ∓1
    return quadrature_log_sigmoid(torch::matmul(theta, m.a), m.sd, sign);
  }
  return functional::bernoulli_logit_log_likelihood(logit(theta, batch.x), batch.y);
}

torch::Tensor SparseGPImpl::predict_log_proba(const torch::Tensor& theta, const torch::Tensor& x) {
  if (quadrature_) {
    check_theta(theta);
    auto m = logit_map(x);
    auto f = torch::matmul(theta, m.a);
    auto one = torch::ones({1}, f.options());
    return torch::stack({quadrature_log_sigmoid(f, m.sd, -one), quadrature_log_sigmoid(f, m.sd, one)}, 2);
  }
  auto f = logit(theta, x);
  return torch::stack({functional::log_sigmoid(-f), functional::log_sigmoid(f)}, 2);
}

torch::Tensor SparseGPImpl::log_prior(const torch::Tensor& theta) {
  check_theta(theta);
  const double m = static_cast<double>(num_inducing_);
  if (options_.whiten()) return -0.5 * theta.square().sum(-1) - m * kHalfLog2Pi;
  auto L = cholesky();
  auto alpha = torch::linalg_solve_triangular(L, theta.transpose(0, 1), false);  // [M, S]
  return -0.5 * alpha.square().sum(0) - L.diagonal().log().sum() - m * kHalfLog2Pi;
}

torch::Tensor SparseGPImpl::init_theta() { return torch::zeros({num_inducing_}, theta_options()); }

std::string SparseGPImpl::architecture() const {
  // The node count only when it matters, so that existing run directories keep their
  // architecture string.
  const auto lv = quadrature_ ? fmt::format("quadrature{}", options_.quadrature_points())
                              : options_.likelihood_variance();
  return fmt::format("sparse_gp(M={},D={},kernel=se_ard,whiten={},jitter={},likelihood_variance={},"
                     "learn_kernel={},learn_inducing={})",
                     num_inducing_, input_dim_, options_.whiten() ? 1 : 0, options_.jitter(), lv,
                     options_.learn_kernel() ? 1 : 0, options_.learn_inducing() ? 1 : 0);
}

std::optional<GaussianPrior> SparseGPImpl::gaussian_prior() {
  auto opts = theta_options();
  auto loc = torch::zeros({num_inducing_}, opts);
  if (options_.whiten()) return GaussianPrior{loc, torch::eye(num_inducing_, opts), torch::Tensor()};
  return GaussianPrior{loc, cholesky(), torch::Tensor()};
}

}  // namespace unlearn::models
