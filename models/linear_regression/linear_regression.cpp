#include "linear_regression/linear_regression.h"

#include <cmath>

#include <fmt/format.h>

namespace unlearn::models {
namespace {
constexpr double kHalfLog2Pi = 0.91893853320467274178032973640562;
}

LinearRegressionImpl::LinearRegressionImpl(const LinearRegressionOptions& options)
    : options_(options) {
  TORCH_CHECK(options.num_features() >= 1, "linear regression: num_features = ",
              options.num_features(), " must be >= 1");
  TORCH_CHECK(options.noise_std() > 0, "linear regression: noise_std = ", options.noise_std(),
              " must be > 0");
  TORCH_CHECK(options.prior_std() > 0, "linear regression: prior_std = ", options.prior_std(),
              " must be > 0");
  device_anchor_ = register_buffer("device_anchor", torch::zeros({0}, options.dtype()));
}

torch::TensorOptions LinearRegressionImpl::theta_options() const {
  return device_anchor_.options();
}

torch::Tensor LinearRegressionImpl::log_likelihood(const torch::Tensor& theta,
                                                   const data::Batch& batch) {
  TORCH_CHECK(theta.dim() == 2 && theta.size(1) == num_params(), "theta must be [S, ",
              num_params(), "], got ", theta.sizes());
  const double s = options_.noise_std();
  auto mean = torch::matmul(theta, batch.x.to(theta.scalar_type()).t());  // [S, B]
  auto r = (batch.y.to(theta.scalar_type()).unsqueeze(0) - mean) / s;
  return -0.5 * r.square() - std::log(s) - kHalfLog2Pi;
}

torch::Tensor LinearRegressionImpl::expected_log_likelihood(const GaussianPosteriorImpl& q,
                                                            const data::Batch& batch) {
  const double s = options_.noise_std();
  auto x = batch.x.to(q.loc().scalar_type());
  auto mean = torch::mv(x, q.loc());
  auto spread = torch::matmul(x, q.scale_tril()).square().sum(-1);  // xᵀΣx with Σ = LLᵀ
  auto quad = (batch.y.to(mean.scalar_type()) - mean).square() + spread;
  return -0.5 * quad / (s * s) - std::log(s) - kHalfLog2Pi;
}

torch::Tensor LinearRegressionImpl::log_prior(const torch::Tensor& theta) {
  const double t = options_.prior_std();
  auto z = theta / t;
  return -0.5 * z.square().sum(-1) -
         static_cast<double>(num_params()) * (std::log(t) + kHalfLog2Pi);
}

torch::Tensor LinearRegressionImpl::init_theta() { return torch::zeros({num_params()}, theta_options()); }

std::string LinearRegressionImpl::architecture() const {
  return fmt::format("linear_regression(d={},noise_std={},prior_std={})", options_.num_features(),
                     options_.noise_std(), options_.prior_std());
}

std::optional<GaussianPrior> LinearRegressionImpl::gaussian_prior() {
  auto opts = theta_options();
  return GaussianPrior{torch::zeros({num_params()}, opts),
                       options_.prior_std() * torch::eye(num_params(), opts)};
}

NaturalParams LinearRegressionImpl::likelihood_natural_params(const data::Batch& batch) {
  auto x = batch.x.to(theta_options().dtype());
  auto y = batch.y.to(theta_options().dtype());
  const double inv_var = 1.0 / (options_.noise_std() * options_.noise_std());
  return {inv_var * torch::matmul(x.t(), x), inv_var * torch::matmul(x.t(), y)};
}

RegressionProblem make_regression_problem(int64_t n, const LinearRegressionOptions& options,
                                          torch::Generator& gen) {
  // On the generator's device (a factory needs its generator there), ids included.
  auto opts = torch::TensorOptions().dtype(options.dtype()).device(gen.device());
  auto theta = torch::randn({options.num_features()}, gen, opts) * options.prior_std();
  auto x = torch::randn({n, options.num_features()}, gen, opts);
  auto y = torch::matmul(x, theta) + options.noise_std() * torch::randn({n}, gen, opts);
  return {x, y, torch::arange(n, torch::TensorOptions(torch::kInt64).device(gen.device())), theta};
}

}  // namespace unlearn::models
