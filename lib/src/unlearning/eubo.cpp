#include "unlearn/unlearning/eubo.h"

#include <cmath>

#include "unlearn/unlearning/adjusted_likelihood.h"
#include "vbu_internal.h"

namespace unlearn {
namespace F = functional;

torch::Tensor functional::eubo_estimate(const torch::Tensor& adjusted_log_lik,
                                        const torch::Tensor& log_q_u,
                                        const torch::Tensor& log_q_full) {
  return (adjusted_log_lik + log_q_u - log_q_full).mean(-1);
}

EuboObjective::EuboObjective(Model& model, const GaussianPosteriorImpl& q_full,
                             const data::Batch& erased, c10::ArrayRef<double> lambdas,
                             int64_t chunk_size)
    : EuboObjective(model, q_full, erased, LogLambdas{F::resolve_log_lambdas(lambdas, {})}, chunk_size) {}

EuboObjective::EuboObjective(Model& model, const GaussianPosteriorImpl& q_full,
                             const data::Batch& erased, const LogLambdas& log_lambdas,
                             int64_t chunk_size)
    : model_(&model),
      full_(std::make_shared<detail::FixedGaussian>(q_full)),
      chunks_(F::chunk_batch(erased, chunk_size)) {
  detail::check_inputs("EuboObjective", model, q_full, erased);
  log_lambda_ = F::log_lambda_tensor(log_lambdas, q_full.loc().options());
  for (double l : log_lambdas.values) needs_mask_ = needs_mask_ || !std::isinf(l);
}

EuboObjective::Terms EuboObjective::operator()(const GaussianPosteriorImpl& q_u,
                                               const torch::Tensor& noise) const {
  return evaluate(q_u, noise, chunks_, 1.0);
}

EuboObjective::Terms EuboObjective::evaluate(const GaussianPosteriorImpl& q_u,
                                             const torch::Tensor& noise,
                                             const std::vector<data::Batch>& chunks,
                                             double scale) const {
  const int64_t runs = log_lambda_.size(0);
  const detail::FixedGaussian& full = *full_;
  const int64_t dim = full.dim;
  TORCH_CHECK(q_u.runs() == runs, "EUBO: q_u has ", q_u.runs(), " runs for ", runs, " lambdas");
  TORCH_CHECK(q_u.dim() == dim, "EUBO: q_u has ", q_u.dim(), " dimensions, q(θ|D) ", dim);
  TORCH_CHECK(detail::is_diagonal(q_u, "EUBO") == full.diagonal,
              "EUBO: q_u and q(θ|D) must be of the same family");
  TORCH_CHECK(noise.dim() == 2 && noise.size(1) == dim, "EUBO: noise must be [S, ", dim,
              "] (shared by the runs), got ", noise.sizes());
  const int64_t samples = noise.size(0);
  const double inv_s = 1.0 / static_cast<double>(samples);

  auto f = detail::GaussianFactor::of(q_u);
  // θ_rs = loc_r + L_r ε_s for every run in one product, sample-major [S, R·P]; the model sees
  // the S·R samples as one batch [S·R, P].
  auto theta = detail::affine_all_runs(noise, f.loc, f.scale, f.diagonal);
  auto flat_theta = theta.reshape({samples * runs, dim});
  auto log_lik = (erased_log_likelihood_ ? erased_log_likelihood_(*model_, flat_theta, chunks)
                                         : F::erased_log_likelihood(*model_, flat_theta, chunks))
                     .view({samples, runs})
                     .t();  // [R, S]
  if (scale != 1.0) log_lik = log_lik * scale;

  // log q(θ_rs|D) through the whitened sample z_rs = L_D⁻¹(θ_rs − loc_D) = b_r + A_r ε_s with
  // b_r = L_D⁻¹(loc_r − loc_D), A_r = L_D⁻¹ L_r. Its sample mean needs only ε̄ and E = mean ε εᵀ:
  //   mean_s ‖z_rs‖² = ‖b_r‖² + 2 b_rᵀ A_r ε̄ + tr(A_r E A_rᵀ)   (exact for this noise),
  // so the gradient path of this term is [R, P, P]-sized.
  torch::Tensor b, a, mean_sq, mean_noise_sq;
  {
    auto eps_mean = noise.mean(0);  // [P]
    if (full.diagonal) {
      b = (f.loc - full.loc) * full.inv_scale;  // [R, P]
      a = f.scale * full.inv_scale;             // [R, P] (A is diagonal)
      auto eps_sq_mean = noise.square().mean(0);
      mean_noise_sq = eps_sq_mean.sum();
      mean_sq = (b.square() + 2.0 * b * a * eps_mean + a.square() * eps_sq_mean).sum(-1);
    } else {
      b = torch::matmul(f.loc - full.loc, full.inv_scale);  // rows: (L_D⁻¹(loc_r − loc_D))ᵀ
      a = torch::matmul(full.inv_tril, f.scale);            // [R, P, P]
      auto second = torch::mm(noise.t(), noise) * inv_s;    // E [P, P]
      mean_noise_sq = second.trace();
      mean_sq = b.square().sum(-1) +
                2.0 * (b * torch::matmul(a, eps_mean)).sum(-1) +
                (torch::matmul(a, second) * a).sum({-2, -1});
    }
  }
  auto mean_log_q_full = full.log_prob_mode - 0.5 * mean_sq;  // [R]

  // log q_u(θ_s) = log N(ε_s; 0, I) − log|det L_u|: the density at θ_s and its total
  // derivative (θ_s = loc + L ε_s), without a solve.
  auto mean_log_q_u = -f.half_log_det() - 0.5 * static_cast<double>(dim) * detail::kLog2Pi -
                      0.5 * mean_noise_sq;

  // The adjusted likelihood, per sample (no gradient): log q(θ_rs|D) − log q(mode|D) = −½‖z_rs‖²,
  // so the log-space test is the Mahalanobis test ‖z_rs‖² < 2 ln(1/λ_r).
  torch::Tensor inside, mean_adjusted;
  if (needs_mask_) {
    {
      torch::NoGradGuard no_grad;
      auto z = detail::affine_all_runs(noise, b.detach(), a.detach(), full.diagonal);  // [S, R·P]
      auto m2 = z.square().reshape({samples, runs, dim}).sum(-1).t();                 // [R, S]
      inside = F::gaussian_adjusted_likelihood_mask(m2, log_lambda_);
    }
    mean_adjusted = torch::where(inside, log_lik, 0.0).mean(-1);
  } else {  // every λ is 0: every sample keeps its likelihood
    inside = torch::ones({runs, samples}, noise.options().dtype(torch::kBool));
    mean_adjusted = log_lik.mean(-1);
  }
  return {mean_adjusted + mean_log_q_u - mean_log_q_full, inside};
}

VbuResult eubo_unlearn(Model& model, const GaussianPosteriorImpl& q_full,
                       const data::Batch& erased, const EuboOptions& options) {
  options.validate("eubo_unlearn");
  const auto thresholds = functional::resolve_log_lambdas(options.lambdas(), options.log_lambdas());
  detail::check_inputs("eubo_unlearn", model, q_full, erased);

  TORCH_CHECK(!options.erased_log_likelihood() || options.erased_batch_size() == 0,
              "eubo_unlearn: data-parallel runs need erased_batch_size = 0, got ", options.erased_batch_size());
  EuboObjective objective(model, q_full, erased, LogLambdas{thresholds}, options.chunk_size());
  objective.set_erased_log_likelihood(options.erased_log_likelihood());
  auto q_u = q_full.replicate(static_cast<int64_t>(thresholds.size()));
  auto step = [&](const torch::Tensor& noise, const std::vector<data::Batch>& chunks,
                  double scale) {
    auto terms = objective.evaluate(*q_u, noise, chunks, scale);
    return detail::StepOutput{terms.objective.sum(), terms.objective.detach(), terms.inside, {}};
  };
  auto result = detail::run_adam(q_u, options, erased, step);
  result.method = "eubo";
  return result;
}

}  // namespace unlearn
