#pragma once
// Exact Bayesian unlearning for conjugate Gaussian models (docs/concepts.md):
//   p(θ | D_r) ∝ p(θ | D) / p(D_e | θ).
// In natural parameters (precision Λ, shift h = Λ μ) every datum adds its own term, so erasing
// D_e subtracts the erased points' terms: Λ_r = Λ − Σ_e J_i, h_r = h − Σ_e j_i. This is the
// ground truth every approximate method is tested against.
#include <torch/torch.h>

#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"

namespace unlearn {

/// Natural parameters of a Gaussian (or of a Gaussian likelihood term in θ).
struct NaturalParams {
  torch::Tensor precision;  ///< [P, P]
  torch::Tensor shift;      ///< [P] (= precision · mean for a Gaussian)
};

/// A model whose likelihood is Gaussian in θ implements this next to unlearn::Model, so that
/// exact posteriors and exact unlearning are available for it.
class ConjugateGaussianLikelihood {
 public:
  virtual ~ConjugateGaussianLikelihood() = default;
  /// Σ_i over the batch of the natural parameters that log p(y_i | x_i, θ) contributes.
  virtual NaturalParams likelihood_natural_params(const data::Batch& batch) = 0;
};

/// The exact posterior p(θ | batch) ∝ p(θ) Π p(y_i | x_i, θ) as (mean, covariance).
/// The model must have a Gaussian prior and implement ConjugateGaussianLikelihood.
std::pair<torch::Tensor, torch::Tensor> exact_conjugate_posterior(Model& model,
                                                                  const data::Batch& batch);

namespace functional {
/// (mean, covariance) of the Gaussian whose natural parameters are `np` (Cholesky-based).
std::pair<torch::Tensor, torch::Tensor> moments_from_natural(const NaturalParams& np);
/// Natural parameters of N(mean, covariance).
NaturalParams natural_from_moments(const torch::Tensor& mean, const torch::Tensor& covariance);
}  // namespace functional

/// Exact unlearning: given p(θ|D) as a Gaussian posterior module and the erased batch, returns
/// a new posterior (same family) equal to p(θ|D_r). The input is unchanged.
/// Errors if the remaining precision is not positive definite (q was not the exact posterior).
std::shared_ptr<GaussianPosteriorImpl> exact_unlearn(Model& model,
                                                     const GaussianPosteriorImpl& posterior,
                                                     const data::Batch& erased);

}  // namespace unlearn
