// The ziggurat normal generator of the unlearning hot loops: distribution, determinism, blocks.
#include <gtest/gtest.h>

#include <cmath>

#include "unlearn/unlearning/fast_normal.h"

namespace unlearn {
namespace {

// 2e6 draws. Moments: the standard errors are 1/√n ≈ 7e-4 (mean), √2/√n ≈ 1e-3 (variance),
// √96/√n ≈ 7e-3 (4th moment, E z⁴ = 3); tolerances are 5 standard errors. Tail probabilities
// P(|z| > t) against erfc(t/√2), also at 5 binomial standard deviations; t = 3.6541 is the
// ziggurat's tail start R, t = 4.5 lies in the tail algorithm's range only.
TEST(FastNormalGenerator, DrawsAreStandardNormal) {
  FastNormalGenerator gen(7);
  constexpr int64_t n = 2000000;
  auto z = torch::empty({n}, torch::kFloat64);
  gen.fill_normal(z);
  const double se = 1.0 / std::sqrt(static_cast<double>(n));
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 5 * se);
  EXPECT_NEAR(z.square().mean().item<double>(), 1.0, 5 * std::sqrt(2.0) * se);
  EXPECT_NEAR(z.pow(3).mean().item<double>(), 0.0, 5 * std::sqrt(15.0) * se);
  EXPECT_NEAR(z.pow(4).mean().item<double>(), 3.0, 5 * std::sqrt(96.0) * se);
  for (double t : {0.5, 1.0, 2.0, 3.0, 3.6541528853610088, 4.5}) {
    const double p = std::erfc(t / std::sqrt(2.0));
    const double count = (z.abs() > t).sum().item<double>();
    EXPECT_NEAR(count, n * p, 5 * std::sqrt(n * p * (1 - p)) + 1) << "t = " << t;
  }
  // Symmetry: as many positive as negative draws (±5 sd).
  EXPECT_NEAR((z > 0).sum().item<double>(), n / 2.0, 5 * std::sqrt(n / 4.0));
  // Kolmogorov–Smirnov distance to Φ on a sorted sub-sample of 1e5: the 0.1 % critical value
  // is 1.95/√m ≈ 6.2e-3.
  constexpr int64_t m = 100000;
  auto sorted = std::get<0>(z.narrow(0, 0, m).sort());
  auto cdf = 0.5 * torch::erfc(-sorted / std::sqrt(2.0));
  auto ecdf = torch::arange(1, m + 1, torch::kFloat64) / static_cast<double>(m);
  EXPECT_LT((cdf - ecdf).abs().max().item<double>(), 6.2e-3);
  // Neighbouring draws are uncorrelated (the ziggurat takes layer and value from disjoint bits).
  auto a = z.narrow(0, 0, n - 1), b = z.narrow(0, 1, n - 1);
  EXPECT_NEAR((a * b).mean().item<double>(), 0.0, 5 * se);
}

TEST(FastNormalGenerator, DeterministicAndBlockInvariant) {
  FastNormalGenerator a(42), b(42), c(43);
  auto x = torch::empty({1000, 7}, torch::kFloat64);
  a.fill_normal(x);
  // The same stream drawn in three blocks of different sizes.
  auto y = torch::empty({7000}, torch::kFloat64);
  b.fill_normal(y.narrow(0, 0, 13));
  b.fill_normal(y.narrow(0, 13, 4000));
  b.fill_normal(y.narrow(0, 4013, 2987));
  EXPECT_TRUE(x.view(-1).equal(y));
  auto z = torch::empty({1000, 7}, torch::kFloat64);
  c.fill_normal(z);
  EXPECT_FALSE(x.equal(z));
  // State round trip.
  FastNormalGenerator d(5);
  auto saved = d.state();
  const double first = d.normal();
  d.set_state(saved);
  EXPECT_EQ(d.normal(), first);
  // float32 and randn.
  auto f = FastNormalGenerator(42).randn({1000, 7}, torch::kFloat32);
  EXPECT_TRUE(torch::allclose(f.to(torch::kFloat64), x, 0, 1e-6));
  EXPECT_THROW(a.fill_normal(torch::empty({3}, torch::kInt64)), c10::Error);
  EXPECT_THROW(a.fill_normal(torch::empty({4, 4}, torch::kFloat64).t()), c10::Error);
}

TEST(FastNormalGenerator, BoundedIntegersAreUniform) {
  FastNormalGenerator gen(3);
  constexpr int kBins = 7, kDraws = 70000;
  std::vector<int> counts(kBins, 0);
  for (int i = 0; i < kDraws; ++i) ++counts[gen.below(kBins)];
  // Each count is Binomial(70000, 1/7): 10000 ± 92; 5 sd.
  for (int c : counts) EXPECT_NEAR(c, kDraws / kBins, 5 * 92.6);
  EXPECT_EQ(gen.below(1), 0u);
  EXPECT_THROW(gen.below(0), c10::Error);
}

}  // namespace
}  // namespace unlearn
