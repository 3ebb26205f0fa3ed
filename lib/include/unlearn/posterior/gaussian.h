#pragma once
// Gaussian variational posteriors over the flat parameter vector θ (docs/architecture.md, "Tiers").
//
// Both families share one interface, GaussianPosteriorImpl, so that every inference and
// unlearning method is written once. A posterior may carry a leading *run* dimension R: then
// loc is [R, P], rsample(S) is [R, S, P] and log_prob maps [R, S, P] -> [R, S]. That is how
// several unlearning runs (one per λ) are trained as one batched tensor computation.
//
//   auto q = unlearn::FullRankGaussian(unlearn::GaussianOptions(20));   // N(0, I) over 20 dims
//   auto theta = q->rsample(1000, gen);                                  // [1000, 20], differentiable
//   auto lp = q->log_prob(theta);                                        // [1000]
#include <memory>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "unlearn/model.h"

namespace unlearn {

/// Shape and initialisation of a Gaussian posterior: P = dim, an optional run dimension R, the
/// initial scale (mean 0, σ = init_scale on every coordinate), dtype and device.
struct GaussianOptions {
  /// Options for P = dim coordinates, the rest at their defaults; implicit, so a plain number works.
  /* implicit */ GaussianOptions(int64_t dim) : dim_(dim) {}
  /// P, the number of parameters θ has.
  TORCH_ARG(int64_t, dim);
  /// Leading run dimension R (0: none). Runs are independent posteriors trained in one batch.
  TORCH_ARG(int64_t, runs) = 0;
  /// Initial standard deviation of every coordinate (the mean starts at 0).
  TORCH_ARG(double, init_scale) = 1.0;
  /// dtype of the parameters (float64 for GP / GMM / logistic / conjugate models).
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat64;
  /// Device of the parameters.
  TORCH_ARG(torch::Device, device) = torch::kCPU;
};

/// The interface of every Gaussian variational posterior q(θ) = N(loc, L Lᵀ) over the flat
/// parameter vector θ (P coordinates), optionally with a leading run dimension R; its parameters
/// are registered torch::nn::Module parameters, trained by the VI and unlearning methods.
class GaussianPosteriorImpl : public torch::nn::Module {
 public:
  /// Registers `loc` (zeros, [P] or [R, P]); dim >= 1, runs >= 0 and a finite init_scale > 0 are
  /// checked.
  explicit GaussianPosteriorImpl(const GaussianOptions& options);

  /// The options it was built with (dim, runs, init_scale, dtype, device).
  const GaussianOptions& options() const { return options_; }
  /// P, the number of coordinates of θ.
  int64_t dim() const { return options_.dim(); }
  /// R, the leading run dimension (0: none, tensors are [P] and [P, P]).
  int64_t runs() const { return options_.runs(); }
  /// "mean_field" or "full_rank": written into checkpoints and exports.
  virtual std::string family() const = 0;

  /// The mean parameter itself (a leaf with requires_grad): [P] or [R, P].
  const torch::Tensor& loc() const { return loc_; }
  /// Lower-triangular factor L with positive diagonal, Σ = L Lᵀ: [..., P, P].
  virtual torch::Tensor scale_tril() const = 0;
  /// Marginal standard deviations: [..., P].
  virtual torch::Tensor stddev() const = 0;

  /// Standard-normal noise of the right shape for S samples: [S, P] or [R, S, P].
  torch::Tensor sample_noise(int64_t num_samples, std::optional<torch::Generator> gen = {}) const;
  /// The reparameterisation θ = loc + L ε, differentiable in the posterior's parameters.
  /// Exposed so that callers can hold the noise fixed (finite differences, common random numbers).
  virtual torch::Tensor transform(const torch::Tensor& noise) const = 0;
  /// S reparameterised samples: [S, P] or [R, S, P].
  torch::Tensor rsample(int64_t num_samples, std::optional<torch::Generator> gen = {}) const {
    return transform(sample_noise(num_samples, std::move(gen)));
  }

  /// log q(θ) for θ [S, P] (or [R, S, P] with runs; [S, P] is then shared by every run).
  virtual torch::Tensor log_prob(const torch::Tensor& theta) const = 0;
  /// log q at its mode (the mean): the reference of the adjusted likelihood's threshold.
  torch::Tensor log_prob_at_mode() const;
  /// ½ log det Σ = Σ log diag L ([] or [R]); mean-field overrides it with an O(P) form (a
  /// network's P of 10⁴–10⁶ would not fit a P×P factor).
  virtual torch::Tensor half_log_det() const;
  /// The mean, loc itself: [P] or [R, P].
  torch::Tensor mean() const { return loc_; }
  /// Σ = L Lᵀ: [P, P] or [R, P, P] (dense, so O(P²) memory even for mean-field).
  torch::Tensor covariance() const;
  /// Differential entropy ½ log det Σ + ½ P (1 + log 2π), in nats: [] or [R].
  torch::Tensor entropy() const;

