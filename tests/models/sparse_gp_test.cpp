#include "sparse_gp/sparse_gp.h"

#include <cmath>
#include <iostream>
#include <sstream>

#include <gtest/gtest.h>

#include "logistic/bernoulli_logit_kernel.h"
#include "logistic/logistic.h"
#include "test_util.h"
#include "unlearn/data/csv.h"

namespace unlearn::models {
namespace {

using test_util::central_differences;
using test_util::data_path;
using test_util::plain_log_sigmoid;

constexpr double kVariance = 4.7432;
const std::vector<double> kLengthScales = {1.0 / std::sqrt(2.4232), 1.0 / std::sqrt(1.8230)};

torch::Tensor reference_inducing() { return data::read_csv(data_path("moons_inducing_20.csv")).values; }

data::Dataset moons() {
  return data::load_csv_dataset(data_path("moons_100.csv"), {"x1", "x2"}, "label", "id");
}

SparseGPOptions reference_options() {
  return SparseGPOptions(reference_inducing()).kernel_variance(kVariance).length_scales(kLengthScales);
}

// A small setting for the loops: 6 inducing inputs, 7 data points, 3 samples.
struct Small {
  torch::Tensor z, x, y, theta;
};
Small small_problem(int64_t seed = 0) {
  torch::manual_seed(seed);
  auto z = reference_inducing().narrow(0, 0, 6).clone();
  auto ds = moons();
  auto x = ds.x().narrow(0, 0, 7).clone();
  auto y = ds.y().narrow(0, 0, 7).clone();
  auto theta = 2.0 * torch::randn({3, 6}, torch::kFloat64);
  return {z, x, y, theta};
}

double plain_kernel(const torch::Tensor& a, const torch::Tensor& b, double variance,
                    const std::vector<double>& ls) {
  double s = 0;
  for (int64_t d = 0; d < a.size(0); ++d) {
    const double r = (a[d].item<double>() - b[d].item<double>()) / ls[d];
    s += r * r;
  }
  return variance * std::exp(-0.5 * s);
}

torch::Tensor plain_gram(const torch::Tensor& a, const torch::Tensor& b, double variance,
                         const std::vector<double>& ls) {
  auto k = torch::zeros({a.size(0), b.size(0)}, torch::kFloat64);
  for (int64_t i = 0; i < a.size(0); ++i)
    for (int64_t j = 0; j < b.size(0); ++j) k[i][j] = plain_kernel(a[i], b[j], variance, ls);
  return k;
}

// The per-sample, per-datum reference: f = k(x,Z) K⁻¹ u, optional MacKay scaling.
torch::Tensor loop_log_likelihood(const Small& p, const torch::Tensor& u, bool probit) {
  auto kzz = plain_gram(p.z, p.z, kVariance, kLengthScales);
  auto kinv = torch::linalg_inv(kzz);
  auto kxz = plain_gram(p.x, p.z, kVariance, kLengthScales);
  const int64_t S = u.size(0), B = p.x.size(0), M = p.z.size(0);
  auto out = torch::zeros({S, B}, torch::kFloat64);
  for (int64_t s = 0; s < S; ++s) {
    for (int64_t b = 0; b < B; ++b) {
      double f = 0, q = 0;
      for (int64_t k = 0; k < M; ++k)
        for (int64_t m = 0; m < M; ++m) {
          const double kk = kxz[b][k].item<double>() * kinv[k][m].item<double>();
          f += kk * u[s][m].item<double>();
          q += kk * kxz[b][m].item<double>();
        }
      if (probit) f /= std::sqrt(1.0 + M_PI / 8.0 * std::max(kVariance - q, 0.0));
      const double y = p.y[b].item<double>();
      out[s][b] = y * plain_log_sigmoid(f) + (1 - y) * plain_log_sigmoid(-f);
    }
  }
  return out;
}

SparseGP small_model(const Small& p, bool whiten, const std::string& lv = "ignore",
                     bool learn = false) {
  return SparseGP(SparseGPOptions(p.z)
                      .kernel_variance(kVariance)
                      .length_scales(kLengthScales)
                      .whiten(whiten)
                      .likelihood_variance(lv)
                      .learn_kernel(learn)
                      .learn_inducing(learn));
}

TEST(SparseGP, LogLikelihoodMatchesPlainLoop) {
  auto p = small_problem();
  for (const std::string lv : {"ignore", "probit"}) {
    auto gp = small_model(p, /*whiten=*/false, lv);
    auto ll = gp->log_likelihood(p.theta, {p.x, p.y, torch::arange(7)});
    ASSERT_EQ(ll.sizes(), (torch::IntArrayRef{3, 7}));
    auto ref = loop_log_likelihood(p, p.theta, lv == "probit");
    EXPECT_TRUE(torch::allclose(ll, ref, 1e-9, 1e-10)) << lv << "\n" << ll << "\n" << ref;
  }
}

TEST(SparseGP, WhitenedLogLikelihoodMatchesPlainLoopWithUEqualsLv) {
  auto p = small_problem(1);
  auto gp = small_model(p, /*whiten=*/true, "probit");
  auto L = torch::linalg_cholesky(plain_gram(p.z, p.z, kVariance, kLengthScales));
  auto u = torch::matmul(p.theta, L.t());  // u_s = L v_s
  auto ll = gp->log_likelihood(p.theta, {p.x, p.y, torch::arange(7)});
  EXPECT_TRUE(torch::allclose(ll, loop_log_likelihood(p, u, true), 1e-9, 1e-10));
}

TEST(SparseGP, WhitenedAndUnwhitenedAgreeForUEqualsLv) {
  auto gw = SparseGP(reference_options().whiten(true));
  auto gu = SparseGP(reference_options());
  auto ds = moons();
  torch::manual_seed(3);
  auto v = torch::randn({5, 20}, torch::kFloat64);
  auto L = gu->kzz_cholesky().detach();
  auto u = torch::matmul(v, L.t());
  EXPECT_TRUE(torch::allclose(gw->log_likelihood(v, ds.batch()), gu->log_likelihood(u, ds.batch()),
                              1e-8, 1e-9));
  EXPECT_TRUE(torch::allclose(gw->predict_log_proba(v, ds.x()), gu->predict_log_proba(u, ds.x()),
                              1e-8, 1e-9));
  // Change of variables: log p_u(u) = log p_v(v) − log|L|.
  auto logdet_l = L.diagonal().log().sum().item<double>();
  EXPECT_TRUE(torch::allclose(gu->log_prior(u), gw->log_prior(v) - logdet_l, 1e-9, 1e-9));
}

TEST(SparseGP, ProjectionReproducesInducingValuesAtZ) {
  auto gp = SparseGP(reference_options());
  torch::manual_seed(4);
  auto u = torch::randn({4, 20}, torch::kFloat64);
  auto f = gp->latent_mean(u, reference_inducing());
  EXPECT_LT((f - u).abs().max().item<double>(), 1e-8);
  // And the conditional variance vanishes there.
  EXPECT_LT(gp->conditional_variance(reference_inducing()).abs().max().item<double>(), 1e-8);
  // Far away from Z the projection decays to 0 and the variance returns to k(x,x).
  auto far = torch::full({1, 2}, 50.0, torch::kFloat64);
  EXPECT_LT(gp->latent_mean(u, far).abs().max().item<double>(), 1e-10);
  EXPECT_NEAR(gp->conditional_variance(far).item<double>(), kVariance, 1e-10);
}

TEST(SparseGP, LogPriorMatchesGaussianDensity) {
  auto z = reference_inducing();
  auto k = plain_gram(z, z, kVariance, kLengthScales);
  torch::manual_seed(5);
  auto u = torch::randn({3, 20}, torch::kFloat64);
  const double log2pi = std::log(2 * M_PI);
  auto quad = (torch::matmul(u, torch::linalg_inv(k)) * u).sum(1);
  auto ref = -0.5 * quad - 0.5 * std::get<1>(torch::linalg_slogdet(k)) - 10.0 * log2pi;
  auto gp = SparseGP(reference_options());
  EXPECT_TRUE(torch::allclose(gp->log_prior(u), ref, 1e-8, 1e-8)) << gp->log_prior(u) << ref;

  auto gw = SparseGP(reference_options().whiten(true));
  auto ref_w = -0.5 * u.square().sum(1) - 10.0 * log2pi;
  EXPECT_TRUE(torch::allclose(gw->log_prior(u), ref_w, 1e-12, 1e-12));

  auto prior = gp->gaussian_prior();
  ASSERT_TRUE(prior.has_value());
  EXPECT_TRUE(torch::allclose(prior->loc, torch::zeros({20}, torch::kFloat64)));
  auto L = prior->scale_tril;
  EXPECT_TRUE(torch::allclose(torch::matmul(L, L.t()), k, 1e-10, 1e-10));
  EXPECT_TRUE(torch::allclose(L, L.tril()));
  EXPECT_TRUE(torch::allclose(gw->gaussian_prior()->scale_tril, torch::eye(20, torch::kFloat64)));
}

TEST(SparseGP, KernelMatchesPlainFormula) {
  auto z = reference_inducing();
  auto gp = SparseGP(reference_options());
  EXPECT_TRUE(torch::allclose(gp->kzz(), plain_gram(z, z, kVariance, kLengthScales), 1e-12, 1e-12));
  EXPECT_NEAR(gp->kernel_variance().item<double>(), kVariance, 1e-12);
  EXPECT_TRUE(torch::allclose(gp->length_scales(), torch::tensor(kLengthScales, torch::kFloat64)));
  // Jitter lands on the diagonal only.
  auto gj = SparseGP(reference_options().jitter(1e-3));
  EXPECT_TRUE(torch::allclose(gj->kzz() - gp->kzz(), 1e-3 * torch::eye(20, torch::kFloat64), 0, 1e-14));
}

TEST(SparseGP, ReferenceKzzConditionNumberIsModerate) {
  // PAPERS.md: ≈ 9e3. A wrong parameterisation (ℓ² for ℓ, γ for ℓ) moves it by orders of magnitude.
  auto gp = SparseGP(reference_options());
  auto ev = torch::linalg_eigvalsh(gp->kzz().detach());
  const double cond = (ev.max() / ev.min()).item<double>();
  EXPECT_GT(cond, 1e3);
  EXPECT_LT(cond, 1e5);
}

TEST(SparseGP, PredictLogProbaIsNormalisedAndMatchesLikelihood) {
  for (const std::string lv : {"ignore", "probit", "quadrature"}) {
    auto gp = SparseGP(reference_options().likelihood_variance(lv));
    auto ds = moons();
    torch::manual_seed(6);
    auto u = 3.0 * torch::randn({4, 20}, torch::kFloat64);
    auto lp = gp->predict_log_proba(u, ds.x());
    ASSERT_EQ(lp.sizes(), (torch::IntArrayRef{4, 100, 2}));
    EXPECT_TRUE(torch::allclose(lp.exp().sum(2), torch::ones({4, 100}, torch::kFloat64), 1e-12, 1e-12));
    auto idx = ds.y().view({1, -1, 1}).expand({4, 100, 1});
    EXPECT_TRUE(torch::allclose(lp.gather(2, idx).squeeze(2), gp->log_likelihood(u, ds.batch()),
                                1e-12, 1e-12));
  }
}

// The quadrature likelihood against the integral done the slow way: for every (sample, datum),
// p(y|x,u) = ∫ σ(±g) N(g; f, σ²) dg by the trapezoid rule on 40 001 points over f ± 12σ, with f
// and σ² from the plain loops (trapezoid error on this smooth, Gaussian-tailed integrand: far
// below 1e-10). Gauss–Hermite converges geometrically but not fast, because σ(g) has poles at
// ±iπ: measured here, 100 points reach 3e-14, 20 points (the default) 7e-7, 3 points 3e-2.
// The tolerances sit an order above those; the 3-point rule must fail the 20-point tolerance.
TEST(SparseGP, QuadratureLikelihoodIntegratesTheConditionalVariance) {
  auto p = small_problem(3);
  auto kzz = plain_gram(p.z, p.z, kVariance, kLengthScales);
  auto kinv = torch::linalg_inv(kzz);
  auto kxz = plain_gram(p.x, p.z, kVariance, kLengthScales);
  auto f = torch::matmul(p.theta, torch::matmul(kinv, kxz.t()));  // [3, 7]
  auto var = (kVariance - (torch::matmul(kxz, kinv) * kxz).sum(1)).clamp_min(0);
  auto ref = torch::zeros({3, 7}, torch::kFloat64);
  for (int64_t s = 0; s < 3; ++s) {
    for (int64_t b = 0; b < 7; ++b) {
      const double mu = f[s][b].item<double>(), sd = std::sqrt(var[b].item<double>());
      const double sign = p.y[b].item<double>() > 0.5 ? 1.0 : -1.0;
      const int n = 40001;
      const double lo = mu - 12 * sd, h = 24 * sd / (n - 1);
      double acc = 0;
      for (int i = 0; i < n; ++i) {
        const double g = lo + i * h, z = (g - mu) / sd;
        const double v = std::exp(plain_log_sigmoid(sign * g)) * std::exp(-0.5 * z * z) / (sd * std::sqrt(2 * M_PI));
        acc += (i == 0 || i == n - 1 ? 0.5 : 1.0) * v * h;
      }
      ref[s][b] = std::log(acc);
    }
  }
  ASSERT_GT(var.max().item<double>(), 0.05);  // the conditional variance matters here
  auto with_points = [&](int64_t k) {
    return SparseGP(SparseGPOptions(p.z).kernel_variance(kVariance).length_scales(kLengthScales)
                        .likelihood_variance("quadrature").quadrature_points(k))
        ->log_likelihood(p.theta, {p.x, p.y, torch::arange(7)});
  };
  auto error = [&](int64_t k) { return (with_points(k) - ref).abs().max().item<double>(); };
  EXPECT_LT(error(100), 1e-9);
  EXPECT_LT(error(20), 1e-5);
  EXPECT_GT(error(3), 1e-5);
  std::cout << "[ info ] quadrature error with 100 / 20 / 3 points: " << error(100) << " / " << error(20)
            << " / " << error(3) << "\n";
  auto ll = small_model(p, /*whiten=*/false, "quadrature")->log_likelihood(p.theta, {p.x, p.y, torch::arange(7)});
  EXPECT_TRUE(torch::equal(ll, with_points(20)));  // 20 is the default
  // The conditional variance flattens the likelihood towards 1/2 compared with "ignore".
  auto plain = small_model(p, false, "ignore")->log_likelihood(p.theta, {p.x, p.y, torch::arange(7)});
  EXPECT_FALSE(torch::allclose(ll, plain, 1e-3, 1e-3));
}

// Gradient of the quadrature likelihood in θ against central finite differences (float64).
TEST(SparseGP, QuadratureLikelihoodGradientMatchesFiniteDifferences) {
  auto p = small_problem(4);
  auto gp = small_model(p, /*whiten=*/true, "quadrature");
  data::Batch batch{p.x, p.y, torch::arange(7)};
  auto theta = p.theta.clone().requires_grad_(true);
  gp->log_likelihood(theta, batch).sum().backward();
  auto grad = theta.grad();
  const double h = 1e-6;
  for (int64_t s = 0; s < 3; ++s) {
    for (int64_t m = 0; m < 6; ++m) {
      auto plus = p.theta.clone(), minus = p.theta.clone();
      plus[s][m] += h;
      minus[s][m] -= h;
      const double fd = (gp->log_likelihood(plus, batch).sum() - gp->log_likelihood(minus, batch).sum()).item<double>() / (2 * h);
      EXPECT_NEAR(grad[s][m].item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd))) << s << "," << m;
    }
  }
}

