#pragma once
// What the Bayesian neural networks share (models/bnn): the options every network has, the
// layout of θ as a list of named weight blocks, the isotropic Gaussian prior and the categorical
// likelihood. The networks themselves (mlp.h, lenet.h) only describe their forward pass.
//
// θ layout: the blocks in declaration order, each flattened row-major. A fully connected layer
// is a weight [in, out] (so that h·W needs no transpose) followed by its bias [out]; a
// convolution is a weight [out, in, k, k] (torch's layout) followed by its bias [out].
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "unlearn/model.h"

namespace unlearn::models::bnn {

/// Options every Bayesian network shares.
struct BnnCommonOptions {
  /// σ_p of the prior N(0, σ_p² I) over every weight and bias (the BIF paper: 0.15).
  TORCH_ARG(double, prior_std) = 0.15;
  /// "relu" or "tanh".
  TORCH_ARG(std::string, activation) = "relu";
  /// dtype of θ: float32 for training, float64 for gradient checks.
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat32;
  /// Seed of init_theta's draw (PyTorch's default layer init, U(±1/√fan_in)).
  TORCH_ARG(uint64_t, init_seed) = 0;

 public:
  /// TORCH_CHECKs every field, prefixed by `who` ("bnn_mlp", "bnn_lenet").
  void validate(const char* who) const;
};

/// One weight block of θ.
struct ParamBlock {
  std::string name;
  std::vector<int64_t> shape;
  int64_t fan_in = 1;  ///< for the default initialisation
  int64_t offset = 0;  ///< first coordinate in θ
  int64_t numel() const;
};

/// The blocks of θ, in order, with their offsets.
class ParamLayout {
 public:
  /// Appends a block; returns its index.
  size_t add(std::string name, std::vector<int64_t> shape, int64_t fan_in);
  /// A fully connected layer: weight [in, out], bias [out]; returns the weight's index.
  size_t add_linear(const std::string& name, int64_t in, int64_t out);
  /// A convolution: weight [out, in, k, k], bias [out]; returns the weight's index.
  size_t add_conv(const std::string& name, int64_t in, int64_t out, int64_t kernel);

  int64_t numel() const { return numel_; }
  const std::vector<ParamBlock>& blocks() const { return blocks_; }
  /// Block i of θ [S, P] as a view [S, ...shape] (no copy; differentiable).
  torch::Tensor view(const torch::Tensor& theta, size_t i) const;
  /// A θ [P] drawn from PyTorch's default layer initialisation, U(±1/√fan_in) per block.
  torch::Tensor default_init(const torch::TensorOptions& options, uint64_t seed) const;
  /// "conv1.weight[6,1,5,5],conv1.bias[6],...": part of the architecture string.
  std::string describe() const;

 private:
  std::vector<ParamBlock> blocks_;
  int64_t numel_ = 0;
};

namespace functional {

/// A pre-activation drawn by the local reparameterisation trick: mean + √variance · ε, with ε
/// standard normal of shape [S, ...mean's shape] drawn on the CPU generator (then moved, so that a
/// CUDA run draws the numbers a CPU run draws). mean/variance may already carry the S dimension.
torch::Tensor sample_preactivation(const torch::Tensor& mean, const torch::Tensor& variance, int64_t samples,
                                   bool has_sample_dim, torch::Generator& gen);

/// log N(θ_s | 0, σ² I) per row: θ [S, P] -> [S].
torch::Tensor isotropic_gaussian_log_prior(const torch::Tensor& theta, double prior_std);

/// log softmax(logits)[y] per sample and datum: logits [S, B, C], labels [B] -> [S, B].
torch::Tensor categorical_log_likelihood(const torch::Tensor& logits, const torch::Tensor& labels);

/// The activation named in the options (relu or tanh).
torch::Tensor activate(const torch::Tensor& x, const std::string& activation);

}  // namespace functional

/// A base for the networks: everything of the contract but the logits.
class BnnBaseImpl : public Model {
 public:
  BnnBaseImpl(const BnnCommonOptions& common, const char* who);

  const BnnCommonOptions& common_options() const { return common_; }
  const ParamLayout& layout() const { return layout_; }

  int64_t num_params() const override { return layout_.numel(); }
  /// log p(y_i | x_i, θ_s) = log softmax(logits)[y_i]: θ [S, P] -> [S, B].
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& batch) override;
  torch::Tensor log_prior(const torch::Tensor& theta) override;
  torch::Tensor init_theta() override;
  bool is_classifier() const override { return true; }
  torch::Tensor predict_log_proba(const torch::Tensor& theta, const torch::Tensor& x) override;
  /// N(0, σ_p² I) given by its diagonal only (GaussianPrior::scale_diag): a P×P factor would not
  /// fit in memory for a network.
  std::optional<GaussianPrior> gaussian_prior() override;
  torch::TensorOptions theta_options() const override;

  /// The network's outputs: θ [S, P], x [B, ...] -> logits [S, B, C].
  virtual torch::Tensor logits(const torch::Tensor& theta, const torch::Tensor& x) = 0;

  bool has_local_reparameterisation() const override { return true; }
  torch::Tensor local_reparameterised_log_likelihood(const torch::Tensor& loc, const torch::Tensor& variance,
                                                     const data::Batch& batch, int64_t samples,
                                                     torch::Generator& gen) override;
  /// Logits [S, B, C] with every pre-activation drawn by the local reparameterisation trick.
  virtual torch::Tensor local_logits(const torch::Tensor& loc, const torch::Tensor& variance, const torch::Tensor& x,
                                     int64_t samples, torch::Generator& gen) = 0;

 protected:
  /// Checks θ's shape; returns θ in the model's dtype.
  torch::Tensor checked_theta(const torch::Tensor& theta) const;

  BnnCommonOptions common_;
  ParamLayout layout_;
  const char* who_;
  torch::Tensor device_anchor_;  // empty buffer: carries the model's device and dtype
};

}  // namespace unlearn::models::bnn
