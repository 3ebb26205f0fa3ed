// VI-BIF on conjugate linear regression, where the exact posterior is the minimiser of the VI
// energy and exact unlearning is known: one Newton step from q(θ|D) lands within O(1/n²) of
// p(θ|D_r), and the sequential request machinery updates n, records and the posterior.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include "linear_regression/linear_regression.h"
#include "unlearn/data/dataset.h"
#include "unlearn/io/config_error.h"
#include "unlearn/unlearning/bif/vi_bif.h"
#include "unlearn/unlearning/methods.h"
#include "unlearn/unlearning/request.h"
#include "unlearn/unlearning/exact_conjugate.h"

namespace {
using namespace unlearn;
using namespace unlearn::bif;

constexpr double kHalfLog2Pi = 0.91893853320467274178032973640562;

// E_q log N(y | xᵀθ, σ²) = −[(y − xᵀμ)² + xᵀΣx] / (2σ²) − log σ − ½ log 2π: the closed form of
// −h for linear regression (quadratic in θ, so its expectation needs only μ and Σ = LLᵀ).
ExpectedLogLikelihood regression_expectation(double sigma) {
  return [sigma](const GaussianPosteriorImpl& q, const data::Batch& b) {
    auto mean = torch::mv(b.x, q.loc());
    auto xl = torch::matmul(b.x, q.scale_tril());
    auto quad = (b.y - mean).square() + xl.square().sum(-1);
    return -0.5 * quad / (sigma * sigma) - std::log(sigma) - kHalfLog2Pi;
  };
}

struct Problem {
  models::LinearRegressionOptions options = models::LinearRegressionOptions(3);
  models::LinearRegression model{nullptr};
  models::RegressionProblem pb;
};

// Seed 5: 10 000 rows x ~ N(0, I₃), σ = 1, τ = 1; experiments use the first n rows (nested sets,
// so the removed points are the same for every n).
Problem make_problem(int64_t n_max) {
  Problem p;
  p.model = models::LinearRegression(p.options);
  auto gen = at::detail::createCPUGenerator(5);
  p.pb = models::make_regression_problem(n_max, p.options, gen);
  return p;
}

data::Dataset first_rows(const Problem& p, int64_t n) {
  return data::Dataset(p.pb.x.narrow(0, 0, n), p.pb.y.narrow(0, 0, n), p.pb.ids.narrow(0, 0, n));
}

std::shared_ptr<FullRankGaussianImpl> exact_posterior(Problem& p, const data::Dataset& ds) {
  auto [mean, cov] = exact_conjugate_posterior(*p.model, ds.batch());
  return FullRankGaussianImpl::from_moments(mean, cov);
}

double slope(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sx += x[i];
    sy += y[i];
    sxx += x[i] * x[i];
    sxy += x[i] * y[i];
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

ViBifOptions dense_options() { return ViBifOptions().solver(InverseHvpOptions().kind(SolverKind::kDense)); }

// VI BIF with the closed-form energy through the one request loop: `batch` ids per batch.
RequestResult forget_vi(Problem& p, GaussianPosteriorImpl& q, const data::Dataset& all, const torch::Tensor& ids,
                        const BifOptions& options, int64_t batch = 0) {
  auto method = bif_unlearner(options);
  ForgetContext ctx;
  ctx.seed = 3;
  return forget_request(*method, *p.model, PosteriorState::gaussian(q.copy()), all, ids, ctx,
                        RequestOptions().batch_size(batch));
}

TEST(BifVi, OneDenseStepMatchesExactMeanShiftToSecondOrder) {
  // First-order influence: the step uses H on D (still containing S′) where the exact Newton step
  // on D_r would use H_r, so the mean error is (Λ⁻¹ − Λ_r⁻¹) g = O(|S′|/n²) while the shift
  // itself is O(|S′|/n). With x ~ N(0, I) the constants settle quickly; the fitted log-log slope
  // over n ∈ {100, 1000, 10000} must be −2 ± 0.2 (−1 ± 0.2 for the shift, a sanity check).
  auto p = make_problem(10000);
  auto erased = torch::arange(5, torch::kLong);
  std::vector<double> log_n, log_err, log_shift;
  for (int64_t n : {100, 1000, 10000}) {
    auto all = first_rows(p, n);
    auto remaining = all.erase(erased);
    auto q = exact_posterior(p, all);
    auto target = exact_posterior(p, remaining);
    auto before = q->loc().detach().clone();
    auto gen = at::detail::createCPUGenerator(7);
    auto step = vi_bif_step(*p.model, *q, all, all.subset(erased).batch(), dense_options(), gen,
                            regression_expectation(1.0));
    const double err = (q->loc().detach() - target->loc().detach()).norm().item<double>();
    const double shift = (target->loc().detach() - before).norm().item<double>();
    EXPECT_LT(step.solve.residual, 1e-10) << n;
    EXPECT_LT(err, 0.1 * shift) << n;  // the step did most of the work
    log_n.push_back(std::log(static_cast<double>(n)));
    log_err.push_back(std::log(err));
    log_shift.push_back(std::log(shift));
  }
  std::cout << "VI-BIF mean error slope " << slope(log_n, log_err) << ", shift slope "
            << slope(log_n, log_shift) << ", errors";
  for (double e : log_err) std::cout << " " << std::exp(e);
  std::cout << "\n";
  EXPECT_NEAR(slope(log_n, log_err), -2.0, 0.2);
  EXPECT_NEAR(slope(log_n, log_shift), -1.0, 0.2);
}

TEST(BifVi, MomentMatchedMonteCarloEqualsClosedForm) {
  // Moment-matched common random numbers (S_mc = 64 > P = 3: sample mean 0, second moment I
  // exactly) make the MC expectation of a quadratic exact, so the MC energy is the closed-form
  // energy as a function of γ and the two steps agree to round-off (tolerance 1e-8 relative).
  auto p = make_problem(1000);
  auto all = first_rows(p, 1000);
  auto erased = torch::arange(5, torch::kLong);
  auto q_closed = exact_posterior(p, all);
  auto q_mc = exact_posterior(p, all);
  auto gen1 = at::detail::createCPUGenerator(7);
  auto gen2 = at::detail::createCPUGenerator(7);
  auto closed = vi_bif_step(*p.model, *q_closed, all, all.subset(erased).batch(), dense_options(),
                            gen1, regression_expectation(1.0));
  auto opts = dense_options();
  opts.energy().mc_samples(64).moment_matched_noise(true);
  auto mc = vi_bif_step(*p.model, *q_mc, all, all.subset(erased).batch(), opts, gen2);
  const double rel = ((mc.solve.solution - closed.solve.solution).norm() /
                      closed.solve.solution.norm()).item<double>();
  EXPECT_LT(rel, 1e-8);
  EXPECT_LT(((mc.gradient - closed.gradient).norm() / closed.gradient.norm()).item<double>(), 1e-8);

  // Plain MC noise with the same S_mc is visibly worse: the test can tell the two apart.
  auto q_plain = exact_posterior(p, all);
  auto gen3 = at::detail::createCPUGenerator(7);
  opts.energy().moment_matched_noise(false);
  auto plain = vi_bif_step(*p.model, *q_plain, all, all.subset(erased).batch(), opts, gen3);
  EXPECT_GT(((plain.solve.solution - closed.solve.solution).norm() / closed.solve.solution.norm())
                .item<double>(),
            1e-4);
}

TEST(BifVi, ConjugateGradientAndLissaAgreeWithDenseStep) {
  auto p = make_problem(1000);
  auto all = first_rows(p, 1000);
  auto erased = torch::arange(5, torch::kLong);
  auto run = [&](const ViBifOptions& opts) {
    auto q = exact_posterior(p, all);
    auto gen = at::detail::createCPUGenerator(7);
    return vi_bif_step(*p.model, *q, all, all.subset(erased).batch(), opts, gen,
                       regression_expectation(1.0));
  };
  auto dense = run(dense_options());
  // CG to ‖r‖/‖v‖ ≤ 1e-12 on the same deterministic H: the steps agree to ~κ·1e-12.
  auto cg_opts = dense_options();
  cg_opts.solver().kind(SolverKind::kConjugateGradient).cg().tol(1e-12);
  auto cg = run(cg_opts);
  EXPECT_LT(((cg.solve.solution - dense.solve.solution).norm() / dense.solve.solution.norm())
                .item<double>(),
            1e-6);
  EXPECT_LE(cg.solve.residual, 1e-12);

  // LiSSA with the papers' recursion and a fresh minibatch of 100 per term. The mean block of H
  // is ≈ n·I and each term's estimate (n/100)·Σ_b x xᵀ deviates from it by up to ~2√(d/b) ≈ 35 %
  // in operator norm. With s = c/n, c = 0.25, each term averages the noise of about 1/c
  // previous ones and T = 128 makes the bias (1 − c)^T ≈ 1e-16 negligible; the mean step must
  // then be within 25 % of the dense one (a wrong n/|b| scaling would be off by a factor of ~10).
  auto l_opts = dense_options().lissa_c(0.25);
  l_opts.solver().kind(SolverKind::kLissa).lissa().terms(128);
  l_opts.energy().hvp_batch_size(100);
  auto lis = run(l_opts);
  auto loc_l = lis.solve.solution.narrow(0, 0, 3);
  auto loc_d = dense.solve.solution.narrow(0, 0, 3);
  std::cout << "LiSSA mean-step relative error vs dense: " << ((loc_l - loc_d).norm() / loc_d.norm()).item<double>() << "\n";
  EXPECT_LT(((loc_l - loc_d).norm() / loc_d.norm()).item<double>(), 0.25);
  EXPECT_EQ(lis.solve.iterations, 128);
}

// The model's closed form (VI BIF's `vi_energy: closed_form`) is the test's formula above, and both
// are E_q log p(y | x, θ): 200 000 draws of θ ~ q (seed 11, q fitted on 20 rows, so xᵀΣx ≈ 0.14)
// estimate it with a standard error of at most ≈ 0.4/√S ≈ 1e-3 per row; 5e-3 is ≥ 5σ for each of the
// 50 rows, and a missing ½xᵀΣx term (≈ 0.07) would break it by an order of magnitude.
TEST(BifVi, LinearRegressionClosedFormEnergyIsTheExpectation) {
  auto p = make_problem(50);
  auto all = first_rows(p, 50);
  auto q = exact_posterior(p, first_rows(p, 20));
  auto batch = all.batch();
  auto closed = p.model->expected_log_likelihood(*q, batch);
  EXPECT_TRUE(torch::allclose(closed, regression_expectation(1.0)(*q, batch), 0, 1e-12));
  auto gen = at::detail::createCPUGenerator(11);
  auto mc = p.model->log_likelihood(q->rsample(200000, gen), batch).mean(0);
  EXPECT_LT((mc - closed).abs().max().item<double>(), 5e-3);
}

TEST(BifVi, SequentialRequestsUpdateNRecordsAndPosterior) {
  // 10 ids in batches of 4 → requests of 4, 4, 2 points with n = 1000, 996, 992 before each.
  auto p = make_problem(1000);
  auto all = first_rows(p, 1000);
  auto ids = torch::arange(10, 20, torch::kLong);
  auto q = exact_posterior(p, all);
  auto original = exact_posterior(p, all);
  auto target = exact_posterior(p, all.erase(ids));
  auto opts = dense_options();
  opts.solver().kind(SolverKind::kConjugateGradient).cg().tol(1e-12);
  auto result = forget_vi(p, *q, all, ids, BifOptions().vi(opts).vi_energy(ViEnergyForm::kClosedForm), 4);

  ASSERT_EQ(result.batches.size(), 3u);
  EXPECT_EQ(result.remaining.size(), 990);
  const std::vector<int64_t> sizes{4, 4, 2}, n_before{1000, 996, 992};
  for (size_t i = 0; i < 3; ++i) {
    const auto& c = result.batches[i].certificate;
    EXPECT_EQ(result.batches[i].ids.size(0), sizes[i]);
    EXPECT_EQ(result.batches[i].n_before, n_before[i]);
    EXPECT_EQ(c["solver"], "cg");
    EXPECT_LE(c["relative_residual"].get<double>(), 1e-12);
    EXPECT_GE(c["iterations"].get<int64_t>(), 1);
    EXPECT_GE(result.batches[i].seconds, 0.0);
  }
  EXPECT_TRUE(torch::equal(result.batches[1].ids, torch::arange(14, 18, torch::kLong)));
  EXPECT_FALSE(result.remaining.contains(15));
  EXPECT_TRUE(result.remaining.contains(20));
  EXPECT_TRUE(torch::equal(q->loc(), original->loc()));  // the state given is never modified
  auto& processed = result.state.gaussian();

  // Each step errs by O(|S′|/n²) (≈ 1e-5 here) against a shift of O(|S′|/n): the processed
  // posterior is far closer to the target than the original was, in mean and in KL (the
  // covariance factor is corrected too).
  const double shift = (target->loc() - original->loc()).norm().item<double>();
  const double err = (processed.loc() - target->loc()).norm().item<double>();
  EXPECT_LT(err, 0.05 * shift);
  const double kl_before = original->kl_divergence(*target).item<double>();
  const double kl_after = processed.kl_divergence(*target).item<double>();
  EXPECT_LT(kl_after, 0.01 * kl_before);
}

TEST(BifVi, BadRequestsChangeNothing) {
  auto p = make_problem(200);
  auto all = first_rows(p, 200);
  auto q = exact_posterior(p, all);
  auto before = variational_parameters(*q).values();
  auto expect_message = [&](const BifOptions& opts, const torch::Tensor& ids, const std::string& needle) {
    try {
      forget_vi(p, *q, all, ids, opts);
      ADD_FAILURE() << "no error; expected '" << needle << "'";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const auto dense = BifOptions().vi(dense_options());
  const auto one = torch::tensor({1}, torch::kLong);
  expect_message(dense, torch::tensor({3, 4, 999}, torch::kLong), "unknown ids: [999]");
  expect_message(dense, torch::tensor({3, 4, 3}, torch::kLong), "duplicate");
  expect_message(BifOptions().vi(dense_options().lissa_c(-1)), one, "lissa_c = -1");
  auto o = dense_options();
  o.energy().mc_samples(0);
  expect_message(BifOptions().vi(o), one, "mc_samples = 0");
  auto m = dense_options();
  m.energy().mc_samples(3);
  expect_message(BifOptions().vi(m).moment_matched_noise(true), one, "mc_samples = 3 and P = 3");
  EXPECT_TRUE(torch::equal(variational_parameters(*q).values(), before));
}

}  // namespace
