// Exact unlearning on conjugate linear regression equals the posterior computed on D_r.
#include <gtest/gtest.h>

#include "linear_regression/linear_regression.h"
#include "unlearn/unlearning/exact_conjugate.h"

namespace {
using namespace unlearn;

data::Batch rows(const models::RegressionProblem& pb, const torch::Tensor& idx) {
  return {pb.x.index_select(0, idx), pb.y.index_select(0, idx), pb.ids.index_select(0, idx)};
}

TEST(ExactConjugate, UnlearningEqualsPosteriorOnRemainingData) {
  for (uint64_t seed : {11u, 12u, 13u}) {
    auto gen = at::detail::createCPUGenerator(seed);
    auto options = models::LinearRegressionOptions(4).noise_std(0.7).prior_std(1.5);
    models::LinearRegression model(options);
    auto pb = models::make_regression_problem(200, options, gen);
    auto perm = torch::randperm(200, gen, torch::kInt64);
    auto erased = rows(pb, perm.slice(0, 0, 20));
    auto remaining = rows(pb, perm.slice(0, 20));
    auto all = rows(pb, torch::arange(200));

    auto [mean_d, cov_d] = exact_conjugate_posterior(*model, all);
    auto q_d = FullRankGaussianImpl::from_moments(mean_d, cov_d);
    auto unlearned = exact_unlearn(*model, *q_d, erased);
    auto [mean_r, cov_r] = exact_conjugate_posterior(*model, remaining);

    EXPECT_LT((unlearned->mean() - mean_r).abs().max().item<double>(), 1e-10) << seed;
    EXPECT_LT((unlearned->covariance() - cov_r).abs().max().item<double>(), 1e-10) << seed;
    // Erasing really moved the posterior (the test would notice a no-op).
    EXPECT_GT((mean_d - mean_r).abs().max().item<double>(), 1e-3) << seed;
    auto target = FullRankGaussianImpl::from_moments(mean_r, cov_r);
    EXPECT_LT(unlearned->kl_divergence(*target).item<double>(), 1e-10);
  }
}

TEST(ExactConjugate, PosteriorMatchesTextbookFormula) {
  auto gen = at::detail::createCPUGenerator(21);
  auto options = models::LinearRegressionOptions(3).noise_std(0.5).prior_std(2.0);
  models::LinearRegression model(options);
  auto pb = models::make_regression_problem(50, options, gen);
  auto [mean, cov] = exact_conjugate_posterior(*model, {pb.x, pb.y, pb.ids});
  // Σ = (I/τ² + XᵀX/σ²)⁻¹, μ = Σ Xᵀy/σ².
  auto precision = torch::eye(3, torch::kFloat64) / 4.0 + torch::matmul(pb.x.t(), pb.x) / 0.25;
  auto cov_ref = torch::inverse(precision);
  auto mean_ref = torch::matmul(cov_ref, torch::matmul(pb.x.t(), pb.y) / 0.25);
  EXPECT_TRUE(torch::allclose(cov, cov_ref, 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(mean, mean_ref, 1e-10, 1e-12));
}

TEST(ExactConjugate, RejectsPosteriorThatDoesNotContainTheData) {
  auto gen = at::detail::createCPUGenerator(22);
  auto options = models::LinearRegressionOptions(2).noise_std(0.1);
  models::LinearRegression model(options);
  auto pb = models::make_regression_problem(30, options, gen);
  // The prior alone cannot have 30 precise observations removed from it.
  auto prior = FullRankGaussianImpl::from_moments(torch::zeros({2}, torch::kFloat64),
                                                  torch::eye(2, torch::kFloat64));
  try {
    exact_unlearn(*model, *prior, {pb.x, pb.y, pb.ids});
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not positive definite"), std::string::npos) << e.what();
  }
}

}  // namespace
