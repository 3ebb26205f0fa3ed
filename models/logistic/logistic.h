#pragma once
// Bayesian multinomial logistic regression.
//
//   x̃ = (x − mean) / std   (optional feature standardisation; identity otherwise)
//   logit_c(x) = w_cᵀ x̃ + b_c   for c = 0 .. C−2;   logit_{C−1}(x) = 0 (the reference class)
//   p(y = c | x, θ) = softmax(logit(x))_c,   θ ~ N(0, prior_std² I)
//
// θ has (C−1)·(d+1) entries: row c of the [C−1, d+1] matrix view holds (w_c, b_c), the bias
// last. With C = 2 this is Bernoulli-logit with f = w_0ᵀx̃ + b_0 the log-odds of class 0
// against class 1 (the reference): p(y = 0) = σ(f).
//
//   auto ds = unlearn::data::load_csv_dataset(".../banknote_authentication.csv", {...}, "class");
//   Logistic model(LogisticOptions(/*num_features=*/4).num_classes(2).prior_std(100.0));
//   auto ll = model->log_likelihood(theta, ds.batch());   // [S, N]
//
// With standardize(true), call fit_standardisation(train_set) once: the mean and std are
// buffers, so they travel with the model's state (checkpoints).
#include <string>

#include <torch/torch.h>

#include "unlearn/data/dataset.h"
#include "unlearn/model.h"

namespace unlearn::models {

namespace functional {

/// Per-element Bernoulli-logit log-likelihood log p(y | f) = y·f − softplus(f), y ∈ {0, 1}
/// (any dtype; broadcast against f). Written as y·f − (max(f,0) + log1p(exp(−|f|))) (this
/// build's softplus is slow) with an analytic backward ∂/∂f = y − σ(f), exact at f = 0 and
/// itself differentiable (Hessian-vector products work). No gradient flows to y.
torch::Tensor bernoulli_logit_log_likelihood(const torch::Tensor& f, const torch::Tensor& y);

/// log σ(f) for every element (= bernoulli_logit_log_likelihood(f, 1)).
torch::Tensor log_sigmoid(const torch::Tensor& f);

}  // namespace functional

struct LogisticOptions {
  /* implicit */ LogisticOptions(int64_t num_features) : num_features_(num_features) {}
  /// d, the number of input features (x is [B, d]).
  TORCH_ARG(int64_t, num_features);
  /// C >= 2 classes; labels are 0 .. C−1 and class C−1 is the reference (logit 0).
  TORCH_ARG(int64_t, num_classes) = 2;
  /// Standard deviation of the isotropic Gaussian prior over every weight and bias.
  TORCH_ARG(double, prior_std) = 1.0;
  /// Standardise features with the mean/std buffers (set by fit_standardisation).
  TORCH_ARG(bool, standardize) = false;
  /// dtype of θ and of the buffers.
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat64;
};

class LogisticImpl : public Model {
 public:
  explicit LogisticImpl(const LogisticOptions& options);

  const LogisticOptions& options() const { return options_; }
  int64_t num_params() const override;
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& batch) override;
  torch::Tensor log_prior(const torch::Tensor& theta) override;
  torch::Tensor init_theta() override;
  std::string architecture() const override;
  bool is_classifier() const override { return true; }
  torch::Tensor predict_log_proba(const torch::Tensor& theta, const torch::Tensor& x) override;
  std::optional<GaussianPrior> gaussian_prior() override;
  torch::TensorOptions theta_options() const override;

  /// All C logits (the last one 0): θ [S, P], x [B, d] -> [S, B, C].
  torch::Tensor logits(const torch::Tensor& theta, const torch::Tensor& x);

  /// Sets the feature mean and std buffers from a data set's x (population std; a constant
  /// feature gets std 1). Requires options().standardize().
  void fit_standardisation(const data::Dataset& dataset);
  const torch::Tensor& feature_mean() const { return feature_mean_; }
  const torch::Tensor& feature_std() const { return feature_std_; }

 private:
  torch::Tensor features(const torch::Tensor& x) const;  // [B, d] standardised, model dtype

  LogisticOptions options_;
  torch::Tensor feature_mean_;  // buffer [d]
  torch::Tensor feature_std_;   // buffer [d]
};
TORCH_MODULE(Logistic);

}  // namespace unlearn::models
