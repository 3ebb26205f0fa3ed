// GPU smoke test: the library's hot paths on a CUDA device against the same computation on the
// CPU, in float64. Skipped (GTEST_SKIP) where LibTorch sees no CUDA device, so CI on CPU passes;
// scripts/device_build.sh builds and runs it against a CUDA LibTorch.
//
// Tolerances (float64 throughout; CPU and GPU differ only by the rounding of their kernels —
// BLAS/cuBLAS, LAPACK/cuSOLVER, reduction order):
//   model log-likelihoods, priors, predictive log-probabilities and their θ-gradients: rtol 1e-9,
//     atol 1e-9 (sparse GP: K_ZZ's Cholesky factor and triangular solves amplify the rounding by
//     the condition number; logistic is a single matmul);
//   exact conjugate posteriors and exact unlearning: rtol 1e-10, atol 1e-10;
//   a few optimiser steps fed with the same noise (a CPU generator serves both devices): 1e-7 on
//     the parameters (rounding differences pass through Adam's m/√v and the adjusted-likelihood
//     mask, which could flip on a sample sitting exactly at the threshold — none does here);
//   predictive probabilities: atol 1e-10.
// Runs on a GPU in a few seconds (CUDA start-up included).
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "linear_regression/linear_regression.h"
#include "logistic/logistic.h"
#include "sparse_gp/sparse_gp.h"
#include "unlearn/data/dataset.h"
#include "unlearn/data/moons.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/inference/vi.h"
#include "unlearn/metrics/predictive.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/eubo.h"
#include "unlearn/unlearning/exact_conjugate.h"
#include "unlearn/unlearning/reverse_kl.h"

namespace unlearn {
namespace {

using models::LinearRegression;
using models::LinearRegressionOptions;
using models::Logistic;
using models::LogisticOptions;
using models::SparseGP;
using models::SparseGPOptions;

constexpr auto f64 = torch::kFloat64;

torch::Generator cpu_gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

/// A fresh, seeded CUDA generator (a clone of the default one, so that nothing else draws from it).
torch::Generator cuda_gen(uint64_t seed) {
  auto gen = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, 0)).clone();
  gen.set_current_seed(seed);
  return gen;
}

/// "max |a − b| = ..., max |b| = ..." for a failure message.
std::string diff(const torch::Tensor& a, const torch::Tensor& b) {
  auto ac = a.detach().to(torch::kCPU, f64), bc = b.detach().to(torch::kCPU, f64);
  return "max |gpu - cpu| = " + std::to_string((ac - bc).abs().max().item<double>()) +
         ", max |cpu| = " + std::to_string(bc.abs().max().item<double>());
}

#define EXPECT_CLOSE(gpu, cpu, rtol, atol)                                                        \
  do {                                                                                           \
    auto g_ = (gpu).detach();                                                                    \
    auto c_ = (cpu).detach();                                                                    \
    EXPECT_TRUE(g_.is_cuda()) << #gpu " is on " << g_.device();                                  \
    EXPECT_TRUE(torch::allclose(g_.to(torch::kCPU, f64), c_.to(torch::kCPU, f64), rtol, atol)) \
        << #gpu " vs " #cpu ": " << diff(g_, c_);                                                \
  } while (0)

bool all_finite(const torch::Tensor& t) { return torch::isfinite(t.detach()).all().item<bool>(); }

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to LibTorch";
  }
  const torch::Device cuda{torch::kCUDA, 0};
};

data::Dataset moons(int64_t n, uint64_t seed) { return data::make_moons(n, 0.15, cpu_gen(seed)); }

SparseGPOptions gp_options(bool whiten, const std::string& variance, bool learn = false) {
  auto gen = cpu_gen(21);
  auto z = torch::randn({12, 2}, gen, f64);
  return SparseGPOptions(z)
      .kernel_variance(2.0)
      .length_scales({0.8, 1.3})
      .jitter(1e-6)
      .whiten(whiten)
      .likelihood_variance(variance)
      .learn_kernel(learn);
}

// ---- models -------------------------------------------------------------------------------

