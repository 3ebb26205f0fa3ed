#pragma once
// Small models for the inference tests, written against the public contract only.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "unlearn/data/dataset.h"
#include "unlearn/model.h"
#include "unlearn/unlearning/exact_conjugate.h"

namespace unlearn::inference_test {

constexpr double kHalfLog2Pi = 0.91893853320467274178032973640562;

/// Conjugate Bayesian linear regression y = x θ + N(0, σ²), θ ~ N(0, τ² I) (the same model as
/// models/linear_regression, which test_inference does not link). With learn_noise, log σ is a
/// torch parameter: a type-II hyper-parameter.
class ConjugateRegression : public Model, public ConjugateGaussianLikelihood {
 public:
  ConjugateRegression(int64_t d, double noise_std, double prior_std, bool learn_noise = false)
      : d_(d), prior_std_(prior_std) {
    auto init = torch::full({}, std::log(noise_std), torch::kFloat64);
    log_noise_ = learn_noise ? register_parameter("log_noise_std", init) : register_buffer("log_noise_std", init);
  }
  int64_t num_params() const override { return d_; }
  torch::Tensor noise_std() const { return log_noise_.exp(); }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& b) override {
    auto mean = torch::matmul(theta, b.x.t());  // [S, B]
    auto r = (b.y.unsqueeze(0) - mean) * torch::exp(-log_noise_);
    return -0.5 * r.square() - log_noise_ - kHalfLog2Pi;
  }
  torch::Tensor log_prior(const torch::Tensor& theta) override {
    auto z = theta / prior_std_;
    return -0.5 * z.square().sum(-1) - static_cast<double>(d_) * (std::log(prior_std_) + kHalfLog2Pi);
  }
  torch::Tensor init_theta() override { return torch::zeros({d_}, torch::kFloat64); }
  std::string architecture() const override { return "test_regression(d=" + std::to_string(d_) + ")"; }
  std::optional<GaussianPrior> gaussian_prior() override {
    return GaussianPrior{torch::zeros({d_}, torch::kFloat64), prior_std_ * torch::eye(d_, torch::kFloat64)};
  }
  torch::TensorOptions theta_options() const override { return torch::TensorOptions().dtype(torch::kFloat64); }
  NaturalParams likelihood_natural_params(const data::Batch& b) override {
    const double inv_var = std::exp(-2.0 * log_noise_.item<double>());
    return {inv_var * torch::matmul(b.x.t(), b.x), inv_var * torch::matmul(b.x.t(), b.y)};
  }
  /// log p(y) = log N(y | 0, σ² I + τ² X Xᵀ): the evidence, for known-answer tests.
  double log_evidence(const data::Batch& b) {
    const int64_t n = b.size();
    const double s2 = std::exp(2.0 * log_noise_.item<double>());
    auto cov = s2 * torch::eye(n, torch::kFloat64) + prior_std_ * prior_std_ * torch::matmul(b.x, b.x.t());
    auto l = torch::linalg_cholesky(cov);
    auto z = torch::linalg_solve_triangular(l, b.y.unsqueeze(-1), /*upper=*/false).squeeze(-1);
    return (-0.5 * z.square().sum() - l.diagonal().log().sum()).item<double>() - n * kHalfLog2Pi;
  }

 private:
  int64_t d_;
  double prior_std_;
  torch::Tensor log_noise_;
};

/// x ~ N(0, I) [n, d], y = x θ* + N(0, σ²), ids 0..n-1.
inline data::Dataset regression_data(int64_t n, int64_t d, double noise_std, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto theta = torch::randn({d}, gen, opts);
  auto x = torch::randn({n, d}, gen, opts);
  auto y = torch::matmul(x, theta) + noise_std * torch::randn({n}, gen, opts);
  return data::Dataset(x, y);
}

/// A posterior with no data: log p(θ) = log N(θ | m, Σ) and a likelihood that is 0 for the one
/// dummy row of `dummy_data()`. Its posterior is the prior, a correlated Gaussian.
class GaussianTarget : public Model {
 public:
  GaussianTarget(torch::Tensor mean, torch::Tensor cov)
      : mean_(std::move(mean)),
        cov_(std::move(cov)),
        tril_(torch::linalg_cholesky(cov_)),
        precision_(torch::inverse(cov_)),
        log_norm_(-tril_.diagonal().log().sum().item<double>() - mean_.size(0) * kHalfLog2Pi) {}
  int64_t num_params() const override { return mean_.size(0); }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& b) override {
    return torch::zeros({theta.size(0), b.size()}, theta.options());
  }
  torch::Tensor log_prior(const torch::Tensor& theta) override {
    auto diff = theta - mean_;  // [S, P]: a quadratic form, few ops (the chains take 10⁵ steps)
    return (torch::matmul(diff, precision_) * diff).sum(-1) * -0.5 + log_norm_;
  }
  torch::Tensor init_theta() override { return torch::zeros_like(mean_); }
  std::string architecture() const override { return "gaussian_target"; }
  std::optional<GaussianPrior> gaussian_prior() override { return GaussianPrior{mean_, tril_}; }
  torch::TensorOptions theta_options() const override { return mean_.options(); }
  const torch::Tensor& mean() const { return mean_; }
  const torch::Tensor& cov() const { return cov_; }
  const torch::Tensor& precision() const { return precision_; }

  static data::Dataset dummy_data() {
    return data::Dataset(torch::zeros({1, 1}, torch::kFloat64), torch::zeros({1}, torch::kFloat64));
  }

 private:
  torch::Tensor mean_, cov_, tril_, precision_;
  double log_norm_;
};

/// A correlated 2-D Gaussian: mean (1, −2), unit variances, correlation rho.
inline std::shared_ptr<GaussianTarget> correlated_target(double rho) {
  auto mean = torch::tensor({1.0, -2.0}, torch::kFloat64);
  auto cov = torch::tensor({{1.0, rho}, {rho, 1.0}}, torch::kFloat64);
  return std::make_shared<GaussianTarget>(mean, cov);
}

/// Runs f and expects a c10::Error whose message contains `needle`.
template <typename F>
void expect_error_containing(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing \"" << needle << "\", got none";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nexpected to contain: " << needle;
  }
}

}  // namespace unlearn::inference_test