TEST(SparseGP, FloatLabelsGiveTheSameLikelihood) {
  auto gp = SparseGP(reference_options());
  auto ds = moons();
  torch::manual_seed(7);
  auto u = torch::randn({2, 20}, torch::kFloat64);
  auto a = gp->log_likelihood(u, ds.batch());
  auto b = gp->log_likelihood(u, {ds.x(), ds.y().to(torch::kFloat64), ds.ids()});
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(SparseGP, GradientWrtThetaMatchesFiniteDifferences) {
  auto p = small_problem(8);
  for (bool whiten : {false, true}) {
    for (const std::string lv : {"ignore", "probit"}) {
      auto gp = small_model(p, whiten, lv);
      data::Batch batch{p.x, p.y, torch::arange(7)};
      auto theta = p.theta.clone().requires_grad_(true);
      auto g = torch::autograd::grad({gp->log_likelihood(theta, batch).sum()}, {theta})[0];
      auto t = p.theta.clone();
      auto fd = central_differences(t, [&] { return gp->log_likelihood(t, batch).sum().item<double>(); });
      EXPECT_TRUE(torch::allclose(g, fd, 1e-6, 1e-7)) << "whiten=" << whiten << " " << lv;
    }
  }
}

TEST(SparseGP, GradientAtZeroThetaIsYMinusHalfTimesProjection) {
  // θ = 0 is init_theta(): every f is exactly 0, where max(f,0) and |f| have kinks.
  auto gp = SparseGP(reference_options());
  auto ds = moons();
  auto theta = gp->init_theta().unsqueeze(0).requires_grad_(true);
  auto g = torch::autograd::grad({gp->log_likelihood(theta, ds.batch()).sum()}, {theta})[0];
  auto a = gp->projection(ds.x()).detach();  // [M, B]
  auto expected = torch::matmul(a, ds.y().to(torch::kFloat64) - 0.5).unsqueeze(0);
  EXPECT_TRUE(torch::allclose(g, expected, 1e-10, 1e-10));
}

TEST(SparseGP, GradientWrtHyperParametersMatchesFiniteDifferences) {
  auto p = small_problem(9);
  for (bool whiten : {false, true}) {
    for (const std::string lv : {"ignore", "probit"}) {
      auto gp = small_model(p, whiten, lv, /*learn=*/true);
      data::Batch batch{p.x, p.y, torch::arange(7)};
      auto objective = [&] { return gp->log_likelihood(p.theta, batch).sum() + gp->log_prior(p.theta).sum(); };
      std::vector<torch::Tensor> params = {gp->log_variance(), gp->log_length_scales(),
                                           gp->inducing_inputs()};
      auto grads = torch::autograd::grad({objective()}, params);
      for (size_t i = 0; i < params.size(); ++i) {
        auto fd = central_differences(params[i], [&] { return objective().item<double>(); });
        EXPECT_TRUE(torch::allclose(grads[i], fd, 1e-5, 1e-6))
            << "whiten=" << whiten << " " << lv << " param " << i << "\n" << grads[i] << "\n" << fd;
      }
    }
  }
}

TEST(SparseGP, HyperParametersAreFixedOrLearnedAsConfigured) {
  auto fixed = SparseGP(reference_options());
  for (const auto& p : fixed->parameters()) EXPECT_FALSE(p.requires_grad());
  auto names = fixed->named_parameters().keys();
  EXPECT_EQ(names, (std::vector<std::string>{"log_variance", "log_length_scales", "inducing_inputs"}));
  auto learned = SparseGP(reference_options().learn_kernel(true));
  EXPECT_TRUE(learned->log_variance().requires_grad());
  EXPECT_TRUE(learned->log_length_scales().requires_grad());
  EXPECT_FALSE(learned->inducing_inputs().requires_grad());
  EXPECT_TRUE(SparseGP(reference_options().learn_inducing(true))->inducing_inputs().requires_grad());
  // A single length-scale is broadcast over the dimensions (still ARD: one parameter each).
  auto iso = SparseGP(SparseGPOptions(reference_inducing()).length_scales({0.5}));
  EXPECT_EQ(iso->log_length_scales().sizes(), (torch::IntArrayRef{2}));
  EXPECT_TRUE(torch::allclose(iso->length_scales(), torch::full({2}, 0.5, torch::kFloat64)));
}

TEST(SparseGP, ThetaOptionsAndInitComeFromTheParameters) {
  auto gp = SparseGP(reference_options());
  EXPECT_EQ(gp->num_params(), 20);
  EXPECT_EQ(gp->theta_options().dtype(), torch::kFloat64);
  auto t0 = gp->init_theta();
  EXPECT_EQ(t0.sizes(), (torch::IntArrayRef{20}));
  EXPECT_FALSE(t0.requires_grad());
  auto g32 = SparseGP(reference_options().dtype(torch::kFloat32));
  EXPECT_EQ(g32->init_theta().scalar_type(), torch::kFloat32);
  auto ll = g32->log_likelihood(torch::zeros({2, 20}, torch::kFloat32), moons().batch());
  EXPECT_EQ(ll.scalar_type(), torch::kFloat32);
}

TEST(SparseGP, ArchitectureCapturesShapeAndOptions) {
  auto a = SparseGP(reference_options())->architecture();
  EXPECT_NE(a.find("M=20"), std::string::npos) << a;
  EXPECT_NE(a.find("D=2"), std::string::npos) << a;
  EXPECT_NE(a.find("likelihood_variance=ignore"), std::string::npos) << a;
  EXPECT_NE(a, SparseGP(reference_options().whiten(true))->architecture());
  EXPECT_NE(a, SparseGP(reference_options().likelihood_variance("probit"))->architecture());
  EXPECT_NE(a, SparseGP(reference_options().jitter(1e-6))->architecture());
}

void expect_rejected(const SparseGPOptions& options, const std::string& needle) {
  try {
    SparseGP gp(options);
    ADD_FAILURE() << "accepted options that should fail (" << needle << ")";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find(needle), std::string::npos)
        << e.what_without_backtrace();
  }
}