TEST_F(Gpu, SparseGpMatchesCpu) {
  const auto ds = moons(200, 1);
  const auto ds_gpu = ds.to(cuda);
  for (bool whiten : {false, true}) {
    for (std::string variance : {"ignore", "probit"}) {
      SCOPED_TRACE("whiten " + std::to_string(whiten) + ", likelihood_variance " + variance);
      SparseGP cpu(gp_options(whiten, variance)), gpu(gp_options(whiten, variance));
      gpu->to(cuda);
      ASSERT_TRUE(gpu->theta_options().device().is_cuda());
      ASSERT_TRUE(gpu->init_theta().is_cuda());
      auto gen = cpu_gen(3);
      auto theta = torch::randn({32, 12}, gen, f64);
      auto theta_gpu = theta.to(cuda).requires_grad_(true);
      theta.requires_grad_(true);
      auto ll = cpu->log_likelihood(theta, ds.batch());
      auto ll_gpu = gpu->log_likelihood(theta_gpu, ds_gpu.batch());
      EXPECT_CLOSE(ll_gpu, ll, 1e-9, 1e-9);
      // Again: the frozen-hyper-parameter cache of the logit map serves this call.
      EXPECT_CLOSE(gpu->log_likelihood(theta_gpu, ds_gpu.batch()), ll, 1e-9, 1e-9);
      EXPECT_CLOSE(gpu->log_prior(theta_gpu), cpu->log_prior(theta), 1e-9, 1e-9);
      EXPECT_CLOSE(gpu->predict_log_proba(theta_gpu, ds_gpu.x()), cpu->predict_log_proba(theta, ds.x()), 1e-9,
                   1e-9);
      auto g = torch::autograd::grad({ll.sum() + cpu->log_prior(theta).sum()}, {theta})[0];
      auto g_gpu = torch::autograd::grad({ll_gpu.sum() + gpu->log_prior(theta_gpu).sum()}, {theta_gpu})[0];
      EXPECT_CLOSE(g_gpu, g, 1e-9, 1e-9);
    }
  }
}

TEST_F(Gpu, LogisticMatchesCpu) {
  auto gen = cpu_gen(5);
  auto x = 3.0 * torch::randn({300, 4}, gen, f64) + 1.0;
  for (int64_t classes : {2, 3}) {
    SCOPED_TRACE("classes " + std::to_string(classes));
    auto y = torch::randint(0, classes, {300}, gen, torch::kLong);
    data::Dataset ds(x, y);
    auto ds_gpu = ds.to(cuda);
    auto options = LogisticOptions(4).num_classes(classes).prior_std(2.0).standardize(true);
    Logistic cpu(options), gpu(options);
    gpu->to(cuda);
    cpu->fit_standardisation(ds);
    gpu->fit_standardisation(ds_gpu);
    EXPECT_CLOSE(gpu->feature_std(), cpu->feature_std(), 1e-12, 1e-12);
    auto theta = torch::randn({16, cpu->num_params()}, gen, f64);
    auto theta_gpu = theta.to(cuda).requires_grad_(true);
    theta.requires_grad_(true);
    // classes = 2 takes the fused CPU kernel (analytic backward) on the CPU, torch ops on the GPU.
    auto ll = cpu->log_likelihood(theta, ds.batch());
    auto ll_gpu = gpu->log_likelihood(theta_gpu, ds_gpu.batch());
    EXPECT_CLOSE(ll_gpu, ll, 1e-9, 1e-9);
    EXPECT_CLOSE(gpu->log_prior(theta_gpu), cpu->log_prior(theta), 1e-9, 1e-9);
    EXPECT_CLOSE(gpu->predict_log_proba(theta_gpu, ds_gpu.x()), cpu->predict_log_proba(theta, ds.x()), 1e-9, 1e-9);
    auto g = torch::autograd::grad({ll.sum()}, {theta})[0];
    auto g_gpu = torch::autograd::grad({ll_gpu.sum()}, {theta_gpu})[0];
    EXPECT_CLOSE(g_gpu, g, 1e-9, 1e-9);
    auto prior = gpu->gaussian_prior();
    ASSERT_TRUE(prior.has_value());
    EXPECT_TRUE(prior->loc.is_cuda() && prior->tril().is_cuda());
  }
}

// ---- inference ----------------------------------------------------------------------------

