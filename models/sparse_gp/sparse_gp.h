#pragma once
// Sparse GP classifier with a Bernoulli-logit likelihood on the projected mean.
//
//   θ = u = f(Z) ∈ R^M            (un-whitened, the papers' reference: u ~ N(0, K_ZZ))
//   θ = v,  u = L v, v ~ N(0, I)  (whitened; L = chol(K_ZZ))
//   f(x) = k(x,Z) K_ZZ⁻¹ u        (the projected mean; for whitened θ: k(x,Z) L⁻ᵀ v)
//   p(y = 1 | x, θ) = σ(f(x))                         likelihood_variance = "ignore" (default)
//   p(y = 1 | x, θ) ≈ σ(f(x) / √(1 + π σ²(x) / 8))    likelihood_variance = "probit" (MacKay),
//   p(y = 1 | x, θ) = ∫ σ(g) N(g; f(x), σ²(x)) dg      likelihood_variance = "quadrature"
//        σ²(x) = k(x,x) − k(x,Z) K_ZZ⁻¹ k(Z,x) the conditional variance
//
// "quadrature" integrates the conditional Gaussian exactly up to K-point Gauss–Hermite error (the
// integrand is smooth: 20 points give ~1e-6 in log p, 100 points ~1e-13), where Monte Carlo would add
// noise to every likelihood evaluation and bias log p. It costs K times the "ignore" likelihood.
//
// Kernel: squared exponential with ARD, k(a,b) = variance·exp(−½ Σ_d (a_d − b_d)² / ℓ_d²).
// K_ZZ = k(Z,Z) + jitter·I. The variance and length-scales are torch parameters stored as
// logs (log_variance, log_length_scales), Z as the parameter inducing_inputs; each is fixed
// (requires_grad false) or learned by type-II maximum likelihood, as the options say.
//
// The moons reference (PAPERS.md: effectively Bayesian kernel logistic regression):
//   auto z = unlearn::data::read_csv(".../moons_inducing_20.csv").values;     // [20, 2]
//   SparseGP gp(SparseGPOptions(z).kernel_variance(4.7432)
//                   .length_scales({1 / std::sqrt(2.4232), 1 / std::sqrt(1.8230)}));
//   auto ll = gp->log_likelihood(theta, ds.batch());   // [S, 100]
//
// For a fixed batch and fixed hyper-parameters, projection(x) can be computed once and
// f = θ @ projection(x) reused (log_likelihood recomputes it on every call).
#include <array>
#include <mutex>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "unlearn/model.h"

namespace unlearn::models {

namespace functional {

/// SE-ARD kernel matrix: a [N, D], b [M, D], variance [] (> 0), length_scales [D] (> 0)
/// -> [N, M], k(a,b) = variance·exp(−½ Σ_d (a_d − b_d)² / ℓ_d²). Differentiable in every input.
torch::Tensor se_ard_kernel(const torch::Tensor& a, const torch::Tensor& b,
                            const torch::Tensor& variance, const torch::Tensor& length_scales);

}  // namespace functional

struct SparseGPOptions {
  /* implicit */ SparseGPOptions(torch::Tensor inducing_inputs)
      : inducing_inputs_(std::move(inducing_inputs)) {}
  /// Z, the M inducing inputs [M, D] (copied into the parameter inducing_inputs, cast to dtype).
  TORCH_ARG(torch::Tensor, inducing_inputs);
  /// Kernel variance (signal variance, > 0).
  TORCH_ARG(double, kernel_variance) = 1.0;
  /// ARD length-scales ℓ_d (> 0): D values, or one value for every dimension; empty = all 1.
  /// (A config's inverse squared length-scale γ_d is ℓ_d = 1/√γ_d.)
  TORCH_ARG(std::vector<double>, length_scales) = {};
  /// Added to the diagonal of K_ZZ (>= 0). PAPERS.md: the moons K_ZZ is fine in float64 without.
  TORCH_ARG(double, jitter) = 0.0;
  /// θ = v with u = L v, v ~ N(0, I), instead of θ = u ~ N(0, K_ZZ).
  TORCH_ARG(bool, whiten) = false;
  /// "ignore" (logit of the projected mean; the papers' reference), "probit" (MacKay's
  /// approximation with the conditional variance) or "quadrature" (the conditional variance
  /// integrated by Gauss–Hermite quadrature; the accurate alternative to Monte Carlo).
  TORCH_ARG(std::string, likelihood_variance) = "ignore";
  /// Gauss–Hermite points under "quadrature" (2..100).
  TORCH_ARG(int64_t, quadrature_points) = 20;
  /// Kernel variance and length-scales are learned (requires_grad) rather than fixed.
  TORCH_ARG(bool, learn_kernel) = false;
  /// Inducing inputs are learned (requires_grad) rather than fixed.
  TORCH_ARG(bool, learn_inducing) = false;
  /// dtype of θ and of the parameters (float64 is the house choice for GPs).
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat64;
};

class SparseGPImpl : public Model {
 public:
  explicit SparseGPImpl(const SparseGPOptions& options);

