// Reverse-KL unlearning: the closed form against the exact posterior, the iterative optimiser
// against the closed form, the moment-form objective against the per-sample definition, batched
// λ against separate runs, the χ² fraction through the unlearner, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "unlearn/unlearning/adjusted_likelihood.h"
#include "unlearn/unlearning/reverse_kl.h"
#include "vbu_test_util.h"

namespace unlearn {
namespace {
namespace F = functional;
using testing::error_of;
using testing::make_gen;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

// The step's statistics and objective equal the definition: θ_s = loc + L ε_s from q(θ|D),
// ℓ_s = mask_s · log p(D_e|θ_s), w̄ ∝ exp(−ℓ), objective Σ_s w̄_s log q_v(θ_s) — in value and
// in gradient with respect to q_v's parameters.
TEST(ReverseKlObjective, EqualsTheDefinition) {
  constexpr int64_t kDim = 3, kSamples = 200;
  testing::TinyLogistic model(kDim);
  auto erased = testing::make_logistic_batch(kDim, 6, /*seed=*/101);
  for (const std::string family : {"full_rank", "mean_field"}) {
    std::shared_ptr<GaussianPosteriorImpl> q_full = testing::random_full_rank(kDim, /*seed=*/102);
    if (family == "mean_field") {
      q_full = MeanFieldGaussianImpl::from_moments(q_full->mean().detach(),
                                                   q_full->covariance().detach());
    }
    const std::vector<double> lambdas{0.0, 0.3};
    ReverseKlObjective objective(model, *q_full, erased, lambdas, /*chunk_size=*/4);
    auto gen = make_gen(103);
    auto noise = torch::randn({kSamples, kDim}, gen, kF64);
    auto q_v = q_full->replicate(2);
    {
      torch::NoGradGuard no_grad;
      for (auto& p : q_v->parameters()) p.add_(0.1 * torch::randn(p.sizes(), gen, kF64));
    }
    auto stats = objective.statistics(noise);
    auto j = objective.objective(*q_v, stats);

    torch::Tensor theta, keep, log_w;
    {
      torch::NoGradGuard no_grad;
      theta = q_full->transform(noise);
      keep = F::adjusted_likelihood_mask(q_full->log_prob(theta), q_full->log_prob_at_mode(),
                                         F::log_lambdas(lambdas, kF64));
      auto ll = model.log_likelihood(theta, erased).sum(-1);
      log_w = torch::log_softmax(-torch::where(keep, ll, 0.0), -1);
    }
    auto direct = (log_w.exp() * q_v->log_prob(theta)).sum(-1);  // [R]
    EXPECT_TRUE(stats.inside.equal(keep)) << family;
    EXPECT_LT(testing::max_abs_diff(stats.log_weights, log_w), 1e-12) << family;
    EXPECT_LT(testing::max_abs_diff(j, direct), 1e-10) << family;
    EXPECT_LT(testing::max_abs_diff(stats.ess, F::effective_sample_size(log_w)), 1e-9);
    auto params = q_v->parameters();
    auto g1 = torch::autograd::grad({j.sum()}, params);
    auto g2 = torch::autograd::grad({direct.sum()}, params);
    for (size_t k = 0; k < params.size(); ++k) {
      EXPECT_LT(testing::max_abs_diff(g1[k], g2[k]), 1e-10) << family << " parameter " << k;
    }
  }
}

// The known answer: with q(θ|D) the exact p(θ|D), the λ = 0 weights are
// p(θ|D_r)/p(θ|D) and the weighted moments of 1e5 samples estimate p(θ|D_r)'s moments.
// The estimate's KL to the truth is ~ (P + P(P+1)/2)/(2·ESS) ≈ 1e-4 here (ESS ≈ 5e4), so
// KL < 1e-2 has a wide margin but fails for any wrong weight (sign, missing mask, normalisation).
TEST(ReverseKlClosedForm, MatchesTheExactRemainingPosterior) {
  auto p = testing::standard_problem();
  auto result = reverse_kl_closed_form(*p.model, *p.q_full, p.erased,
                                       ReverseKlClosedFormOptions().num_samples(100000).seed(112));
  const double kl = result.runs[0].posterior->kl_divergence(*p.exact_remaining).item<double>();
  EXPECT_LT(kl, 1e-2);
  EXPECT_GT(p.q_full->kl_divergence(*p.exact_remaining).item<double>(), 0.1);
  EXPECT_EQ(result.method, "rkl_closed");
  EXPECT_EQ(result.runs[0].steps, 0);
  EXPECT_DOUBLE_EQ(result.runs[0].fraction_inside, 1.0);
  ASSERT_TRUE(result.runs[0].effective_sample_size.has_value());
  EXPECT_GT(*result.runs[0].effective_sample_size, 10000.0);
  EXPECT_LT(*result.runs[0].effective_sample_size, 100000.0);
  // The objective at the optimum is −½P − ½ log det(2π C) = the negative entropy of q_v.
  EXPECT_NEAR(result.runs[0].objective, -result.runs[0].posterior->entropy().item<double>(), 1e-9);
}

// Mean-field: q(θ|D) mean-field, target ∝ q(θ|D)/p(D_e|θ) = N(Λ'⁻¹h', Λ'⁻¹) with
// Λ' = diag(1/σ²) − Λ_e; the reverse-KL optimum over mean-field Gaussians is moment matching:
// mean Λ'⁻¹h', variances diag(Λ'⁻¹). Same sample size and tolerance reasoning as above.
TEST(ReverseKlClosedForm, MeanFieldMatchesMomentMatching) {
  auto p = testing::standard_problem();
  auto var = p.q_full->covariance().diagonal().detach();
  auto q_full = MeanFieldGaussianImpl::from_moments(p.q_full->mean().detach(), var);
  auto lik = p.model->likelihood_natural_params(p.erased);
  auto precision = torch::diag(var.reciprocal()) - lik.precision;
  auto cov = torch::linalg_inv(precision);
  auto mean = torch::matmul(cov, p.q_full->mean().detach() / var - lik.shift);
  auto target = MeanFieldGaussianImpl::from_moments(mean, cov.diagonal());
  auto result = reverse_kl_closed_form(*p.model, *q_full, p.erased,
                                       ReverseKlClosedFormOptions().num_samples(100000).seed(114));
  EXPECT_EQ(result.runs[0].posterior->family(), "mean_field");
  EXPECT_LT(result.runs[0].posterior->kl_divergence(*target).item<double>(), 1e-2);
  EXPECT_GT(q_full->kl_divergence(*target).item<double>(), 0.1);
}

// The iterative optimiser converges to the closed form. Its per-step optimum is the weighted
// moments of 1000 fresh samples (ESS ≈ 500: whose average is the closed form up to an O(1/ESS)
// ratio bias); Adam at lr 3e-3 jitters around it by a few 1e-3 in loc against widths ~0.2. Both
// give KL ~ 1e-3 (measured 1e-3 to 2e-3 over seeds); 1e-2 is the bound.
TEST(ReverseKlUnlearn, IterativeConvergesToTheClosedForm) {
  auto p = testing::standard_problem();
  auto closed = reverse_kl_closed_form(*p.model, *p.q_full, p.erased,
                                       ReverseKlClosedFormOptions().lambdas({0.0, 0.1})
                                           .num_samples(200000).seed(122));
  auto iterative = reverse_kl_unlearn(*p.model, *p.q_full, p.erased,
                                      ReverseKlOptions().lambdas({0.0, 0.1}).num_samples(1000)
                                          .max_steps(3000).lr(3e-3).report_every(500).seed(123));
  EXPECT_EQ(iterative.method, "rkl");
  for (int r = 0; r < 2; ++r) {
    const auto& it = *iterative.runs[r].posterior;
    const auto& cf = *closed.runs[r].posterior;
    EXPECT_LT(it.kl_divergence(cf).item<double>(), 1e-2) << "run " << r;
    // Reports: ESS of 1000-sample weights in [1, 1000]; the windowed objective near the optimum's.
    ASSERT_TRUE(iterative.runs[r].effective_sample_size.has_value());
    EXPECT_GE(*iterative.runs[r].effective_sample_size, 1.0);
    EXPECT_LE(*iterative.runs[r].effective_sample_size, 1000.0);
    EXPECT_NEAR(iterative.runs[r].objective, closed.runs[r].objective, 0.1);
    // The fraction inside is that of q(θ|D)-samples in both (same region, same distribution):
    // binomial noise of 1000 samples × 500 steps (correlated by nothing): ±0.01 is > 5 sd.
    EXPECT_NEAR(iterative.runs[r].fraction_inside, closed.runs[r].fraction_inside, 1e-2);
  }
  EXPECT_GT(p.q_full->kl_divergence(*closed.runs[0].posterior).item<double>(), 0.1);
}

// The unlearner's own fraction of q(θ|D)-samples inside the λ region (computed as −½‖ε‖² > ln λ)
// is the χ² CDF: P = 20 as in the issue, 2e5 samples, 5 binomial standard deviations.
TEST(ReverseKlClosedForm, FractionInsideIsTheChiSquareCdf) {
  constexpr int kDim = 20;
  auto p = testing::make_conjugate_problem(kDim, 60, 2, /*seed=*/131);
  const std::vector<double> lambdas{1e-3, 1e-5, 0.0, 1.0};
  auto result = reverse_kl_closed_form(*p.model, *p.q_full, p.erased,
                                       ReverseKlClosedFormOptions().lambdas(lambdas)
                                           .num_samples(200000).sample_chunk(50000).seed(132));
  const double n = 200000;
  for (int r = 0; r < 2; ++r) {
    const double f = testing::chi2_cdf_even(kDim, 2 * std::log(1 / lambdas[r]));
    EXPECT_NEAR(result.runs[r].fraction_inside, f, 5 * std::sqrt(f * (1 - f) / n));
  }
  EXPECT_EQ(result.runs[2].fraction_inside, 1.0);
  EXPECT_EQ(result.runs[3].fraction_inside, 0.0);
  // λ = 1: no sample keeps its likelihood, all weights equal: q_v = q(θ|D) up to sampling noise
  // of 2e5 samples (KL ~ (P + P(P+1)/2)/(2·2e5) ≈ 6e-4), and the ESS is exactly S.
  EXPECT_NEAR(*result.runs[3].effective_sample_size, n, 1e-6 * n);
  EXPECT_LT(result.runs[3].posterior->kl_divergence(*p.q_full).item<double>(), 2e-3);
}

// Batched λ equals separate runs with the same seed (shared samples of q(θ|D): one draw, one
// model call per step serve every run). Iterative and closed form.
TEST(ReverseKlUnlearn, BatchedLambdasEqualSeparateRuns) {
  constexpr int64_t kDim = 4;
  testing::TinyLogistic model(kDim);
  auto erased = testing::make_logistic_batch(kDim, 9, /*seed=*/141);
  for (const std::string family : {"full_rank", "mean_field"}) {
    std::shared_ptr<GaussianPosteriorImpl> q_full = testing::random_full_rank(kDim, /*seed=*/142);
    if (family == "mean_field") {
      q_full = MeanFieldGaussianImpl::from_moments(q_full->mean().detach(),
                                                   q_full->covariance().detach());
    }
    const std::vector<double> lambdas{0.0, 0.05, 0.5, 1.0};
    auto options = ReverseKlOptions().num_samples(300).max_steps(150).lr(1e-2).report_every(50)
                       .seed(143);
    auto closed_options =
        ReverseKlClosedFormOptions().num_samples(5000).sample_chunk(1500).seed(144);
    auto batched =
        reverse_kl_unlearn(model, *q_full, erased, ReverseKlOptions(options).lambdas(lambdas));
    auto batched_closed = reverse_kl_closed_form(
        model, *q_full, erased, ReverseKlClosedFormOptions(closed_options).lambdas(lambdas));
    for (size_t r = 0; r < lambdas.size(); ++r) {
      auto single = reverse_kl_unlearn(model, *q_full, erased,
                                       ReverseKlOptions(options).lambdas({lambdas[r]}));
      // Same arithmetic per run; 1e-12 allows for a batched matrix product rounding differently.
      const auto& a = *batched.runs[r].posterior;
      const auto& b = *single.runs[0].posterior;
      EXPECT_LT(testing::max_abs_diff(a.loc(), b.loc()), 1e-12) << family << " λ=" << lambdas[r];
      EXPECT_LT(testing::max_abs_diff(a.parameters()[1], b.parameters()[1]), 1e-12)
          << family << " λ=" << lambdas[r];
      EXPECT_NEAR(*batched.runs[r].effective_sample_size, *single.runs[0].effective_sample_size,
                  1e-9);
      EXPECT_EQ(batched.runs[r].fraction_inside, single.runs[0].fraction_inside);
      auto single_closed = reverse_kl_closed_form(
          model, *q_full, erased, ReverseKlClosedFormOptions(closed_options).lambdas({lambdas[r]}));
      EXPECT_LT(testing::max_abs_diff(batched_closed.runs[r].posterior->covariance(),
                                      single_closed.runs[0].posterior->covariance()),
                1e-12);
      EXPECT_LT(testing::max_abs_diff(batched_closed.runs[r].posterior->loc(),
                                      single_closed.runs[0].posterior->loc()),
                1e-12);
    }
    EXPECT_GT(testing::max_abs_diff(batched.runs[0].posterior->loc(),
                                    batched.runs[3].posterior->loc()),
              1e-3);
  }
}

TEST(ReverseKlClosedForm, SampleBlocksDoNotChangeTheResult) {
  auto p = testing::make_conjugate_problem(3, 24, 6, /*seed=*/151);
  auto options = ReverseKlClosedFormOptions().lambdas({0.0, 0.2}).num_samples(6000).seed(152);
  auto one = reverse_kl_closed_form(*p.model, *p.q_full, p.erased, options);
  // The same 6000 samples in blocks of 1000 / 7 (one generator stream: identical draws):
  // the running log-sum-exp combination is exact up to rounding.
  for (int64_t block : {1000, 7}) {
    auto blocks = reverse_kl_closed_form(*p.model, *p.q_full, p.erased,
                                         ReverseKlClosedFormOptions(options).sample_chunk(block));
    for (int r = 0; r < 2; ++r) {
      EXPECT_LT(testing::max_abs_diff(one.runs[r].posterior->loc(), blocks.runs[r].posterior->loc()),
                1e-10);
      EXPECT_LT(testing::max_abs_diff(one.runs[r].posterior->covariance(),
                                      blocks.runs[r].posterior->covariance()),
                1e-10);
      EXPECT_NEAR(*one.runs[r].effective_sample_size, *blocks.runs[r].effective_sample_size, 1e-6);
      EXPECT_EQ(one.runs[r].fraction_inside, blocks.runs[r].fraction_inside);
    }
  }
}

TEST(ReverseKlClosedForm, DegenerateWeightsAreAnErrorNamingLambdaAndEss) {
  auto p = testing::make_conjugate_problem(3, 24, 6, /*seed=*/161);
  // 3 samples for 3 dimensions: the weighted covariance has rank ≤ 2.
  auto message = error_of([&] {
    reverse_kl_closed_form(*p.model, *p.q_full, p.erased,
                           ReverseKlClosedFormOptions().lambdas({0.0}).num_samples(3));
  });
  EXPECT_NE(message.find("lambda = 0"), std::string::npos) << message;
  EXPECT_NE(message.find("effective sample size"), std::string::npos) << message;
  // A jitter makes it positive definite.
  EXPECT_EQ(error_of([&] {
              reverse_kl_closed_form(*p.model, *p.q_full, p.erased,
                                     ReverseKlClosedFormOptions().num_samples(3).jitter(1e-3));
            }),
            "");
  EXPECT_NE(error_of([&] {
              reverse_kl_closed_form(*p.model, *p.q_full, p.erased,
                                     ReverseKlClosedFormOptions().lambdas({2.0}));
            }).find("lambda = 2 is outside [0, 1]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              reverse_kl_unlearn(*p.model, *p.q_full, p.erased,
                                 ReverseKlOptions().lambdas({0.5, 1.5}).max_steps(1));
            }).find("lambda = 1.5 is outside [0, 1]"),
            std::string::npos);
}