TEST_F(Gpu, ViTrainerMatchesCpuWithTheSameNoise) {
  // Without a generator each trainer owns a CPU one seeded alike: the same minibatches and the
  // same noise (S·P < 1024 draws: plain normal_ on both), so the GPU run must track the CPU run.
  const auto ds = moons(100, 2);
  auto options = inference::VIOptions().num_samples(16).steps(6).batch_size(32).lr(1e-2).seed(11)
                     .train_hyperparameters(true);
  auto gp_cpu = SparseGP(gp_options(false, "ignore", /*learn=*/true));
  auto gp_gpu = SparseGP(gp_options(false, "ignore", /*learn=*/true));
  gp_gpu->to(cuda);
  auto q_cpu = std::make_shared<FullRankGaussianImpl>(GaussianOptions(12).init_scale(0.5));
  auto q_gpu = std::make_shared<FullRankGaussianImpl>(GaussianOptions(12).init_scale(0.5).device(cuda));
  inference::VITrainer cpu(gp_cpu.ptr(), q_cpu, ds, options);
  inference::VITrainer gpu(gp_gpu.ptr(), q_gpu, ds.to(cuda), options);
  cpu.train();
  gpu.train();
  ASSERT_EQ(gpu.step_count(), 6);
  EXPECT_TRUE(gpu.last_objective().is_cuda());
  EXPECT_NEAR(gpu.last_objective().item<double>(), cpu.last_objective().item<double>(),
              1e-7 * (1.0 + std::abs(cpu.last_objective().item<double>())));
  EXPECT_CLOSE(q_gpu->loc(), q_cpu->loc(), 1e-7, 1e-7);
  EXPECT_CLOSE(q_gpu->scale_tril(), q_cpu->scale_tril(), 1e-7, 1e-7);
  EXPECT_CLOSE(gp_gpu->log_length_scales(), gp_cpu->log_length_scales(), 1e-7, 1e-7);
}

TEST_F(Gpu, ViTrainerWithACudaGenerator) {
  const auto ds = moons(100, 3).to(cuda);
  auto gp = SparseGP(gp_options(true, "probit"));
  gp->to(cuda);
  auto q = std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(12).init_scale(0.3).device(cuda));
  inference::VITrainer trainer(gp.ptr(), q, ds,
                               inference::VIOptions().num_samples(256).steps(10).batch_size(50).lr(1e-2)
                                   .analytic_kl(true),
                               cuda_gen(4));
  EXPECT_TRUE(trainer.generator().device().is_cuda());
  auto first = trainer.step();
  trainer.train();
  EXPECT_EQ(trainer.step_count(), 10);
  EXPECT_TRUE(first.is_cuda());
  EXPECT_TRUE(all_finite(trainer.last_objective())) << trainer.last_objective();
  EXPECT_TRUE(q->loc().is_cuda());
  EXPECT_TRUE(all_finite(q->loc()) && all_finite(q->stddev()));
  EXPECT_FALSE(torch::equal(q->loc().cpu(), torch::zeros({12}, f64)));  // it moved
}

TEST_F(Gpu, SgldMatchesCpuAndRunsWithACudaGenerator) {
  auto gen = cpu_gen(8);
  auto x = torch::randn({200, 4}, gen, f64);
  auto y = (x.select(1, 0) + 0.5 * torch::randn({200}, gen, f64) > 0).to(torch::kLong);
  data::Dataset ds(x, y);
  auto options = LogisticOptions(4).num_classes(2).prior_std(3.0);
  Logistic cpu_model(options), gpu_model(options);
  gpu_model->to(cuda);
  for (std::string sampler : {"sgld", "sghmc"}) {
    SCOPED_TRACE(sampler);
    auto o = inference::SGMCMCOptions().sampler(inference::sampler_from_string(sampler)).steps(25).batch_size(50).lr(1e-3).seed(12)
                 .bank(inference::SampleBankOptions().burn_in(5).capacity(50));
    inference::SGMCMCTrainer cpu(cpu_model.ptr(), ds, o);
    inference::SGMCMCTrainer gpu(gpu_model.ptr(), ds.to(cuda), o);  // CPU generator: same draws
    cpu.train();
    gpu.train();
    EXPECT_CLOSE(gpu.theta(), cpu.theta(), 1e-9, 1e-9);
    EXPECT_CLOSE(gpu.bank().samples(), cpu.bank().samples(), 1e-9, 1e-9);
    EXPECT_TRUE(gpu.last_energy().is_cuda());

    inference::SGMCMCTrainer own(gpu_model.ptr(), ds.to(cuda), o, std::nullopt, cuda_gen(13));
    own.train();
    EXPECT_EQ(own.step_count(), 25);
    EXPECT_TRUE(own.theta().is_cuda());
    EXPECT_TRUE(all_finite(own.theta()) && all_finite(own.last_energy()));
    EXPECT_EQ(own.bank().samples().size(0), 20);
  }
}

