#pragma once
// Helpers of the variational-unlearning tests: a conjugate problem with exact posteriors (the
// oracle), a small non-linear model, the χ² CDF, and error-message capture.
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "linear_regression/linear_regression.h"
#include "unlearn/data/batch.h"
#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/exact_conjugate.h"

namespace unlearn::testing {

inline torch::Generator make_gen(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

/// Bayesian linear regression on n points; the last n_erased are D_e. q_full = exact p(θ|D),
/// exact_remaining = exact p(θ|D_r) (full-rank posteriors).
struct ConjugateProblem {
  models::LinearRegression model{nullptr};
  data::Batch all, erased, remaining;
  std::shared_ptr<GaussianPosteriorImpl> q_full, exact_remaining;
  torch::Tensor remaining_mean, remaining_cov;
};

inline ConjugateProblem make_conjugate_problem(int64_t dim, int64_t n, int64_t n_erased,
                                               uint64_t seed, double noise_std = 1.0,
                                               double prior_std = 1.0) {
  ConjugateProblem p;
  auto options = models::LinearRegressionOptions(dim).noise_std(noise_std).prior_std(prior_std);
  p.model = models::LinearRegression(options);
  auto gen = make_gen(seed);
  auto prob = models::make_regression_problem(n, options, gen);
  p.all = {prob.x, prob.y, prob.ids};
  const int64_t keep = n - n_erased;
  p.remaining = {prob.x.narrow(0, 0, keep), prob.y.narrow(0, 0, keep), prob.ids.narrow(0, 0, keep)};
  p.erased = {prob.x.narrow(0, keep, n_erased), prob.y.narrow(0, keep, n_erased),
              prob.ids.narrow(0, keep, n_erased)};
  auto [mean, cov] = exact_conjugate_posterior(*p.model, p.all);
  p.q_full = FullRankGaussianImpl::from_moments(mean, cov);
  std::tie(p.remaining_mean, p.remaining_cov) = exact_conjugate_posterior(*p.model, p.remaining);
  p.exact_remaining = FullRankGaussianImpl::from_moments(p.remaining_mean, p.remaining_cov);
  return p;
}

/// The known-answer problem of the tests: P = 3, |D| = 30, |D_e| = 3. KL(p(θ|D) ‖ p(θ|D_r)) ≈ 0.18,
/// so unlearning has to move, and the λ = 0 importance weights p(θ|D_r)/p(θ|D) keep an ESS of
/// about half the samples, so that reverse KL at S = 1000 is well posed (with |D_e| = 6 of 24
/// the ESS falls to ~1 % and self-normalised importance sampling is biased at any usable S).
inline ConjugateProblem standard_problem(uint64_t seed = 124) {
  return make_conjugate_problem(3, 30, 3, seed);
}

/// Bernoulli-logit likelihood on θ·x (labels 0/1), N(0, I) prior: a smooth non-quadratic model.
class TinyLogistic : public Model {
 public:
  explicit TinyLogistic(int64_t dim) : dim_(dim) {
    anchor_ = register_buffer("anchor", torch::zeros({0}, torch::kFloat64));
  }
  int64_t num_params() const override { return dim_; }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& b) override {
    auto f = torch::matmul(theta, b.x.to(theta.scalar_type()).t());  // [S, B]
    auto y = b.y.to(theta.scalar_type()).unsqueeze(0);
    return y * f - torch::nn::functional::softplus(f);
  }
  torch::Tensor log_prior(const torch::Tensor& theta) override {
    return -0.5 * theta.square().sum(-1);
  }
  torch::Tensor init_theta() override { return torch::zeros({dim_}, torch::kFloat64); }
  std::string architecture() const override { return "tiny_logistic"; }

 private:
  int64_t dim_;
  torch::Tensor anchor_;
};

/// TinyLogistic with a hyper-parameter (a logit temperature, requires_grad): unlearning must
/// leave it alone (frozen, no gradient computed for it).
class TemperedLogistic : public TinyLogistic {
 public:
  explicit TemperedLogistic(int64_t dim) : TinyLogistic(dim) {
    temperature_ = register_parameter("temperature", torch::ones({}, torch::kFloat64));
  }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& b) override {
    return TinyLogistic::log_likelihood(theta * temperature_, b);
  }
  const torch::Tensor& temperature() const { return temperature_; }

 private:
  torch::Tensor temperature_;
};

/// A classification batch of n points for TinyLogistic, seeded.
inline data::Batch make_logistic_batch(int64_t dim, int64_t n, uint64_t seed) {
  auto gen = make_gen(seed);
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto x = torch::randn({n, dim}, gen, opts);
  auto w = torch::randn({dim}, gen, opts);
  auto y = torch::bernoulli(torch::sigmoid(torch::matmul(x, w)), gen);
  return {x, y, torch::arange(n, torch::kInt64)};
}

/// A random full-rank Gaussian over dim parameters with a well-conditioned correlated covariance.
inline std::shared_ptr<GaussianPosteriorImpl> random_full_rank(int64_t dim, uint64_t seed,
                                                               double scale = 0.5) {
  auto gen = make_gen(seed);
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto a = torch::randn({dim, dim}, gen, opts) / std::sqrt(static_cast<double>(dim));
  auto cov = scale * scale * (torch::matmul(a, a.t()) + 0.5 * torch::eye(dim, opts));
  return FullRankGaussianImpl::from_moments(0.3 * torch::randn({dim}, gen, opts), cov);
}

/// F_{χ²_k}(x) for even k, exactly: 1 − e^{−x/2} Σ_{j<k/2} (x/2)^j / j!.
inline double chi2_cdf_even(int k, double x) {
  // The sum in log space: its terms overflow a double for k in the thousands.
  double lse = -std::numeric_limits<double>::infinity();
  for (int j = 0; j < k / 2; ++j) {
    const double log_term = j * std::log(x / 2) - std::lgamma(j + 1.0);
    const double hi = std::max(lse, log_term);
    lse = hi + std::log(std::exp(lse - hi) + std::exp(log_term - hi));
  }
  return 1.0 - std::exp(-x / 2 + lse);
}

/// The message of the c10::Error f throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace unlearn::testing
