#pragma once
// A model kind written by a user: Bayesian Poisson regression with a log link,
//   y_i ~ Poisson(exp(η_i)),  η_i = x_i·w + b,  θ = (w, b) ~ N(0, σ² I).
// It implements the model contract (unlearn/model.h) and one optional hook, the closed-form
// expected log-likelihood under a Gaussian q: with a = (x, 1), E_q[η] = a·μ and
// E_q[exp η] = exp(a·μ + ½ aᵀΣa), so BIF for VI can use an exact energy instead of samples.
#include <cmath>
#include <memory>
#include <string>

#include <unlearn/data/dataset.h>
#include <unlearn/io/json_config.h>
#include <unlearn/model.h>
#include <unlearn/model_registry.h>
#include <unlearn/posterior/gaussian.h>

namespace poisson {

class PoissonRegression : public unlearn::Model {
 public:
  PoissonRegression(int64_t features, double prior_std) : d_(features), prior_std_(prior_std) {}

  int64_t num_params() const override { return d_ + 1; }

  // θ [S, P] -> [S, B], vectorised over the samples.
  torch::Tensor log_likelihood(const torch::Tensor& theta, const unlearn::data::Batch& b) override {
    auto eta = torch::matmul(theta.narrow(1, 0, d_), b.x.to(theta.dtype()).t()) + theta.narrow(1, d_, 1);
    auto y = b.y.to(theta.dtype()).unsqueeze(0);
    return y * eta - eta.exp() - torch::lgamma(y + 1);
  }

  torch::Tensor log_prior(const torch::Tensor& theta) override {
    auto z = theta / prior_std_;
    return -0.5 * z.square().sum(-1) - static_cast<double>(num_params()) * (std::log(prior_std_) + 0.5 * std::log(2 * M_PI));
  }

  torch::Tensor init_theta() override { return torch::zeros({num_params()}, torch::kFloat64); }

  std::string architecture() const override {
    return "poisson_regression(d=" + std::to_string(d_) + ",prior_std=" + std::to_string(prior_std_) + ")";
  }

  std::optional<unlearn::GaussianPrior> gaussian_prior() override {
    auto p = num_params();
    return unlearn::GaussianPrior{torch::zeros({p}, torch::kFloat64), prior_std_ * torch::eye(p, torch::kFloat64)};
  }

  bool has_expected_log_likelihood() const override { return true; }
  torch::Tensor expected_log_likelihood(const unlearn::GaussianPosteriorImpl& q, const unlearn::data::Batch& b) override {
    auto a = torch::cat({b.x.to(q.loc().scalar_type()), torch::ones({b.size(), 1}, q.loc().options())}, 1);  // [B, P]
    auto mean_eta = torch::mv(a, q.loc());
    auto var_eta = torch::matmul(a, q.scale_tril()).square().sum(-1);  // aᵀΣa, Σ = LLᵀ
    auto y = b.y.to(mean_eta.scalar_type());
    return y * mean_eta - (mean_eta + 0.5 * var_eta).exp() - torch::lgamma(y + 1);
  }

 private:
  int64_t d_;
  double prior_std_;
};

/// The kind's factory: {"kind": "poisson", "prior_std": 1.0}; the features come from the data.
inline std::shared_ptr<unlearn::Model> make_poisson(const unlearn::io::JsonObjectReader& section,
                                                    const unlearn::data::Dataset& data, const unlearn::ModelContext&) {
  auto prior_std = section.get<double>("prior_std", 1.0, unlearn::io::Range::positive());
  return std::make_shared<PoissonRegression>(data.x().size(1), prior_std);
}

inline unlearn::ModelKindInfo poisson_kind() {
  return {"poisson", "Bayesian Poisson regression, log link (examples/poisson_regression)", make_poisson};
}

}  // namespace poisson
