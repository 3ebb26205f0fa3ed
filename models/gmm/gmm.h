#pragma once
// Gaussian mixture with known, equal weights and unit covariances; Bayesian over the means:
//   x_i ~ Σ_k (1/K) N(μ_k, I),   μ_k ~ N(0, σ0² I),   k = 1..K.
// θ = the K×d means flattened row-major (μ_1 first): P = K·d. The unsupervised likelihood
// ignores the batch's labels. The model of the BIF papers' GMM experiment (K = 4, d = 2).
//
//   auto gmm = unlearn::models::Gmm(unlearn::models::GmmOptions(4, 2));
//   auto ll = gmm->log_likelihood(theta /*[S, 8]*/, ds.batch());          // [S, N]
#include <string>

#include <torch/torch.h>

#include "unlearn/model.h"

namespace unlearn::models {

struct GmmOptions {
  GmmOptions(int64_t num_components, int64_t dim) : num_components_(num_components), dim_(dim) {}
  /// K, the number of components (>= 1).
  TORCH_ARG(int64_t, num_components);
  /// d, the dimension of the data (>= 1).
  TORCH_ARG(int64_t, dim);
  /// σ0, the prior standard deviation of every coordinate of every mean (> 0).
  TORCH_ARG(double, prior_std) = 1.0;
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat64;
};

class GmmImpl : public Model {
 public:
  explicit GmmImpl(const GmmOptions& options);

  const GmmOptions& options() const { return options_; }
  int64_t num_params() const override { return options_.num_components() * options_.dim(); }
  /// log Σ_k (1/K) N(x_i | μ_k, I) per datum, by log-sum-exp: θ [S, K·d], x [B, d] -> [S, B].
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& batch) override;
  torch::Tensor log_prior(const torch::Tensor& theta) override;
  /// The means spread on a circle of radius σ0 in the first two coordinates (symmetric
  /// zeros would be a saddle of the likelihood).
  torch::Tensor init_theta() override;
  std::string architecture() const override;
  std::optional<GaussianPrior> gaussian_prior() override;
  torch::TensorOptions theta_options() const override;

  /// θ [.., K·d] -> means [.., K, d].
  torch::Tensor means(const torch::Tensor& theta) const;

 private:
  GmmOptions options_;
  torch::Tensor device_anchor_;  // empty buffer: carries the model's device and dtype
};
TORCH_MODULE(Gmm);

/// The mean Euclidean distance between two sets of K centres [K, d] under the best one-to-one
/// matching (all K! permutations: K <= 8). The papers' "centre distance".
double matched_centre_distance(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace unlearn::models
