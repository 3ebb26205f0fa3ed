#pragma once
// How a run's posterior was trained, and training by that recipe: the one retrain of the library
// (docs/architecture.md, "Retraining"). Retraining on the data that remain is the reference every
// forgetting method is judged by; the command's `forget --method retrain`, every study's target
// and the fine-tuning baselines all call train_posterior.
//
//   auto recipe = unlearn::TrainingRecipe()
//                     .method(unlearn::TrainingMethod::kVI)
//                     .vi(inference::VIOptions().steps(30000).num_samples(1000).lr(1e-3))
//                     .fresh_posterior([&] { return std::make_shared<FullRankGaussianImpl>(GaussianOptions(P)); });
//   auto q_r = unlearn::train_posterior(model, recipe, remaining, TrainStart().from(q_full));  // VBU protocol
//   auto chain = unlearn::train_posterior(model, chain_recipe, remaining);                     // fresh chain
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "unlearn/data/dataset.h"
#include "unlearn/inference/data_parallel.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/inference/vi.h"
#include "unlearn/model.h"
#include "unlearn/progress.h"
#include "unlearn/unlearning/posterior_state.h"

namespace unlearn {

/// How a posterior is trained.
enum class TrainingMethod {
  kExact,  ///< the closed-form posterior of a conjugate model (ConjugateGaussianLikelihood)
  kVI,     ///< variational inference (inference::VITrainer)
  kSGLD,   ///< an SGLD chain and its sample bank
  kSGHMC,  ///< an SGHMC chain and its sample bank
};
/// "exact", "vi", "sgld", "sghmc" (the names of a run config's train.method).
std::string to_string(TrainingMethod method);
/// Inverse of to_string; an unknown name is an error listing the allowed ones.
TrainingMethod training_method_from_string(const std::string& name);
/// Whether the method trains an SG-MCMC chain (the posterior is a sample bank).
inline bool is_sgmcmc(TrainingMethod method) {
  return method == TrainingMethod::kSGLD || method == TrainingMethod::kSGHMC;
}

/// Everything that decides a training run, so that it can be replayed on other data.
struct TrainingRecipe {
  /// How the posterior is trained: exact conjugate update, VI, or an SGLD / SGHMC chain.
  TORCH_ARG(TrainingMethod, method) = TrainingMethod::kVI;
  /// VI: the trainer's options (steps, samples, optimiser, seed, ...).
  TORCH_ARG(inference::VIOptions, vi) = {};
  /// SG-MCMC: the chain's options; its sampler must match `method`.
  TORCH_ARG(inference::SGMCMCOptions, sgmcmc) = {};
  /// VI and exact: a fresh posterior of the run's family, initial scale and initial mean (training
  /// "from scratch"). Required for those methods.
  TORCH_ARG(std::function<std::shared_ptr<GaussianPosteriorImpl>()>, fresh_posterior) = nullptr;
  /// SG-MCMC: where the chain starts (undefined: the model's init_theta()).
  TORCH_ARG(torch::Tensor, init_theta) = {};
  /// VI: run after the optimiser's last step on the same data (e.g. polishing the BIF energy to
  /// its exact minimiser); null: nothing.
  TORCH_ARG(std::function<void(Model&, GaussianPosteriorImpl&, const data::Dataset&)>, finish) = nullptr;

 public:
  /// TORCH_CHECKs that the recipe is complete for its method (names what is missing).
  void validate() const;
};

/// Where a training run starts and what it reports.
struct TrainStart {
  /// VI: continue from (a copy of) this posterior instead of a fresh one — the VBU papers'
  /// protocol retrains q(θ|D_r) starting at q(θ|D). Ignored by the other methods.
  TORCH_ARG(std::shared_ptr<GaussianPosteriorImpl>, from) = nullptr;
  /// Replaces the recipe's seed (VI and SG-MCMC).
  TORCH_ARG(std::optional<uint64_t>, seed) = std::nullopt;
  /// Data parallel: `data` is the index set and these are its hooks (distributed::
  /// shard_for_training); empty: one process.
  TORCH_ARG(inference::DataParallel, parallel) = {};
  /// Progress: stage `stage`, one report every progress_every steps (0: about 20 in all).
  TORCH_ARG(ProgressFn, on_progress) = nullptr;
  /// Steps between progress reports (>= 0; 0: total / 20, at least 1).
  TORCH_ARG(int64_t, progress_every) = 0;
  /// ProgressEvent::stage of the reports ("train"; the retrain method uses "retrain").
  TORCH_ARG(std::string, stage) = "train";
};

/// Trains a posterior on `data` by `recipe`: VI from `start.from` or a fresh posterior, a chain
/// from the recipe's starting point, or the exact conjugate posterior. The model's
/// hyper-parameters are left alone unless the recipe's VIOptions train them.
PosteriorState train_posterior(Model& model, const TrainingRecipe& recipe, const data::Dataset& data,
                               const TrainStart& start = {});

}  // namespace unlearn