// ---- unlearning ---------------------------------------------------------------------------

struct Conjugate {
  LinearRegression model{nullptr};
  data::Batch all, erased, remaining;
};

Conjugate conjugate(int64_t dim, int64_t n, int64_t n_erased, uint64_t seed, std::optional<torch::Device> device) {
  auto options = LinearRegressionOptions(dim).noise_std(1.0).prior_std(1.0);
  auto gen = cpu_gen(seed);
  auto prob = models::make_regression_problem(n, options, gen);
  Conjugate c;
  c.model = LinearRegression(options);
  if (device) {
    c.model->to(*device);
    prob.x = prob.x.to(*device);
    prob.y = prob.y.to(*device);
    prob.ids = prob.ids.to(*device);
  }
  const int64_t keep = n - n_erased;
  c.all = {prob.x, prob.y, prob.ids};
  c.remaining = {prob.x.narrow(0, 0, keep), prob.y.narrow(0, 0, keep), prob.ids.narrow(0, 0, keep)};
  c.erased = {prob.x.narrow(0, keep, n_erased), prob.y.narrow(0, keep, n_erased), prob.ids.narrow(0, keep, n_erased)};
  return c;
}

TEST_F(Gpu, ExactConjugateUnlearningEqualsCpu) {
  auto c = conjugate(5, 200, 20, 31, std::nullopt);
  auto g = conjugate(5, 200, 20, 31, cuda);
  auto [mean, cov] = exact_conjugate_posterior(*c.model, c.all);
  auto [mean_gpu, cov_gpu] = exact_conjugate_posterior(*g.model, g.all);
  EXPECT_CLOSE(mean_gpu, mean, 1e-10, 1e-10);
  EXPECT_CLOSE(cov_gpu, cov, 1e-10, 1e-10);
  auto q = FullRankGaussianImpl::from_moments(mean, cov);
  auto q_gpu = FullRankGaussianImpl::from_moments(mean_gpu, cov_gpu);
  auto u = exact_unlearn(*c.model, *q, c.erased);
  auto u_gpu = exact_unlearn(*g.model, *q_gpu, g.erased);
  EXPECT_CLOSE(u_gpu->mean(), u->mean(), 1e-10, 1e-10);
  EXPECT_CLOSE(u_gpu->covariance(), u->covariance(), 1e-10, 1e-10);
  // and it is the exact posterior of D_r, on the GPU
  auto [rm, rc] = exact_conjugate_posterior(*g.model, g.remaining);
  EXPECT_CLOSE(u_gpu->mean(), rm.cpu(), 1e-10, 1e-10);
  EXPECT_CLOSE(u_gpu->covariance(), rc.cpu(), 1e-10, 1e-10);
}

