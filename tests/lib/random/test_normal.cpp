// The one random source (unlearn/random/normal.h): the ziggurat path's distribution, its
// determinism given the generator's state, the reused buffer, the normal_ fallbacks, and the
// bounded integers.
#include <gtest/gtest.h>

#include <cmath>

#include "unlearn/io/generator_state.h"
#include "unlearn/random/normal.h"

namespace unlearn {
namespace {

// Seed 7, 2e6 float64 draws in one call. Moments: the standard errors are 1/√n ≈ 7e-4 (mean),
// √2/√n ≈ 1e-3 (variance), √15/√n (3rd), √96/√n ≈ 7e-3 (4th moment, E z⁴ = 3); tolerances are
// 5 standard errors, so a correct generator fails one of these checks with probability < 1e-5.
// Tail probabilities P(|z| > t) against erfc(t/√2), also at 5 binomial standard deviations;
// t = 3.6541 is the ziggurat's tail start R, t = 4.5 lies in the tail algorithm's range only.
TEST(StandardNormal, ZigguratDrawsAreStandardNormal) {
  auto gen = make_generator(7);
  constexpr int64_t n = 2000000;
  auto z = standard_normal({n}, torch::kFloat64, gen);
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

// Many small calls (the shape of a sampler's per-step noise) are as normal as one large one:
// each call keys a fresh stream from the generator. Seed 41, 200 × 999 draws, 5 standard errors.
TEST(StandardNormal, ManySmallCallsAreStandardNormalAndIndependent) {
  auto gen = make_generator(41);
  torch::Tensor scratch;
  std::vector<torch::Tensor> draws;
  for (int k = 0; k < 200; ++k) draws.push_back(standard_normal({999}, torch::kFloat64, gen, scratch).clone());
  auto z = torch::stack(draws);  // [200, 999]
  const double m = static_cast<double>(z.numel());
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 5 / std::sqrt(m));
  EXPECT_NEAR(z.var().item<double>(), 1.0, 5 * std::sqrt(2 / m));
  EXPECT_NEAR(z.pow(4).mean().item<double>(), 3.0, 5 * std::sqrt(96 / m));
  // Consecutive calls are uncorrelated: the mean product of call k and call k+1, element-wise.
  auto cross = (z.narrow(0, 0, 199) * z.narrow(0, 1, 199)).mean().item<double>();
  EXPECT_NEAR(cross, 0.0, 5 / std::sqrt(199.0 * 999.0));
}

TEST(StandardNormal, DeterminedByTheGeneratorStateAndReusesTheBuffer) {
  auto a = make_generator(5), b = make_generator(5), c = make_generator(6);
  torch::Tensor sa, sb, sc;
  auto x = standard_normal({30, 50}, torch::kFloat64, a, sa).clone();
  const void* storage = sa.data_ptr();
  auto y = standard_normal({30, 50}, torch::kFloat64, a, sa);
  EXPECT_EQ(sa.data_ptr(), storage);  // no new buffer for the same shape
  EXPECT_FALSE(torch::equal(x, y));   // fresh numbers
  EXPECT_TRUE(torch::equal(x, standard_normal({30, 50}, torch::kFloat64, b, sb)));
  EXPECT_FALSE(torch::equal(x, standard_normal({30, 50}, torch::kFloat64, c, sc)));
  // A checkpointed generator state replays the same draws (io::generator_state).
  auto saved = io::generator_state(a);
  auto first = standard_normal({7, 3}, torch::kFloat64, a).clone();
  io::set_generator_state(a, saved);
  EXPECT_TRUE(torch::equal(first, standard_normal({7, 3}, torch::kFloat64, a)));
  // float32 comes from the same doubles.
  auto d = make_generator(5);
  auto f = standard_normal({30, 50}, torch::kFloat32, d);
  EXPECT_EQ(f.scalar_type(), torch::kFloat32);
  EXPECT_EQ(f.sizes(), torch::IntArrayRef({30, 50}));
  EXPECT_TRUE(torch::allclose(f.to(torch::kFloat64), x, 0, 1e-6));
}

TEST(StandardNormal, OtherDtypesUseNormalAndAnUndefinedGeneratorIsAnError) {
  auto gen = make_generator(3);
  auto h = standard_normal({4000}, torch::kBFloat16, gen);
  EXPECT_EQ(h.scalar_type(), torch::kBFloat16);
  EXPECT_NEAR(h.to(torch::kFloat64).mean().item<double>(), 0.0, 5 / std::sqrt(4000.0));
  torch::Generator undefined;
  EXPECT_THROW(standard_normal({3}, torch::kFloat64, undefined), c10::Error);
}

TEST(UniformIndex, IsUniformAndChecksItsRange) {
  auto gen = make_generator(3);
  constexpr int kBins = 7, kDraws = 70000;
  std::vector<int> counts(kBins, 0);
  for (int i = 0; i < kDraws; ++i) ++counts[uniform_index(gen, kBins)];
  // Each count is Binomial(70000, 1/7): 10000 ± 92.6; 5 sd.
  for (int c : counts) EXPECT_NEAR(c, kDraws / kBins, 5 * 92.6);
  EXPECT_EQ(uniform_index(gen, 1), 0);
  EXPECT_THROW(uniform_index(gen, 0), c10::Error);
}

}  // namespace
}  // namespace unlearn