TEST(ReverseKlUnlearn, ReportsEssAndJson) {
  auto p = testing::make_conjugate_problem(3, 24, 6, /*seed=*/171);
  auto result = reverse_kl_unlearn(*p.model, *p.q_full, p.erased,
                                   ReverseKlOptions().lambdas({0.0, 1.0}).num_samples(500)
                                       .max_steps(50).report_every(25));
  EXPECT_EQ(result.steps, 50);
  // λ = 1: equal weights, ESS exactly S; λ = 0: fewer.
  EXPECT_NEAR(*result.runs[1].effective_sample_size, 500.0, 1e-8);
  EXPECT_LT(*result.runs[0].effective_sample_size, 500.0);
  nlohmann::json j = result;
  EXPECT_EQ(j["method"], "rkl");
  EXPECT_TRUE(j["runs"][0]["effective_sample_size"].is_number());
  EXPECT_EQ(j["runs"][0]["objective_trace"].size(), 2u);
}

// Thresholds given as ln λ are the same thresholds: the same seed gives the same runs, bit for
// bit (iterative and closed form), and the runs report both λ and ln λ.
TEST(ReverseKlUnlearn, LogLambdasAreTheSameThresholds) {
  auto p = testing::make_conjugate_problem(3, 24, 6, /*seed=*/181);
  const std::vector<double> lambdas{0.2, 1e-3, 0.0};
  std::vector<double> logs;
  for (double l : lambdas) logs.push_back(std::log(l));  // log(0) = -inf
  auto base = ReverseKlOptions().num_samples(300).max_steps(40).report_every(20).seed(182);
  auto a = reverse_kl_unlearn(*p.model, *p.q_full, p.erased, ReverseKlOptions(base).lambdas(lambdas));
  auto b = reverse_kl_unlearn(*p.model, *p.q_full, p.erased,
                              ReverseKlOptions(base).lambdas({0.5}).log_lambdas(logs));  // replaces lambdas
  ASSERT_EQ(b.runs.size(), 3u);
  for (size_t r = 0; r < lambdas.size(); ++r) {
    EXPECT_TRUE(torch::equal(a.runs[r].posterior->loc(), b.runs[r].posterior->loc())) << r;
    EXPECT_EQ(a.runs[r].fraction_inside, b.runs[r].fraction_inside) << r;
    EXPECT_DOUBLE_EQ(b.runs[r].lambda, lambdas[r]);  // e^{ln λ}
    EXPECT_EQ(b.runs[r].log_lambda, logs[r]);
  }
  auto ca = reverse_kl_closed_form(*p.model, *p.q_full, p.erased,
                                   ReverseKlClosedFormOptions().lambdas(lambdas).num_samples(5000).seed(183));
  auto cb = reverse_kl_closed_form(*p.model, *p.q_full, p.erased,
                                   ReverseKlClosedFormOptions().log_lambdas(logs).num_samples(5000).seed(183));
  for (size_t r = 0; r < lambdas.size(); ++r) {
    EXPECT_TRUE(torch::equal(ca.runs[r].posterior->loc(), cb.runs[r].posterior->loc())) << r;
  }
  nlohmann::json j = b;
  EXPECT_DOUBLE_EQ(j["runs"][1]["log_lambda"].get<double>(), std::log(1e-3));
  EXPECT_TRUE(j["runs"][2]["log_lambda"].is_null());  // λ = 0: ln λ = −∞ has no JSON number
  EXPECT_NE(error_of([&] {
              reverse_kl_unlearn(*p.model, *p.q_full, p.erased, ReverseKlOptions(base).log_lambdas({-1.0, 0.5}));
            }).find("log_lambda = 0.5 must be <= 0"),
            std::string::npos);
}

