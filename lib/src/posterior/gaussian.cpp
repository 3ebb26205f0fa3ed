#include "unlearn/posterior/gaussian.h"

#include <cmath>

#include "unlearn/posterior/functional.h"
#include "unlearn/random/normal.h"

namespace unlearn {
namespace F = functional;

GaussianPosteriorImpl::GaussianPosteriorImpl(const GaussianOptions& options) : options_(options) {
  TORCH_CHECK(options.dim() >= 1, "GaussianOptions: dim = ", options.dim(), " must be >= 1");
  TORCH_CHECK(options.runs() >= 0, "GaussianOptions: runs = ", options.runs(),
              " must be >= 0 (0 means no run dimension)");
  TORCH_CHECK(options.init_scale() > 0 && std::isfinite(options.init_scale()),
              "GaussianOptions: init_scale = ", options.init_scale(), " must be finite and > 0");
  auto opts = torch::TensorOptions().dtype(options.dtype()).device(options.device());
  loc_ = register_parameter("loc", torch::zeros(vector_shape(), opts));
}

std::vector<int64_t> GaussianPosteriorImpl::vector_shape() const {
  if (runs() > 0) return {runs(), dim()};
  return {dim()};
}

torch::Tensor GaussianPosteriorImpl::sample_noise(int64_t num_samples,
                                                  std::optional<torch::Generator> gen) const {
  TORCH_CHECK(num_samples >= 1, "number of samples = ", num_samples, " must be >= 1");
  std::vector<int64_t> shape{num_samples, dim()};
  if (runs() > 0) shape.insert(shape.begin(), runs());
  auto opts = loc_.options().requires_grad(false);
  // Without a generator: LibTorch's default one of the posterior's device (callers that need
  // reproducible draws pass theirs). A generator on another device draws there and moves.
  torch::Generator g = gen ? *gen : at::globalContext().defaultGenerator(opts.device());
  return standard_normal(shape, opts, g);
}

torch::Tensor GaussianPosteriorImpl::log_prob_at_mode() const {
  constexpr double kLog2Pi = 1.8378770664093454835606594728112;
  return -half_log_det() - 0.5 * static_cast<double>(dim()) * kLog2Pi;
}

torch::Tensor GaussianPosteriorImpl::half_log_det() const { return F::half_log_det_tril(scale_tril()); }

torch::Tensor GaussianPosteriorImpl::covariance() const {
  auto l = scale_tril();
  return torch::matmul(l, l.transpose(-1, -2));
}

torch::Tensor GaussianPosteriorImpl::entropy() const {
  constexpr double kLog2Pi = 1.8378770664093454835606594728112;
  return half_log_det() + 0.5 * static_cast<double>(dim()) * (1.0 + kLog2Pi);
}

torch::Tensor GaussianPosteriorImpl::kl_divergence(const GaussianPosteriorImpl& other) const {
  TORCH_CHECK(other.dim() == dim(), "KL between Gaussians of different dimension: ", dim(),
              " vs ", other.dim());
  if (family() == "mean_field" && other.family() == "mean_field") {
    return F::gaussian_kl_diag(loc_, stddev(), other.loc(), other.stddev());
  }
  return F::gaussian_kl_tril(loc_, scale_tril(), other.loc(), other.scale_tril());
}

torch::Tensor GaussianPosteriorImpl::kl_divergence(const GaussianPrior& prior) const {
  TORCH_CHECK(prior.loc.size(-1) == dim(), "prior has ", prior.loc.size(-1),
              " dimensions, the posterior ", dim());
  if (family() == "mean_field" && prior.scale_diag.defined() && !prior.scale_tril.defined()) {
    return F::gaussian_kl_diag(loc_, stddev(), prior.loc, prior.scale_diag);
  }
  return F::gaussian_kl_tril(loc_, scale_tril(), prior.loc, prior.tril());
}

// ---- mean-field ---------------------------------------------------------------------------

MeanFieldGaussianImpl::MeanFieldGaussianImpl(const GaussianOptions& options)
    : GaussianPosteriorImpl(options) {
  auto opts = loc_.options().requires_grad(false);
  auto rho0 = F::inverse_softplus(torch::full({}, options.init_scale(), opts)).item<double>();
  rho_ = register_parameter("rho", torch::full(vector_shape(), rho0, opts));
}

std::shared_ptr<MeanFieldGaussianImpl> MeanFieldGaussianImpl::from_moments(
    const torch::Tensor& mean, const torch::Tensor& covariance) {
  auto options = GaussianOptions(mean.size(-1))
                     .runs(mean.dim() == 2 ? mean.size(0) : 0)
                     .dtype(mean.scalar_type())
                     .device(mean.device());
  TORCH_CHECK(mean.dim() == 1 || mean.dim() == 2, "mean must be [P] or [R, P], got ",
              mean.sizes());
  auto q = std::make_shared<MeanFieldGaussianImpl>(options);
  q->set_moments(mean, covariance);
  return q;
}

torch::Tensor MeanFieldGaussianImpl::stddev() const { return F::softplus(rho_); }

torch::Tensor MeanFieldGaussianImpl::scale_tril() const { return torch::diag_embed(stddev()); }

torch::Tensor MeanFieldGaussianImpl::transform(const torch::Tensor& noise) const {
  return loc_.unsqueeze(-2) + noise * stddev().unsqueeze(-2);
}

torch::Tensor MeanFieldGaussianImpl::log_prob(const torch::Tensor& theta) const {
  return F::gaussian_log_prob_diag(theta, loc_, stddev());
}

void MeanFieldGaussianImpl::set_moments(const torch::Tensor& mean,
                                        const torch::Tensor& covariance) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(mean.sizes() == loc_.sizes(), "set_moments: mean has shape ", mean.sizes(),
              ", the posterior's mean ", loc_.sizes());
  auto var = covariance.dim() == mean.dim() ? covariance : covariance.diagonal(0, -2, -1);
  TORCH_CHECK(var.sizes() == loc_.sizes(), "set_moments: variances have shape ", var.sizes(),
              ", expected ", loc_.sizes());
  TORCH_CHECK((var > 0).all().item<bool>(), "set_moments: every variance must be > 0, min = ",
              var.min().item<double>());
  loc_.copy_(mean);
  rho_.copy_(F::inverse_softplus(var.sqrt()));
}

