#include "bnn/mlp.h"

#include <fmt/format.h>

namespace unlearn::models::bnn {

BayesianMlpImpl::BayesianMlpImpl(const BayesianMlpOptions& options)
    : BnnBaseImpl(options.common(), "bnn_mlp"), options_(options) {
  TORCH_CHECK(options.input() >= 1, "bnn_mlp: input = ", options.input(), " must be >= 1");
  TORCH_CHECK(options.classes() >= 2, "bnn_mlp: classes = ", options.classes(), " must be >= 2");
  int64_t in = options.input();
  for (size_t l = 0; l < options.hidden().size(); ++l) {
    const int64_t out = options.hidden()[l];
    TORCH_CHECK(out >= 1, "bnn_mlp: hidden[", l, "] = ", out, " must be >= 1");
    weights_.push_back(layout_.add_linear(fmt::format("fc{}", l + 1), in, out));
    in = out;
  }
  weights_.push_back(layout_.add_linear(fmt::format("fc{}", options.hidden().size() + 1), in, options.classes()));
}

torch::Tensor BayesianMlpImpl::logits(const torch::Tensor& theta, const torch::Tensor& x) {
  checked_theta(theta);
  TORCH_CHECK(x.dim() >= 1 && x.numel() == x.size(0) * options_.input(), "bnn_mlp: x must be [B, ...] with ",
              options_.input(), " features per row, got ", x.sizes());
  auto h = x.reshape({x.size(0), options_.input()}).to(theta.device(), theta.scalar_type());  // [B, in]
  const int64_t S = theta.size(0);
  for (size_t l = 0; l < weights_.size(); ++l) {
    auto w = layout_.view(theta, weights_[l]);                      // [S, in, out]
    auto b = layout_.view(theta, weights_[l] + 1).unsqueeze(1);     // [S, 1, out]
    // Layer 1 shares x between samples: [B, in]·[S, in, out] broadcasts without copying x.
    h = l == 0 ? torch::matmul(h, w) + b : torch::baddbmm(b, h, w);  // [S, B, out]
    if (l + 1 < weights_.size()) h = functional::activate(h, common_.activation());
  }
  TORCH_INTERNAL_ASSERT(h.size(0) == S);
  return h;
}

torch::Tensor BayesianMlpImpl::local_logits(const torch::Tensor& loc, const torch::Tensor& variance,
                                            const torch::Tensor& x, int64_t samples, torch::Generator& gen) {
  TORCH_CHECK(x.dim() >= 1 && x.numel() == x.size(0) * options_.input(), "bnn_mlp: x must be [B, ...] with ",
              options_.input(), " features per row, got ", x.sizes());
  auto mu = loc.unsqueeze(0), var = variance.unsqueeze(0);
  auto block = [&](const torch::Tensor& t, size_t i) { return layout_.view(t, i).squeeze(0); };
  auto h = x.reshape({x.size(0), options_.input()}).to(loc.device(), loc.scalar_type());  // [B, in]
  for (size_t l = 0; l < weights_.size(); ++l) {
    // Given the layer's input h, h·W + b is Gaussian: mean h·μ_W + μ_b, variance h²·σ²_W + σ²_b.
    auto mean = torch::matmul(h, block(mu, weights_[l])) + block(mu, weights_[l] + 1);
    auto v = torch::matmul(h.square(), block(var, weights_[l])) + block(var, weights_[l] + 1);
    h = functional::sample_preactivation(mean, v, samples, /*has_sample_dim=*/l > 0, gen);  // [S, B, out]
    if (l + 1 < weights_.size()) h = functional::activate(h, common_.activation());
  }
  return h;
}

std::string BayesianMlpImpl::architecture() const {
  return fmt::format("bnn_mlp(input={},hidden=[{}],classes={},prior_std={},activation={})", options_.input(),
                     fmt::join(options_.hidden(), ","), options_.classes(), common_.prior_std(),
                     common_.activation());
}

}  // namespace unlearn::models::bnn
