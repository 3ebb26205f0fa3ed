#include "unlearn/unlearning/exact_conjugate.h"

#include "unlearn/posterior/functional.h"

namespace unlearn {
namespace {

ConjugateGaussianLikelihood& conjugate_likelihood(Model& model) {
  auto* conj = dynamic_cast<ConjugateGaussianLikelihood*>(&model);
  TORCH_CHECK(conj != nullptr, "exact unlearning needs a conjugate Gaussian model; '",
              model.architecture(), "' does not implement ConjugateGaussianLikelihood");
  return *conj;
}

NaturalParams prior_natural_params(Model& model) {
  auto prior = model.gaussian_prior();
  TORCH_CHECK(prior.has_value(), "exact posterior needs a Gaussian prior; '", model.architecture(),
              "' has none");
  auto cov = torch::matmul(prior->scale_tril, prior->scale_tril.t());
  return functional::natural_from_moments(prior->loc, cov);
}

}  // namespace

namespace functional {

std::pair<torch::Tensor, torch::Tensor> moments_from_natural(const NaturalParams& np) {
  auto chol = cholesky_or_throw(np.precision, "precision matrix");
  // Σ = Λ⁻¹ and μ = Λ⁻¹ h through the Cholesky factor: symmetric to rounding by construction.
  auto eye = torch::eye(np.precision.size(0), np.precision.options());
  auto cov = torch::cholesky_solve(eye, chol);
  cov = 0.5 * (cov + cov.t());
  auto mean = torch::cholesky_solve(np.shift.unsqueeze(-1), chol).squeeze(-1);
  return {mean, cov};
}

NaturalParams natural_from_moments(const torch::Tensor& mean, const torch::Tensor& covariance) {
  auto chol = cholesky_or_throw(covariance, "covariance matrix");
  auto eye = torch::eye(covariance.size(0), covariance.options());
  auto precision = torch::cholesky_solve(eye, chol);
  precision = 0.5 * (precision + precision.t());
  return {precision, torch::matmul(precision, mean)};
}

}  // namespace functional

std::pair<torch::Tensor, torch::Tensor> exact_conjugate_posterior(Model& model,
                                                                  const data::Batch& batch) {
  torch::NoGradGuard no_grad;
  auto prior = prior_natural_params(model);
  auto lik = conjugate_likelihood(model).likelihood_natural_params(batch);
  return functional::moments_from_natural(
      {prior.precision + lik.precision, prior.shift + lik.shift});
}

std::shared_ptr<GaussianPosteriorImpl> exact_unlearn(Model& model,
                                                     const GaussianPosteriorImpl& posterior,
                                                     const data::Batch& erased) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(posterior.runs() == 0, "exact_unlearn takes a posterior without runs, got ",
              posterior.runs(), " runs");
  TORCH_CHECK(erased.size() > 0, "exact_unlearn: the erased batch is empty");
  auto full = functional::natural_from_moments(posterior.mean(), posterior.covariance());
  auto lik = conjugate_likelihood(model).likelihood_natural_params(erased);
  NaturalParams remaining{full.precision - lik.precision, full.shift - lik.shift};
  auto [factor, info] = torch::linalg_cholesky_ex(remaining.precision);
  TORCH_CHECK(info.item<int64_t>() == 0,
              "exact_unlearn: the precision left after removing ", erased.size(),
              " points is not positive definite: the posterior was not the exact conjugate "
              "posterior of data containing them");
  auto [mean, cov] = functional::moments_from_natural(remaining);
  auto out = posterior.copy();
  out->set_moments(mean.to(posterior.loc().scalar_type()), cov.to(posterior.loc().scalar_type()));
  return out;
}

}  // namespace unlearn
