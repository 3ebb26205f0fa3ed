// SGLD and SGHMC: exact updates, stationary statistics against the exact law of the discretised
// chains, conjugate regression, optimizer state with options, and bit-identical resumption.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "inference_test_models.h"
#include "unlearn/inference/optimizer_state.h"
#include "unlearn/inference/schedule.h"
#include "unlearn/inference/sghmc.h"
#include "unlearn/inference/sgld.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/unlearning/exact_conjugate.h"

namespace {
using namespace unlearn;
using namespace unlearn::inference;
using unlearn::inference_test::ConjugateRegression;
using unlearn::inference_test::correlated_target;
using unlearn::inference_test::GaussianTarget;
using unlearn::inference_test::regression_data;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

TEST(Schedule, PolynomialDecay) {
  EXPECT_EQ(polynomial_step_size(0.1, 1.0, 0.0, 1000), 0.1);
  EXPECT_DOUBLE_EQ(polynomial_step_size(0.1, 1.0, 0.55, 0), 0.1);
  EXPECT_DOUBLE_EQ(polynomial_step_size(2.0, 10.0, 0.5, 6), 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(SGLDOptions(2.0).offset(10).decay(0.5).step_size(6), 0.5);
}

// T = 0: SGLD is gradient descent on U with the scheduled step sizes, and the counter advances.
TEST(SGLD, WithoutNoiseIsGradientDescentOnTheSchedule) {
  auto theta = torch::tensor({1.0, -2.0}, kF64).requires_grad_(true);
  SGLD opt({theta}, SGLDOptions(0.5).offset(2).decay(1.0).temperature(0), at::detail::createCPUGenerator(0));
  auto expected = theta.detach().clone();
  for (int t = 0; t < 3; ++t) {
    EXPECT_DOUBLE_EQ(opt.next_step_size(theta), 0.5 / (2.0 + t));
    opt.zero_grad();
    (0.5 * theta.square().sum()).backward();  // ∇U = θ
    expected = expected - (0.5 / (2.0 + t)) * expected;
    opt.step();
    EXPECT_TRUE(torch::allclose(theta.detach(), expected, 0, 1e-15)) << t;
  }
  EXPECT_EQ(opt.step_count(theta), 3);
}

// T = 0: SGHMC follows v ← (1 − α) v − η∇U, θ ← θ + v exactly.
TEST(SGHMC, WithoutNoiseFollowsTheRecursion) {
  auto theta = torch::tensor({1.0, -2.0}, kF64).requires_grad_(true);
  SGHMC opt({theta}, SGHMCOptions(0.1).friction(0.3).temperature(0), at::detail::createCPUGenerator(0));
  auto th = theta.detach().clone(), v = torch::zeros({2}, kF64);
  for (int t = 0; t < 4; ++t) {
    opt.zero_grad();
    (0.5 * theta.square().sum()).backward();
    v = 0.7 * v - 0.1 * th;
    th = th + v;
    opt.step();
    EXPECT_TRUE(torch::allclose(theta.detach(), th, 0, 1e-15)) << t;
    EXPECT_TRUE(torch::allclose(opt.velocity(theta), v, 0, 1e-15)) << t;
  }
}

// α = 1 forgets the velocity: SGHMC is then SGLD with the same step size and the same noise.
TEST(SGHMC, FrictionOneIsSGLD) {
  auto a = torch::tensor({1.0, -2.0, 0.5}, kF64).requires_grad_(true);
  auto b = a.detach().clone().requires_grad_(true);
  SGLD sgld({a}, SGLDOptions(0.05), at::detail::createCPUGenerator(3));
  SGHMC sghmc({b}, SGHMCOptions(0.05).friction(1.0), at::detail::createCPUGenerator(3));
  for (int t = 0; t < 20; ++t) {
    sgld.zero_grad();
    sghmc.zero_grad();
    (0.5 * a.square().sum()).backward();
    (0.5 * b.square().sum()).backward();
    sgld.step();
    sghmc.step();
  }
  EXPECT_TRUE(torch::allclose(a.detach(), b.detach(), 0, 1e-12));
  EXPECT_FALSE(torch::allclose(a.detach(), torch::tensor({1.0, -2.0, 0.5}, kF64)));
}

// ---- stationary statistics -----------------------------------------------------------------
//
// On a Gaussian target N(m, Σ) with exact gradients, both samplers are linear Gaussian
// recursions z ← A z + w, w ~ N(0, Q) (z = θ − m for SGLD, (θ − m, v) for SGHMC). Their exact
// stationary covariance C solves C = A C Aᵀ + Q; it differs from Σ by the known discretisation
// bias. The bank keeps every k-th state, an AR(1) chain with matrix A^k, whose autocovariances
// Γ_j = E A^{kj} C Eᵀ give the exact Monte Carlo errors: Var(mean) ≈ (Σ_j Γ_j)/n and, for Gaussian
// chains, Var(ĉ_ab) ≈ (1/n) Σ_j [Γ_j,aa Γ_j,bb + Γ_j,ab Γ_j,ba] (Bartlett). These are the
// effective-sample-size-derived tolerances of the tests below.
struct ChainTheory {
  torch::Tensor stationary;  // C restricted to θ: [P, P]
  torch::Tensor mean_var;    // n · Var(bank mean): [P, P] (long-run covariance)
  torch::Tensor cov_var;     // n · Var(bank covariance entries): [P, P]
};

ChainTheory chain_theory(const torch::Tensor& a, const torch::Tensor& q, int64_t p, int64_t thinning) {
  const int64_t d = a.size(0);
  auto eye = torch::eye(d * d, kF64);
  auto vec_c = torch::linalg_solve(eye - torch::kron(a, a), q.reshape({-1}));
  auto c = vec_c.reshape({d, d});
  auto a_k = torch::linalg_matrix_power(a, thinning);
  ChainTheory out;
  out.stationary = c.slice(0, 0, p).slice(1, 0, p);
  out.mean_var = out.stationary.clone();
  out.cov_var = out.stationary.square() + out.stationary * out.stationary.t();
  auto cross = c;  // A^{kj} C
  for (int j = 1; j < 100000; ++j) {
    cross = torch::matmul(a_k, cross);
    auto g = cross.slice(0, 0, p).slice(1, 0, p);  // Γ_j; Γ_{−j} = Γ_jᵀ
    out.mean_var += g + g.t();
    out.cov_var += 2 * (torch::outer(g.diagonal(), g.diagonal()) + g * g.t());
    if (g.abs().max().item<double>() < 1e-12) break;
  }
  return out;
}

void expect_bank_matches(const SampleBank& bank, const GaussianTarget& target, const ChainTheory& th,
                         const std::string& what) {
  const double n = static_cast<double>(bank.size());
  auto mean_se = (th.mean_var.diagonal() / n).sqrt();
  auto cov_se = (th.cov_var / n).sqrt();
  auto mean_err = (bank.mean() - target.mean()).abs();
  // 4 standard errors, plus the O(1/n) bias of a covariance around the sample mean.
  EXPECT_TRUE((mean_err < 4 * mean_se).all().item<bool>()) << what << ": mean error " << mean_err << " SE " << mean_se;
  auto cov_err = (bank.covariance() - th.stationary).abs();
  auto cov_tol = 4 * cov_se + th.mean_var.abs() / n;
  EXPECT_TRUE((cov_err < cov_tol).all().item<bool>()) << what << ": covariance error " << cov_err << " tol " << cov_tol;
  // Against the target itself the known discretisation bias adds to the tolerance.
  auto bias = (th.stationary - target.cov()).abs();
  EXPECT_TRUE(((bank.covariance() - target.cov()).abs() < cov_tol + bias).all().item<bool>()) << what;
  EXPECT_LT((bias / target.cov().abs()).max().item<double>(), 0.08) << what << ": step size too large for the test";
  // The tests can fail: an error of 25 % of Σ would be noticed.
  EXPECT_TRUE((cov_tol < 0.25 * target.cov().abs()).all().item<bool>()) << what << ": tolerance too loose " << cov_tol;
}

// SGLD on N((1, −2), [[1, .6], [.6, 1]]), exact gradients. η = 0.1: the variance along the
// stiff direction (λ = 2.5) is inflated by 1/(1 − ηλ/2) ≈ 14 %, 5 % on the diagonal of Σ
// (accounted for exactly). Seed 21, 30 000 steps, burn-in 1 000 (the slowest mode decays as
// 0.94^t), thinning 4: 7 250 samples, ESS ≈ 950 along the slow direction.
TEST(SGMCMCTrainer, SGLDBankMatchesCorrelatedGaussian) {
  auto target = correlated_target(0.6);
  const double eta = 0.1;
  SGMCMCTrainer chain(target, GaussianTarget::dummy_data(),
                      SGMCMCOptions().sampler(Sampler::kSGLD).lr(eta).steps(30000).seed(21).bank(
                          SampleBankOptions().burn_in(1000).thinning(4).capacity(10000)));
  chain.train();
  ASSERT_EQ(chain.bank().size(), 7250);
  auto a = torch::eye(2, kF64) - eta * target->precision();
  auto q = 2 * eta * torch::eye(2, kF64);
  expect_bank_matches(chain.bank(), *target, chain_theory(a, q, 2, 4), "SGLD");
}

// SGHMC on the same target: η = 0.04, α = 0.2 (slowest mode: damping over ~10 steps, period ~40).
// Seed 22, 30 000 steps, burn-in 1 000, thinning 4.
TEST(SGMCMCTrainer, SGHMCBankMatchesCorrelatedGaussian) {
  auto target = correlated_target(0.6);
  const double eta = 0.04, alpha = 0.2;
  SGMCMCTrainer chain(target, GaussianTarget::dummy_data(),
                      SGMCMCOptions().sampler(Sampler::kSGHMC).lr(eta).friction(alpha).steps(30000).seed(22).bank(
                          SampleBankOptions().burn_in(1000).thinning(4).capacity(10000)));
  chain.train();
  auto eye = torch::eye(2, kF64);
  auto h = eta * target->precision();
  auto a = torch::cat({torch::cat({eye - h, (1 - alpha) * eye}, 1), torch::cat({-h, (1 - alpha) * eye}, 1)}, 0);
  auto q = 2 * alpha * eta * torch::kron(torch::ones({2, 2}, kF64), eye);
  expect_bank_matches(chain.bank(), *target, chain_theory(a, q, 2, 4), "SGHMC");
}

// Minibatch SG-MCMC on conjugate linear regression (d = 2, N = 200, B = 20: N/B = 10): the bank
// mean is the exact posterior mean within 4 Monte Carlo standard errors, estimated by batch means
// (20 batches; the minibatch gradient noise makes the chain non-linear in the data, so the
// AR formulas above do not apply). The bank variance is within [0.7, 1.6] of the exact one:
// minibatch gradient noise inflates it (≈ η N² v / (2 B) relative, ~20 % here, a known SGLD bias),
// while a missing N/B factor would make it 10x.
TEST(SGMCMCTrainer, BankMeanMatchesConjugateRegression) {
  auto ds = regression_data(200, 2, 0.5, /*seed=*/23);
  auto model = std::make_shared<ConjugateRegression>(2, 0.5, 1.0);
  auto [mean, cov] = exact_conjugate_posterior(*model, ds.batch());
  struct Case {
    std::string sampler;
    double lr, friction;
  };
  for (const auto& c : {Case{"sgld", 5e-5, 0.1}, Case{"sghmc", 2e-5, 0.3}}) {
    SGMCMCTrainer chain(model, ds,
                        SGMCMCOptions()
                            .sampler(sampler_from_string(c.sampler))
                            .lr(c.lr)
                            .friction(c.friction)
                            .batch_size(20)
                            .steps(8000)
                            .seed(24)
                            .bank(SampleBankOptions().burn_in(1000).thinning(2).capacity(10000)));
    chain.train();
    auto samples = chain.bank().samples();  // [3500, 2]
    const int64_t batches = 20, per = samples.size(0) / batches;
    auto batch_means = samples.narrow(0, 0, batches * per).reshape({batches, per, 2}).mean(1);
    auto mcse = batch_means.std(0) / std::sqrt(static_cast<double>(batches));
    auto err = (chain.bank().mean() - mean).abs();
    EXPECT_TRUE((err < 4 * mcse + 1e-4).all().item<bool>()) << c.sampler << ": error " << err << " MCSE " << mcse;
    auto ratio = chain.bank().covariance().diagonal() / cov.diagonal();
    EXPECT_TRUE((ratio > 0.7).all().item<bool>() && (ratio < 1.6).all().item<bool>()) << c.sampler << ": " << ratio;
    // Guard against a vacuous test: the MCSE is small against the posterior spread.
    EXPECT_TRUE((mcse < 0.2 * cov.diagonal().sqrt()).all().item<bool>()) << c.sampler << " MCSE " << mcse;
  }
}

// ---- state ---------------------------------------------------------------------------------

// LibTorch's load() keeps the fresh optimizer's options; load_optimizer re-applies the saved ones.
TEST(OptimizerState, OptionsAreReappliedOnLoad) {
  auto theta = torch::zeros({3}, kF64).requires_grad_(true);
  SGHMC saved({theta}, SGHMCOptions(0.25).friction(0.4).decay(0.5).offset(3).temperature(0.5),
              at::detail::createCPUGenerator(0));
  theta.mutable_grad() = torch::ones({3}, kF64);
  saved.step();
  io::Checkpoint ckpt;
  save_optimizer(ckpt, "opt", saved);

  auto fresh_theta = torch::zeros({3}, kF64).requires_grad_(true);
  SGHMC fresh({fresh_theta}, SGHMCOptions(1.0), at::detail::createCPUGenerator(0));
  load_optimizer(ckpt, "opt", fresh);
  const auto& o = static_cast<const SGHMCOptions&>(fresh.param_groups()[0].options());
  EXPECT_EQ(o, static_cast<const SGHMCOptions&>(saved.param_groups()[0].options()));
  EXPECT_EQ(fresh.step_count(fresh_theta), 1);
  EXPECT_TRUE(torch::equal(fresh.velocity(fresh_theta), saved.velocity(theta)));

  auto p = torch::zeros({2}, kF64).requires_grad_(true);
  torch::optim::Adam adam({p}, torch::optim::AdamOptions(0.03).betas({0.8, 0.99}).eps(1e-6).weight_decay(0.1));
  io::Checkpoint adam_ckpt;
  save_optimizer(adam_ckpt, "adam", adam);
  torch::optim::Adam fresh_adam({p}, torch::optim::AdamOptions(1.0));
  load_optimizer(adam_ckpt, "adam", fresh_adam);
  EXPECT_EQ(static_cast<const torch::optim::AdamOptions&>(fresh_adam.param_groups()[0].options()),
            static_cast<const torch::optim::AdamOptions&>(adam.param_groups()[0].options()));

  // Another kind of optimizer, or other shapes: errors that say so, nothing changed.
  SGLD sgld({fresh_theta}, SGLDOptions(1.0), at::detail::createCPUGenerator(0));
  inference_test::expect_error_containing([&] { load_optimizer(ckpt, "opt", sgld); }, "\"sghmc\"");
  auto other = torch::zeros({4}, kF64).requires_grad_(true);
  SGHMC wrong_shape({other}, SGHMCOptions(1.0), at::detail::createCPUGenerator(0));
  inference_test::expect_error_containing([&] { load_optimizer(ckpt, "opt", wrong_shape); }, "shape [3]");
}

// Save at step k, reload into fresh objects (through a checkpoint file), continue: bit-identical
// to an uninterrupted chain — θ, velocity, and a bank that has wrapped around its capacity.
TEST(SGMCMCTrainer, ResumeIsBitIdentical) {
  auto ds = regression_data(50, 3, 0.5, /*seed=*/25);
  const auto dir = std::filesystem::temp_directory_path() / ("unlearn_sgmcmc_resume_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const std::string sampler : {"sgld", "sghmc"}) {
    auto options = SGMCMCOptions()
                       .sampler(sampler_from_string(sampler))
                       .lr(1e-3)
                       .schedule_decay(0.55)
                       .schedule_offset(10)
                       .batch_size(16)
                       .steps(60)
                       .seed(26)
                       .bank(SampleBankOptions().burn_in(10).thinning(3).capacity(7));
    auto model = std::make_shared<ConjugateRegression>(3, 0.5, 1.0);
    SGMCMCTrainer a(model, ds, options);
    a.train();

    auto b = std::make_unique<SGMCMCTrainer>(model, ds, options);
    for (int i = 0; i < 37; ++i) b->step();  // mid-epoch (4 batches an epoch), bank wrapped
    ASSERT_EQ(b->bank().num_kept(), 9);
    io::Checkpoint ckpt;
    ckpt.architecture = model->architecture();
    b->save_state(ckpt, "chain/");
    io::save_checkpoint(ckpt, dir / "chain.ckpt");
    b.reset();

    SGMCMCTrainer c(model, ds, options.lr(0.5));  // another lr: the saved one must come back
    c.load_state(io::load_checkpoint(dir / "chain.ckpt"), "chain/");
    EXPECT_EQ(c.next_step_size(), a.options().lr() * std::pow(10.0 + 37, -0.55));
    c.train();
    EXPECT_TRUE(torch::equal(a.theta(), c.theta())) << sampler;
    EXPECT_TRUE(torch::equal(a.bank().samples(), c.bank().samples())) << sampler;
    EXPECT_EQ(a.bank().num_kept(), c.bank().num_kept());
    EXPECT_EQ(a.bank().size(), 7);
    EXPECT_TRUE(torch::equal(a.last_energy(), c.last_energy())) << sampler;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
