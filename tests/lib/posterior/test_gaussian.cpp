// Gaussian posteriors: closed forms against direct float64 formulas and Monte Carlo.
#include <gtest/gtest.h>

#include <cmath>

#include "unlearn/posterior/functional.h"
#include "unlearn/posterior/gaussian.h"

namespace {
using namespace unlearn;
constexpr double kLog2Pi = 1.8378770664093454835606594728112;

torch::Tensor random_spd(int64_t p, torch::Generator& gen) {
  auto a = torch::randn({p, p}, gen, torch::kFloat64);
  return torch::matmul(a, a.t()) / p + 0.5 * torch::eye(p, torch::kFloat64);
}

// log N(θ | μ, Σ) computed the schoolbook way, with an explicit inverse and determinant.
torch::Tensor reference_log_prob(const torch::Tensor& theta, const torch::Tensor& mu,
                                 const torch::Tensor& cov) {
  auto d = theta - mu;
  auto m2 = (torch::matmul(d, torch::inverse(cov)) * d).sum(-1);
  return -0.5 * m2 - 0.5 * torch::logdet(cov) - 0.5 * mu.size(0) * kLog2Pi;
}

TEST(GaussianPosterior, FullRankLogProbMatchesClosedForm) {
  auto gen = at::detail::createCPUGenerator(1);
  auto cov = random_spd(5, gen);
  auto mu = torch::randn({5}, gen, torch::kFloat64);
  auto q = FullRankGaussianImpl::from_moments(mu, cov);
  auto theta = torch::randn({7, 5}, gen, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(q->log_prob(theta), reference_log_prob(theta, mu, cov), 1e-12, 1e-10));
  EXPECT_TRUE(torch::allclose(q->covariance(), cov, 1e-12, 1e-12));
  EXPECT_NEAR(q->log_prob_at_mode().item<double>(),
              reference_log_prob(mu.unsqueeze(0), mu, cov).item<double>(), 1e-10);
}

TEST(GaussianPosterior, MeanFieldLogProbMatchesClosedForm) {
  auto gen = at::detail::createCPUGenerator(2);
  auto var = torch::rand({4}, gen, torch::kFloat64) + 0.1;
  auto mu = torch::randn({4}, gen, torch::kFloat64);
  auto q = MeanFieldGaussianImpl::from_moments(mu, var);
  auto theta = torch::randn({6, 4}, gen, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(q->log_prob(theta), reference_log_prob(theta, mu, torch::diag(var)),
                              1e-12, 1e-10));
  EXPECT_TRUE(torch::allclose(q->stddev(), var.sqrt(), 1e-12, 1e-14));
}

// KL(q‖p) = E_q[log q − log p]. Seed 3, S = 400 000 samples: the MC standard error is
// sd(log q − log p)/√S; we allow 5 standard errors (false-failure probability < 1e-6).
TEST(GaussianPosterior, KlClosedFormMatchesMonteCarlo) {
  auto gen = at::detail::createCPUGenerator(3);
  auto q = FullRankGaussianImpl::from_moments(torch::randn({4}, gen, torch::kFloat64),
                                              random_spd(4, gen));
  auto p = FullRankGaussianImpl::from_moments(torch::randn({4}, gen, torch::kFloat64),
                                              random_spd(4, gen));
  torch::NoGradGuard no_grad;
  const int64_t S = 400000;
  auto theta = q->rsample(S, gen);
  auto diff = q->log_prob(theta) - p->log_prob(theta);
  double mc = diff.mean().item<double>();
  double se = diff.std().item<double>() / std::sqrt(static_cast<double>(S));
  double exact = q->kl_divergence(*p).item<double>();
  EXPECT_GT(exact, 0.1);  // a non-trivial KL, so the comparison means something
  EXPECT_NEAR(exact, mc, 5 * se) << "exact " << exact << " mc " << mc << " se " << se;

  // The prior overload and the diagonal fast path give the same numbers as the general formula.
  GaussianPrior prior{p->mean(), p->scale_tril()};
  EXPECT_NEAR(q->kl_divergence(prior).item<double>(), exact, 1e-12);
  auto qd = MeanFieldGaussianImpl::from_moments(q->mean(), q->covariance());
  auto pd = MeanFieldGaussianImpl::from_moments(p->mean(), p->covariance());
  auto general = functional::gaussian_kl_tril(qd->loc(), qd->scale_tril(), pd->loc(), pd->scale_tril());
  EXPECT_NEAR(qd->kl_divergence(*pd).item<double>(), general.item<double>(), 1e-12);
  EXPECT_NEAR(q->kl_divergence(*q).item<double>(), 0.0, 1e-12);
}

// Entropy = −E_q log q: same Monte Carlo argument as above (seed 4, S = 200 000, 5 SE).
TEST(GaussianPosterior, EntropyMatchesMonteCarlo) {
  auto gen = at::detail::createCPUGenerator(4);
  auto q = FullRankGaussianImpl::from_moments(torch::zeros({3}, torch::kFloat64), random_spd(3, gen));
  torch::NoGradGuard no_grad;
  auto lp = q->log_prob(q->rsample(200000, gen));
  double se = lp.std().item<double>() / std::sqrt(200000.0);
  EXPECT_NEAR(q->entropy().item<double>(), -lp.mean().item<double>(), 5 * se);
}

// Sample moments of rsample. Seed 5, S = 200 000: the standard error of a mean is σ/√S and of
// a covariance entry is about sqrt((Σ_ii Σ_jj + Σ_ij²)/S); 5 standard errors each.
TEST(GaussianPosterior, RsampleMoments) {
  auto gen = at::detail::createCPUGenerator(5);
  auto cov = random_spd(3, gen);
  auto mu = torch::randn({3}, gen, torch::kFloat64);
  for (const std::string family : {"full_rank", "mean_field"}) {
    std::shared_ptr<GaussianPosteriorImpl> q;
    if (family == "full_rank") q = FullRankGaussianImpl::from_moments(mu, cov);
    else q = MeanFieldGaussianImpl::from_moments(mu, cov);
    torch::NoGradGuard no_grad;
    const double S = 200000;
    auto x = q->rsample(static_cast<int64_t>(S), gen);
    auto target = q->covariance();
    auto d = x - x.mean(0);
    auto sample_cov = torch::matmul(d.t(), d) / (S - 1);
    auto var = target.diagonal();
    auto se_mean = (var / S).sqrt();
    auto se_cov = ((torch::outer(var, var) + target.square()) / S).sqrt();
    EXPECT_TRUE(((x.mean(0) - mu).abs() < 5 * se_mean).all().item<bool>()) << family;
    EXPECT_TRUE(((sample_cov - target).abs() < 5 * se_cov).all().item<bool>()) << family;
  }
}

// d/dγ of E[f(θ(γ, ε))] for fixed noise ε, autograd vs central finite differences (float64,
// h = 1e-6: truncation error O(h²) ~ 1e-12, rounding error ~ 1e-10 relative).
TEST(GaussianPosterior, ReparameterisedGradientsMatchFiniteDifferences) {
  auto gen = at::detail::createCPUGenerator(6);
  for (const std::string family : {"full_rank", "mean_field"}) {
    auto q = make_gaussian_posterior(family, GaussianOptions(3));
    {
      torch::NoGradGuard no_grad;
      for (auto& p : q->parameters()) p.copy_(0.3 * torch::randn(p.sizes(), gen, torch::kFloat64));
    }
    auto noise = q->sample_noise(16, gen);
    auto target = FullRankGaussianImpl::from_moments(torch::ones({3}, torch::kFloat64),
                                                     random_spd(3, gen));
    // A smooth nonlinear objective of the samples that touches every parameter.
    auto objective = [&] {
      auto theta = q->transform(noise);
      return (target->log_prob(theta) + torch::sin(theta).sum(-1)).mean() + q->entropy();
    };
    auto params = q->parameters();
    auto grads = torch::autograd::grad({objective()}, params);
    const double h = 1e-6;
    for (size_t k = 0; k < params.size(); ++k) {
      auto flat = params[k].view(-1);
      auto g = grads[k].reshape(-1);
      for (int64_t i = 0; i < flat.numel(); ++i) {
        double fd;
        {
          torch::NoGradGuard no_grad;
          double orig = flat[i].item<double>();
          flat[i].fill_(orig + h);
          double up = objective().item<double>();
          flat[i].fill_(orig - h);
          double down = objective().item<double>();
          flat[i].fill_(orig);
          fd = (up - down) / (2 * h);
        }
        EXPECT_NEAR(g[i].item<double>(), fd, 1e-7 * std::max(1.0, std::abs(fd)))
            << family << " parameter " << k << " entry " << i;
      }
    }
  }
}

TEST(GaussianPosterior, RunDimensionBroadcastsAndSelects) {
  auto gen = at::detail::createCPUGenerator(7);
  auto base = FullRankGaussianImpl::from_moments(torch::randn({4}, gen, torch::kFloat64),
                                                 random_spd(4, gen));
  auto runs = base->replicate(3);
  EXPECT_EQ(runs->runs(), 3);
  auto theta = runs->rsample(10, gen);
  EXPECT_EQ(theta.sizes(), (std::vector<int64_t>{3, 10, 4}));
  EXPECT_EQ(runs->log_prob(theta).sizes(), (std::vector<int64_t>{3, 10}));
  // Every run is a replica: its log-density of shared samples equals the base's.
  auto shared = torch::randn({5, 4}, gen, torch::kFloat64);
  auto lp = runs->log_prob(shared);
  EXPECT_EQ(lp.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_TRUE(torch::allclose(lp[2], base->log_prob(shared), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(runs->select_run(1)->covariance(), base->covariance(), 1e-12, 1e-12));
  EXPECT_EQ(runs->kl_divergence(*base).sizes(), (std::vector<int64_t>{3}));
  // Runs are independent parameters: changing one leaves the others alone.
  {
    torch::NoGradGuard no_grad;
    runs->loc()[0].add_(1.0);
  }
  EXPECT_GT(runs->select_run(0)->kl_divergence(*base).item<double>(), 0.1);
  EXPECT_NEAR(runs->select_run(1)->kl_divergence(*base).item<double>(), 0.0, 1e-12);
}

TEST(GaussianPosterior, CopyIsDeep) {
  auto q = FullRankGaussian(GaussianOptions(2).init_scale(0.5));
  auto c = q->copy();
  {
    torch::NoGradGuard no_grad;
    c->loc().fill_(3.0);
  }
  EXPECT_EQ(q->loc().abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(q->stddev(), torch::full({2}, 0.5, torch::kFloat64)));
}

TEST(GaussianPosterior, SoftplusRoundTripIsAccurate) {
  auto y = torch::tensor({1e-8, 1e-3, 0.5, 1.0, 30.0, 1e3}, torch::kFloat64);
  auto back = functional::softplus(functional::inverse_softplus(y));
  EXPECT_TRUE(torch::allclose(back, y, 1e-13, 0.0));
}

TEST(GaussianPosterior, BadInputIsRejectedWithValues) {
  auto expect_error = [](auto&& fn, const std::string& needle) {
    try {
      fn();
      FAIL() << "no error; expected one containing '" << needle << "'";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([] { FullRankGaussian(GaussianOptions(0)); }, "dim = 0");
  expect_error([] { MeanFieldGaussian(GaussianOptions(3).init_scale(-1)); }, "init_scale = -1");
  expect_error([] { make_gaussian_posterior("diagonal", GaussianOptions(3)); }, "'diagonal'");
  auto not_spd = torch::tensor({{1.0, 2.0}, {2.0, 1.0}}, torch::kFloat64);
  expect_error([&] { FullRankGaussianImpl::from_moments(torch::zeros({2}, torch::kFloat64), not_spd); },
               "not symmetric positive definite");
}

}  // namespace
