// The GMM's closed forms used by BIF (models/gmm): the likelihood Hessian equals autograd's; the
// mean-field family with closed-form responsibilities is a deterministic lower bound on E_q log p
// that is exact at zero variance; SG-MCMC BIF with the closed-form Hessians takes the same step as
// with double backward; VI-BIF on the closed-form energy moves q onto the refit.
#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include <ATen/CPUGeneratorImpl.h>

#include "gmm/gmm.h"
#include "unlearn/data/csv.h"
#include "unlearn/unlearning/bif/sgmcmc_bif.h"
#include "unlearn/unlearning/bif/vi_bif.h"

namespace {
using namespace unlearn;
using namespace unlearn::bif;

data::Dataset gmm_data() {
  return data::load_csv_dataset(std::string(UNLEARN_SOURCE_DIR) + "/configs/data/gmm_2d_2000.csv", {"x1", "x2"},
                                "label", "id");
}

torch::Tensor class_means(const data::Dataset& ds) {
  auto init = torch::zeros({4, 2}, torch::kFloat64);
  for (int64_t k = 0; k < 4; ++k) init[k] = ds.x().index({ds.y() == k}).mean(0);
  return init.reshape({-1});
}

// Seed 4: 3 chain states near the class means (±0.3), the first 12 points in 3 groups of 4.
TEST(GmmClosedForm, LikelihoodHessianEqualsAutograd) {
  auto ds = gmm_data();
  auto model = models::Gmm(models::GmmOptions(4, 2));
  auto gen = at::detail::createCPUGenerator(4);
  auto thetas = class_means(ds).unsqueeze(0) + 0.3 * torch::randn({3, 8}, gen, torch::kFloat64);
  auto batch = ds.batch();
  auto closed = model->neg_log_likelihood_hessian(thetas, batch, 1)[0];
  auto x = torch::zeros({8}, torch::kFloat64).requires_grad_(true);
  FlatParameters params({x});
  EnergyFn nll = [&](int64_t) { return -model->log_likelihood(thetas + x, batch).sum(); };
  auto autograd = dense_hessian(nll, params);
  EXPECT_LT((closed - autograd).abs().max().item<double>(), 1e-9 * autograd.abs().max().item<double>());

  // Groups: consecutive blocks of 4 rows.
  data::Batch first{batch.x.narrow(0, 0, 12), batch.y.narrow(0, 0, 12), batch.ids.narrow(0, 0, 12)};
  auto grouped = model->neg_log_likelihood_hessian(thetas, first, 3);
  ASSERT_EQ(grouped.sizes(), (std::vector<int64_t>{3, 8, 8}));
  for (int64_t g = 0; g < 3; ++g) {
    data::Batch part{first.x.narrow(0, 4 * g, 4), first.y.narrow(0, 4 * g, 4), first.ids.narrow(0, 4 * g, 4)};
    EnergyFn f = [&](int64_t) { return -model->log_likelihood(thetas + x, part).sum(); };
    EXPECT_LT((grouped[g] - dense_hessian(f, params)).abs().max().item<double>(), 1e-10) << g;
  }
  EXPECT_THROW(model->neg_log_likelihood_hessian(thetas, first, 5), c10::Error);
}

// Seed 6: q with loc = class means, standard deviations 0.05..0.4; 200 000 Monte-Carlo draws give
// E_q log p(x|θ) to ≈ 1e-3 per point.
TEST(GmmClosedForm, ResponsibilitiesGiveALowerBoundExactAtZeroVariance) {
  auto ds = gmm_data();
  auto model = models::Gmm(models::GmmOptions(4, 2));
  auto batch = ds.subset(ds.ids().narrow(0, 0, 50)).batch();
  auto loc = class_means(ds);
  // Zero variance: the bound is log p(x | loc) exactly.
  auto exact = model->log_likelihood(loc.unsqueeze(0), batch)[0];
  auto bound0 = model->variational_expected_log_likelihood(loc, torch::zeros_like(loc), batch);
  EXPECT_LT((exact - bound0).abs().max().item<double>(), 1e-12);
  // Responsibilities are the CAVI optimum: rows sum to 1 and Σ φ a + H(φ) = logsumexp a.
  auto sd = torch::linspace(0.05, 0.4, 8, torch::kFloat64);
  auto a = model->variational_log_weights(loc, sd.square(), batch);
  auto phi = model->responsibilities(loc, sd.square(), batch);
  EXPECT_LT((phi.sum(1) - 1).abs().max().item<double>(), 1e-12);
  auto elbo = (phi * a).sum(1) - (phi * phi.log()).sum(1);
  auto bound = model->variational_expected_log_likelihood(loc, sd.square(), batch);
  EXPECT_LT((elbo - bound).abs().max().item<double>(), 1e-10);
  // Lower bound on E_q log p(x | θ), and close to it where the clusters are well separated.
  auto gen = at::detail::createCPUGenerator(6);
  auto theta = loc.unsqueeze(0) + sd.unsqueeze(0) * torch::randn({200000, 8}, gen, torch::kFloat64);
  auto mc = model->log_likelihood(theta, batch).mean(0);
  EXPECT_LT((bound - mc).max().item<double>(), 5e-3);
  EXPECT_LT((mc - bound).mean().item<double>(), 0.2);
  // The posterior-module overload reads loc and the marginal variances.
  auto q = MeanFieldGaussianImpl::from_moments(loc, torch::diag(sd.square()));
  EXPECT_LT((model->variational_expected_log_likelihood(*q, batch) - bound).abs().max().item<double>(), 1e-10);
}

// One step on the GMM from the class means (frozen η = 1e-4, seed 9, the 4 cluster-0 points with
// the largest x1): the closed-form path and double backward see the same chain states and must give
// the same correction to round-off, for the dense solve and CG; LiSSA (minibatch terms drawn
// differently) only agrees in direction.
TEST(GmmClosedForm, SgmcmcStepWithClosedFormHessianMatchesAutograd) {
  auto ds = gmm_data();
  auto model = models::Gmm(models::GmmOptions(4, 2));
  auto in0 = (ds.y() == 0).nonzero().squeeze(1);
  auto order = ds.x().index_select(0, in0).select(1, 0).argsort(0, /*descending=*/true);
  auto removed = ds.subset(ds.ids().index_select(0, in0.index_select(0, order.narrow(0, 0, 4)))).batch();
  auto run = [&](SolverKind kind, bool closed) {
    inference::ChainState state;
    state.theta = class_means(ds);
    state.step_size = 1e-4;
    torch::Tensor samples = state.theta.unsqueeze(0).repeat({3, 1});
    auto opts = SgmcmcBifOptions()
                    .minibatch_size(64)
                    .hvp_batch_size(64)
                    .lissa_c(1.0)
                    .solver(InverseHvpOptions().kind(kind).lissa(LissaOptions().terms(200)).cg(CgOptions().tol(1e-12)));
    if (closed) {
      opts.likelihood_hessians([m = model.get()](const torch::Tensor& t, const data::Batch& b, int64_t g) {
        return m->neg_log_likelihood_hessian(t, b, g);
      });
    }
    auto gen = at::detail::createCPUGenerator(9);
    auto step = sgmcmc_bif_step(*model, state, samples, ds, removed, opts, gen);
    return step.solve.solution;
  };
  auto dense = run(SolverKind::kDense, false);
  EXPECT_LT((run(SolverKind::kDense, true) - dense).norm().item<double>(), 1e-9 * dense.norm().item<double>());
  EXPECT_LT((run(SolverKind::kConjugateGradient, true) - dense).norm().item<double>(),
            1e-8 * dense.norm().item<double>());
  auto lissa = run(SolverKind::kLissa, true);
  EXPECT_GT(torch::dot(lissa, dense).item<double>() / (lissa.norm() * dense.norm()).item<double>(), 0.9);
}

// VI-BIF on the closed-form (collapsed-responsibility) energy: no Monte Carlo, so the fitted q is
// the exact minimiser and each step a pure first-order influence step. Erase the 20 cluster-0
// points with the largest x1 in 5 requests of 4; processed must be 10× closer to the refit than the
// origin, in centres and in KL (as the Monte-Carlo test in bif_gmm_test.cpp).
TEST(GmmClosedForm, ViBifOnClosedFormEnergyMovesOntoRefit) {
  auto ds = gmm_data();
  auto model = models::Gmm(models::GmmOptions(4, 2));
  ExpectedLogLikelihood cf = [m = model.get()](const GaussianPosteriorImpl& q, const data::Batch& b) {
    return m->variational_expected_log_likelihood(q, b);
  };
  auto fit = [&](GaussianPosteriorImpl& q, const data::Dataset& d) {
    ViEnergy energy(*model, q, ViEnergyOptions(), cf);
    energy.minimise(d, /*max_iter=*/1000, /*tolerance_grad=*/1e-10, /*tolerance_change=*/1e-15);
    auto g = energy.gamma().gradient(energy.energy(d.batch(), d.size()));
    // A leftover gradient g moves the start by ≈ g / λ_min(H) (λ_min ~ 100): 1e-4 is negligible.
    ASSERT_LT(g.abs().max().item<double>(), 1e-4) << "fit did not converge";
  };
  auto q = MeanFieldGaussian(GaussianOptions(8).init_scale(0.05));
  {
    torch::NoGradGuard no_grad;
    q->loc().copy_(class_means(ds));
  }
  fit(*q, ds);
  auto origin = q->copy();
  auto in0 = (ds.y() == 0).nonzero().squeeze(1);
  auto order = ds.x().index_select(0, in0).select(1, 0).argsort(0, /*descending=*/true);
  auto erased = ds.ids().index_select(0, in0.index_select(0, order.narrow(0, 0, 20)));
  data::Dataset current = ds;
  auto opts = ViBifOptions().solver(InverseHvpOptions().kind(SolverKind::kDense));
  auto gen = at::detail::createCPUGenerator(1);
  for (int64_t b = 0; b < 5; ++b) {
    auto ids = erased.narrow(0, 4 * b, 4);
    auto step = vi_bif_step(*model, *q, current, current.subset(ids).batch(), opts, gen, cf);
    EXPECT_LT(step.solve.residual, 1e-8);
    current = current.erase(ids);
  }
  auto target = origin->copy();
  fit(*target, current);
  auto dist = [&](const GaussianPosteriorImpl& a, const GaussianPosteriorImpl& b) {
    return models::matched_centre_distance(model->means(a.loc().detach()), model->means(b.loc().detach()));
  };
  std::cout << "GMM closed-form VI-BIF centre distance origin→target " << dist(*origin, *target)
            << ", processed→target " << dist(*q, *target) << "\n";
  EXPECT_GT(dist(*origin, *target), 5e-3);
  EXPECT_LT(dist(*q, *target), 0.1 * dist(*origin, *target));
  EXPECT_LT(q->kl_divergence(*target).item<double>(), 0.01 * origin->kl_divergence(*target).item<double>());
}

}  // namespace
