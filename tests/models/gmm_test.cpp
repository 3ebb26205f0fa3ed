// models/gmm: the mixture likelihood against a direct per-datum loop, its gradient against
// finite differences, the prior, and the experiment's data file.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include <ATen/CPUGeneratorImpl.h>

#include "gmm/gmm.h"
#include "unlearn/data/csv.h"

namespace {
using namespace unlearn;

constexpr double kPi = 3.14159265358979323846;

TEST(GmmModel, LogLikelihoodMatchesDirectLoop) {
  // Seed 1: S = 3 samples of K = 4 means in d = 3, B = 7 points spread wide enough that some
  // components are ~e^-50 away (the log-sum-exp must not lose them). float64, tolerance 1e-12.
  auto gmm = models::Gmm(models::GmmOptions(4, 3));
  auto gen = at::detail::createCPUGenerator(1);
  auto theta = 3.0 * torch::randn({3, 12}, gen, torch::kFloat64);
  auto x = 4.0 * torch::randn({7, 3}, gen, torch::kFloat64);
  data::Batch batch{x, torch::zeros({7}, torch::kLong), torch::arange(7)};
  auto ll = gmm->log_likelihood(theta, batch);
  ASSERT_EQ(ll.sizes(), (std::vector<int64_t>{3, 7}));
  auto t = theta.accessor<double, 2>();
  auto xa = x.accessor<double, 2>();
  for (int64_t s = 0; s < 3; ++s) {
    for (int64_t i = 0; i < 7; ++i) {
      double total = 0.0;
      for (int64_t k = 0; k < 4; ++k) {
        double sq = 0.0;
        for (int64_t j = 0; j < 3; ++j) {
          const double diff = xa[i][j] - t[s][k * 3 + j];
          sq += diff * diff;
        }
        total += 0.25 * std::pow(2 * kPi, -1.5) * std::exp(-0.5 * sq);
      }
      EXPECT_NEAR(ll[s][i].item<double>(), std::log(total), 1e-12 * (1 + std::abs(std::log(total))))
          << s << "," << i;
    }
  }
}

TEST(GmmModel, GradientMatchesFiniteDifferences) {
  // Central differences with step 1e-6 in float64: truncation ~1e-12·|f'''|, round-off ~1e-10;
  // tolerance 1e-6 absolute on gradients of order 1-10.
  auto gmm = models::Gmm(models::GmmOptions(4, 2));
  auto gen = at::detail::createCPUGenerator(2);
  auto theta0 = torch::randn({1, 8}, gen, torch::kFloat64);
  auto x = 2.0 * torch::randn({20, 2}, gen, torch::kFloat64);
  data::Batch batch{x, torch::zeros({20}, torch::kLong), torch::arange(20)};
  auto f = [&](const torch::Tensor& th) {
    return gmm->log_likelihood(th, batch).sum() + gmm->log_prior(th).sum();
  };
  auto theta = theta0.clone().requires_grad_(true);
  auto grad = torch::autograd::grad({f(theta)}, {theta})[0];
  const double h = 1e-6;
  for (int64_t p = 0; p < 8; ++p) {
    auto plus = theta0.clone();
    auto minus = theta0.clone();
    plus[0][p] += h;
    minus[0][p] -= h;
    const double fd = (f(plus).item<double>() - f(minus).item<double>()) / (2 * h);
    EXPECT_NEAR(grad[0][p].item<double>(), fd, 1e-6) << "coordinate " << p;
  }
}

TEST(GmmModel, PriorAndContract) {
  auto gmm = models::Gmm(models::GmmOptions(4, 2).prior_std(2.0));
  EXPECT_EQ(gmm->num_params(), 8);
  EXPECT_EQ(gmm->architecture(), "gmm(K=4,d=2,prior_std=2)");
  EXPECT_EQ(gmm->theta_options().dtype(), torch::kFloat64);
  auto prior = gmm->gaussian_prior();
  ASSERT_TRUE(prior.has_value());
  auto gen = at::detail::createCPUGenerator(3);
  auto theta = torch::randn({5, 8}, gen, torch::kFloat64);
  // log_prior equals the log density of the Gaussian prior it reports (closed form, 1e-12).
  auto z = theta / 2.0;
  auto expected = -0.5 * z.square().sum(-1) - 8 * (std::log(2.0) + 0.5 * std::log(2 * kPi));
  EXPECT_LT((gmm->log_prior(theta) - expected).abs().max().item<double>(), 1e-12);
  EXPECT_DOUBLE_EQ((prior->scale_tril - 2.0 * torch::eye(8, torch::kFloat64)).abs().max().item<double>(), 0.0);
  // init_theta: K distinct means (a symmetric start would be a saddle).
  auto mu = gmm->means(gmm->init_theta());
  ASSERT_EQ(mu.sizes(), (std::vector<int64_t>{4, 2}));
  EXPECT_GT(torch::pdist(mu).min().item<double>(), 1.0);
  // Bad options and shapes are rejected naming the value.
  EXPECT_THROW(models::Gmm(models::GmmOptions(0, 2)), c10::Error);
  EXPECT_THROW(models::Gmm(models::GmmOptions(4, 2).prior_std(-1)), c10::Error);
  data::Batch bad{torch::zeros({3, 3}, torch::kFloat64), torch::zeros({3}), torch::arange(3)};
  try {
    gmm->log_likelihood(theta, bad);
    ADD_FAILURE() << "x of the wrong width accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("x must be [B, 2]"), std::string::npos) << e.what();
  }
}

TEST(GmmModel, DataFileLoadsWithKnownClassMeans) {
  auto ds = data::load_csv_dataset(std::string(UNLEARN_SOURCE_DIR) + "/configs/data/gmm_2d_2000.csv",
                                   {"x1", "x2"}, "label", "id");
  ASSERT_EQ(ds.size(), 2000);
  // The class means of the file, to the 3 decimals they were recorded with (tolerance 6e-3).
  const double known[4][2] = {{-1.995, -2.202}, {-1.499, 2.114}, {2.116, 2.898}, {1.239, -0.994}};
  auto centres = torch::zeros({4, 2}, torch::kFloat64);
  for (int64_t k = 0; k < 4; ++k) {
    auto rows = ds.x().index({ds.y() == k});
    ASSERT_GT(rows.size(0), 0) << "class " << k;
    auto m = rows.mean(0);
    centres[k] = m;
    EXPECT_NEAR(m[0].item<double>(), known[k][0], 6e-3) << "class " << k;
    EXPECT_NEAR(m[1].item<double>(), known[k][1], 6e-3) << "class " << k;
  }
  // The likelihood is finite on the whole file.
  auto gmm = models::Gmm(models::GmmOptions(4, 2));
  auto ll = gmm->log_likelihood(centres.reshape({1, 8}), ds.batch());
  EXPECT_TRUE(torch::isfinite(ll).all().item<bool>());
}

TEST(GmmModel, MatchedCentreDistanceFindsTheBestPermutation) {
  auto a = torch::tensor({{0.0, 0.0}, {10.0, 0.0}, {0.0, 10.0}}, torch::kFloat64);
  auto b = torch::tensor({{0.0, 11.0}, {1.0, 0.0}, {10.0, 0.0}}, torch::kFloat64);  // a permuted, shifted
  EXPECT_NEAR(models::matched_centre_distance(a, b), (1.0 + 0.0 + 1.0) / 3.0, 1e-12);
  EXPECT_NEAR(models::matched_centre_distance(a, a.flip(0)), 0.0, 1e-12);
}

}  // namespace