TEST(SparseGP, BadOptionsAreRejectedNamingTheValue) {
  expect_rejected(reference_options().likelihood_variance("mc"), "'mc'");
  expect_rejected(reference_options().likelihood_variance("quadrature").quadrature_points(1), "quadrature_points = 1");
  expect_rejected(reference_options().kernel_variance(-2.5), "-2.5");
  expect_rejected(reference_options().length_scales({1.0, -0.25}), "-0.25");
  expect_rejected(reference_options().length_scales({1.0, 2.0, 3.0}), "3 values");
  expect_rejected(reference_options().jitter(-0.125), "-0.125");
  expect_rejected(SparseGPOptions(torch::zeros({5}, torch::kFloat64)), "[5]");
  auto gp = SparseGP(reference_options());
  EXPECT_THROW(gp->log_likelihood(torch::zeros({2, 19}, torch::kFloat64), moons().batch()), c10::Error);
  EXPECT_THROW(gp->predict_log_proba(torch::zeros({2, 20}, torch::kFloat64),
                                     torch::zeros({3, 5}, torch::kFloat64)),
               c10::Error);
}

TEST(SparseGP, SingularKzzIsReportedAndJitterFixesIt) {
  // Two identical inducing inputs with unit variance: the second Cholesky pivot is exactly 0.
  auto z = torch::zeros({2, 2}, torch::kFloat64);
  auto gp = SparseGP(SparseGPOptions(z));
  try {
    gp->log_prior(torch::zeros({1, 2}, torch::kFloat64));
    ADD_FAILURE() << "a singular K_ZZ passed";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("jitter"), std::string::npos);
  }
  auto gj = SparseGP(SparseGPOptions(z).jitter(1e-6));
  EXPECT_TRUE(torch::isfinite(gj->log_prior(torch::ones({1, 2}, torch::kFloat64))).all().item<bool>());
}

