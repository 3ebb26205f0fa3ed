#pragma once
// The built-in forgetting methods as Unlearners (unlearner.h), for library users who prefer typed
// options to JSON. The method registry (method_registry.h) builds the same objects from JSON:
// `make_unlearner("bif", {{"solver", "cg"}})` is `bif_unlearner(BifOptions())` with that option.
//
//   name        posterior            what it does
//   exact       exact Gaussian       p(θ|D_r) ∝ p(θ|D) / p(D_e|θ), in natural parameters
//   eubo        Gaussian             EUBO with the adjusted likelihood (eubo.h)
//   rkl         Gaussian             reverse KL with the adjusted likelihood, by Adam (reverse_kl.h)
//   rkl_closed  Gaussian             its closed-form optimum from weighted samples (reverse_kl.h)
//   bif         Gaussian or chain    one Newton step on the VI / SG-MCMC energy (bif/)
//   retrain     any                  the training recipe replayed on D_r (training.h)
//
// Every method takes its seed, progress callback and data-parallel hooks from the ForgetContext.
#include <memory>
#include <optional>

#include "unlearn/unlearning/bif/sgmcmc_bif.h"
#include "unlearn/unlearning/bif/vi_bif.h"
#include "unlearn/unlearning/eubo.h"
#include "unlearn/unlearning/reverse_kl.h"
#include "unlearn/unlearning/unlearner.h"

namespace unlearn {

/// exact: needs the exact posterior of a model with a Gaussian prior that implements
/// ConjugateGaussianLikelihood (PosteriorState::exact()).
std::unique_ptr<Unlearner> exact_unlearner();

/// eubo: every threshold of options.lambdas / log_lambdas in one batched call; the first is the
/// result's state, all are its variants. The options' seed, erased_log_likelihood and on_progress
/// are replaced by the context's.
std::unique_ptr<Unlearner> eubo_unlearner(EuboOptions options = {});
/// rkl: as eubo, with ReverseKlOptions.
std::unique_ptr<Unlearner> reverse_kl_unlearner(ReverseKlOptions options = {});
/// rkl_closed: as eubo, with ReverseKlClosedFormOptions.
std::unique_ptr<Unlearner> reverse_kl_closed_form_unlearner(ReverseKlClosedFormOptions options = {});

/// Where the Hessians of SG-MCMC BIF come from.
enum class HessianSource {
  kAuto,        ///< the model's closed form where it has one (Model::has_likelihood_hessians), else autograd
  kAutograd,    ///< double backward
  kClosedForm,  ///< the model's closed form (an error where it has none)
};
/// "auto", "autograd", "closed_form".
std::string to_string(HessianSource source);
/// Inverse of to_string; an unknown name is an error listing the allowed ones.
HessianSource hessian_source_from_string(const std::string& name);

/// The energy of VI BIF: h(γ, z) = −E_q log p(z | θ) by Monte Carlo, or the model's closed form.
enum class ViEnergyForm { kMonteCarlo, kClosedForm };
/// "monte_carlo", "closed_form".
std::string to_string(ViEnergyForm form);
/// Inverse of to_string; an unknown name is an error listing the allowed ones.
ViEnergyForm vi_energy_form_from_string(const std::string& name);

/// Options of the "bif" method (bif_unlearner): the VI and SG-MCMC BIF settings and how the
/// energy, noise and Hessians are chosen; a step that diverges stops the request by default.
struct BifOptions {
  /// VI posteriors: the energy's Monte Carlo settings, the solver and LiSSA's c (vi_bif.h). Its
  /// energy().parallel is replaced by the context's hooks.
  TORCH_ARG(bif::ViBifOptions, vi) = bif::ViBifOptions().lissa_c(1.0);
  /// SG-MCMC chains: sampler steps, curvature, the solver and LiSSA's c (sgmcmc_bif.h). Its
  /// parallel and likelihood_hessians are set from the context and `hessian`; minibatch_size −1
  /// takes the chain's batch size from the context's training recipe.
  TORCH_ARG(bif::SgmcmcBifOptions, sgmcmc) = bif::SgmcmcBifOptions().lissa_c(1.0);
  /// VI: centre and whiten the Monte Carlo noise (exact E_q of quadratics); nullopt: when
  /// mc_samples > P.
  TORCH_ARG(std::optional<bool>, moment_matched_noise) = std::nullopt;
  /// VI: the energy's form.
  TORCH_ARG(ViEnergyForm, vi_energy) = ViEnergyForm::kMonteCarlo;
  /// VI: draw the same common random numbers for every batch (a fresh generator seeded with the
  /// context's seed each time) instead of new ones from the request's generator.
  TORCH_ARG(bool, fixed_noise) = false;
  /// SG-MCMC: where the Hessians come from.
  TORCH_ARG(HessianSource, hessian) = HessianSource::kAuto;
  /// A step that is not finite, or whose solve has a relative residual above 1, is an error that
  /// says how to fix the solver (true), or is kept and reported (false: a study that records
  /// divergence).
  TORCH_ARG(bool, stop_on_divergence) = true;
};
/// bif: one Newton step per batch on the VI energy (Gaussian posteriors) or the SG-MCMC energy
/// (chains: the chain and every sample of the bank are corrected).
std::unique_ptr<Unlearner> bif_unlearner(BifOptions options = {});

/// Where retraining starts.
enum class RetrainStart {
  kAuto,    ///< VI: from q(θ|D) (the VBU papers' protocol); chains and exact: fresh
  kOrigin,  ///< from the posterior being forgotten from (VI only)
  kFresh,   ///< from the recipe's fresh posterior / chain start
};
/// "auto", "origin", "fresh".
std::string to_string(RetrainStart start);
/// Inverse of to_string; an unknown name is an error listing the allowed ones.
RetrainStart retrain_start_from_string(const std::string& name);

/// Options of the "retrain" method (retrain_unlearner): where retraining starts and its seed.
struct RetrainOptions {
  /// Where the retraining run starts (see RetrainStart).
  TORCH_ARG(RetrainStart, start) = RetrainStart::kAuto;
  /// The seed of the retraining run; nullopt: the recipe's (the run's own training seed).
  TORCH_ARG(std::optional<uint64_t>, seed) = std::nullopt;
};
/// retrain: the context's training recipe on the data that remain (the reference every other
/// method is judged by). Needs ForgetContext::training.
std::unique_ptr<Unlearner> retrain_unlearner(RetrainOptions options = {});

}  // namespace unlearn
