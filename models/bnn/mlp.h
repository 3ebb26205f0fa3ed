#pragma once
// A Bayesian multilayer perceptron under the model contract: x [B, ...] is flattened to
// [B, input]; hidden layers are fully connected with the activation; the last layer gives C
// logits. θ [S, P] holds S networks, evaluated together by batched matmuls: the first layer is
// one [B, in]·[S, in, out] product (x is shared), every later one a baddbmm.
//
//   auto mlp = BayesianMlp(BayesianMlpOptions(784, 10).hidden({512, 512}));  // 784→512→512→10
//   auto ll = mlp->log_likelihood(theta /*[S, P]*/, batch);                   // [S, B]
#include <vector>

#include "bnn/bnn_common.h"

namespace unlearn::models::bnn {

struct BayesianMlpOptions {
  BayesianMlpOptions(int64_t input, int64_t classes) : input_(input), classes_(classes) {}
  /// Input features (the product of x's trailing dimensions: 784 for 28×28 images).
  TORCH_ARG(int64_t, input);
  /// C, the number of classes (>= 2).
  TORCH_ARG(int64_t, classes);
  /// Widths of the hidden layers (may be empty: multinomial logistic regression).
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{512, 512};
  TORCH_ARG(BnnCommonOptions, common) = {};
};

class BayesianMlpImpl : public BnnBaseImpl {
 public:
  explicit BayesianMlpImpl(const BayesianMlpOptions& options);
  const BayesianMlpOptions& options() const { return options_; }
  torch::Tensor logits(const torch::Tensor& theta, const torch::Tensor& x) override;
  torch::Tensor local_logits(const torch::Tensor& loc, const torch::Tensor& variance, const torch::Tensor& x,
                             int64_t samples, torch::Generator& gen) override;
  std::string architecture() const override;

 private:
  BayesianMlpOptions options_;
  std::vector<size_t> weights_;  // layout index of each layer's weight (its bias follows)
};
TORCH_MODULE(BayesianMlp);

}  // namespace unlearn::models::bnn
