// standard_normal: both paths (LibTorch's normal_ below 1024 numbers, vectorised Box–Muller
// above) give standard-normal numbers, reproducibly, in the reused buffer.
#include <gtest/gtest.h>

#include "unlearn/inference/noise.h"

namespace {
using unlearn::inference::standard_normal;

// n = 200 001 draws (odd: the Box–Muller path discards one of its pair). Standard errors: mean
// 1/√n = 0.0022, variance √(2/n) = 0.0032, fourth moment √(96/n) = 0.022; tolerances are 5 of
// those. The tail check (|z| > 4 has probability 6.3e-5, ~13 expected) catches a transform that
// never leaves [−4, 4].
TEST(Noise, MomentsOfBothPaths) {
  for (int64_t n : {200001, 999}) {
    auto gen = at::detail::createCPUGenerator(41);
    torch::Tensor scratch;
    std::vector<torch::Tensor> draws;
    for (int64_t done = 0; done < 200001; done += n) {
      draws.push_back(standard_normal({n}, torch::kFloat64, gen, scratch).clone());
    }
    auto z = torch::cat(draws);
    const double m = static_cast<double>(z.numel());
    EXPECT_NEAR(z.mean().item<double>(), 0.0, 5 / std::sqrt(m)) << n;
    EXPECT_NEAR(z.var().item<double>(), 1.0, 5 * std::sqrt(2 / m)) << n;
    EXPECT_NEAR(z.pow(4).mean().item<double>(), 3.0, 5 * std::sqrt(96 / m)) << n;
    EXPECT_GT((z.abs() > 4).sum().item<int64_t>(), 0) << n;
    EXPECT_TRUE(torch::isfinite(z).all().item<bool>());
  }
}

TEST(Noise, ReproducibleAndReusesTheBuffer) {
  auto a = at::detail::createCPUGenerator(5), b = at::detail::createCPUGenerator(5);
  torch::Tensor sa, sb;
  auto x = standard_normal({30, 50}, torch::kFloat64, a, sa).clone();
  const void* storage = sa.data_ptr();
  auto y = standard_normal({30, 50}, torch::kFloat64, a, sa);
  EXPECT_EQ(sa.data_ptr(), storage);  // no new buffer for the same shape
  EXPECT_FALSE(torch::equal(x, y));   // fresh numbers
  EXPECT_TRUE(torch::equal(x, standard_normal({30, 50}, torch::kFloat64, b, sb)));
  auto f = standard_normal({3, 1000}, torch::kFloat32, b, sb);
  EXPECT_EQ(f.scalar_type(), torch::kFloat32);
  EXPECT_EQ(f.sizes(), torch::IntArrayRef({3, 1000}));
}

}  // namespace