TEST_F(Gpu, VariationalUnlearningMatchesCpu) {
  // EUBO and reverse KL draw their noise from a CPU generator and copy it over, so
  // both devices see the same samples; a few Adam steps must agree.
  auto c = conjugate(3, 30, 3, 124, std::nullopt);
  auto g = conjugate(3, 30, 3, 124, cuda);
  auto [mean, cov] = exact_conjugate_posterior(*c.model, c.all);
  auto q = FullRankGaussianImpl::from_moments(mean, cov);
  auto q_gpu = FullRankGaussianImpl::from_moments(mean.to(cuda), cov.to(cuda));
  const std::vector<double> lambdas{0.0, 1e-2};

  auto check = [&](const VbuResult& gpu, const VbuResult& cpu) {
    SCOPED_TRACE(gpu.method);
    ASSERT_EQ(gpu.runs.size(), lambdas.size());
    ASSERT_EQ(cpu.runs.size(), lambdas.size());
    for (size_t r = 0; r < lambdas.size(); ++r) {
      EXPECT_TRUE(std::isfinite(gpu.runs[r].objective));
      EXPECT_NEAR(gpu.runs[r].objective, cpu.runs[r].objective, 1e-7 * (1.0 + std::abs(cpu.runs[r].objective)));
      EXPECT_NEAR(gpu.runs[r].fraction_inside, cpu.runs[r].fraction_inside, 1e-12);
      EXPECT_CLOSE(gpu.runs[r].posterior->mean(), cpu.runs[r].posterior->mean(), 1e-7, 1e-7);
      EXPECT_CLOSE(gpu.runs[r].posterior->scale_tril(), cpu.runs[r].posterior->scale_tril(), 1e-7, 1e-7);
    }
  };
  auto eubo = EuboOptions().lambdas(lambdas).num_samples(256).max_steps(20).report_every(10).lr(1e-2).seed(1);
  check(eubo_unlearn(*g.model, *q_gpu, g.erased, eubo), eubo_unlearn(*c.model, *q, c.erased, eubo));
  auto rkl = ReverseKlOptions().lambdas(lambdas).num_samples(256).max_steps(20).report_every(10).lr(1e-2).seed(2);
  check(reverse_kl_unlearn(*g.model, *q_gpu, g.erased, rkl), reverse_kl_unlearn(*c.model, *q, c.erased, rkl));
  auto closed = ReverseKlClosedFormOptions().lambdas(lambdas).num_samples(4000).sample_chunk(1000).seed(3);
  check(reverse_kl_closed_form(*g.model, *q_gpu, g.erased, closed),
        reverse_kl_closed_form(*c.model, *q, c.erased, closed));
}

// ---- metrics ------------------------------------------------------------------------------

TEST_F(Gpu, PredictiveProbsMatchCpu) {
  auto gen = cpu_gen(17);
  auto x = torch::randn({250, 4}, gen, f64);
  auto y = torch::randint(0, 3, {250}, gen, torch::kLong);
  auto options = LogisticOptions(4).num_classes(3).prior_std(2.0);
  Logistic cpu(options), gpu(options);
  gpu->to(cuda);
  auto theta = torch::randn({64, cpu->num_params()}, gen, f64);
  auto p = metrics::predictive_probs(*cpu, theta, x, /*chunk=*/100);
  auto p_gpu = metrics::predictive_probs(*gpu, theta.to(cuda), x.to(cuda), /*chunk=*/100);
  EXPECT_CLOSE(p_gpu, p, 1e-10, 1e-10);
  EXPECT_NEAR(metrics::error_rate(p_gpu, y.to(cuda)), metrics::error_rate(p, y), 1e-12);
  EXPECT_NEAR(metrics::averaged_kl(p_gpu, p_gpu.flip(0)).mean, metrics::averaged_kl(p, p.flip(0)).mean, 1e-10);

  // From a posterior: a CPU generator gives the same samples for a CPU and a CUDA posterior.
  auto mean = 0.3 * torch::randn({cpu->num_params()}, gen, f64);
  auto q = MeanFieldGaussianImpl::from_moments(mean, torch::full({cpu->num_params()}, 0.04, f64));
  auto q_gpu = MeanFieldGaussianImpl::from_moments(mean.to(cuda), torch::full({cpu->num_params()}, 0.04, f64).to(cuda));
  auto g1 = cpu_gen(99), g2 = cpu_gen(99);
  auto pq = metrics::predictive_probs(*cpu, *q, x, 128, g1);
  auto pq_gpu = metrics::predictive_probs(*gpu, *q_gpu, x.to(cuda), 128, g2);
  EXPECT_CLOSE(pq_gpu, pq, 1e-10, 1e-10);
  auto cg = cuda_gen(5);
  auto pc = metrics::predictive_probs(*gpu, *q_gpu, x.to(cuda), 128, cg);
  EXPECT_TRUE(pc.is_cuda());
  EXPECT_TRUE(torch::allclose(pc.sum(-1).cpu(), torch::ones({250}, f64), 1e-12, 1e-12));
}

}  // namespace
}  // namespace unlearn
