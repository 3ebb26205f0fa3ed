#include "logistic/logistic.h"

#include <cmath>
#include <sstream>

#include <gtest/gtest.h>

#include "test_util.h"

namespace unlearn::models {
namespace {

using test_util::central_differences;
using test_util::plain_log_sigmoid;

struct Problem {
  torch::Tensor x, y, theta;
  data::Batch batch() const { return {x, y, torch::arange(x.size(0))}; }
};

Problem make_problem(int64_t C, int64_t d, int64_t B, int64_t S, int64_t seed) {
  torch::manual_seed(seed);
  auto x = 3.0 * torch::randn({B, d}, torch::kFloat64) + 1.0;
  auto y = torch::randint(0, C, {B}, torch::kLong);
  auto theta = torch::randn({S, (C - 1) * (d + 1)}, torch::kFloat64);
  return {x, y, theta};
}

// The reference loop: logits with bias last in each class row, the last class at 0.
torch::Tensor loop_log_likelihood(const Problem& p, int64_t C, const torch::Tensor& mean,
                                  const torch::Tensor& std) {
  const int64_t S = p.theta.size(0), B = p.x.size(0), d = p.x.size(1);
  auto out = torch::zeros({S, B}, torch::kFloat64);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t b = 0; b < B; ++b) {
      std::vector<double> z(C, 0.0);
      for (int64_t c = 0; c + 1 < C; ++c) {
        double v = p.theta[s][c * (d + 1) + d].item<double>();
        for (int64_t j = 0; j < d; ++j) {
          const double xs = (p.x[b][j].item<double>() - mean[j].item<double>()) / std[j].item<double>();
          v += p.theta[s][c * (d + 1) + j].item<double>() * xs;
        }
        z[c] = v;
      }
      double mx = z[0];
      for (double v : z) mx = std::max(mx, v);
      double se = 0;
      for (double v : z) se += std::exp(v - mx);
      out[s][b] = z[p.y[b].item<int64_t>()] - mx - std::log(se);
    }
  return out;
}

TEST(Logistic, MultinomialLogLikelihoodMatchesPlainLoop) {
  auto p = make_problem(/*C=*/4, /*d=*/3, /*B=*/9, /*S=*/5, 0);
  Logistic model(LogisticOptions(3).num_classes(4));
  EXPECT_EQ(model->num_params(), 3 * 4);
  auto ll = model->log_likelihood(p.theta, p.batch());
  ASSERT_EQ(ll.sizes(), (torch::IntArrayRef{5, 9}));
  auto ref = loop_log_likelihood(p, 4, torch::zeros({3}, torch::kFloat64), torch::ones({3}, torch::kFloat64));
  EXPECT_TRUE(torch::allclose(ll, ref, 1e-12, 1e-12)) << ll << ref;
}

TEST(Logistic, BinaryIsBernoulliLogitWithClassZeroAgainstReference) {
  auto p = make_problem(2, 4, 11, 3, 1);
  Logistic model(LogisticOptions(4).num_classes(2));
  auto ll = model->log_likelihood(p.theta, p.batch());
  for (int64_t s = 0; s < 3; ++s)
    for (int64_t b = 0; b < 11; ++b) {
      double f = p.theta[s][4].item<double>();
      for (int64_t j = 0; j < 4; ++j) f += p.theta[s][j].item<double>() * p.x[b][j].item<double>();
      const double y = p.y[b].item<double>();
      // p(y = 0) = σ(f), p(y = 1) = σ(−f).
      const double ref = (1 - y) * plain_log_sigmoid(f) + y * plain_log_sigmoid(-f);
      EXPECT_NEAR(ll[s][b].item<double>(), ref, 1e-12);
    }
  // The binary fast path and the general softmax path agree.
  auto lp = model->predict_log_proba(p.theta, p.x);
  auto idx = p.y.view({1, -1, 1}).expand({3, 11, 1});
  EXPECT_TRUE(torch::allclose(lp.gather(2, idx).squeeze(2), ll, 1e-12, 1e-12));
  // Float labels are accepted.
  EXPECT_TRUE(torch::allclose(model->log_likelihood(p.theta, {p.x, p.y.to(torch::kFloat64), p.batch().ids}), ll));
}

TEST(Logistic, PredictLogProbaIsNormalised) {
  for (int64_t C : {2, 3, 5}) {
    auto p = make_problem(C, 2, 8, 4, 2);
    Logistic model(LogisticOptions(2).num_classes(C));
    auto lp = model->predict_log_proba(5.0 * p.theta, p.x);
    ASSERT_EQ(lp.sizes(), (torch::IntArrayRef{4, 8, C}));
    EXPECT_TRUE(torch::allclose(lp.exp().sum(2), torch::ones({4, 8}, torch::kFloat64), 1e-12, 1e-12));
    auto logits = model->logits(p.theta, p.x);
    EXPECT_TRUE(torch::equal(logits.select(2, C - 1), torch::zeros({4, 8}, torch::kFloat64)));
  }
}

TEST(Logistic, GradientMatchesFiniteDifferences) {
  for (int64_t C : {2, 3}) {
    auto p = make_problem(C, 3, 10, 2, 3);
    Logistic model(LogisticOptions(3).num_classes(C));
    auto theta = p.theta.clone().requires_grad_(true);
    auto g = torch::autograd::grad({model->log_likelihood(theta, p.batch()).sum()}, {theta})[0];
    auto t = p.theta.clone();
    auto fd = central_differences(t, [&] { return model->log_likelihood(t, p.batch()).sum().item<double>(); });
    EXPECT_TRUE(torch::allclose(g, fd, 1e-6, 1e-7)) << "C=" << C << "\n" << g << "\n" << fd;
  }
}

TEST(Logistic, BinaryGradientAtZeroIsExact) {
  auto p = make_problem(2, 3, 10, 1, 4);
  Logistic model(LogisticOptions(3));
  auto theta = model->init_theta().unsqueeze(0).requires_grad_(true);
  auto g = torch::autograd::grad({model->log_likelihood(theta, p.batch()).sum()}, {theta})[0];
  // ∂/∂f of log p(y|f) at f = 0 is (1 − y) − ½ per datum.
  auto r = 0.5 - p.y.to(torch::kFloat64);
  auto xa = torch::cat({p.x, torch::ones({10, 1}, torch::kFloat64)}, 1);
  EXPECT_TRUE(torch::allclose(g.squeeze(0), torch::matmul(r, xa), 1e-12, 1e-12));
}

TEST(Logistic, LogPriorAndGaussianPrior) {
  Logistic model(LogisticOptions(4).num_classes(3).prior_std(100.0));
  torch::manual_seed(5);
  auto theta = 50.0 * torch::randn({3, 10}, torch::kFloat64);
  auto ref = -0.5 * (theta / 100.0).square().sum(1) - 10 * std::log(100.0) - 5 * std::log(2 * M_PI);
  EXPECT_TRUE(torch::allclose(model->log_prior(theta), ref, 1e-12, 1e-12));
  auto prior = model->gaussian_prior();
  ASSERT_TRUE(prior.has_value());
  EXPECT_TRUE(torch::allclose(prior->scale_tril, 100.0 * torch::eye(10, torch::kFloat64)));
  EXPECT_EQ(prior->loc.sizes(), (torch::IntArrayRef{10}));
}

TEST(Logistic, StandardisationIsFittedAppliedAndSaved) {
  auto p = make_problem(3, 2, 40, 2, 6);
  data::Dataset ds(p.x, p.y);
  Logistic model(LogisticOptions(2).num_classes(3).standardize(true));
  model->fit_standardisation(ds);
  auto mean = p.x.mean(0), std = p.x.std(0, /*unbiased=*/false);
  EXPECT_TRUE(torch::allclose(model->feature_mean(), mean));
  EXPECT_TRUE(torch::allclose(model->feature_std(), std));
  auto ll = model->log_likelihood(p.theta, p.batch());
  EXPECT_TRUE(torch::allclose(ll, loop_log_likelihood(p, 3, mean, std), 1e-12, 1e-12));
  // Standardising by hand and switching the option off gives the same numbers.
  Logistic plain(LogisticOptions(2).num_classes(3));
  EXPECT_TRUE(torch::allclose(plain->log_likelihood(p.theta, {(p.x - mean) / std, p.y, p.batch().ids}), ll,
                              1e-12, 1e-12));

  auto buffers = model->named_buffers();
  ASSERT_TRUE(buffers.contains("feature_mean"));
  ASSERT_TRUE(buffers.contains("feature_std"));
  std::stringstream ss;
  torch::serialize::OutputArchive out;
  model->save(out);
  out.save_to(ss);
  Logistic restored(LogisticOptions(2).num_classes(3).standardize(true));
  torch::serialize::InputArchive in;
  in.load_from(ss);
  restored->load(in);
  EXPECT_TRUE(torch::equal(restored->feature_mean(), model->feature_mean()));
  EXPECT_TRUE(torch::equal(restored->feature_std(), model->feature_std()));
  EXPECT_TRUE(torch::equal(restored->log_likelihood(p.theta, p.batch()), ll));
}

TEST(Logistic, ConstantFeatureGetsUnitStd) {
  auto x = torch::stack({torch::full({5}, 2.0, torch::kFloat64), torch::arange(5, torch::kFloat64)}, 1);
  Logistic model(LogisticOptions(2).standardize(true));
  model->fit_standardisation(data::Dataset(x, torch::zeros({5}, torch::kLong)));
  EXPECT_DOUBLE_EQ(model->feature_std()[0].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(model->feature_mean()[0].item<double>(), 2.0);
}

TEST(Logistic, ArchitectureCapturesShapeAndOptions) {
  auto a = Logistic(LogisticOptions(4).num_classes(2).prior_std(100.0))->architecture();
  EXPECT_NE(a.find("d=4"), std::string::npos) << a;
  EXPECT_NE(a.find("C=2"), std::string::npos) << a;
  EXPECT_NE(a.find("prior_std=100"), std::string::npos) << a;
  EXPECT_NE(a, Logistic(LogisticOptions(4).num_classes(2).prior_std(100.0).standardize(true))->architecture());
  EXPECT_NE(a, Logistic(LogisticOptions(4).num_classes(3).prior_std(100.0))->architecture());
}

void expect_rejected(const LogisticOptions& options, const std::string& needle) {
  try {
    Logistic model(options);
    ADD_FAILURE() << "accepted options that should fail (" << needle << ")";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find(needle), std::string::npos)
        << e.what_without_backtrace();
  }
}

TEST(Logistic, BadOptionsAreRejectedNamingTheValue) {
  expect_rejected(LogisticOptions(0), "num_features = 0");
  expect_rejected(LogisticOptions(3).num_classes(1), "num_classes = 1");
  expect_rejected(LogisticOptions(3).prior_std(-0.5), "-0.5");
  expect_rejected(LogisticOptions(3).dtype(torch::kLong), "Long");
  Logistic model(LogisticOptions(3));
  EXPECT_THROW(model->fit_standardisation(data::Dataset(torch::zeros({4, 3}), torch::zeros({4}, torch::kLong))),
               c10::Error);
  EXPECT_THROW(model->log_likelihood(torch::zeros({2, 5}, torch::kFloat64),
                                     {torch::zeros({4, 3}), torch::zeros({4}, torch::kLong), torch::arange(4)}),
               c10::Error);
  EXPECT_THROW(model->predict_log_proba(torch::zeros({2, 4}, torch::kFloat64), torch::zeros({4, 2})), c10::Error);
}

TEST(Logistic, ThetaOptionsFollowTheBuffers) {
  Logistic model(LogisticOptions(3).dtype(torch::kFloat32));
  EXPECT_EQ(model->init_theta().scalar_type(), torch::kFloat32);
  EXPECT_EQ(model->theta_options().dtype(), torch::kFloat32);
  EXPECT_FALSE(model->init_theta().requires_grad());
}

}  // namespace
}  // namespace unlearn::models
