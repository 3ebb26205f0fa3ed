#include "bnn/lenet.h"

#include <array>

#include <fmt/format.h>

#include "unlearn/random/normal.h"

namespace unlearn::models::bnn {

BayesianLeNetImpl::BayesianLeNetImpl(const BayesianLeNetOptions& options)
    : BnnBaseImpl(options.common(), "bnn_lenet"), options_(options) {
  TORCH_CHECK(options.classes() >= 2, "bnn_lenet: classes = ", options.classes(), " must be >= 2");
  conv1_ = layout_.add_conv("conv1", 1, 6, 5);
  conv2_ = layout_.add_conv("conv2", 6, 16, 5);
  fc1_ = layout_.add_linear("fc1", 16 * 5 * 5, 120);
  fc2_ = layout_.add_linear("fc2", 120, 84);
  fc3_ = layout_.add_linear("fc3", 84, options.classes());
}

torch::Tensor BayesianLeNetImpl::images(const torch::Tensor& x, const torch::Tensor& theta) const {
  const int64_t B = x.size(0);
  const int64_t per_row = B > 0 ? x.numel() / B : 0;
  TORCH_CHECK(x.dim() >= 2 && (per_row == 32 * 32 || per_row == 28 * 28),
              "bnn_lenet: x must be [B, 1, 32, 32], [B, 1, 28, 28], [B, 1024] or [B, 784], got ", x.sizes());
  const int64_t side = per_row == 32 * 32 ? 32 : 28;
  auto img = x.reshape({B, 1, side, side}).to(theta.device(), theta.scalar_type());
  if (side == 28) img = torch::constant_pad_nd(img, {2, 2, 2, 2}, options_.pad_value());
  return img;
}

torch::Tensor BayesianLeNetImpl::conv_features(const torch::Tensor& img, const torch::Tensor& w1, const torch::Tensor& b1,
                                               const torch::Tensor& w2, const torch::Tensor& b2) const {
  const int64_t S = w1.size(0), B = img.size(0);
  const auto& act = common_.activation();
  auto pool = [](const torch::Tensor& t) { return torch::max_pool2d(t, {2, 2}); };
  const std::array<int64_t, 2> one{1, 1}, zero{0, 0};  // stride and dilation 1, no padding
  const at::IntArrayRef kOne(one), kZero(zero);
  // conv1: the input is shared, so the S samples' filters stack into S·6 output channels.
  // Pooling before the activation is the same for a monotone activation and 4× cheaper.
  auto h = functional::activate(pool(torch::conv2d(img, w1.reshape({S * 6, 1, 5, 5}), b1.reshape({S * 6}))),
                                act);  // [B, S·6, 14, 14]
  // conv2: sample s's 16 filters see only its own 6 channels: groups = S.
  h = functional::activate(pool(torch::conv2d(h, w2.reshape({S * 16, 6, 5, 5}), b2.reshape({S * 16}), kOne, kZero,
                                              kOne, /*groups=*/S)),
                           act);                        // [B, S·16, 5, 5]
  return h.reshape({B, S, 16 * 5 * 5}).transpose(0, 1);  // [S, B, 400]
}

torch::Tensor BayesianLeNetImpl::logits(const torch::Tensor& theta, const torch::Tensor& x) {
  checked_theta(theta);
  auto img = images(x, theta);  // [B, 1, 32, 32]
  const auto& act = common_.activation();
  auto h = conv_features(img, layout_.view(theta, conv1_), layout_.view(theta, conv1_ + 1),
                         layout_.view(theta, conv2_), layout_.view(theta, conv2_ + 1));  // [S, B, 400]
  auto fc = [&](const torch::Tensor& in, size_t w) {
    return torch::baddbmm(layout_.view(theta, w + 1).unsqueeze(1), in, layout_.view(theta, w));
  };
  h = functional::activate(fc(h, fc1_), act);  // [S, B, 120]
  h = functional::activate(fc(h, fc2_), act);  // [S, B, 84]
  return fc(h, fc3_);                          // [S, B, C]
}

torch::Tensor BayesianLeNetImpl::local_logits(const torch::Tensor& loc, const torch::Tensor& variance,
                                              const torch::Tensor& x, int64_t samples, torch::Generator& gen) {
  auto mu = loc.unsqueeze(0), var = variance.unsqueeze(0);
  auto img = images(x, loc);  // [B, 1, 32, 32]
  const int64_t S = samples;
  const auto& act = common_.activation();
  // Convolutions: the local trick does not apply exactly (outputs at different positions share
  // a filter, so drawing them independently would change their joint law and, through pooling and
  // the sums of the next layer, the expected likelihood): their weights are drawn per sample.
  auto draw = [&](size_t i) {
    auto m = layout_.view(mu, i), v = layout_.view(var, i);  // [1, ...shape]
    std::vector<int64_t> shape(m.sizes().begin(), m.sizes().end());
    shape[0] = S;
    auto eps = standard_normal(shape, m.options(), gen);
    return m + v.sqrt() * eps;  // [S, ...shape]
  };
  auto w1 = draw(conv1_), b1 = draw(conv1_ + 1), w2 = draw(conv2_), b2 = draw(conv2_ + 1);
  auto h = conv_features(img, w1, b1, w2, b2);  // [S, B, 400]
  // Fully connected layers (59 134 of the 61 706 weights): each output unit has its own weights,
  // so the trick is exact there: mean h·μ_W + μ_b, variance h²·σ²_W + σ²_b, drawn per datum.
  auto block = [&](const torch::Tensor& t, size_t i) { return layout_.view(t, i).squeeze(0); };
  auto fc = [&](const torch::Tensor& in, size_t w) {
    auto mean = torch::matmul(in, block(mu, w)) + block(mu, w + 1);
    auto v = torch::matmul(in.square(), block(var, w)) + block(var, w + 1);
    return functional::sample_preactivation(mean, v, S, true, gen);
  };
  h = functional::activate(fc(h, fc1_), act);  // [S, B, 120]
  h = functional::activate(fc(h, fc2_), act);  // [S, B, 84]
  return fc(h, fc3_);                          // [S, B, C]
}

std::string BayesianLeNetImpl::architecture() const {
  return fmt::format("bnn_lenet(classes={},prior_std={},activation={})", options_.classes(), common_.prior_std(),
                     common_.activation());
}

}  // namespace unlearn::models::bnn