  const SparseGPOptions& options() const { return options_; }
  int64_t num_params() const override { return num_inducing_; }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& batch) override;
  torch::Tensor log_prior(const torch::Tensor& theta) override;
  torch::Tensor init_theta() override;
  std::string architecture() const override;
  /// [S, B, 2]: log p(y = 0), log p(y = 1).
  bool is_classifier() const override { return true; }
  torch::Tensor predict_log_proba(const torch::Tensor& theta, const torch::Tensor& x) override;
  /// {0, chol(K_ZZ)} un-whitened, {0, I} whitened. Carries gradients to learned hypers.
  std::optional<GaussianPrior> gaussian_prior() override;
  torch::TensorOptions theta_options() const override;

  /// The latent f(x) for every sample: θ [S, M], x [B, D] -> [S, B] (before any probit scaling).
  torch::Tensor latent_mean(const torch::Tensor& theta, const torch::Tensor& x);
  /// The matrix Aᵀ [M, B] with f = θ @ Aᵀ: K_ZZ⁻¹ k(Z,x) un-whitened, L⁻¹ k(Z,x) whitened.
  torch::Tensor projection(const torch::Tensor& x);
  /// σ²(x) = k(x,x) − k(x,Z) K_ZZ⁻¹ k(Z,x), clamped at 0: x [B, D] -> [B].
  torch::Tensor conditional_variance(const torch::Tensor& x);
  /// The logit that enters the Bernoulli likelihood: latent_mean, scaled by
  /// 1/√(1 + πσ²/8) under "probit" (the latent mean itself under "ignore" and "quadrature").
  /// θ [S, M], x [B, D] -> [S, B].
  torch::Tensor logit(const torch::Tensor& theta, const torch::Tensor& x);

  /// K_ZZ + jitter·I [M, M] and its lower Cholesky factor.
  torch::Tensor kzz();
  torch::Tensor kzz_cholesky();
  /// k(a, b) with the model's hyper-parameters: a [N, D], b [M, D] -> [N, M].
  torch::Tensor kernel(const torch::Tensor& a, const torch::Tensor& b);

  torch::Tensor kernel_variance() const { return log_variance_.exp(); }
  torch::Tensor length_scales() const { return log_length_scales_.exp(); }
  const torch::Tensor& log_variance() const { return log_variance_; }
  const torch::Tensor& log_length_scales() const { return log_length_scales_; }
  const torch::Tensor& inducing_inputs() const { return inducing_inputs_; }

 private:
  torch::Tensor inputs(const torch::Tensor& x) const;  // checked, cast to the model's dtype
  void check_theta(const torch::Tensor& theta) const;
  // W = L⁻¹ k(Z,x) [M, B], the shared piece of the projection and the conditional variance.
  torch::Tensor whitened_cross(const torch::Tensor& x, const torch::Tensor& L);

  // logit(θ, x) = (θ @ a) · scale: a = projection(x) [M, B], scale [B] under "probit" (else
  // undefined); sd [B] = σ(x), the conditional standard deviation, under "quadrature".
  struct LogitMap {
    torch::Tensor a, scale, sd;
  };
  // Under "quadrature": log Σ_k w_k σ(sign · (f + sd·t_k)) [S, B] for sign = ±1 (y = 1 / y = 0),
  // or per datum with sign [B].
  torch::Tensor quadrature_log_sigmoid(const torch::Tensor& f, const torch::Tensor& sd, const torch::Tensor& sign);
  LogitMap compute_logit_map(const torch::Tensor& x);
  LogitMap logit_map(const torch::Tensor& x);
  torch::Tensor cholesky();

  // While the hyper-parameters are frozen (no gradient can flow to them), K_ZZ's Cholesky factor
  // and the logit map of the last few input tensors are computed once and reused: the moons
  // study evaluates the same 100 (or 20 erased) inputs 30 000 times per run, and rebuilding
  // k(Z,x), the factor and two triangular solves each time cost more than the likelihood's
  // matrix product. The key is the hyper-parameters' storage and version counters (any
  // optimizer step or load bumps them) and the input tensor itself (held, with its version).
  // A mutex guards the cache: a study may run several posteriors on one model from two threads.
  using HyperKey = std::array<int64_t, 6>;
  bool hypers_frozen() const;
  HyperKey hyper_key() const;
  struct CachedMap {
    torch::Tensor x;
    int64_t x_version = 0;
    LogitMap map;
  };
  static constexpr size_t kCachedInputs = 4;
  HyperKey cache_key_{};
  torch::Tensor cached_cholesky_;
  std::vector<CachedMap> cached_maps_;  // most recently used first
  std::recursive_mutex cache_mutex_;

  SparseGPOptions options_;
  int64_t num_inducing_ = 0, input_dim_ = 0;
  bool probit_ = false, quadrature_ = false;
  torch::Tensor gh_nodes_;        // [K] √2·t_k: N(0, 1) quadrature nodes (not state: derived)
  torch::Tensor gh_log_weights_;  // [K] log(w_k / √π), summing to 1 in probability
  torch::Tensor log_variance_;       // parameter []
  torch::Tensor log_length_scales_;  // parameter [D]
  torch::Tensor inducing_inputs_;    // parameter [M, D]
};
TORCH_MODULE(SparseGP);

}  // namespace unlearn::models
