#include "unlearn/unlearning/bif/vi_bif.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <utility>

#include "unlearn/data/sampler.h"
#include "unlearn/random/normal.h"

namespace unlearn::bif {
namespace {

using Clock = std::chrono::steady_clock;

void check_energy_options(const ViEnergyOptions& o) {
  TORCH_CHECK(o.mc_samples() >= 1, "VI-BIF: mc_samples = ", o.mc_samples(), " must be >= 1");
  TORCH_CHECK(o.hvp_batch_size() >= 0, "VI-BIF: hvp_batch_size = ", o.hvp_batch_size(),
              " must be >= 0 (0 = full data)");
}

}  // namespace

FlatParameters variational_parameters(GaussianPosteriorImpl& posterior) {
  TORCH_CHECK(posterior.runs() == 0, "VI-BIF: posteriors with runs (R = ", posterior.runs(),
              ") are not supported; select_run first");
  if (auto* full = dynamic_cast<FullRankGaussianImpl*>(&posterior)) {
    const int64_t p = full->dim();
    auto mask = torch::ones({p, p}, torch::TensorOptions().dtype(torch::kBool)).tril();
    return FlatParameters({full->loc(), full->raw_tril()}, {torch::Tensor(), mask});
  }
  if (auto* mf = dynamic_cast<MeanFieldGaussianImpl*>(&posterior)) {
    return FlatParameters({mf->loc(), mf->rho()});
  }
  return FlatParameters(posterior.parameters());
}

// ---- ViEnergy ----------------------------------------------------------------------------------

ViEnergy::ViEnergy(Model& model, GaussianPosteriorImpl& posterior, const ViEnergyOptions& options,
                   ExpectedLogLikelihood closed_form)
    : model_(&model),
      posterior_(&posterior),
      options_(options),
      closed_form_(std::move(closed_form)),
      gamma_(variational_parameters(posterior)) {
  check_energy_options(options_);
  TORCH_CHECK(posterior.dim() == model.num_params(), "VI-BIF: the posterior has ",
              posterior.dim(), " dimensions, the model ", model.num_params(), " parameters");
}

void ViEnergy::draw_noise(torch::Generator& gen) {
  const int64_t s = options_.mc_samples();
  const int64_t p = posterior_->dim();
  auto opts = posterior_->loc().options().requires_grad(false);
  // Drawn on the generator's device (the CPU one for a CUDA posterior), then moved.
  auto noise = standard_normal({s, p}, opts, gen);
  if (options_.moment_matched_noise()) {
    TORCH_CHECK(s > p, "VI-BIF: moment_matched_noise needs mc_samples > P, got mc_samples = ", s,
                " and P = ", p);
    auto centred = noise - noise.mean(0, /*keepdim=*/true);
    auto second = torch::matmul(centred.t(), centred) / static_cast<double>(s);
    auto chol = torch::linalg_cholesky(second);
    // noise = centred L⁻ᵀ, so that noiseᵀ noise / S = L⁻¹ C L⁻ᵀ = I exactly.
    noise = torch::linalg_solve_triangular(chol, centred.t(), /*upper=*/false).t().contiguous();
  }
  noise_ = noise;
}

void ViEnergy::set_noise(torch::Tensor noise) {
  TORCH_CHECK(noise.dim() == 2 && noise.size(1) == posterior_->dim(), "VI-BIF: noise must be [S, ",
              posterior_->dim(), "], got ", noise.sizes());
  noise_ = std::move(noise);
}

torch::Tensor ViEnergy::kl() const {
  if (auto prior = model_->gaussian_prior()) return posterior_->kl_divergence(*prior);
  TORCH_CHECK(noise_.defined(), "VI-BIF: draw_noise before evaluating the energy");
  auto theta = posterior_->transform(noise_);
  return -posterior_->entropy() - model_->log_prior(theta).mean();
}

torch::Tensor ViEnergy::h(const data::Batch& batch) const {
  if (closed_form_) {
    auto ell = closed_form_(*posterior_, batch);
    TORCH_CHECK(ell.dim() == 1 && ell.size(0) == batch.size(),
                "VI-BIF: the closed-form expected log-likelihood must be [", batch.size(),
                "], got ", ell.sizes());
    return -ell;
  }
  TORCH_CHECK(noise_.defined(), "VI-BIF: draw_noise before evaluating the energy");
  auto theta = posterior_->transform(noise_);                // [S, P]
  return -model_->log_likelihood(theta, batch).mean(0);      // [B]
}

torch::Tensor ViEnergy::energy(const data::Batch& batch, int64_t n) const {
  TORCH_CHECK(batch.size() >= 1, "VI-BIF: empty batch");
  TORCH_CHECK(n >= batch.size(), "VI-BIF: n = ", n, " is smaller than the batch (", batch.size(),
              ")");
  const double scale = static_cast<double>(n) / static_cast<double>(batch.size());
  // Data parallel: this rank's rows ×W·n/|b|; the mean over the ranks is the one-process energy.
  auto [local, factor] = inference::detail::local_share(options_.parallel(), batch, scale);
  return kl() + factor * h(local).sum();
}

torch::Tensor ViEnergy::h_sum_gradient(const data::Batch& batch) const {
  torch::AutoGradMode grad_mode(true);
  const auto& parallel = options_.parallel();
  auto [local, factor] = inference::detail::local_share(parallel, batch, 1.0);
  // Data parallel: the mean of W·(local sums) over the ranks is the sum over every rank's rows.
  return inference::detail::averaged(parallel, gamma_.gradient(factor * h(local).sum()).detach());
}

EnergyFn ViEnergy::energy_fn(const data::Dataset& data, uint64_t seed) const {
  TORCH_CHECK(data.size() >= 1, "VI-BIF: the energy needs a non-empty data set");
  std::shared_ptr<data::MinibatchSampler> sampler;
  const int64_t bs = options_.hvp_batch_size();
  if (bs > 0 && bs < data.size()) {
    sampler = std::make_shared<data::MinibatchSampler>(data, data::MinibatchSamplerOptions(bs), seed);
  }
  return [this, data, sampler](int64_t term) {
    if (term == kFullHessian || !sampler) return energy(data.batch(), data.size());
    return energy(sampler->next(), data.size());
  };
}

torch::Tensor ViEnergy::minimise(const data::Dataset& data, int64_t max_iter, double tolerance_grad,
                                double tolerance_change) const {
  TORCH_CHECK(data.size() >= 1, "VI-BIF: minimise needs a non-empty data set");
  torch::optim::LBFGS opt(posterior_->parameters(), torch::optim::LBFGSOptions(1)
                                                        .max_iter(max_iter)
                                                        .tolerance_grad(tolerance_grad)
                                                        .tolerance_change(tolerance_change)
                                                        .history_size(20)
                                                        .line_search_fn("strong_wolfe"));
  auto batch = data.batch();
  const auto& parallel = options_.parallel();
  const auto trained = posterior_->parameters();
  opt.step([&] {
    opt.zero_grad();
    auto f = energy(batch, data.size());
    f.backward();
    // Data parallel: every rank steps with the averaged gradient and objective (the same bytes).
    return parallel ? inference::detail::average_step(parallel, trained, f) : f.detach();
  });
  torch::NoGradGuard no_grad;
  return inference::detail::averaged(parallel, energy(batch, data.size()));
}

// ---- the step ----------------------------------------------------------------------------------

BifStep vi_bif_step(Model& model, GaussianPosteriorImpl& posterior, const data::Dataset& current,
                    const data::Batch& removed, const ViBifOptions& options, torch::Generator& gen,
                    const ExpectedLogLikelihood& closed_form) {
  TORCH_CHECK(options.lissa_c() >= 0, "VI-BIF: lissa_c = ", options.lissa_c(), " must be >= 0");
  TORCH_CHECK(removed.size() >= 1, "VI-BIF: the removal batch is empty");
  TORCH_CHECK(current.size() > removed.size(), "VI-BIF: removing ", removed.size(),
              " points from a set of ", current.size(), " leaves nothing");
  current.positions_of(removed.ids);  // every removed id must still be in the set

  ViEnergy energy(model, posterior, options.energy(), closed_form);
  energy.draw_noise(gen);
  const auto seed = static_cast<uint64_t>(
      torch::randint(std::numeric_limits<int64_t>::max(), {1}, gen,
                     torch::TensorOptions(torch::kLong).device(gen.device())).item<int64_t>());

  BifStep step;
  step.gradient = energy.h_sum_gradient(removed);
  InverseHvpOptions solver = options.solver();
  if (const auto& parallel = options.energy().parallel()) solver.average(parallel.average);
  if (options.lissa_c() > 0) {
    solver.lissa().scale(options.lissa_c() / static_cast<double>(current.size()));
  }
  step.solve = solve_inverse_hvp(energy.energy_fn(current, seed), energy.gamma(), step.gradient,
                                 solver);
  energy.gamma().add_(step.solve.solution);
  return step;
}

}  // namespace unlearn::bif
