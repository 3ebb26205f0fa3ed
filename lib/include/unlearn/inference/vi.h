#pragma once
// Variational inference on the model contract (docs/architecture.md, "The model contract"; docs/concepts.md): maximise the Monte Carlo ELBO
//
//   ELBO(q) = mean_s [ (N/B) Σ_{i ∈ batch} log p(y_i | x_i, θ_s) + log p(θ_s) − log q(θ_s) ],
//   θ_s = loc + L ε_s  (reparameterised, S samples drawn in ONE batched model call),
//
// or, with analytic_kl, mean_s[(N/B) Σ log p(y_i | x_i, θ_s)] − KL(q ‖ p) in closed form (needs
// model.gaussian_prior()). N is the data set's size and B the batch's: full batch gives N/B = 1.
// Gradients flow through θ_s in every term. The model's own torch parameters (type-II
// hyper-parameters) are optimised jointly when asked, else left alone (no gradient is even
// computed for them).
//
// Runs: a posterior with a run dimension R trains R independent posteriors at once. Noise is
// [R, S, P]; θ is flattened to [R·S, P] for one model call; the objective is per run [R] and the
// optimiser minimises its sum, so no run's gradient depends on another's (Adam is elementwise).
//
//   auto q = std::make_shared<FullRankGaussianImpl>(GaussianOptions(model->num_params()));
//   VITrainer trainer(model, q, dataset, VIOptions().num_samples(1000).steps(30000).lr(1e-3).seed(7));
//   trainer.train(TrainingCallbacks().every(1000).on_step(print));
//
// Determinism: one generator per trainer (seeded from options.seed, or given) draws the noise and
// the minibatches. save_state / load_state carry it with the posterior, the optimizer (state and
// options), the minibatch position and the step counter: a run saved at step k, reloaded into
// fresh objects and continued is bit-identical to an uninterrupted one.
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "unlearn/data/dataset.h"
#include "unlearn/data/sampler.h"
#include "unlearn/inference/callbacks.h"
#include "unlearn/inference/data_parallel.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"

namespace unlearn::inference {

/// The optimisers VI can use.
enum class Optimizer { kAdam, kSGD };
/// "adam" or "sgd" (the names configs and checkpoints use).
std::string to_string(Optimizer optimizer);
/// Inverse of to_string; an unknown name is an error listing the allowed ones.
Optimizer optimizer_from_string(const std::string& name);

/// Everything a VITrainer needs besides the model, posterior and data: Monte Carlo samples S,
/// steps, minibatch size, the KL and likelihood estimators, the optimiser and its schedule, the seed.
struct VIOptions {
  /// S: Monte Carlo samples per step, all in one batched model call (>= 1).
  TORCH_ARG(int64_t, num_samples) = 100;
  /// The step counter train() runs up to (a resumed trainer continues towards it; >= 0).
  TORCH_ARG(int64_t, steps) = 1000;
  /// Rows per minibatch, drawn without replacement epoch by epoch; 0 (or >= N): full batch.
  TORCH_ARG(int64_t, batch_size) = 0;
  /// Closed-form KL(q ‖ p) instead of the Monte Carlo log p(θ) − log q(θ) (needs a Gaussian prior).
  TORCH_ARG(bool, analytic_kl) = false;
  /// The expected log-likelihood by the model's local reparameterisation trick
  /// (Model::local_reparameterised_log_likelihood) instead of drawing θ: needs a mean-field
  /// posterior without runs, analytic_kl and a model that has it (the Bayesian networks).
  TORCH_ARG(bool, local_reparameterisation) = false;
  /// Also optimise the model's torch parameters (type-II maximum likelihood). Not with runs.
  TORCH_ARG(bool, train_hyperparameters) = false;
  /// The optimiser of the posterior's (and hyper-parameters') parameters.
  TORCH_ARG(Optimizer, optimizer) = Optimizer::kAdam;
  /// Learning rate of the posterior's parameters (> 0).
  TORCH_ARG(double, lr) = 1e-3;
  /// Step decay of every learning rate: ×lr_decay after every lr_decay_every steps (0: constant;
  /// the BIF paper's SGD schedule is ×0.1 every 4000 steps).
  TORCH_ARG(int64_t, lr_decay_every) = 0;
  /// The factor of that decay, in (0, 1].
  TORCH_ARG(double, lr_decay) = 1.0;
  /// Learning rate of the hyper-parameters (0: the same as lr).
  TORCH_ARG(double, hyper_lr) = 0.0;
  /// Adam's β₁ ∈ [0, 1).
  TORCH_ARG(double, beta1) = 0.9;
  /// Adam's β₂ ∈ [0, 1).
  TORCH_ARG(double, beta2) = 0.999;
  /// Adam's ε (>= 0).
  TORCH_ARG(double, eps) = 1e-8;
  /// SGD's momentum ∈ [0, 1).
  TORCH_ARG(double, momentum) = 0.0;
  /// Seed of the trainer's own generator (ignored when a generator is given).
  TORCH_ARG(uint64_t, seed) = 0;