TEST(SparseGP, StateRoundTripsThroughArchive) {
  auto a = SparseGP(reference_options().learn_kernel(true));
  {
    torch::NoGradGuard g;
    a->log_variance().add_(0.3);
    a->log_length_scales().sub_(0.1);
  }
  std::stringstream ss;
  torch::serialize::OutputArchive out;
  a->save(out);
  out.save_to(ss);
  auto b = SparseGP(reference_options().learn_kernel(true));
  torch::serialize::InputArchive in;
  in.load_from(ss);
  b->load(in);
  EXPECT_TRUE(torch::equal(a->kzz(), b->kzz()));
}

TEST(BernoulliLogit, ExactGradientAndHessianAtAndAroundZero) {
  auto f = torch::tensor({-40.0, -2.0, -1e-3, 0.0, 1e-3, 2.0, 40.0}, torch::kFloat64).requires_grad_(true);
  for (double y : {0.0, 1.0}) {
    auto yt = torch::full({7}, y, torch::kFloat64);
    auto ll = functional::bernoulli_logit_log_likelihood(f, yt);
    auto fd = f.detach();
    auto ref = y * fd - torch::log1p(torch::exp(fd));
    EXPECT_TRUE(torch::allclose(ll, ref, 1e-12, 1e-14)) << ll << ref;
    auto g = torch::autograd::grad({ll.sum()}, {f}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    EXPECT_TRUE(torch::allclose(g, y - torch::sigmoid(fd), 1e-14, 1e-14)) << g;
    auto h = torch::autograd::grad({g.sum()}, {f})[0];
    auto s = torch::sigmoid(fd);
    EXPECT_TRUE(torch::allclose(h, -s * (1 - s), 1e-14, 1e-14)) << h;
  }
  auto ls = functional::log_sigmoid(torch::tensor({0.0}, torch::kFloat64));
  EXPECT_NEAR(ls.item<double>(), -std::log(2.0), 1e-15);
}

// The fused CPU kernel (bernoulli_logit_kernel.h) against the plain formula, on odd sizes so that
// the vector body and the scalar tail both run, with f spanning the saturated tails.
TEST(BernoulliLogit, FusedKernelMatchesThePlainFormulaAndItsGradient) {
  torch::manual_seed(3);
  auto f = (8.0 * torch::randn({37, 53}, torch::kFloat64)).requires_grad_(true);
  auto y = (torch::rand({53}, torch::kFloat64) > 0.5).to(torch::kFloat64);
  auto ll = functional::bernoulli_logit_log_likelihood(f, y);
  auto fd = f.detach();
  auto ref = y * fd - (fd.clamp_min(0) + torch::log1p(torch::exp(-fd.abs())));
  // libmvec's exp and log1p are within 4 ulp: absolute 1e-14 on terms of size up to ~30.
  EXPECT_TRUE(torch::allclose(ll, ref, 1e-13, 1e-14)) << (ll - ref).abs().max();
  auto g = torch::autograd::grad({ll.sum()}, {f})[0];
  EXPECT_TRUE(torch::allclose(g, y - torch::sigmoid(fd), 1e-14, 1e-15)) << (g - (y - torch::sigmoid(fd))).abs().max();
  // y as a scalar broadcast over f (log σ(f)).
  auto ls = functional::log_sigmoid(fd);
  EXPECT_TRUE(torch::allclose(ls, -(fd.clamp_min(0) - fd + torch::log1p(torch::exp(-fd.abs()))), 1e-13, 1e-14));
  std::cout << "[ info ] fused Bernoulli-logit kernel available here: "
            << (kernels::bernoulli_logit_fused_available(fd) ? "yes" : "no (torch operators)") << "\n";
}

// The frozen-hyper-parameter cache must never serve a stale map: after an in-place change of a
// hyper-parameter or of the inputs, the logits equal those of a freshly built model.
TEST(SparseGP, CachedLogitMapFollowsHyperParameterAndInputChanges) {
  auto ds = moons();
  auto theta = torch::randn({5, 20}, torch::kFloat64);
  auto x = ds.x().clone();
  SparseGP gp(reference_options());
  auto first = gp->logit(theta, x);
  EXPECT_TRUE(torch::equal(first, gp->logit(theta, x)));  // served from the cache
  {
    torch::NoGradGuard no_grad;
    // A length-scale, not the variance: without whitening the projected mean
    // k(x,Z) K_ZZ^-1 u does not depend on the kernel variance at all.
    gp->log_length_scales().add_(0.3);  // an optimizer step would do this
  }
  std::vector<double> longer;
  for (double l : kLengthScales) longer.push_back(l * std::exp(0.3));
  SparseGP fresh(SparseGPOptions(reference_inducing()).kernel_variance(kVariance).length_scales(longer));
  // 1e-8, not 1e-12: the two models reach the longer length-scales by different roundings
  // (log ℓ + 0.3 vs log(ℓ·e^0.3)), and K_ZZ's conditioning (~1e4, more with longer ℓ) amplifies
  // that to ~4e-11 here; a stale cache would be off by O(1) (the change is ~14).
  EXPECT_TRUE(torch::allclose(gp->logit(theta, x), fresh->logit(theta, x), 1e-8, 1e-8));
  EXPECT_FALSE(torch::allclose(gp->logit(theta, x), first, 1e-6, 1e-6));
  x.mul_(0.5);  // the same tensor, new values: its version counter moves
  EXPECT_TRUE(torch::allclose(gp->logit(theta, x), fresh->logit(theta, x.clone()), 1e-8, 1e-8));
  // log_prior and the Gaussian prior use the refreshed factor too.
  EXPECT_TRUE(torch::allclose(gp->log_prior(theta), fresh->log_prior(theta), 1e-8, 1e-8));
}

TEST(SparseGP, LearnedHyperParametersBypassTheCacheAndGetGradients) {
  auto ds = moons();
  SparseGP gp(reference_options().learn_kernel(true));
  auto theta = torch::randn({3, 20}, torch::kFloat64);
  for (int i = 0; i < 2; ++i) {  // twice: a cache would cut the graph on the second call
    gp->zero_grad();
    gp->log_likelihood(theta, ds.batch()).sum().backward();
    ASSERT_TRUE(gp->log_length_scales().grad().defined());
    EXPECT_GT(gp->log_length_scales().grad().abs().sum().item<double>(), 0.0);
  }
}

}  // namespace
}  // namespace unlearn::models
