// Bayesian MLP and LeNet-5 (models/bnn): parameter counts, shapes, S-vectorisation against a
// per-sample loop, an independent reference forward pass with torch::nn::functional,
// finite-difference gradients and Hessian-vector products in float64, the diagonal prior.
#include "bnn/bnn_config.h"
#include "bnn/lenet.h"
#include "bnn/mlp.h"

#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>

#include "registry.h"
#include "test_util.h"
#include "unlearn/inference/vi.h"
#include "unlearn/posterior/functional.h"
#include "unlearn/posterior/gaussian.h"

namespace unlearn::models::bnn {
namespace {

namespace nnf = torch::nn::functional;

BnnCommonOptions f64() { return BnnCommonOptions().dtype(torch::kFloat64); }

data::Batch random_batch(std::vector<int64_t> x_shape, int64_t classes, int64_t seed) {
  torch::manual_seed(seed);
  auto x = torch::rand(x_shape, torch::kFloat64) - 0.5;
  auto y = torch::randint(0, classes, {x_shape[0]}, torch::kLong);
  return {x, y, torch::arange(x_shape[0])};
}

// θ around the default initialisation, S rows.
torch::Tensor random_theta(BnnBaseImpl& model, int64_t S, int64_t seed) {
  torch::manual_seed(seed);
  auto init = model.init_theta();
  return init.unsqueeze(0) + 0.05 * torch::randn({S, model.num_params()}, init.options());
}

TEST(Bnn, ParameterCounts) {
  BayesianLeNet lenet(BayesianLeNetOptions{});
  EXPECT_EQ(lenet->num_params(), 61706);
  BayesianMlp mlp(BayesianMlpOptions(784, 10));  // 784→512→512→10
  EXPECT_EQ(mlp->num_params(), 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10);
  BayesianMlp logistic(BayesianMlpOptions(5, 3).hidden({}));
  EXPECT_EQ(logistic->num_params(), 5 * 3 + 3);
  EXPECT_EQ(lenet->theta_options().dtype(), torch::kFloat32);
  EXPECT_EQ(lenet->init_theta().scalar_type(), torch::kFloat32);
}

TEST(Bnn, ShapesAndNormalisedPredictions) {
  BayesianLeNet lenet(BayesianLeNetOptions().common(f64()));
  auto b = random_batch({7, 1, 32, 32}, 10, 1);
  auto theta = random_theta(*lenet, 3, 2);
  auto ll = lenet->log_likelihood(theta, b);
  ASSERT_EQ(ll.sizes(), (torch::IntArrayRef{3, 7}));
  EXPECT_TRUE((ll <= 0).all().item<bool>());
  auto lp = lenet->predict_log_proba(theta, b.x);
  ASSERT_EQ(lp.sizes(), (torch::IntArrayRef{3, 7, 10}));
  EXPECT_TRUE(torch::allclose(torch::logsumexp(lp, 2), torch::zeros({3, 7}, torch::kFloat64), 0, 1e-12));
  EXPECT_EQ(lenet->log_prior(theta).sizes(), (torch::IntArrayRef{3}));

  BayesianMlp mlp(BayesianMlpOptions(12, 4).hidden({6, 5}).common(f64()));
  auto bm = random_batch({9, 3, 4}, 4, 3);  // trailing dims flatten to 12 features
  auto tm = random_theta(*mlp, 2, 4);
  EXPECT_EQ(mlp->log_likelihood(tm, bm).sizes(), (torch::IntArrayRef{2, 9}));
  EXPECT_EQ(mlp->predict_log_proba(tm, bm.x).sizes(), (torch::IntArrayRef{2, 9, 4}));
}

TEST(Bnn, BadInputsAreNamed) {
  BayesianLeNet lenet(BayesianLeNetOptions{});
  auto theta = lenet->init_theta().unsqueeze(0);
  EXPECT_THROW(lenet->log_likelihood(theta.narrow(1, 0, 100), random_batch({2, 1, 32, 32}, 10, 0)), c10::Error);
  EXPECT_THROW(lenet->logits(theta, torch::zeros({2, 1, 30, 30})), c10::Error);
  EXPECT_THROW(lenet->logits(theta.to(torch::kFloat64), torch::zeros({2, 1, 32, 32})), c10::Error);
  EXPECT_THROW(BayesianMlp(BayesianMlpOptions(4, 1)), c10::Error);
  EXPECT_THROW(BayesianMlp(BayesianMlpOptions(4, 3).common(BnnCommonOptions().prior_std(0))), c10::Error);
  EXPECT_THROW(BayesianMlp(BayesianMlpOptions(4, 3).common(BnnCommonOptions().activation("gelu"))), c10::Error);
}

// The vectorised forward over S samples equals S separate calls.
TEST(Bnn, SampleVectorisationEqualsPerSampleLoop) {
  for (const char* act : {"relu", "tanh"}) {
    BayesianLeNet lenet(BayesianLeNetOptions().common(f64().activation(act)));
    auto b = random_batch({5, 1, 32, 32}, 10, 5);
    auto theta = random_theta(*lenet, 4, 6);
    auto all = lenet->log_likelihood(theta, b);
    for (int64_t s = 0; s < 4; ++s)
      EXPECT_TRUE(torch::allclose(all[s], lenet->log_likelihood(theta.narrow(0, s, 1), b)[0], 1e-12, 1e-12)) << act;

    BayesianMlp mlp(BayesianMlpOptions(7, 3).hidden({5, 4}).common(f64().activation(act)));
    auto bm = random_batch({6, 7}, 3, 7);
    auto tm = random_theta(*mlp, 4, 8);
    auto allm = mlp->log_likelihood(tm, bm);
    for (int64_t s = 0; s < 4; ++s)
      EXPECT_TRUE(torch::allclose(allm[s], mlp->log_likelihood(tm.narrow(0, s, 1), bm)[0], 1e-12, 1e-12)) << act;
  }
}

// An independent forward pass of one sample with torch's own layers' functional forms, the
// weights cut from θ by hand in the documented layout (conv [out,in,k,k] + bias, FC [in,out] + bias).
TEST(Bnn, LeNetMatchesPlainLayers) {
  BayesianLeNet lenet(BayesianLeNetOptions().common(f64()));
  auto b = random_batch({4, 1, 32, 32}, 10, 9);
  auto theta = random_theta(*lenet, 1, 10)[0];
  int64_t off = 0;
  auto take = [&](std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    auto t = theta.narrow(0, off, n).reshape(shape);
    off += n;
    return t;
  };
  auto c1w = take({6, 1, 5, 5}), c1b = take({6});
  auto c2w = take({16, 6, 5, 5}), c2b = take({16});
  auto f1w = take({400, 120}), f1b = take({120});
  auto f2w = take({120, 84}), f2b = take({84});
  auto f3w = take({84, 10}), f3b = take({10});
  ASSERT_EQ(off, 61706);
  auto h = nnf::max_pool2d(torch::relu(nnf::conv2d(b.x, c1w, nnf::Conv2dFuncOptions().bias(c1b))),
                           nnf::MaxPool2dFuncOptions(2));
  h = nnf::max_pool2d(torch::relu(nnf::conv2d(h, c2w, nnf::Conv2dFuncOptions().bias(c2b))),
                      nnf::MaxPool2dFuncOptions(2));
  h = torch::relu(torch::addmm(f1b, h.flatten(1), f1w));
  h = torch::relu(torch::addmm(f2b, h, f2w));
  auto logits = torch::addmm(f3b, h, f3w);
  auto ref = torch::log_softmax(logits, 1).gather(1, b.y.unsqueeze(1)).squeeze(1);
  EXPECT_TRUE(torch::allclose(lenet->log_likelihood(theta.unsqueeze(0), b)[0], ref, 1e-12, 1e-12));
}

// 28×28 inputs are padded with the background value: the same as padding them beforehand.
TEST(Bnn, LeNetPadsSmallImages) {
  BayesianLeNet lenet(BayesianLeNetOptions().common(f64()));
  auto b = random_batch({3, 1, 28, 28}, 10, 11);
  auto theta = random_theta(*lenet, 2, 12);
  auto padded = torch::constant_pad_nd(b.x, {2, 2, 2, 2}, -0.5);
  EXPECT_TRUE(torch::allclose(lenet->logits(theta, b.x), lenet->logits(theta, padded), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(lenet->logits(theta, b.x.flatten(1)), lenet->logits(theta, padded), 1e-12, 1e-12));
}

double total_log_joint(BnnBaseImpl& m, const torch::Tensor& theta, const data::Batch& b) {
  return (m.log_likelihood(theta, b).sum() + m.log_prior(theta).sum()).item<double>();
}

// ∇θ [Σ log p(y|x,θ) + log p(θ)] by autograd vs central differences, float64, every
// coordinate of a tiny MLP, and 24 random coordinates of LeNet (tanh: no kinks in the way).
TEST(Bnn, GradientsMatchFiniteDifferences) {
  for (const char* act : {"tanh", "relu"}) {
    BayesianMlp mlp(BayesianMlpOptions(3, 3).hidden({4, 3}).common(f64().activation(act)));
    auto b = random_batch({6, 3}, 3, 13);
    auto theta = random_theta(*mlp, 2, 14).requires_grad_(true);
    auto f = mlp->log_likelihood(theta, b).sum() + mlp->log_prior(theta).sum();
    auto g = torch::autograd::grad({f}, {theta})[0];
    auto t = theta.detach().clone();
    auto fd = test_util::central_differences(t, [&] { return total_log_joint(*mlp, t, b); });
    EXPECT_TRUE(torch::allclose(g, fd, 1e-5, 1e-6)) << act << "\n" << (g - fd).abs().max();
  }
  BayesianLeNet lenet(BayesianLeNetOptions().common(f64().activation("tanh")));
  auto b = random_batch({3, 1, 32, 32}, 10, 15);
  auto theta = random_theta(*lenet, 2, 16).requires_grad_(true);
  auto f = lenet->log_likelihood(theta, b).sum() + lenet->log_prior(theta).sum();
  auto g = torch::autograd::grad({f}, {theta})[0].detach();
  auto t = theta.detach().clone();
  torch::manual_seed(17);
  auto coords = torch::randint(0, lenet->num_params(), {24}, torch::kLong);
  for (int64_t i = 0; i < coords.size(0); ++i) {
    const int64_t s = i % 2, j = coords[i].item<int64_t>();
    const double eps = 1e-6, orig = t[s][j].item<double>();
    t[s][j] = orig + eps;
    const double up = total_log_joint(*lenet, t, b);
    t[s][j] = orig - eps;
    const double down = total_log_joint(*lenet, t, b);
    t[s][j] = orig;
    EXPECT_NEAR(g[s][j].item<double>(), (up - down) / (2 * eps), 1e-5 * (1 + std::abs(g[s][j].item<double>())))
        << "coordinate " << j << " of sample " << s;
  }
}

// BIF needs Hessian-vector products by double backward through the grouped convolution:
// H v against the central difference of gradients along v.
TEST(Bnn, HessianVectorProductsMatchDifferencesOfGradients) {
  BayesianLeNet lenet(BayesianLeNetOptions().common(f64().activation("tanh")));
  auto b = random_batch({4, 1, 32, 32}, 10, 18);
  auto theta0 = random_theta(*lenet, 2, 19);
  auto grad_at = [&](const torch::Tensor& th, bool create) {
    auto t = th.detach().clone().requires_grad_(true);
    auto f = lenet->log_likelihood(t, b).sum();
    return std::make_pair(t, torch::autograd::grad({f}, {t}, {}, create, create)[0]);
  };
  torch::manual_seed(20);
  auto v = torch::randn_like(theta0);
  auto [t, g] = grad_at(theta0, true);
  auto hv = torch::autograd::grad({(g * v).sum()}, {t})[0];
  // Small enough that no max-pool's winner changes between θ ± εv (at 1e-4 some do, and the
  // difference of gradients jumps); the seeds are fixed.
  const double eps = 1e-6;
  auto fd = (grad_at(theta0 + eps * v, false).second - grad_at(theta0 - eps * v, false).second) / (2 * eps);
  EXPECT_LT((hv - fd).norm().item<double>(), 1e-6 * (1 + hv.norm().item<double>()));
}

TEST(Bnn, DiagonalPriorAndMeanFieldFastPaths) {
  BayesianMlp mlp(BayesianMlpOptions(3, 3).hidden({4}).common(f64().prior_std(0.3)));
  const int64_t P = mlp->num_params();
  auto prior = mlp->gaussian_prior();
  ASSERT_TRUE(prior.has_value());
  EXPECT_FALSE(prior->scale_tril.defined());  // never P×P for a network
  ASSERT_TRUE(prior->scale_diag.defined());
  EXPECT_TRUE(torch::allclose(prior->scale_diag, torch::full({P}, 0.3, torch::kFloat64)));
  // log_prior is the log density of that Gaussian.
  auto theta = random_theta(*mlp, 3, 21);
  auto ref = unlearn::functional::gaussian_log_prob_diag(theta, prior->loc, prior->scale_diag);
  EXPECT_TRUE(torch::allclose(mlp->log_prior(theta), ref, 1e-12, 1e-10));
  // The mean-field KL, entropy and log q(mode) without P×P matrices equal the triangular forms.
  auto q = std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(P).init_scale(0.05));
  {
    torch::NoGradGuard g;
    q->loc().copy_(theta[0]);
    q->rho().uniform_(-4, -1);
  }
  auto kl = q->kl_divergence(*prior).item<double>();
  auto kl_tril = unlearn::functional::gaussian_kl_tril(q->loc(), q->scale_tril(), prior->loc, prior->tril()).item<double>();
  EXPECT_NEAR(kl, kl_tril, 1e-9 * std::abs(kl_tril));
  EXPECT_NEAR(q->entropy().item<double>(), unlearn::functional::gaussian_entropy_tril(q->scale_tril()).item<double>(), 1e-9);
  EXPECT_NEAR(q->half_log_det().item<double>(), unlearn::functional::half_log_det_tril(q->scale_tril()).item<double>(), 1e-9);
}

TEST(Bnn, InitialisationIsSeededAndBounded) {
  BayesianLeNet a(BayesianLeNetOptions().common(BnnCommonOptions().init_seed(3)));
  BayesianLeNet b(BayesianLeNetOptions().common(BnnCommonOptions().init_seed(3)));
  BayesianLeNet c(BayesianLeNetOptions().common(BnnCommonOptions().init_seed(4)));
  EXPECT_TRUE(torch::equal(a->init_theta(), b->init_theta()));
  EXPECT_FALSE(torch::equal(a->init_theta(), c->init_theta()));
  // conv1 has fan-in 25: every coordinate of its block within ±1/5.
  auto conv1 = a->layout().view(a->init_theta().unsqueeze(0), 0);
  EXPECT_LE(conv1.abs().max().item<double>(), 0.2);
  EXPECT_EQ(a->layout().blocks().back().name, "fc3.bias");
}

TEST(Bnn, BuiltFromConfig) {
  auto x = torch::zeros({5, 1, 28, 28});
  auto y = torch::arange(5, torch::kLong) * 2;  // labels up to 8: 9 classes
  data::Dataset ds(x, y);
  nlohmann::json j = {{"kind", "bnn_mlp"}, {"hidden", {16}}, {"prior_std", 0.2}, {"activation", "tanh"}};
  auto m = make_model(io::JsonObjectReader(j, "model"), ds);
  EXPECT_EQ(m->num_params(), 784 * 16 + 16 + 16 * 9 + 9);
  EXPECT_NE(m->architecture().find("tanh"), std::string::npos);
  nlohmann::json l = {{"kind", "bnn_lenet"}, {"classes", 10}, {"dtype", "float64"}};
  auto lenet = make_model(io::JsonObjectReader(l, "model"), ds);
  EXPECT_EQ(lenet->num_params(), 61706);
  EXPECT_EQ(lenet->theta_options().dtype(), torch::kFloat64);
  nlohmann::json bad = {{"kind", "bnn_lenet"}, {"widths", {3}}};
  EXPECT_ANY_THROW({
    io::JsonObjectReader r(bad, "model");
    make_model(r, ds);
    r.finish();
  });
}


// ---- local reparameterisation ------------------------------------------------------------------

// Per datum, drawing the pre-activations given each layer's input has the law of drawing θ ~ q, so
// E[log p(y_b | x_b, ·)] is the same both ways. Check it by Monte Carlo in float64: S draws each
// way on a few data, the difference of the two means within 4.5 standard errors of a difference
// (a false alarm has probability ≈ 7e-6 per datum; a wrong variance formula — e.g. σ instead of σ²
// — moves the mean by tens of standard errors at these widths, which the last check confirms).
void expect_same_expectation(BnnBaseImpl& model, const data::Batch& batch, int64_t S, uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  auto loc = model.init_theta();
  auto sd = torch::full_like(loc, 0.1);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto theta = loc.unsqueeze(0) + sd.unsqueeze(0) * torch::randn({S, loc.size(0)}, gen, loc.options());
  auto weight = model.log_likelihood(theta, batch);                                        // [S, B]
  auto local = model.local_reparameterised_log_likelihood(loc, sd.square(), batch, S, gen);  // [S, B]
  ASSERT_EQ(local.sizes(), weight.sizes());
  auto se = ((weight.var(0) + local.var(0)) / static_cast<double>(S)).sqrt();
  auto z = (weight.mean(0) - local.mean(0)).abs() / se;
  EXPECT_LT(z.max().item<double>(), 4.5) << model.architecture() << ": z = " << z;
  // The same draws with σ in place of σ² are detectably different: the test can fail.
  auto wrong = model.local_reparameterised_log_likelihood(loc, sd, batch, S, gen);
  auto z_wrong = (weight.mean(0) - wrong.mean(0)).abs() / ((weight.var(0) + wrong.var(0)) / S).sqrt();
  EXPECT_GT(z_wrong.max().item<double>(), 10.0) << model.architecture();
}

TEST(Bnn, LocalReparameterisationHasTheExpectationOfWeightSampling) {
  BayesianMlp mlp(BayesianMlpOptions(6, 3).hidden({8, 5}).common(f64()));
  expect_same_expectation(*mlp, random_batch({4, 6}, 3, 21), 20000, 3);
  BayesianLeNet lenet(BayesianLeNetOptions().common(f64()));
  expect_same_expectation(*lenet, random_batch({2, 1, 28, 28}, 10, 22), 3000, 4);
}

TEST(Bnn, LocalReparameterisationGradientsAreFinite) {
  BayesianLeNet lenet(BayesianLeNetOptions().common(f64()));
  auto loc = lenet->init_theta().requires_grad_(true);
  auto rho = torch::full_like(loc, -3.0).requires_grad_(true);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto ll = lenet->local_reparameterised_log_likelihood(loc, rho.exp().square(), random_batch({3, 1024}, 10, 23), 4, gen);
  ll.sum().backward();
  EXPECT_TRUE(torch::isfinite(loc.grad()).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(rho.grad()).all().item<bool>());
  EXPECT_GT(rho.grad().abs().sum().item<double>(), 0.0);
}

// VITrainer with local_reparameterisation: the negative ELBO of a small MLP falls over training
// (averaged over the first and the last 50 steps, so minibatch noise cannot fake it), and the
// option is refused where it does not apply.
TEST(Bnn, ViTrainsWithLocalReparameterisationAndRefusesMisuse) {
  auto mlp = std::make_shared<BayesianMlpImpl>(BayesianMlpOptions(6, 3).hidden({16}).common(BnnCommonOptions().prior_std(1.0)));
  torch::manual_seed(7);
  auto x = torch::randn({300, 6});
  auto y = std::get<1>(torch::matmul(x, torch::randn({6, 3})).max(1));
  data::Dataset data(x, y);
  const int64_t P = mlp->num_params();
  auto q = std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(P).init_scale(0.01).dtype(torch::kFloat32));
  {
    torch::NoGradGuard g;
    q->loc().copy_(mlp->init_theta());
  }
  auto opts = inference::VIOptions().steps(600).num_samples(4).batch_size(50).lr(0.01).analytic_kl(true)
                  .local_reparameterisation(true).seed(3);
  inference::VITrainer trainer(mlp, q, data, opts);
  double first = 0, last = 0;
  for (int64_t t = 0; t < 600; ++t) {
    const double f = trainer.step().item<double>();
    if (t < 50) first += f / 50;
    if (t >= 550) last += f / 50;
  }
  EXPECT_LT(last, 0.7 * first) << "first 50 steps " << first << ", last 50 " << last;
  auto full = std::make_shared<FullRankGaussianImpl>(GaussianOptions(P).dtype(torch::kFloat32));
  EXPECT_THROW(inference::VITrainer(mlp, full, data, opts), c10::Error);
  EXPECT_THROW(inference::VITrainer(mlp, q, data, inference::VIOptions(opts).analytic_kl(false)), c10::Error);
}

}  // namespace
}  // namespace unlearn::models::bnn