 public:
  /// TORCH_CHECKs every field, naming the value.
  void validate() const;
};

/// The negative ELBO per run: [] without runs, [R] with. `noise` is standard-normal [S, P] or
/// [R, S, P] (the posterior's sample_noise shape); `data_scale` is N/B. With `analytic_prior`
/// the KL term is closed-form; otherwise log p(θ) − log q(θ) is averaged over the samples, with
/// log q(θ_s) = log q(loc) − ½‖ε_s‖² (exact for θ_s = loc + L ε_s, gradient included, and
/// cheaper than a triangular solve). Differentiable in the posterior's and the model's parameters.
torch::Tensor negative_elbo(Model& model, const GaussianPosteriorImpl& posterior, const data::Batch& batch,
                            double data_scale, const torch::Tensor& noise,
                            const std::optional<GaussianPrior>& analytic_prior = std::nullopt);

/// Variational inference: fits a Gaussian posterior q (optionally with R runs) by minimising the
/// N/B-scaled negative ELBO with Adam or SGD over minibatches, with checkpointing of every piece.
class VITrainer {
 public:
  /// `data` must live on the model's device. Without `generator`, the trainer owns a CPU
  /// generator seeded with options.seed(); for a posterior on a GPU pass a generator there.
  VITrainer(std::shared_ptr<Model> model, std::shared_ptr<GaussianPosteriorImpl> posterior, data::Dataset data,
            VIOptions options, std::optional<torch::Generator> generator = std::nullopt);

  /// One optimisation step. Returns this step's objective (negative ELBO estimate, [] or [R],
  /// detached); reading it is left to the caller (no host sync here).
  torch::Tensor step();
  /// Steps until step_count() == options.steps() or a callback says stop; returns step_count().
  int64_t train(const TrainingCallbacks& callbacks = {});

  /// Steps taken so far (restored by load_state).
  int64_t step_count() const { return step_; }
  /// The objective of the last step ([] or [R], detached; undefined before the first step).
  const torch::Tensor& last_objective() const { return last_objective_; }

  /// The model whose likelihood and prior the ELBO uses.
  Model& model() { return *model_; }
  /// The posterior being fitted (trained in place).
  GaussianPosteriorImpl& posterior() { return *posterior_; }
  /// The Adam or SGD optimiser over the posterior's (and, when trained, the model's) parameters.
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  /// The trainer's generator: draws the Monte Carlo noise and the minibatch permutations.
  torch::Generator& generator() { return generator_; }
  /// The options the trainer was built with.
  const VIOptions& options() const { return options_; }
  /// The minibatch sampler over the training data (or the index data set when data-parallel).
  const data::MinibatchSampler& sampler() const { return sampler_; }
  /// Data-parallel training (data_parallel.h): construct the trainer over the index data set and
  /// set this before the first step. Default: one process.
  void set_data_parallel(DataParallel parallel) { data_parallel_ = std::move(parallel); }
  /// The data-parallel hooks (empty: one process).
  const DataParallel& data_parallel() const { return data_parallel_; }

  /// Writes under `prefix`: tensors `posterior/<name>`, `hyper/<name>` (when trained), optimizer,
  /// generator, minibatch/epoch_generator; metadata step, posterior, optimizer, minibatch.
  void save_state(io::Checkpoint& checkpoint, const std::string& prefix = "vi/") const;
  /// Restores what save_state wrote into this (freshly built) trainer: same model, posterior
  /// family and shape, data size, batch size and train_hyperparameters (checked).
  void load_state(const io::Checkpoint& checkpoint, const std::string& prefix = "vi/");

 private:
  std::shared_ptr<Model> model_;
  std::shared_ptr<GaussianPosteriorImpl> posterior_;
  VIOptions options_;
  torch::Generator generator_;
  data::MinibatchSampler sampler_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<torch::Tensor> trained_;  // every tensor the optimizer updates (backward's inputs)
  std::vector<std::pair<std::string, torch::Tensor>> hypers_;
  std::optional<GaussianPrior> cached_prior_;  // analytic KL with frozen hyper-parameters
  torch::Tensor noise_;                        // reused every step
  torch::Tensor last_objective_;
  int64_t step_ = 0;
  DataParallel data_parallel_;  // empty: one process
};

}  // namespace unlearn::inference
