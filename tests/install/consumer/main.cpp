// A user's own model, in a user's own project: the mean of a 2-D Gaussian with known noise,
// y_i ~ N(θ, σ² I), θ ~ N(0, I). It implements unlearn::Model and the conjugate interface, so
// exact unlearning works on it; the program checks the result against retraining.
#include <cmath>
#include <cstdio>

#include <unlearn/model.h>
#include <unlearn/posterior/gaussian.h>
#include <unlearn/unlearning/exact_conjugate.h>

class GaussianMean : public unlearn::Model, public unlearn::ConjugateGaussianLikelihood {
 public:
  explicit GaussianMean(double noise_std) : noise_std_(noise_std) {}
  int64_t num_params() const override { return 2; }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const unlearn::data::Batch& b) override {
    auto r = (b.x.unsqueeze(0) - theta.unsqueeze(1)) / noise_std_;  // [S, B, 2]
    return (-0.5 * r.square() - std::log(noise_std_) - 0.5 * std::log(2 * M_PI)).sum(-1);
  }
  torch::Tensor log_prior(const torch::Tensor& theta) override {
    return (-0.5 * theta.square() - 0.5 * std::log(2 * M_PI)).sum(-1);
  }
  torch::Tensor init_theta() override { return torch::zeros({2}, torch::kFloat64); }
  std::string architecture() const override { return "consumer.gaussian_mean"; }
  std::optional<unlearn::GaussianPrior> gaussian_prior() override {
    return unlearn::GaussianPrior{torch::zeros({2}, torch::kFloat64), torch::eye(2, torch::kFloat64)};
  }
  unlearn::NaturalParams likelihood_natural_params(const unlearn::data::Batch& b) override {
    double w = 1.0 / (noise_std_ * noise_std_);
    return {w * b.size() * torch::eye(2, torch::kFloat64), w * b.x.sum(0)};
  }

 private:
  double noise_std_;
};

int main() {
  auto gen = at::detail::createCPUGenerator(0);
  auto model = std::make_shared<GaussianMean>(0.5);
  auto x = torch::randn({40, 2}, gen, torch::kFloat64) + torch::tensor({1.0, -2.0}, torch::kFloat64);
  auto ids = torch::arange(40);
  unlearn::data::Batch all{x, torch::zeros({40}), ids};
  unlearn::data::Batch erased{x.slice(0, 0, 10), torch::zeros({10}), ids.slice(0, 0, 10)};
  unlearn::data::Batch kept{x.slice(0, 10), torch::zeros({30}), ids.slice(0, 10)};

  auto [m, c] = unlearn::exact_conjugate_posterior(*model, all);
  auto q = unlearn::FullRankGaussianImpl::from_moments(m, c);
  auto unlearned = unlearn::exact_unlearn(*model, *q, erased);
  auto [mr, cr] = unlearn::exact_conjugate_posterior(*model, kept);
  auto target = unlearn::FullRankGaussianImpl::from_moments(mr, cr);
  double kl = unlearned->kl_divergence(*target).item<double>();
  double ll = model->log_likelihood(unlearned->rsample(8, gen), kept).sum().item<double>();
  std::printf("consumer: KL(unlearned || retrained) = %.3e, log-lik of kept data = %.2f\n", kl, ll);
  return (kl < 1e-10 && std::isfinite(ll)) ? 0 : 1;
}
