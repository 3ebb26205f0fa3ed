// Every user-violable option is checked, and the error names the value.
#include <gtest/gtest.h>

#include "inference_test_models.h"
#include "unlearn/inference/callbacks.h"
#include "unlearn/inference/sample_bank.h"
#include "unlearn/inference/sghmc.h"
#include "unlearn/inference/sgld.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/inference/vi.h"
#include "unlearn/posterior/gaussian.h"

namespace {
using namespace unlearn;
using namespace unlearn::inference;
using unlearn::inference_test::ConjugateRegression;
using unlearn::inference_test::expect_error_containing;
using unlearn::inference_test::regression_data;

torch::Tensor param() { return torch::zeros({2}, torch::kFloat64).requires_grad_(true); }
torch::Generator gen() { return at::detail::createCPUGenerator(0); }

TEST(Options, SGLD) {
  expect_error_containing([] { SGLD({param()}, SGLDOptions(0), gen()); }, "SGLD: lr (step size a) = 0 must be > 0");
  expect_error_containing([] { SGLD({param()}, SGLDOptions(-0.5), gen()); }, "lr (step size a) = -0.5");
  expect_error_containing([] { SGLD({param()}, SGLDOptions(0.1).temperature(-1), gen()); }, "temperature T = -1");
  expect_error_containing([] { SGLD({param()}, SGLDOptions(0.1).decay(-0.5), gen()); }, "decay gamma = -0.5");
  expect_error_containing([] { SGLD({param()}, SGLDOptions(0.1).decay(0.5).offset(0), gen()); },
                          "schedule offset b = 0 must be > 0 when decay gamma = 0.5");
  // Options edited after construction are caught at the next step.
  auto p = param();
  SGLD ok({p}, SGLDOptions(0.1), gen());
  ok.param_groups()[0].options().set_lr(-1);
  p.mutable_grad() = torch::ones_like(p);
  expect_error_containing([&] { ok.step(); }, "lr (step size a) = -1");
}

TEST(Options, SGHMC) {
  expect_error_containing([] { SGHMC({param()}, SGHMCOptions(0.1).friction(1.5), gen()); },
                          "SGHMC: friction alpha = 1.5 must be in (0, 1]");
  expect_error_containing([] { SGHMC({param()}, SGHMCOptions(0.1).friction(0), gen()); }, "friction alpha = 0 must");
  expect_error_containing([] { SGHMC({param()}, SGHMCOptions(0), gen()); }, "SGHMC: lr (step size a) = 0");
  expect_error_containing([] { SGHMC({param()}, SGHMCOptions(0.1).temperature(-2), gen()); }, "temperature T = -2");
}

TEST(Options, SampleBankAndCallbacks) {
  expect_error_containing([] { SampleBank(SampleBankOptions().thinning(0)); }, "thinning = 0 must be >= 1");
  expect_error_containing([] { SampleBank(SampleBankOptions().capacity(0)); }, "capacity = 0 must be >= 1");
  expect_error_containing([] { SampleBank(SampleBankOptions().burn_in(-3)); }, "burn_in = -3 must be >= 0");
  expect_error_containing([] { TrainingCallbacks().every(0).validate(); }, "every = 0 must be >= 1");
  expect_error_containing([] { TrainingCallbacks().checkpoint_every(-1).validate(); }, "checkpoint_every = -1");
}

TEST(Options, SGMCMCTrainer) {
  auto ds = regression_data(10, 2, 0.5, 1);
  auto model = std::make_shared<ConjugateRegression>(2, 0.5, 1.0);
  auto make = [&](SGMCMCOptions o) { SGMCMCTrainer t(model, ds, o); };
  expect_error_containing([&] { sampler_from_string("hmc"); }, "sampler = \"hmc\" is unknown");
  EXPECT_EQ(sampler_from_string(to_string(Sampler::kSGHMC)), Sampler::kSGHMC);
  expect_error_containing([&] { make(SGMCMCOptions().lr(0)); }, "lr (step size a) = 0");
  expect_error_containing([&] { make(SGMCMCOptions().sampler(Sampler::kSGHMC).friction(1.5)); }, "friction alpha = 1.5");
  expect_error_containing([&] { make(SGMCMCOptions().bank(SampleBankOptions().thinning(0))); }, "thinning = 0");
  expect_error_containing([&] { make(SGMCMCOptions().batch_size(-1)); }, "batch_size = -1");
  expect_error_containing([&] { SGMCMCTrainer(model, ds, SGMCMCOptions(), torch::zeros({3}, torch::kFloat64)); },
                          "initial theta must be [2]");
}

TEST(Options, VITrainer) {
  auto ds = regression_data(10, 2, 0.5, 1);
  auto model = std::make_shared<ConjugateRegression>(2, 0.5, 1.0);
  auto q = std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(2));
  auto make = [&](VIOptions o) { VITrainer t(model, q, ds, o); };
  expect_error_containing([&] { make(VIOptions().num_samples(0)); }, "num_samples S = 0 must be >= 1");
  expect_error_containing([&] { make(VIOptions().lr(0)); }, "VI: lr = 0 must be > 0");
  expect_error_containing([&] { make(VIOptions().lr(-1e-3)); }, "VI: lr = -0.001");
  expect_error_containing([&] { make(VIOptions().beta1(1.0)); }, "beta1 = 1 must be in [0, 1)");
  expect_error_containing([&] { optimizer_from_string("rmsprop"); }, "optimizer = \"rmsprop\" is unknown");
  EXPECT_EQ(optimizer_from_string(to_string(Optimizer::kSGD)), Optimizer::kSGD);
  expect_error_containing([&] { make(VIOptions().train_hyperparameters(true)); }, "has no trainable torch parameters");
  expect_error_containing(
      [&] { VITrainer(model, std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(3)), ds, VIOptions()); },
      "the posterior has 3 dimensions");
  auto learnable = std::make_shared<ConjugateRegression>(2, 0.5, 1.0, /*learn_noise=*/true);
  auto runs = std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(2).runs(3));
  expect_error_containing([&] { VITrainer(learnable, runs, ds, VIOptions().train_hyperparameters(true)); },
                          "cannot be combined with runs = 3");
  auto no_prior = unlearn::inference_test::correlated_target(0.5);
  struct NoGaussianPrior : public inference_test::GaussianTarget {
    using GaussianTarget::GaussianTarget;
    std::optional<GaussianPrior> gaussian_prior() override { return std::nullopt; }
  };
  auto m = std::make_shared<NoGaussianPrior>(no_prior->mean(), no_prior->cov());
  expect_error_containing(
      [&] { VITrainer(m, q, inference_test::GaussianTarget::dummy_data(), VIOptions().analytic_kl(true)); },
      "analytic_kl needs a Gaussian prior");
}

}  // namespace
