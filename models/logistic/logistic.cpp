#include "logistic/logistic.h"

#include "logistic/bernoulli_logit_kernel.h"

#include <cmath>

#include <ATen/ExpandUtils.h>
#include <fmt/format.h>

namespace unlearn::models {
namespace {

constexpr double kHalfLog2Pi = 0.91893853320467274178032973640562;

// y·f − softplus(f) with the backward y − σ(f). The forward avoids the slow softplus kernel;
// the backward avoids the kinks of max(f,0) and |f| at f = 0, where autograd through the
// forward formula would give y or y − 1 instead of y − ½. On float64 CPU tensors the fused
// kernel (bernoulli_logit_kernel.h) computes the value and y − σ(f) in one pass; the saved
// derivative serves a plain backward, while a double backward (BIF's Hessian-vector products)
// rebuilds y − σ(f) from f so that it has a graph.
struct BernoulliLogitFn : public torch::autograd::Function<BernoulliLogitFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& f,
                               const torch::Tensor& y) {
    torch::Tensor log_lik, derivative;
    if (kernels::bernoulli_logit_fused(f, y, log_lik, derivative)) {
      ctx->save_for_backward({f, y, derivative});
      return log_lik;
    }
    ctx->save_for_backward({f, y, torch::Tensor()});
    return y * f - (f.clamp_min(0) + torch::log1p(torch::exp(-f.abs())));
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& f = saved[0];
    const auto& y = saved[1];
    const auto& derivative = saved[2];
    const bool graph_needed = torch::GradMode::is_enabled();  // create_graph: a second derivative follows
    auto gf = grads[0] * (derivative.defined() && !graph_needed ? derivative : y - torch::sigmoid(f));
    // The result may have broadcast f up; reduce back to f's shape.
    if (gf.sizes() != f.sizes()) gf = at::sum_to(gf, f.sizes());
    return {gf, torch::Tensor()};
  }
};

}  // namespace

namespace functional {

torch::Tensor bernoulli_logit_log_likelihood(const torch::Tensor& f, const torch::Tensor& y) {
  TORCH_CHECK(f.is_floating_point(), "bernoulli_logit_log_likelihood: f must be floating point, got ",
              f.scalar_type());
  return BernoulliLogitFn::apply(f, y.to(f.scalar_type()).detach());
}

torch::Tensor log_sigmoid(const torch::Tensor& f) {
  return bernoulli_logit_log_likelihood(f, torch::ones({}, f.options().requires_grad(false)));
}

}  // namespace functional

LogisticImpl::LogisticImpl(const LogisticOptions& options) : options_(options) {
  TORCH_CHECK(options.num_features() >= 1, "logistic: num_features = ", options.num_features(),
              " must be >= 1");
  TORCH_CHECK(options.num_classes() >= 2, "logistic: num_classes = ", options.num_classes(),
              " must be >= 2");
  TORCH_CHECK(options.prior_std() > 0 && std::isfinite(options.prior_std()),
              "logistic: prior_std = ", options.prior_std(), " must be finite and > 0");
  TORCH_CHECK(options.dtype() == torch::kFloat64 || options.dtype() == torch::kFloat32,
              "logistic: dtype = ", options.dtype(), " must be float32 or float64");
  feature_mean_ = register_buffer("feature_mean", torch::zeros({options.num_features()}, options.dtype()));
  feature_std_ = register_buffer("feature_std", torch::ones({options.num_features()}, options.dtype()));
}

int64_t LogisticImpl::num_params() const {
  return (options_.num_classes() - 1) * (options_.num_features() + 1);
}

torch::TensorOptions LogisticImpl::theta_options() const {
  return feature_mean_.options().requires_grad(false);
}

torch::Tensor LogisticImpl::features(const torch::Tensor& x) const {
  const int64_t d = options_.num_features();
  TORCH_CHECK(x.dim() == 2 && x.size(1) == d, "logistic: x must be [B, ", d, "], got ", x.sizes());
  auto xt = x.to(feature_mean_.scalar_type());
  if (options_.standardize()) xt = (xt - feature_mean_) / feature_std_;
  return xt;
}