  /// KL(this ‖ other) in closed form ([] or [R]); diagonal fast path when both are mean-field.
  torch::Tensor kl_divergence(const GaussianPosteriorImpl& other) const;
  /// KL(this ‖ prior) in closed form.
  torch::Tensor kl_divergence(const GaussianPrior& prior) const;

  /// Overwrites the parameters (no autograd) so that the posterior has this mean and covariance
  /// ([..., P, P]; a mean-field posterior keeps only the diagonal and also accepts variances
  /// [..., P]). Used by exact unlearning and the closed-form reverse KL.
  virtual void set_moments(const torch::Tensor& mean, const torch::Tensor& covariance) = 0;

  /// A deep copy that shares nothing with this one (the starting point of an unlearning run).
  virtual std::shared_ptr<GaussianPosteriorImpl> copy() const = 0;
  /// A copy with R runs, each a replica of this (run-less) posterior.
  virtual std::shared_ptr<GaussianPosteriorImpl> replicate(int64_t runs) const = 0;
  /// Run r of a posterior with runs, as a run-less copy.
  virtual std::shared_ptr<GaussianPosteriorImpl> select_run(int64_t run) const = 0;

 protected:
  /// Shape [P] or [R, P] for a per-coordinate tensor.
  std::vector<int64_t> vector_shape() const;
  /// The options given to the constructor.
  GaussianOptions options_;
  /// The registered mean parameter "loc", [P] or [R, P].
  torch::Tensor loc_;
};

/// Type-erased holder: any Gaussian posterior.
TORCH_MODULE(GaussianPosterior);

/// Mean-field Gaussian: σ = softplus(ρ) per coordinate.
class MeanFieldGaussianImpl : public GaussianPosteriorImpl {
 public:
  /// Mean 0 and σ = init_scale on every coordinate (ρ = softplus⁻¹(init_scale)).
  explicit MeanFieldGaussianImpl(const GaussianOptions& options);
  /// A posterior with the given mean [.., P] and variances [.., P] (or covariance, diagonal kept).
  static std::shared_ptr<MeanFieldGaussianImpl> from_moments(const torch::Tensor& mean,
                                                             const torch::Tensor& covariance);
  std::string family() const override { return "mean_field"; }
  /// The unconstrained scale parameter ρ, σ = softplus(ρ): [P] or [R, P].
  const torch::Tensor& rho() const { return rho_; }
  torch::Tensor scale_tril() const override;
  torch::Tensor stddev() const override;
  torch::Tensor half_log_det() const override { return stddev().log().sum(-1); }
  torch::Tensor transform(const torch::Tensor& noise) const override;
  torch::Tensor log_prob(const torch::Tensor& theta) const override;
  void set_moments(const torch::Tensor& mean, const torch::Tensor& covariance) override;
  std::shared_ptr<GaussianPosteriorImpl> copy() const override;
  std::shared_ptr<GaussianPosteriorImpl> replicate(int64_t runs) const override;
  std::shared_ptr<GaussianPosteriorImpl> select_run(int64_t run) const override;

 private:
  torch::Tensor rho_;
};
/// Module holder (shared pointer) of a MeanFieldGaussianImpl.
TORCH_MODULE(MeanFieldGaussian);

/// Full-rank Gaussian: L = strictly-lower(raw) + diag(softplus(diag(raw))), so every
/// unconstrained `raw_tril` gives a valid Cholesky factor.
class FullRankGaussianImpl : public GaussianPosteriorImpl {
 public:
  /// Mean 0 and L = init_scale · I (the raw diagonal is softplus⁻¹(init_scale), the rest 0).
  explicit FullRankGaussianImpl(const GaussianOptions& options);
  /// A posterior with the given mean [P] or [R, P] and positive-definite covariance [P, P] or
  /// [R, P, P] (its Cholesky factor becomes L; not positive definite: c10::Error).
  static std::shared_ptr<FullRankGaussianImpl> from_moments(const torch::Tensor& mean,
                                                            const torch::Tensor& covariance);
  std::string family() const override { return "full_rank"; }
  /// The unconstrained factor the optimiser trains: [P, P] or [R, P, P]; only its lower triangle
  /// is used (the diagonal through softplus).
  const torch::Tensor& raw_tril() const { return raw_tril_; }
  torch::Tensor scale_tril() const override;
  torch::Tensor stddev() const override;
  torch::Tensor transform(const torch::Tensor& noise) const override;
  torch::Tensor log_prob(const torch::Tensor& theta) const override;
  void set_moments(const torch::Tensor& mean, const torch::Tensor& covariance) override;
  std::shared_ptr<GaussianPosteriorImpl> copy() const override;
  std::shared_ptr<GaussianPosteriorImpl> replicate(int64_t runs) const override;
  std::shared_ptr<GaussianPosteriorImpl> select_run(int64_t run) const override;

 private:
  torch::Tensor raw_tril_;
};
/// Module holder (shared pointer) of a FullRankGaussianImpl.
TORCH_MODULE(FullRankGaussian);

/// Builds a posterior of the named family ("mean_field" or "full_rank").
std::shared_ptr<GaussianPosteriorImpl> make_gaussian_posterior(const std::string& family,
                                                               const GaussianOptions& options);

}  // namespace unlearn
