#include <gtest/gtest.h>

#include <cmath>

#include "unlearn/metrics/predictive.h"
#include "unlearn/posterior/gaussian.h"

namespace {
using namespace unlearn;

TEST(Metrics, CategoricalKlMatchesDefinition) {
  auto p = torch::tensor({{0.2, 0.8}, {1.0, 0.0}}, torch::kFloat64);
  auto q = torch::tensor({{0.5, 0.5}, {0.9, 0.1}}, torch::kFloat64);
  auto kl = metrics::categorical_kl(p, q);
  EXPECT_NEAR(kl[0].item<double>(), 0.2 * std::log(0.4) + 0.8 * std::log(1.6), 1e-14);
  EXPECT_NEAR(kl[1].item<double>(), std::log(1 / 0.9), 1e-14);  // 0 log 0 = 0
  auto ms = metrics::averaged_kl(p, q);
  EXPECT_NEAR(ms.mean, 0.5 * (kl[0] + kl[1]).item<double>(), 1e-14);
  EXPECT_NEAR(ms.std, 0.5 * std::abs((kl[0] - kl[1]).item<double>()), 1e-14);  // population std
  EXPECT_EQ(metrics::averaged_kl(p, p).mean, 0.0);
}

TEST(Metrics, ErrorL1AndTrueLabel) {
  auto probs = torch::tensor({{0.9, 0.1}, {0.4, 0.6}, {0.3, 0.7}}, torch::kFloat64);
  auto labels = torch::tensor({0, 0, 1});
  EXPECT_NEAR(metrics::error_rate(probs, labels), 1.0 / 3.0, 1e-15);
  EXPECT_TRUE(torch::allclose(metrics::true_label_probs(probs, labels),
                              torch::tensor({0.9, 0.4, 0.7}, torch::kFloat64)));
  EXPECT_NEAR(metrics::mean_l1_distance(probs, probs.flip(-1)), (1.6 + 0.4 + 0.8) / 3, 1e-14);
}

TEST(Metrics, MembershipAttackFindsTheSeparatingThreshold) {
  // Members score high, non-members low, perfectly separable at τ in (0.5, 0.6].
  auto member = torch::tensor({0.6, 0.7, 0.9, 0.95}, torch::kFloat64);
  auto nonmember = torch::tensor({0.1, 0.3, 0.5}, torch::kFloat64);
  auto target = torch::tensor({0.2, 0.55, 0.8, 0.99}, torch::kFloat64);
  auto r = metrics::membership_attack(member, nonmember, target);
  EXPECT_DOUBLE_EQ(r.balanced_accuracy, 1.0);
  EXPECT_GT(r.threshold, 0.5);
  EXPECT_LE(r.threshold, 0.6);
  EXPECT_DOUBLE_EQ(r.target_nonmember_fraction, 0.5);  // 0.2 and 0.55 fall below τ = 0.6
}

// 1-NN estimator of KL(N(0,I) ‖ N(μ,I)) = |μ|²/2 in d = 2. Seed 31, n = m = 4000; the estimator
// is consistent with a bias and spread of a few hundredths at this size: tolerance 0.1 on a true
// value of 0.5, and the same-distribution estimate must stay near 0.
TEST(Metrics, KnnKlEstimatorIsConsistent) {
  auto gen = at::detail::createCPUGenerator(31);
  auto x = torch::randn({4000, 2}, gen, torch::kFloat64);
  auto y = torch::randn({4000, 2}, gen, torch::kFloat64) + torch::tensor({1.0, 0.0}, torch::kFloat64);
  auto y0 = torch::randn({4000, 2}, gen, torch::kFloat64);
  EXPECT_NEAR(metrics::knn_kl_estimate(x, y), 0.5, 0.1);
  EXPECT_NEAR(metrics::knn_kl_estimate(x, y0), 0.0, 0.1);
}

}  // namespace
