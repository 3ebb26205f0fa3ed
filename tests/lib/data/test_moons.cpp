#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "unlearn/data/moons.h"

using unlearn::data::make_moons;

namespace {

torch::Generator seeded(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

// Distance of each point from its own arc's circle: outer (0,0) radius 1, inner (1,0.5) radius 1.
torch::Tensor off_circle(const unlearn::data::Dataset& ds) {
  auto centre = torch::stack({ds.y().to(torch::kFloat64), ds.y().to(torch::kFloat64) * 0.5}, 1);
  return ((ds.x() - centre).norm(2, 1) - 1.0).abs();
}

}  // namespace

TEST(MakeMoons, ShapeTypesAndBalance) {
  auto ds = make_moons(100, 0.2, seeded(0));
  EXPECT_EQ(ds.x().sizes(), (std::vector<int64_t>{100, 2}));
  EXPECT_EQ(ds.x().scalar_type(), torch::kFloat64);
  EXPECT_EQ(ds.y().scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(ds.y().bincount(), torch::tensor({50, 50}, torch::kLong)));
  EXPECT_TRUE(torch::equal(ds.ids(), torch::arange(100, torch::kLong)));
  // Odd n: the inner moon gets the extra point, as in scikit-learn.
  EXPECT_TRUE(torch::equal(make_moons(101, 0.0, seeded(0)).y().bincount(), torch::tensor({50, 51}, torch::kLong)));
}

TEST(MakeMoons, NoiselessUnshuffledPointsAreExactlyOnTheArcs) {
  auto ds = make_moons(10, 0.0, std::nullopt, /*shuffle=*/false);
  auto t_out = torch::linspace(0, M_PI, 5, torch::kFloat64);
  auto t_in = t_out;  // n_in = n_out = 5
  auto want = torch::cat({torch::stack({t_out.cos(), t_out.sin()}, 1),
                          torch::stack({1 - t_in.cos(), 1 - t_in.sin() - 0.5}, 1)});
  EXPECT_TRUE(torch::allclose(ds.x(), want, 0, 1e-15));
  EXPECT_TRUE(torch::equal(ds.y(), torch::tensor({0, 0, 0, 0, 0, 1, 1, 1, 1, 1}, torch::kLong)));
  // End points: outer moon from (1,0) to (-1,0), inner from (0,0.5) to (2,0.5).
  EXPECT_DOUBLE_EQ(ds.x()[0][0].item<double>(), 1.0);
  EXPECT_NEAR(ds.x()[9][0].item<double>(), 2.0, 1e-15);
  EXPECT_NEAR(ds.x()[9][1].item<double>(), 0.5, 1e-15);
}

TEST(MakeMoons, ShuffledNoiselessPointsStayOnTheirArcs) {
  auto ds = make_moons(200, 0.0, seeded(1));
  EXPECT_LT(off_circle(ds).max().item<double>(), 1e-12);
  // Outer arc above y = 0, inner arc below y = 0.5.
  auto outer = ds.y() == 0;
  EXPECT_GE(ds.x().select(1, 1).masked_select(outer).min().item<double>(), -1e-12);
  EXPECT_LE(ds.x().select(1, 1).masked_select(outer.logical_not()).max().item<double>(), 0.5 + 1e-12);
  EXPECT_FALSE(torch::equal(ds.y().narrow(0, 0, 100), torch::zeros({100}, torch::kLong)));
}

TEST(MakeMoons, SeededAndNoiseHasTheRequestedScale) {
  EXPECT_TRUE(torch::equal(make_moons(50, 0.3, seeded(4)).x(), make_moons(50, 0.3, seeded(4)).x()));
  EXPECT_FALSE(torch::equal(make_moons(50, 0.3, seeded(4)).x(), make_moons(50, 0.3, seeded(5)).x()));
  // The shuffle draws before the noise, so the same seed with and without noise gives the same
  // order and the difference is the noise itself: 40000 N(0, 0.1²) draws. Standard error of the
  // mean 5e-4, of the standard deviation 3.5e-4: tolerances of about 5 standard errors.
  const int64_t n = 20000;
  auto clean = make_moons(n, 0.0, seeded(6));
  auto noisy = make_moons(n, 0.1, seeded(6));
  ASSERT_TRUE(torch::equal(clean.y(), noisy.y()));
  auto noise = noisy.x() - clean.x();
  EXPECT_NEAR(noise.mean().item<double>(), 0.0, 2.5e-3);
  EXPECT_NEAR(noise.std().item<double>(), 0.1, 2e-3);
}

TEST(MakeMoons, RejectsNegativeArguments) {
  EXPECT_THROW(make_moons(-1, 0.1), c10::Error);
  EXPECT_THROW(make_moons(10, -0.1), c10::Error);
}