torch::Tensor LogisticImpl::logits(const torch::Tensor& theta, const torch::Tensor& x) {
  TORCH_CHECK(theta.dim() == 2 && theta.size(1) == num_params(), "logistic: theta must be [S, ",
              num_params(), "], got ", theta.sizes());
  const int64_t C = options_.num_classes(), d = options_.num_features();
  auto xt = features(x);                                                   // [B, d]
  auto xa = torch::cat({xt, torch::ones({xt.size(0), 1}, xt.options())}, 1);  // [B, d+1]
  auto w = theta.view({theta.size(0), C - 1, d + 1});                      // [S, C-1, d+1]
  auto z = torch::matmul(xa, w.transpose(1, 2));                           // [S, B, C-1]
  return torch::constant_pad_nd(z, {0, 1}, 0.0);                           // [S, B, C]
}

torch::Tensor LogisticImpl::log_likelihood(const torch::Tensor& theta, const data::Batch& batch) {
  TORCH_CHECK(theta.dim() == 2 && theta.size(1) == num_params(), "logistic: theta must be [S, ",
              num_params(), "], got ", theta.sizes());
  TORCH_CHECK(batch.y.dim() == 1 && batch.y.size(0) == batch.x.size(0),
              "logistic: y must be [B] with B = ", batch.x.size(0), ", got ", batch.y.sizes());
  const int64_t C = options_.num_classes(), d = options_.num_features();
  if (C == 2) {
    // f = log-odds of class 0 against the reference class 1: log p(y) = (1−y)·f − softplus(f).
    auto xt = features(batch.x);
    auto w = theta.narrow(1, 0, d);                                      // [S, d]
    auto f = torch::addmm(theta.narrow(1, d, 1), w, xt.t());             // [S, B]
    auto y0 = 1.0 - batch.y.to(f.scalar_type());
    return functional::bernoulli_logit_log_likelihood(f, y0);
  }
  auto z = logits(theta, batch.x);                                       // [S, B, C]
  auto idx = batch.y.to(torch::kLong).view({1, -1, 1}).expand({z.size(0), z.size(1), 1});
  return z.gather(2, idx).squeeze(2) - torch::logsumexp(z, 2);
}

torch::Tensor LogisticImpl::predict_log_proba(const torch::Tensor& theta, const torch::Tensor& x) {
  return torch::log_softmax(logits(theta, x), 2);
}

torch::Tensor LogisticImpl::log_prior(const torch::Tensor& theta) {
  TORCH_CHECK(theta.dim() == 2 && theta.size(1) == num_params(), "logistic: theta must be [S, ",
              num_params(), "], got ", theta.sizes());
  const double t = options_.prior_std();
  return -0.5 * (theta / t).square().sum(-1) -
         static_cast<double>(num_params()) * (std::log(t) + kHalfLog2Pi);
}

torch::Tensor LogisticImpl::init_theta() { return torch::zeros({num_params()}, theta_options()); }

std::string LogisticImpl::architecture() const {
  return fmt::format("logistic(d={},C={},prior_std={},standardize={})", options_.num_features(),
                     options_.num_classes(), options_.prior_std(), options_.standardize() ? 1 : 0);
}

std::optional<GaussianPrior> LogisticImpl::gaussian_prior() {
  auto opts = theta_options();
  return GaussianPrior{torch::zeros({num_params()}, opts),
                       options_.prior_std() * torch::eye(num_params(), opts)};
}

void LogisticImpl::fit_standardisation(const data::Dataset& dataset) {
  TORCH_CHECK(options_.standardize(),
              "logistic: fit_standardisation called with standardize = false");
  const auto& x = dataset.x();
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options_.num_features() && x.size(0) >= 1,
              "logistic: fit_standardisation needs x [N >= 1, ", options_.num_features(), "], got ",
              x.sizes());
  torch::NoGradGuard no_grad;
  auto xt = x.to(feature_mean_.options());
  auto mean = xt.mean(0);
  auto std = (xt - mean).square().mean(0).sqrt();
  std = torch::where(std > 0, std, torch::ones_like(std));
  feature_mean_.copy_(mean);
  feature_std_.copy_(std);
}

}  // namespace unlearn::models