std::shared_ptr<GaussianPosteriorImpl> MeanFieldGaussianImpl::copy() const {
  auto q = std::make_shared<MeanFieldGaussianImpl>(options_);
  torch::NoGradGuard no_grad;
  q->loc_.copy_(loc_);
  q->rho_.copy_(rho_);
  return q;
}

std::shared_ptr<GaussianPosteriorImpl> MeanFieldGaussianImpl::replicate(int64_t runs) const {
  TORCH_CHECK(this->runs() == 0, "replicate: the posterior already has ", this->runs(), " runs");
  auto q = std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(options_).runs(runs));
  torch::NoGradGuard no_grad;
  q->loc_.copy_(loc_.expand({runs, dim()}));
  q->rho_.copy_(rho_.expand({runs, dim()}));
  return q;
}

std::shared_ptr<GaussianPosteriorImpl> MeanFieldGaussianImpl::select_run(int64_t run) const {
  TORCH_CHECK(run >= 0 && run < runs(), "select_run: run ", run, " is outside [0, ", runs(), ")");
  auto q = std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(options_).runs(0));
  torch::NoGradGuard no_grad;
  q->loc_.copy_(loc_[run]);
  q->rho_.copy_(rho_[run]);
  return q;
}

// ---- full-rank ----------------------------------------------------------------------------

FullRankGaussianImpl::FullRankGaussianImpl(const GaussianOptions& options)
    : GaussianPosteriorImpl(options) {
  auto opts = loc_.options().requires_grad(false);
  auto shape = vector_shape();
  shape.push_back(dim());
  auto d0 = F::inverse_softplus(torch::full({}, options.init_scale(), opts)).item<double>();
  auto raw = torch::diag_embed(torch::full(vector_shape(), d0, opts));
  raw_tril_ = register_parameter("raw_tril", raw);
}

