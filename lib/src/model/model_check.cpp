#include "unlearn/model_check.h"

#include <algorithm>

#include <torch/torch.h>

#include "unlearn/io/config_error.h"

namespace unlearn {
namespace {

std::string shape_of(const torch::Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

void expect_shape(const torch::Tensor& t, std::vector<int64_t> shape, const std::string& what) {
  if (t.defined() && t.sizes() == c10::IntArrayRef(shape)) return;
  torch::Tensor expected = torch::empty(shape);
  throw io::ConfigError(what + " returned " + shape_of(t) + "; the model contract wants " + shape_of(expected));
}

void expect_finite(const torch::Tensor& t, const std::string& what) {
  if (torch::isfinite(t).all().item<bool>()) return;
  auto bad = (~torch::isfinite(t)).sum().item<int64_t>();
  throw io::ConfigError(what + " returned " + std::to_string(bad) + " non-finite value(s) (NaN or inf) at the model's "
                        "own init_theta(); a model must give finite log-densities there");
}

}  // namespace

void check_model_contract(Model& model, const data::Batch& batch, const std::string& where) {
  torch::NoGradGuard no_grad;
  const int64_t p = model.num_params();
  if (p < 1) throw io::ConfigError(where + ": num_params() is " + std::to_string(p) + "; it must be at least 1");
  auto theta0 = model.init_theta();
  expect_shape(theta0, {p}, where + ": init_theta()");
  auto theta = theta0.unsqueeze(0).expand({2, p}).contiguous();
  const int64_t b = std::min<int64_t>(4, batch.size());
  if (b > 0) {
    data::Batch head{batch.x.slice(0, 0, b), batch.y.slice(0, 0, b), batch.ids.slice(0, 0, b)};
    auto ll = model.log_likelihood(theta, head);
    expect_shape(ll, {2, b}, where + ": log_likelihood(θ [2, " + std::to_string(p) + "], a batch of " +
                                 std::to_string(b) + ")");
    expect_finite(ll, where + ": log_likelihood");
    if (model.is_classifier()) {
      auto lp = model.predict_log_proba(theta, head.x);
      if (!lp.defined() || lp.dim() != 3 || lp.size(0) != 2 || lp.size(1) != b)
        throw io::ConfigError(where + ": predict_log_proba(θ [2, " + std::to_string(p) + "], " + std::to_string(b) +
                              " inputs) returned " + shape_of(lp) + "; the model contract wants [2, " +
                              std::to_string(b) + ", classes]");
    }
  }
  auto prior = model.log_prior(theta);
  expect_shape(prior, {2}, where + ": log_prior(θ [2, " + std::to_string(p) + "])");
  expect_finite(prior, where + ": log_prior");
}

}  // namespace unlearn
