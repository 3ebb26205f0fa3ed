// SG-MCMC BIF (sgmcmc_bif.h): on a conjugate Gaussian-mean model the chain + correction moves the
// bank mean onto the exact retrained posterior mean; on the papers' GMM the corrected samples of a
// thinned cluster move toward a chain retrained without the erased points.
#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <string>
#include <tuple>

#include "gmm/gmm.h"
#include "unlearn/data/csv.h"
#include "unlearn/data/split.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/io/config_error.h"
#include "unlearn/unlearning/bif/sgmcmc_bif.h"
#include "unlearn/unlearning/methods.h"
#include "unlearn/unlearning/request.h"

namespace {
using namespace unlearn;
using namespace unlearn::bif;

// x_i ~ N(θ, I_d), θ ~ N(0, τ² I): the posterior is N(Σx / (n + 1/τ²), I / (n + 1/τ²)).
class GaussianMean : public Model {
 public:
  GaussianMean(int64_t d, double prior_std) : d_(d), prior_std_(prior_std) {}
  int64_t num_params() const override { return d_; }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& batch) override {
    auto diff = batch.x.unsqueeze(0) - theta.unsqueeze(1);  // [S, B, d]
    return -0.5 * diff.pow(2).sum(-1) - 0.5 * static_cast<double>(d_) * std::log(2 * M_PI);
  }
  torch::Tensor log_prior(const torch::Tensor& theta) override {
    return -0.5 * theta.pow(2).sum(-1) / (prior_std_ * prior_std_);
  }
  torch::Tensor init_theta() override { return torch::zeros({d_}, torch::kFloat64); }
  std::string architecture() const override { return "gaussian_mean"; }
  torch::TensorOptions theta_options() const override { return torch::TensorOptions().dtype(torch::kFloat64); }

  torch::Tensor exact_mean(const data::Dataset& ds) const {
    return ds.x().sum(0) / (static_cast<double>(ds.size()) + 1.0 / (prior_std_ * prior_std_));
  }

 private:
  int64_t d_;
  double prior_std_;
};

struct ToyCase {
  std::shared_ptr<GaussianMean> model = std::make_shared<GaussianMean>(2, 3.0);
  data::Dataset ds;
  torch::Tensor erased;
  ToyCase() {
    torch::manual_seed(5);
    auto x = torch::randn({400, 2}, torch::kFloat64) + torch::tensor({1.0, -1.0}, torch::kFloat64);
    ds = data::Dataset(x, torch::zeros({400}, torch::kLong));
    erased = data::ids_top_k_by_feature(ds, 0, 24, true).erased;  // 6 requests of 4
  }
};

// A trained chain's BIF through the one request loop: `batch` ids per sequential batch.
RequestResult forget_chain(Model& model, inference::SGMCMCTrainer& chain, const data::Dataset& ds,
                           const torch::Tensor& ids, const SgmcmcBifOptions& options, int64_t batch = 0,
                           uint64_t seed = 0) {
  auto method = bif_unlearner(BifOptions().sgmcmc(options));
  ForgetContext ctx;
  ctx.seed = seed;
  // The chain's recipe: BIF's sampler steps take the chain's own minibatch size from it.
  ctx.training = std::make_shared<TrainingRecipe>(
      TrainingRecipe()
          .method(chain.options().sampler() == inference::Sampler::kSGLD ? TrainingMethod::kSGLD : TrainingMethod::kSGHMC)
          .sgmcmc(chain.options()));
  auto state = PosteriorState::chain(inference::chain_state_of(chain), chain.bank().samples());
  return forget_request(*method, model, state, ds, ids, ctx, RequestOptions().batch_size(batch));
}

inference::SGMCMCOptions toy_chain(inference::Sampler sampler) {
  const bool sgld = sampler == inference::Sampler::kSGLD;
  return inference::SGMCMCOptions()
      .sampler(sampler)
      .steps(3000)
      .batch_size(0)
      .lr(sgld ? 1e-3 : 5e-4)
      .friction(0.4)
      .seed(1)
      .bank(inference::SampleBankOptions().burn_in(500).thinning(5).capacity(500));
}

