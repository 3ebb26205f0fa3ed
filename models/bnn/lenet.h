#pragma once
// A Bayesian LeNet-5 under the model contract (the BIF paper's Fashion-MNIST network):
//   conv 1→6 k5 (32→28), max-pool 2, conv 6→16 k5 (14→10), max-pool 2, FC 400→120→84→C,
//   61 706 parameters for C = 10.
// Inputs are [B, 1, 32, 32] or [B, 1024]; 28×28 images ([B, 1, 28, 28] or [B, 784]) are padded
// by 2 background pixels of value pad_value (−0.5: Fashion-MNIST's background once scaled to
// [−0.5, 0.5], the same border load_fashion_mnist's pad_to_32 gives).
//
// S networks run together: conv1's input is shared, so its S·6 filters are one convolution
// with S·6 output channels; conv2 is a grouped convolution (groups = S) over those channels;
// the fully connected layers are baddbmm over [S, B, ·].
//
//   auto net = BayesianLeNet(BayesianLeNetOptions());
//   auto ll = net->log_likelihood(theta /*[S, 61706]*/, batch);   // [S, B]
#include "bnn/bnn_common.h"

namespace unlearn::models::bnn {

struct BayesianLeNetOptions {
  /// C, the number of classes (>= 2).
  TORCH_ARG(int64_t, classes) = 10;
  /// Value of the 2 pixels padded around 28×28 inputs: the background of Fashion-MNIST scaled
  /// to [−0.5, 0.5] (what load_fashion_mnist's pad_to_32 uses).
  TORCH_ARG(double, pad_value) = -0.5;
  TORCH_ARG(BnnCommonOptions, common) = {};
};

class BayesianLeNetImpl : public BnnBaseImpl {
 public:
  explicit BayesianLeNetImpl(const BayesianLeNetOptions& options);
  const BayesianLeNetOptions& options() const { return options_; }
  torch::Tensor logits(const torch::Tensor& theta, const torch::Tensor& x) override;
  torch::Tensor local_logits(const torch::Tensor& loc, const torch::Tensor& variance, const torch::Tensor& x,
                             int64_t samples, torch::Generator& gen) override;
  std::string architecture() const override;

 private:
  /// x as [B, 1, 32, 32] in θ's dtype and device.
  torch::Tensor images(const torch::Tensor& x, const torch::Tensor& theta) const;
  /// The two convolution blocks for S filter sets (w1 [S, 6, 1, 5, 5], b1 [S, 6], w2 [S, 16, 6, 5, 5],
  /// b2 [S, 16]) on images [B, 1, 32, 32] -> features [S, B, 400].
  torch::Tensor conv_features(const torch::Tensor& img, const torch::Tensor& w1, const torch::Tensor& b1,
                              const torch::Tensor& w2, const torch::Tensor& b2) const;

  BayesianLeNetOptions options_;
  size_t conv1_, conv2_, fc1_, fc2_, fc3_;  // layout indices of the weights (biases follow)
};
TORCH_MODULE(BayesianLeNet);

}  // namespace unlearn::models::bnn
