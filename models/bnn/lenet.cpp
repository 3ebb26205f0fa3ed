#include "bnn/lenet.h"

#include <array>

#include <fmt/format.h>

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

torch::Tensor BayesianLeNetImpl::logits(const torch::Tensor& theta, const torch::Tensor& x) {
  checked_theta(theta);
  const int64_t S = theta.size(0);
  auto img = images(x, theta);  // [B, 1, 32, 32]
  const int64_t B = img.size(0);
  const auto& act = common_.activation();
  auto pool = [](const torch::Tensor& t) { return torch::max_pool2d(t, {2, 2}); };
  const std::array<int64_t, 2> one{1, 1}, zero{0, 0};  // stride and dilation 1, no padding
  const at::IntArrayRef kOne(one), kZero(zero);

  // conv1: the input is shared, so the S samples' filters stack into S·6 output channels.
  auto w1 = layout_.view(theta, conv1_).reshape({S * 6, 1, 5, 5});
  auto b1 = layout_.view(theta, conv1_ + 1).reshape({S * 6});
  // Pooling before the activation is the same for a monotone activation and 4× cheaper.
  auto h = functional::activate(pool(torch::conv2d(img, w1, b1)), act);  // [B, S·6, 14, 14]

  // conv2: sample s's 16 filters see only its own 6 channels: groups = S.
  auto w2 = layout_.view(theta, conv2_).reshape({S * 16, 6, 5, 5});
  auto b2 = layout_.view(theta, conv2_ + 1).reshape({S * 16});
  h = functional::activate(pool(torch::conv2d(h, w2, b2, kOne, kZero, kOne, /*groups=*/S)),
                           act);                                          // [B, S·16, 5, 5]
  h = h.reshape({B, S, 16 * 5 * 5}).transpose(0, 1);                      // [S, B, 400]

  auto fc = [&](const torch::Tensor& in, size_t w) {
    return torch::baddbmm(layout_.view(theta, w + 1).unsqueeze(1), in, layout_.view(theta, w));
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