// Tolerance reasoning: the posterior sd is 1/√400.1 ≈ 0.05 per coordinate and the chain mixes in a
// few steps, so the 500-sample bank mean carries ≈ 0.05/√500 ≈ 0.002 of Monte-Carlo error; each
// Newton step errs by O(|S′|/n) ≈ 1 % of its ≈ 0.02 shift, and ∇h is evaluated at chain states
// ±0.05/√5 off the mean (an error ≈ |S′|·0.02/n ≈ 2e-4 per step). The 24 extreme points move the
// exact mean by ≈ 0.13. Bound: 0.015 on the bank mean, 10 % of the shift on the bank's displacement.
void check_toy(inference::Sampler sampler, SolverKind solver) {
  ToyCase c;
  inference::SGMCMCTrainer chain(c.model, c.ds, toy_chain(sampler));
  chain.train();
  auto origin = chain.bank().mean().clone();
  auto opts = SgmcmcBifOptions().solver(
      InverseHvpOptions().kind(solver).lissa(LissaOptions().terms(64)).cg(CgOptions().tol(1e-10)));
  if (solver == SolverKind::kLissa) opts.lissa_c(1.0);  // s = 1/n: s·H ≈ 1
  auto result = forget_chain(*c.model, chain, c.ds, c.erased, opts, 4, 7);
  ASSERT_EQ(result.batches.size(), 6u);
  EXPECT_EQ(result.remaining.size(), 376);
  EXPECT_EQ(result.batches.front().n_before, 400);
  EXPECT_EQ(result.batches.back().n_before, 380);
  for (const auto& r : result.batches) {
    EXPECT_EQ(r.ids.size(0), 4);
    EXPECT_EQ(r.certificate["solver"], to_string(solver));
    EXPECT_LT(r.certificate["relative_residual"].get<double>(), 1e-6) << to_string(solver);
  }
  EXPECT_EQ(result.certificate["batches"], 6);
  auto target = c.model->exact_mean(result.remaining);
  auto exact_shift = target - c.model->exact_mean(c.ds);
  auto processed = result.state.samples().mean(0);
  const double origin_to_target = (origin - target).norm().item<double>();
  const double processed_to_target = (processed - target).norm().item<double>();
  const double shift_error = ((processed - origin) - exact_shift).norm().item<double>();
  std::cout << inference::to_string(sampler) << "/" << to_string(solver) << ": bank mean origin→target "
            << origin_to_target << ", processed→target " << processed_to_target << ", shift error " << shift_error
            << "\n";
  EXPECT_GT(origin_to_target, 0.1);
  EXPECT_LT(processed_to_target, 0.015);
  EXPECT_LT(shift_error, 0.1 * exact_shift.norm().item<double>());
  // The chain state was corrected too: it sits within a few posterior sds of the target.
  EXPECT_LT((result.state.chain().theta - target).norm().item<double>(), 0.25);
  // The trained chain itself is untouched: methods never modify the state they are given.
  EXPECT_TRUE(torch::equal(chain.bank().mean(), origin));
}

TEST(BifSgmcmc, SgldDenseMatchesExactRetrainedMean) { check_toy(inference::Sampler::kSGLD, SolverKind::kDense); }
TEST(BifSgmcmc, SgldCgMatchesExactRetrainedMean) { check_toy(inference::Sampler::kSGLD, SolverKind::kConjugateGradient); }
TEST(BifSgmcmc, SgldLissaMatchesExactRetrainedMean) { check_toy(inference::Sampler::kSGLD, SolverKind::kLissa); }
TEST(BifSgmcmc, SghmcDenseMatchesExactRetrainedMean) { check_toy(inference::Sampler::kSGHMC, SolverKind::kDense); }

// curvature_batch_size: the deterministic operator on a fixed subsample, weighted n/m. Every row of
// the Gaussian-mean model has the same likelihood Hessian (I), so 40 rows weighted 400/40 are the
// full operator and the step is the same; a weight of 1 instead of n/m would miss it by ~10×.
TEST(BifSgmcmc, SubsampledCurvatureIsWeightedToTheFullSet) {
  ToyCase c;
  auto step = [&](int64_t rows) {
    inference::ChainState state;
    state.theta = torch::tensor({0.9, -0.9}, torch::kFloat64);
    state.step_size = 1e-4;
    torch::Tensor samples;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    auto opts = SgmcmcBifOptions().sample_steps(2).minibatch_size(0).curvature_batch_size(rows).solver(
        InverseHvpOptions().kind(SolverKind::kConjugateGradient).cg(CgOptions().tol(1e-12)));
    auto before = state.theta.clone();
    auto r = sgmcmc_bif_step(*c.model, state, samples, c.ds, c.ds.subset(c.erased.narrow(0, 0, 4)).batch(), opts, gen);
    EXPECT_LT(r.solve.residual, 1e-10);
    return state.theta - before;
  };
  auto full = step(0), sub = step(40);
  ASSERT_GT(full.norm().item<double>(), 1e-3);
  EXPECT_LT((sub - full).abs().max().item<double>(), 1e-10 * full.abs().max().item<double>());
  EXPECT_THROW(step(-1), c10::Error);
}

