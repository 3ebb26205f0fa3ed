// The pure functions of variational Bayesian unlearning: adjusted-likelihood masks, chunked
// erased log-likelihoods, the EUBO estimate, self-normalised weights, ESS, weighted moments and
// the moment form of Σ w̄ log q(θ_s).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "unlearn/posterior/functional.h"
#include "unlearn/unlearning/adjusted_likelihood.h"
#include "unlearn/unlearning/eubo.h"
#include "unlearn/unlearning/reverse_kl.h"
#include "vbu_test_util.h"

namespace unlearn {
namespace {
namespace F = functional;
using testing::error_of;
using testing::make_gen;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

TEST(AdjustedLikelihoodMask, StrictThresholdInLogSpace) {
  // log q − log q(mode) against ln λ, strict: equality is *outside*.
  auto mode = torch::zeros({}, kF64);
  auto log_q = torch::tensor({0.0, std::log(0.25), std::log(0.25) - 1e-12, -50.0}, kF64);
  auto keep = F::adjusted_likelihood_mask(log_q, mode, 0.25);
  EXPECT_TRUE(keep.equal(torch::tensor({true, false, false, false})));
  // λ = 1: nothing is strictly above the mode, not even the mode itself.
  EXPECT_FALSE(F::adjusted_likelihood_mask(log_q, mode, 1.0).any().item<bool>());
  // λ = 0 keeps every sample, including one whose density is 0 (log q = −∞).
  auto with_inf = torch::tensor({-std::numeric_limits<double>::infinity(), -1e300, 0.0}, kF64);
  EXPECT_TRUE(F::adjusted_likelihood_mask(with_inf, mode, 0.0).all().item<bool>());
  // λ down to 1e-12 and below stays exact in log space: ln(1e-300) = −690.8.
  EXPECT_TRUE(F::adjusted_likelihood_mask(torch::tensor({-690.0, -691.0}, kF64), mode, 1e-300)
                  .equal(torch::tensor({true, false})));
}

TEST(AdjustedLikelihoodMask, BroadcastsLambdasOverSharedSamples) {
  auto log_q = torch::tensor({-0.1, -1.0, -3.0, -10.0}, kF64);  // [S], shared
  auto mode = torch::zeros({}, kF64);
  auto keep = F::adjusted_likelihood_mask(log_q, mode, F::log_lambdas({0.5, 1e-3, 0.0}, kF64));
  ASSERT_EQ(keep.sizes(), (std::vector<int64_t>{3, 4}));
  // ln 0.5 = −0.69, ln 1e-3 = −6.9.
  EXPECT_TRUE(keep.equal(torch::tensor({{true, false, false, false},
                                        {true, true, true, false},
                                        {true, true, true, true}})));
  // Per-run modes [R] with per-run samples [R, S].
  auto keep2 = F::adjusted_likelihood_mask(torch::tensor({{1.0, 0.0}, {1.0, 0.0}}, kF64),
                                           torch::tensor({1.5, 0.5}, kF64),
                                           F::log_lambdas({0.5, 0.5}, kF64));
  EXPECT_TRUE(keep2.equal(torch::tensor({{true, false}, {true, true}})));
}

TEST(AdjustedLikelihoodMask, LambdaOutsideUnitIntervalIsAnErrorNamingIt) {
  EXPECT_NE(error_of([] { F::check_lambda(1.5); }).find("lambda = 1.5 is outside [0, 1]"),
            std::string::npos);
  EXPECT_NE(error_of([] { F::log_lambdas({0.1, -0.25}); }).find("lambda = -0.25 is outside [0, 1]"),
            std::string::npos);
  EXPECT_NE(error_of([] { F::check_lambda(std::nan("")); }).find("is outside [0, 1]"),
            std::string::npos);
  EXPECT_NE(error_of([] { F::log_lambdas({}); }).find("empty"), std::string::npos);
  EXPECT_EQ(error_of([] { F::check_lambda(0.0); F::check_lambda(1.0); F::check_lambda(1e-12); }),
            "");
}

// The fraction of q(θ|D)-samples inside the λ region is F_{χ²_P}(2 ln(1/λ)): M² of a Gaussian
// sample is χ²_P. P = 20 as in the issue (and the moons model).
TEST(AdjustedLikelihoodMask, FractionInsideIsTheChiSquareCdf) {
  constexpr int kDim = 20;
  // The rounded numbers check the closed-form CDF used below.
  EXPECT_NEAR(testing::chi2_cdf_even(kDim, 2 * std::log(1e3)), 0.160, 5e-4);
  EXPECT_NEAR(testing::chi2_cdf_even(kDim, 2 * std::log(1e5)), 0.712, 5e-4);
  EXPECT_NEAR(testing::chi2_cdf_even(kDim, 2 * std::log(10.0)), 1.45e-4, 5e-7);

  torch::NoGradGuard no_grad;
  auto q = testing::random_full_rank(kDim, /*seed=*/11);
  const std::vector<double> lambdas{1e-3, 1e-5, 0.1, 1e-12};
  auto log_lambda = F::log_lambdas(lambdas, kF64);
  auto gen = make_gen(12);
  // 1e6 samples in 5 blocks: the count inside is Binomial(N, F); we allow 5 standard deviations
  // (λ = 0.1: 145 ± 12 expected, the widest relative band, 41 %; λ = 1e-3: 0.160 ± 0.0018).
  constexpr int64_t kBlock = 200000, kBlocks = 5;
  auto counts = torch::zeros({4}, kF64);
  int64_t disagreements = 0;
  for (int64_t b = 0; b < kBlocks; ++b) {
    auto theta = q->rsample(kBlock, gen);
    auto keep = F::adjusted_likelihood_mask(q->log_prob(theta), q->log_prob_at_mode(), log_lambda);
    counts += keep.sum(-1);
    // The Mahalanobis form M² < 2 ln(1/λ) is the same test (ties need M² within rounding of
    // the threshold: probability ~1e-13 per sample).
    auto m2 = F::mahalanobis_sq_tril(theta, q->loc(), q->scale_tril());
    disagreements += keep.ne(F::gaussian_adjusted_likelihood_mask(m2, log_lambda)).sum().item<int64_t>();
  }
  EXPECT_EQ(disagreements, 0);
  const double n = static_cast<double>(kBlock * kBlocks);
  for (size_t i = 0; i < lambdas.size(); ++i) {
    const double p = testing::chi2_cdf_even(kDim, 2 * std::log(1 / lambdas[i]));
    const double sd = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(counts[i].item<double>(), n * p, 5 * sd) << "lambda = " << lambdas[i];
  }
}

TEST(ErasedLogLikelihood, ChunkedSumIsExact) {
  auto p = testing::make_conjugate_problem(3, 23, 10, /*seed=*/3);
  auto theta = torch::randn({7, 3}, kF64);
  auto reference = p.model->log_likelihood(theta, p.erased).sum(-1);
  for (int64_t chunk : {1, 3, 4, 10, 1000}) {
    auto chunks = F::chunk_batch(p.erased, chunk);
    EXPECT_EQ(static_cast<int64_t>(chunks.size()), (10 + chunk - 1) / chunk);
    auto ll = F::erased_log_likelihood(*p.model, theta, p.erased, chunk);
    ASSERT_EQ(ll.sizes(), (std::vector<int64_t>{7}));
    // Only the order of additions differs: a few ulps of values ~30.
    EXPECT_LT(testing::max_abs_diff(ll, reference), 1e-12) << "chunk " << chunk;
  }
  EXPECT_NE(error_of([&] { F::chunk_batch(p.erased, 0); }).find("chunk_size = 0 must be >= 1"),
            std::string::npos);
}

TEST(EuboEstimate, IsTheSampleMean) {
  auto ll = torch::tensor({{1.0, 2.0}, {3.0, 5.0}}, kF64);
  auto lu = torch::tensor({{0.5, 0.5}, {0.0, 1.0}}, kF64);
  auto lf = torch::tensor({{1.5, 0.5}, {1.0, 0.0}}, kF64);
  EXPECT_TRUE(torch::allclose(F::eubo_estimate(ll, lu, lf), torch::tensor({1.0, 4.0}, kF64)));
}

TEST(SelfNormalisedWeights, LogSumExpDoesNotOverflow) {
  // −ℓ in the hundreds and thousands (banknote): exp would overflow or underflow.
  auto log_w = torch::tensor({{1000.0, 999.0, 990.0}, {-2000.0, -2001.0, -3000.0}}, kF64);
  auto lw = F::self_normalised_log_weights(log_w);
  EXPECT_TRUE(torch::isfinite(lw).all().item<bool>());
  // Inputs ~1000 carry an absolute rounding of ~1e-13 (their ulp), and so do the log-weights.
  EXPECT_TRUE(torch::allclose(lw.exp().sum(-1), torch::ones({2}, kF64), 0, 1e-12));
  // Same weights as the naive softmax of the shifted values.
  auto shifted = torch::tensor({{10.0, 9.0, 0.0}}, kF64);
  EXPECT_TRUE(torch::allclose(lw[0].exp(), torch::softmax(shifted, -1)[0], 0, 1e-12));
}

TEST(EffectiveSampleSize, KnownValues) {
  const double inf = std::numeric_limits<double>::infinity();
  auto ess = F::effective_sample_size(torch::tensor(
      {{0.0, 0.0, 0.0, 0.0}, {0.0, -1e4, -1e4, -1e4}, {5.0, 5.0, -inf, -inf},
       {0.0, std::log(2.0), std::log(3.0), -inf}},
      kF64));
  // equal weights: S; one weight: 1; two equal: 2; (1+2+3)²/(1+4+9) = 36/14.
  EXPECT_TRUE(torch::allclose(ess, torch::tensor({4.0, 1.0, 2.0, 36.0 / 14.0}, kF64), 1e-13, 0));
  // Normalised or not: the same (to the ~1e-13 absolute rounding of inputs ~700).
  auto lw = torch::tensor({-700.0, -701.0, -703.5}, kF64);
  EXPECT_NEAR(F::effective_sample_size(lw).item<double>(),
              F::effective_sample_size(F::self_normalised_log_weights(lw)).item<double>(), 1e-11);
}

TEST(WeightedMoments, EqualAndIntegerWeights) {
  auto gen = make_gen(5);
  auto theta = torch::randn({6, 3}, gen, kF64);
  auto [mean, cov] = F::weighted_gaussian_moments(theta, torch::zeros({6}, kF64));
  auto centred = theta - theta.mean(0);
  EXPECT_TRUE(torch::allclose(mean, theta.mean(0), 0, 1e-14));
  EXPECT_TRUE(torch::allclose(cov, torch::matmul(centred.t(), centred) / 6.0, 0, 1e-14));
  // Weight 2 on a sample = that sample twice with weight 1.
  auto w = torch::tensor({0.0, std::log(2.0), 0.0, 0.0, 0.0, 0.0}, kF64);
  auto repeated = torch::cat({theta, theta.narrow(0, 1, 1)});
  auto [m2, c2] = F::weighted_gaussian_moments(theta, w);
  auto [m3, c3] = F::weighted_gaussian_moments(repeated, torch::zeros({7}, kF64));
  EXPECT_TRUE(torch::allclose(m2, m3, 0, 1e-14));
  EXPECT_TRUE(torch::allclose(c2, c3, 0, 1e-14));
  auto [md, vd] = F::weighted_diagonal_moments(theta, w);
  EXPECT_TRUE(torch::allclose(md, m3, 0, 1e-14));
  EXPECT_TRUE(torch::allclose(vd, c3.diagonal(), 0, 1e-14));
  // Shared samples [S, P] with per-run weights [R, S]: one moment per run.
  auto [mr, cr] = F::weighted_gaussian_moments(theta, torch::stack({torch::zeros({6}, kF64), w}));
  EXPECT_TRUE(torch::allclose(mr[1], m2, 0, 1e-14));
  EXPECT_TRUE(torch::allclose(cr[0], cov, 0, 1e-14));
}

// Σ_s w̄_s log N(θ_s | loc, LLᵀ) computed from the weighted moments equals the per-sample sum, in
// value and gradient; and the weighted moments are its maximiser (zero gradient there).
TEST(WeightedLogProb, MomentFormEqualsPerSampleSum) {
  auto gen = make_gen(6);
  constexpr int64_t kRuns = 2, kSamples = 40, kDim = 4;
  auto theta = torch::randn({kSamples, kDim}, gen, kF64) * 0.7 + 0.2;
  auto log_w = torch::randn({kRuns, kSamples}, gen, kF64) * 2.0;
  auto lw = F::self_normalised_log_weights(log_w);
  auto loc = (0.1 * torch::randn({kRuns, kDim}, gen, kF64)).requires_grad_();
  auto raw = torch::randn({kRuns, kDim, kDim}, gen, kF64) * 0.2;
  auto tril = (torch::tril(raw, -1) + torch::diag_embed(0.5 + raw.diagonal(0, -2, -1).abs()))
                  .requires_grad_();

  auto direct = (lw.exp() * F::gaussian_log_prob_tril(theta, loc, tril)).sum(-1);
  auto [mean, cov] = F::weighted_gaussian_moments(theta, log_w);
  auto from_moments = F::weighted_log_prob_tril(mean, cov, loc, tril);
  EXPECT_TRUE(torch::allclose(direct, from_moments, 0, 1e-11));
  auto g1 = torch::autograd::grad({direct.sum()}, {loc, tril});
  auto g2 = torch::autograd::grad({from_moments.sum()}, {loc, tril});
  EXPECT_LT(testing::max_abs_diff(g1[0], g2[0]), 1e-11);
  EXPECT_LT(testing::max_abs_diff(torch::tril(g1[1]), torch::tril(g2[1])), 1e-11);

  // The same function through the general composite path (moments that carry a gradient).
  auto mean_g = mean.clone().requires_grad_();
  auto composite = F::weighted_log_prob_tril(mean_g, cov, loc, tril);
  EXPECT_LT(testing::max_abs_diff(composite, from_moments), 1e-11);
  auto g4 = torch::autograd::grad({composite.sum()}, {loc, tril});
  EXPECT_LT(testing::max_abs_diff(g4[0], g2[0]), 1e-11);
  EXPECT_LT(testing::max_abs_diff(torch::tril(g4[1]), g2[1]), 1e-11);

  // Maximiser: at loc = mean, L = chol(cov) the gradient vanishes.
  auto at_loc = mean.detach().clone().requires_grad_();
  auto at_tril = torch::linalg_cholesky(cov).requires_grad_();
  auto g3 = torch::autograd::grad({F::weighted_log_prob_tril(mean, cov, at_loc, at_tril).sum()},
                                  {at_loc, at_tril});
  EXPECT_LT(g3[0].abs().max().item<double>(), 1e-12);
  EXPECT_LT(torch::tril(g3[1]).abs().max().item<double>(), 1e-11);

  // Diagonal form.
  auto scale = (0.5 + torch::rand({kRuns, kDim}, gen, kF64)).requires_grad_();
  auto direct_d = (lw.exp() * F::gaussian_log_prob_diag(theta, loc, scale)).sum(-1);
  auto [mean_d, var_d] = F::weighted_diagonal_moments(theta, log_w);
  auto moments_d = F::weighted_log_prob_diag(mean_d, var_d, loc, scale);
  EXPECT_TRUE(torch::allclose(direct_d, moments_d, 0, 1e-11));
  auto h1 = torch::autograd::grad({direct_d.sum()}, {loc, scale});
  auto h2 = torch::autograd::grad({moments_d.sum()}, {loc, scale});
  EXPECT_LT(testing::max_abs_diff(h1[0], h2[0]), 1e-11);
  EXPECT_LT(testing::max_abs_diff(h1[1], h2[1]), 1e-11);
}

}  // namespace
}  // namespace unlearn