// In P = 2000 dimensions the samples of q(θ|D) have M² ≈ P ± 63, so the region holds any of them
// only for ln λ near −P/2 = −1000, where λ itself is 0 in double. Given as ln λ = −1000 the
// threshold M² < 2000 keeps the χ² fraction F_{χ²_2000}(2000) ≈ 0.504; λ = 1e-300 (the smallest
// usable λ, ln λ = −690.8, M² < 1381.6) keeps none. 20 000 samples: 5 binomial standard
// deviations = 0.018.
TEST(ReverseKlClosedForm, LogLambdaReachesThresholdsBelowTheSmallestDouble) {
  constexpr int kDim = 2000;
  testing::TinyLogistic model(kDim);
  auto erased = testing::make_logistic_batch(kDim, 5, /*seed=*/191);
  auto gen = testing::make_gen(192);
  auto q_full = MeanFieldGaussianImpl::from_moments(0.1 * torch::randn({kDim}, gen, torch::kFloat64),
                                                    0.01 * torch::ones({kDim}, torch::kFloat64));
  const double n = 20000;
  auto result = reverse_kl_closed_form(model, *q_full, erased,
                                       ReverseKlClosedFormOptions()
                                           .log_lambdas({-1000.0, std::log(1e-300)})
                                           .num_samples(static_cast<int64_t>(n))
                                           .sample_chunk(5000)
                                           .seed(193));
  const double f = testing::chi2_cdf_even(kDim, 2000.0);
  EXPECT_GT(f, 0.45);
  EXPECT_LT(f, 0.55);
  EXPECT_NEAR(result.runs[0].fraction_inside, f, 5 * std::sqrt(f * (1 - f) / n));
  EXPECT_EQ(result.runs[0].lambda, 0.0);  // e^{−1000} underflows; ln λ carries the threshold
  EXPECT_EQ(result.runs[0].log_lambda, -1000.0);
  EXPECT_EQ(result.runs[1].fraction_inside, 0.0);
}

}  // namespace
}  // namespace unlearn