TEST(BifSgmcmc, UnknownIdsChangeNothing) {
  ToyCase c;
  inference::SGMCMCTrainer chain(c.model, c.ds, toy_chain(inference::Sampler::kSGLD).steps(600));
  chain.train();
  auto before = chain.bank().samples().clone();
  auto theta = chain.theta().detach().clone();
  try {
    forget_chain(*c.model, chain, c.ds, torch::tensor({3, 100000}, torch::kLong), SgmcmcBifOptions());
    ADD_FAILURE() << "unknown ids were accepted";
  } catch (const io::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown ids: [100000]"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(torch::equal(chain.bank().samples(), before));
  EXPECT_TRUE(torch::equal(chain.theta().detach(), theta));
  EXPECT_THROW(forget_chain(*c.model, chain, c.ds, c.erased, SgmcmcBifOptions().sample_steps(0)), c10::Error);
}

// refresh_samples: the bank keeps its size, its newest samples are the chain's states after each
// batch (the last one the final state, with no later correction), and they sit near the exact
// retrained mean as the training samples do. hessian_states = sample_steps is the default
// (all states); fewer states is a different, still accurate, estimate of the same step.
TEST(BifSgmcmc, RefreshedBankHoldsTheForgettingChainAndHessianStatesSubsetTheSteps) {
  ToyCase c;
  auto opts = SgmcmcBifOptions().sample_steps(6).solver(InverseHvpOptions().kind(SolverKind::kDense));
  auto run = [&](SgmcmcBifOptions o) {
    inference::SGMCMCTrainer chain(c.model, c.ds, toy_chain(inference::Sampler::kSGLD));
    chain.train();
    auto result = forget_chain(*c.model, chain, c.ds, c.erased, o, 4, 7);
    return std::make_tuple(result.state.chain().theta.clone(), result.state.samples().clone(), result.remaining);
  };
  auto [theta, plain, remaining] = run(opts);
  auto [theta_all, plain_all, r2] = run(SgmcmcBifOptions(opts).hessian_states(6));
  EXPECT_TRUE(torch::equal(theta, theta_all));
  EXPECT_TRUE(torch::equal(plain, plain_all));
  auto [theta_two, plain_two, r3] = run(SgmcmcBifOptions(opts).hessian_states(2));
  EXPECT_FALSE(torch::equal(theta, theta_two));
  auto target = c.model->exact_mean(remaining);
  EXPECT_LT((plain_two.mean(0) - target).norm().item<double>(), 0.015);

  auto [theta_r, refreshed, r4] = run(SgmcmcBifOptions(opts).refresh_samples(true));
  ASSERT_EQ(refreshed.sizes(), plain.sizes());
  const int64_t m = refreshed.size(0);
  EXPECT_TRUE(torch::equal(refreshed[m - 1], theta_r));  // the final state, newest last
  // The older training samples are the plain run's, shifted by the same corrections.
  EXPECT_TRUE(torch::allclose(refreshed.narrow(0, 0, m - 6), plain.narrow(0, 6, m - 6), 0, 1e-12));
  EXPECT_LT((refreshed.narrow(0, m - 6, 6).mean(0) - target).norm().item<double>(), 0.1);
}

// The papers' GMM: erase the 100 cluster-0 points with the largest x1 (25 requests of 4) from an
// SGLD chain; a chain retrained on the rest (same seed) is the reference. The cluster's centre moves
// by ≈ 0.2; the corrected bank must end at least 2× closer to the retrained one than it started
// (each bank mean carries ≈ 0.01 of Monte-Carlo error).
TEST(BifSgmcmc, GmmRemovedClusterMovesTowardRetrainedChain) {
  auto ds = data::load_csv_dataset(std::string(UNLEARN_SOURCE_DIR) + "/configs/data/gmm_2d_2000.csv",
                                   {"x1", "x2"}, "label", "id");
  auto model = models::Gmm(models::GmmOptions(4, 2));
  auto init = torch::zeros({4, 2}, torch::kFloat64);
  for (int64_t k = 0; k < 4; ++k) init[k] = ds.x().index({ds.y() == k}).mean(0);
  auto erased = data::ids_top_k_by_feature(ds, 0, 100, true, 0).erased;
  auto opts = inference::SGMCMCOptions()
                  .sampler(inference::Sampler::kSGLD)
                  .steps(2000)
                  .batch_size(64)
                  .lr(4.0 / 2000)
                  .schedule_decay(0.15)
                  .seed(2)
                  .bank(inference::SampleBankOptions().burn_in(1000).thinning(10).capacity(100));
  inference::SGMCMCTrainer chain(model.ptr(), ds, opts, init.reshape({-1}));
  chain.train();
  inference::SGMCMCTrainer target(model.ptr(), ds.erase(erased), opts, init.reshape({-1}));
  target.train();
  auto centres = [&](const torch::Tensor& mean) { return model->means(mean); };
  const auto origin = centres(chain.bank().mean().clone());
  auto result = forget_chain(*model, chain, ds, erased,
                             SgmcmcBifOptions().solver(InverseHvpOptions().kind(SolverKind::kConjugateGradient)), 4, 3);
  ASSERT_EQ(result.batches.size(), 25u);
  const auto processed = centres(result.state.samples().mean(0));
  const auto retrained = centres(target.bank().mean());
  const double before = models::matched_centre_distance(origin, retrained);
  const double after = models::matched_centre_distance(processed, retrained);
  std::cout << "GMM SGLD-BIF centre distance origin→target " << before << ", processed→target " << after
            << "\n";
  EXPECT_GT(before, 0.02);
  EXPECT_LT(after, 0.5 * before);
}

}  // namespace
