// The generalised Gauss–Newton product (gauss_newton.h) against closed forms in float64: for a
// softmax model whose logits are linear in θ (multinomial logistic regression) the GGN is the exact
// Hessian of the negative log-likelihood; for a network it is Lᵀ diag(p) L built from the explicit
// Jacobian, positive semi-definite, and differs from the (indefinite) Hessian. A forgetting step
// with curvature gauss_newton on the logistic model takes exactly the Hessian step.
#include <gtest/gtest.h>

#include <vector>

#include "bnn/mlp.h"
#include "logistic/logistic.h"
#include "unlearn/unlearning/bif/gauss_newton.h"
#include "unlearn/unlearning/bif/sgmcmc_bif.h"

namespace {
using namespace unlearn;
using namespace unlearn::bif;

data::Dataset random_classification(int64_t n, int64_t d, int64_t classes, uint64_t seed) {
  torch::manual_seed(seed);
  return data::Dataset(torch::randn({n, d}, torch::kFloat64), torch::randint(classes, {n}, torch::kLong));
}

// −weight · Σ log p(y | x, θ + x) and the GGN operator of the same rows, as functions of x.
struct Operators {
  torch::Tensor shift;
  FlatParameters params;
  HessianVectorProduct hessian, ggn;
};

Operators operators_of(Model& model, const torch::Tensor& theta, const data::Batch& batch, double weight) {
  Operators o;
  o.shift = torch::zeros_like(theta).requires_grad_(true);
  o.params = FlatParameters({o.shift});
  auto shift = o.shift;
  o.hessian = hvp_of([&model, theta, shift, batch, weight](int64_t) {
    return -weight * model.log_likelihood((theta + shift).unsqueeze(0), batch).sum();
  }, o.params);
  o.ggn = gauss_newton_vp([&model, theta, shift, batch, weight](int64_t) {
    return ClassifierOutputs{model.predict_log_proba((theta + shift).unsqueeze(0), batch.x), weight};
  }, o.params);
  return o;
}

TEST(GaussNewton, EqualsTheHessianWhenTheLogitsAreLinear) {
  // C = 4 classes, d = 5: P = 3·6 = 18. θ far from 0 so that p is far from uniform.
  models::Logistic model(models::LogisticOptions(5).num_classes(4).prior_std(2.0));
  auto ds = random_classification(40, 5, 4, 11);
  auto theta = 0.7 * torch::randn({model->num_params()}, torch::kFloat64);
  auto ops = operators_of(*model, theta, ds.batch(), 2.5);
  for (int k = 0; k < 5; ++k) {
    auto v = torch::randn({model->num_params()}, torch::kFloat64);
    auto h = ops.hessian(v, kFullHessian);
    auto g = ops.ggn(v, 0);
    EXPECT_GT(h.norm().item<double>(), 1e-2);
    EXPECT_LT((g - h).abs().max().item<double>(), 1e-11 * (1 + h.abs().max().item<double>())) << "v " << k;
  }
}

TEST(GaussNewton, IsTheJacobianFormForANetworkAndPositiveSemiDefinite) {
  models::bnn::BayesianMlp model(models::bnn::BayesianMlpOptions(3, 3).hidden({4}).common(
      models::bnn::BnnCommonOptions().dtype(torch::kFloat64).activation("tanh")));
  const int64_t p = model->num_params();
  auto ds = random_classification(6, 3, 3, 12);
  auto theta = torch::randn({p}, torch::kFloat64);
  const double weight = 1.5;
  auto ops = operators_of(*model, theta, ds.batch(), weight);

  // L = ∂ℓ/∂θ row by row ([B·C, P]), then G = weight · Lᵀ diag(p) L.
  auto leaf = theta.clone().requires_grad_(true);
  auto lp = model->predict_log_proba(leaf.unsqueeze(0), ds.x()).reshape({-1});
  std::vector<torch::Tensor> rows;
  for (int64_t k = 0; k < lp.size(0); ++k)
    rows.push_back(torch::autograd::grad(std::vector<torch::Tensor>{lp[k]}, std::vector<torch::Tensor>{leaf}, {},
                                        /*retain_graph=*/true)[0]);
  auto L = torch::stack(rows);
  auto G = weight * L.t().mm(lp.detach().exp().unsqueeze(1) * L);

  auto H = torch::zeros({p, p}, torch::kFloat64);
  for (int64_t i = 0; i < p; ++i) {
    auto e = torch::zeros({p}, torch::kFloat64);
    e[i] = 1.0;
    EXPECT_LT((ops.ggn(e, 0) - G.select(1, i)).abs().max().item<double>(), 1e-12 * (1 + G.abs().max().item<double>()));
    H.select(1, i).copy_(ops.hessian(e, kFullHessian));
  }
  auto g_eig = torch::linalg_eigvalsh(0.5 * (G + G.t()), "L");
  auto h_eig = torch::linalg_eigvalsh(0.5 * (H + H.t()), "L");
  EXPECT_GT(g_eig.min().item<double>(), -1e-12 * g_eig.max().item<double>());
  // A random tanh network away from its optimum has negative curvature that the GGN drops.
  EXPECT_LT(h_eig.min().item<double>(), -1e-6) << h_eig;
  EXPECT_GT((H - G).abs().max().item<double>(), 1e-3);
}

// One forgetting step: same generator seed, same sampler steps; only H differs, and for the
// logistic model it does not.
torch::Tensor step_delta(Model& model, const data::Dataset& ds, Curvature curvature, SolverKind kind) {
  inference::ChainState state;
  state.theta = 0.3 * torch::ones({model.num_params()}, torch::kFloat64);
  state.step_size = 1e-4;
  torch::Tensor samples;
  auto removed = ds.subset(ds.ids().narrow(0, 0, 5)).batch();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto opts = SgmcmcBifOptions().curvature(curvature).sample_steps(2).minibatch_size(0).solver(
      InverseHvpOptions().kind(kind).cg(CgOptions().tol(1e-13)));
  auto before = state.theta.clone();
  sgmcmc_bif_step(model, state, samples, ds, removed, opts, gen);
  return state.theta - before;
}

TEST(GaussNewton, ForgettingStepOfALinearSoftmaxIsTheHessianStep) {
  models::Logistic model(models::LogisticOptions(3).num_classes(3).prior_std(1.5));
  auto ds = random_classification(60, 3, 3, 13);
  auto exact = step_delta(*model, ds, Curvature::kHessian, SolverKind::kDense);
  ASSERT_GT(exact.norm().item<double>(), 1e-3);
  for (auto kind : {SolverKind::kDense, SolverKind::kConjugateGradient}) {
    auto ggn = step_delta(*model, ds, Curvature::kGaussNewton, kind);
    EXPECT_LT((ggn - exact).abs().max().item<double>(), 1e-9 * exact.abs().max().item<double>()) << to_string(kind);
  }
}

// A subsampled operator (curvature_batch_size) of a model whose rows differ is a different step.
TEST(GaussNewton, SubsampledCurvatureChangesTheStep) {
  models::Logistic model(models::LogisticOptions(3).num_classes(3).prior_std(1.5));
  auto ds = random_classification(60, 3, 3, 13);
  auto full = step_delta(*model, ds, Curvature::kGaussNewton, SolverKind::kConjugateGradient);
  inference::ChainState state;
  state.theta = 0.3 * torch::ones({model->num_params()}, torch::kFloat64);
  state.step_size = 1e-4;
  torch::Tensor samples;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto opts = SgmcmcBifOptions().curvature(Curvature::kGaussNewton).sample_steps(2).minibatch_size(0)
                  .curvature_batch_size(12).solver(InverseHvpOptions().kind(SolverKind::kConjugateGradient));
  auto before = state.theta.clone();
  sgmcmc_bif_step(*model, state, samples, ds, ds.subset(ds.ids().narrow(0, 0, 5)).batch(), opts, gen);
  auto sub = state.theta - before;
  EXPECT_GT((sub - full).norm().item<double>(), 1e-3 * full.norm().item<double>());
  // Same direction to first order: both solve against a positive definite estimate of one operator.
  EXPECT_GT(torch::dot(sub, full).item<double>(), 0.0);
}

TEST(GaussNewton, NamesAndRefusesClosedFormHessians) {
  EXPECT_EQ(curvature_from_string("gauss_newton"), Curvature::kGaussNewton);
  EXPECT_EQ(to_string(Curvature::kHessian), "hessian");
  try {
    curvature_from_string("fisher");
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("allowed are hessian, gauss_newton"), std::string::npos) << e.what();
  }
  models::Logistic model(models::LogisticOptions(3).num_classes(3));
  auto ds = random_classification(20, 3, 3, 14);
  inference::ChainState state;
  state.theta = torch::zeros({model->num_params()}, torch::kFloat64);
  state.step_size = 1e-4;
  torch::Tensor samples;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto opts = SgmcmcBifOptions().curvature(Curvature::kGaussNewton).likelihood_hessians(
      [](const torch::Tensor&, const data::Batch&, int64_t) { return torch::Tensor(); });
  auto before = state.theta.clone();
  try {
    sgmcmc_bif_step(*model, state, samples, ds, ds.subset(ds.ids().narrow(0, 0, 2)).batch(), opts, gen);
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("gauss_newton"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(torch::equal(state.theta, before));
}

}  // namespace
