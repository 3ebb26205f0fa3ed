#pragma once
// Bayesian linear regression with known noise: the conjugate ground truth of the library.
//   y_i = x_iᵀ θ + ε_i,  ε_i ~ N(0, σ²),  θ ~ N(m₀, τ² I).
// Its posterior is Gaussian in closed form, so exact unlearning, exact KLs and exact BIF
// shifts are available as test oracles for every approximate method.
#include <string>

#include <torch/torch.h>

#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/exact_conjugate.h"

namespace unlearn::models {

struct LinearRegressionOptions {
  /* implicit */ LinearRegressionOptions(int64_t num_features) : num_features_(num_features) {}
  /// d: θ has one weight per input column (add a column of ones for a bias).
  TORCH_ARG(int64_t, num_features);
  /// σ, the known noise standard deviation.
  TORCH_ARG(double, noise_std) = 1.0;
  /// τ, the prior standard deviation of every weight (prior mean 0).
  TORCH_ARG(double, prior_std) = 1.0;
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat64;
};

class LinearRegressionImpl : public Model, public ConjugateGaussianLikelihood {
 public:
  explicit LinearRegressionImpl(const LinearRegressionOptions& options);

  const LinearRegressionOptions& options() const { return options_; }
  int64_t num_params() const override { return options_.num_features(); }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& batch) override;
  torch::Tensor log_prior(const torch::Tensor& theta) override;
  torch::Tensor init_theta() override;
  std::string architecture() const override;
  std::optional<GaussianPrior> gaussian_prior() override;
  torch::TensorOptions theta_options() const override;
  NaturalParams likelihood_natural_params(const data::Batch& batch) override;
  /// E_q log N(y | xᵀθ, σ²) = −[(y − xᵀμ)² + xᵀΣx] / (2σ²) − log σ − ½ log 2π per row [B]: exact
  /// (the likelihood is quadratic in θ), so VI BIF's energy can be taken in closed form.
  bool has_expected_log_likelihood() const override { return true; }
  torch::Tensor expected_log_likelihood(const GaussianPosteriorImpl& q, const data::Batch& batch) override;

 private:
  LinearRegressionOptions options_;
  torch::Tensor device_anchor_;  // empty buffer: carries the model's device and dtype
};
TORCH_MODULE(LinearRegression);

/// A random regression problem: x ~ N(0, I), y = x θ* + N(0, σ²), ids 0..n-1. Seeded.
struct RegressionProblem {
  torch::Tensor x, y, ids, true_theta;
};
RegressionProblem make_regression_problem(int64_t n, const LinearRegressionOptions& options,
                                          torch::Generator& gen);

}  // namespace unlearn::models