std::shared_ptr<FullRankGaussianImpl> FullRankGaussianImpl::from_moments(
    const torch::Tensor& mean, const torch::Tensor& covariance) {
  TORCH_CHECK(mean.dim() == 1 || mean.dim() == 2, "mean must be [P] or [R, P], got ",
              mean.sizes());
  auto options = GaussianOptions(mean.size(-1))
                     .runs(mean.dim() == 2 ? mean.size(0) : 0)
                     .dtype(mean.scalar_type())
                     .device(mean.device());
  auto q = std::make_shared<FullRankGaussianImpl>(options);
  q->set_moments(mean, covariance);
  return q;
}

torch::Tensor FullRankGaussianImpl::scale_tril() const {
  auto diag = F::softplus(raw_tril_.diagonal(0, -2, -1));
  return torch::tril(raw_tril_, -1) + torch::diag_embed(diag);
}

torch::Tensor FullRankGaussianImpl::stddev() const {
  return scale_tril().square().sum(-1).sqrt();
}

torch::Tensor FullRankGaussianImpl::transform(const torch::Tensor& noise) const {
  // θ = loc + ε Lᵀ row-wise: [.., S, P] x [.., P, P].
  return loc_.unsqueeze(-2) + torch::matmul(noise, scale_tril().transpose(-1, -2));
}

torch::Tensor FullRankGaussianImpl::log_prob(const torch::Tensor& theta) const {
  return F::gaussian_log_prob_tril(theta, loc_, scale_tril());
}

void FullRankGaussianImpl::set_moments(const torch::Tensor& mean,
                                       const torch::Tensor& covariance) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(mean.sizes() == loc_.sizes(), "set_moments: mean has shape ", mean.sizes(),
              ", the posterior's mean ", loc_.sizes());
  TORCH_CHECK(covariance.sizes() == raw_tril_.sizes(), "set_moments: covariance has shape ",
              covariance.sizes(), ", expected ", raw_tril_.sizes());
  auto l = F::cholesky_or_throw(covariance, "set_moments: covariance");
  loc_.copy_(mean);
  raw_tril_.copy_(torch::tril(l, -1) +
                  torch::diag_embed(F::inverse_softplus(l.diagonal(0, -2, -1))));
}

std::shared_ptr<GaussianPosteriorImpl> FullRankGaussianImpl::copy() const {
  auto q = std::make_shared<FullRankGaussianImpl>(options_);
  torch::NoGradGuard no_grad;
  q->loc_.copy_(loc_);
  q->raw_tril_.copy_(raw_tril_);
  return q;
}

std::shared_ptr<GaussianPosteriorImpl> FullRankGaussianImpl::replicate(int64_t runs) const {
  TORCH_CHECK(this->runs() == 0, "replicate: the posterior already has ", this->runs(), " runs");
  auto q = std::make_shared<FullRankGaussianImpl>(GaussianOptions(options_).runs(runs));
  torch::NoGradGuard no_grad;
  q->loc_.copy_(loc_.expand({runs, dim()}));
  q->raw_tril_.copy_(raw_tril_.expand({runs, dim(), dim()}));
  return q;
}

std::shared_ptr<GaussianPosteriorImpl> FullRankGaussianImpl::select_run(int64_t run) const {
  TORCH_CHECK(run >= 0 && run < runs(), "select_run: run ", run, " is outside [0, ", runs(), ")");
  auto q = std::make_shared<FullRankGaussianImpl>(GaussianOptions(options_).runs(0));
  torch::NoGradGuard no_grad;
  q->loc_.copy_(loc_[run]);
  q->raw_tril_.copy_(raw_tril_[run]);
  return q;
}

std::shared_ptr<GaussianPosteriorImpl> make_gaussian_posterior(const std::string& family,
                                                               const GaussianOptions& options) {
  if (family == "mean_field") return std::make_shared<MeanFieldGaussianImpl>(options);
  if (family == "full_rank") return std::make_shared<FullRankGaussianImpl>(options);
  TORCH_CHECK(false, "posterior family '", family, "' is unknown: allowed are mean_field, full_rank");
}

}  // namespace unlearn
