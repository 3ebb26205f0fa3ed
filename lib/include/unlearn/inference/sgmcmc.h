#pragma once
// SG-MCMC on the model contract (docs/architecture.md, "The model contract"; docs/concepts.md): θ is one parameter tensor of P numbers, the
// chain runs SGLD or SGHMC on the energy
//
//   U(θ) = −log p(θ) − (N/B) Σ_{i ∈ batch} log p(y_i | x_i, θ)     (N rows, B in the batch),
//
// and a SampleBank keeps the states after burn-in, thinned, up to its capacity (a ring). The
// posterior predictive is the average over the bank (SampleBank::predictive_log_proba).
//
//   SGMCMCTrainer chain(model, dataset, SGMCMCOptions().sampler(Sampler::kSGHMC).lr(1e-4).batch_size(64)
//                                           .steps(2000).bank(SampleBankOptions().burn_in(500)));
//   chain.train();
//   auto samples = chain.bank().samples();   // [n, P]
//
// The model's torch parameters (hyper-parameters) are frozen: no gradient is computed for them.
// Determinism: one generator (seeded from options.seed, or given) draws the noise and the
// minibatches; save_state / load_state carry θ, the optimizer (velocity, step counter, options),
// the generator, the minibatch position, the bank and the step counter.
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "unlearn/data/dataset.h"
#include "unlearn/data/sampler.h"
#include "unlearn/inference/callbacks.h"
#include "unlearn/inference/data_parallel.h"
#include "unlearn/inference/sample_bank.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/io/json_config.h"
#include "unlearn/inference/sghmc.h"
#include "unlearn/inference/sgld.h"
#include "unlearn/model.h"

namespace unlearn::inference {

/// The SG-MCMC samplers (sgld.h, sghmc.h).
enum class Sampler { kSGLD, kSGHMC };
/// "sgld" or "sghmc" (the names configs, checkpoints and the command use).
std::string to_string(Sampler sampler);
/// Inverse of to_string; an unknown name is an error listing the allowed ones.
Sampler sampler_from_string(const std::string& name);

/// The one set of options of an SG-MCMC chain: the trainer's, and (through sgld_options /
/// sghmc_options) the optimizers' and BIF's frozen sampler steps.
struct SGMCMCOptions {
  /// The sampler.
  TORCH_ARG(Sampler, sampler) = Sampler::kSGLD;
  /// The step counter train() runs up to (a resumed chain continues towards it; >= 0).
  TORCH_ARG(int64_t, steps) = 1000;
  /// Rows per minibatch, drawn without replacement epoch by epoch; 0 (or >= N): full batch.
  TORCH_ARG(int64_t, batch_size) = 0;
  /// a of the step-size schedule η_t = a (b + t)^(−γ) (> 0).
  TORCH_ARG(double, lr) = 1e-4;
  /// b of the schedule (> 0 when γ > 0).
  TORCH_ARG(double, schedule_offset) = 1.0;
  /// γ of the schedule (0: constant step size).
  TORCH_ARG(double, schedule_decay) = 0.0;
  /// SGHMC's friction α ∈ (0, 1] (ignored by SGLD).
  TORCH_ARG(double, friction) = 0.1;
  /// T ≥ 0: noise variance 2ηT (SGLD) or 2αηT (SGHMC).
  TORCH_ARG(double, temperature) = 1.0;
  /// Burn-in, thinning and capacity of the sample bank.
  TORCH_ARG(SampleBankOptions, bank) = SampleBankOptions();
  /// Seed of the chain's own generator (ignored when a generator is given).
  TORCH_ARG(uint64_t, seed) = 0;

 public:
  /// TORCH_CHECKs every field, naming the value (the sampler's own options included).
  void validate() const;
};

/// The SGLD optimizer's options of a chain (step-size schedule, temperature).
SGLDOptions sgld_options(const SGMCMCOptions& options);
/// The SGHMC optimizer's options of a chain (step-size schedule, friction, temperature).
SGHMCOptions sghmc_options(const SGMCMCOptions& options);

/// Reads a chain's options from a config object over `defaults`, strictly (io::ConfigError naming
/// the field): "steps", "batch_size", "lr", "schedule_offset", "schedule_decay", "temperature",
/// "friction" (SGHMC only: for SGLD the key is unknown), and "bank": {"burn_in", "thinning",
/// "capacity"}. The sampler itself comes from `defaults` (the caller names it: train.method, a
/// study's method list). A burn-in that leaves no sample is an error.
SGMCMCOptions read_sgmcmc_options(const io::JsonObjectReader& section, SGMCMCOptions defaults);

/// U(θ) = −log p(θ) − data_scale · Σ_i log p(y_i | x_i, θ) for one θ [P] -> [] (differentiable).
torch::Tensor sgmcmc_energy(Model& model, const torch::Tensor& theta, const data::Batch& batch, double data_scale);

/// An SG-MCMC chain (SGLD or SGHMC) over θ [P] for a Model and a Dataset: minibatches, the
/// N/B-scaled energy U, the optimizer step and a SampleBank of the kept states, with checkpointing
/// of all of it.
class SGMCMCTrainer {
 public:
  /// θ starts at `init_theta` (copied) or model.init_theta(). `data` must live on the model's
  /// device; without `generator` the chain owns a CPU generator seeded with options.seed().
  SGMCMCTrainer(std::shared_ptr<Model> model, data::Dataset data, SGMCMCOptions options,
                std::optional<torch::Tensor> init_theta = std::nullopt,
                std::optional<torch::Generator> generator = std::nullopt);

  /// One sampler step, then the bank is offered the new state. Returns the energy U of the
  /// state before the step ([], detached; reading it is left to the caller).
  torch::Tensor step();
  /// Steps until step_count() == options.steps() or a callback says stop; returns step_count().
  /// The callbacks' objective is U.
  int64_t train(const TrainingCallbacks& callbacks = {});

  /// Steps taken so far (resumed chains count their earlier steps).
  int64_t step_count() const { return step_; }
  /// The chain's state [P] (a leaf that requires grad; read it, or its .detach()).
  const torch::Tensor& theta() const { return theta_; }
  /// The step size η the next step uses.
  double next_step_size() const;
  /// U of the state before the latest step ([], detached; undefined before the first step and
  /// right after load_state).
  const torch::Tensor& last_energy() const { return last_energy_; }

  /// The model whose energy the chain samples (its own torch parameters frozen).
  Model& model() { return *model_; }
  /// The kept samples.
  SampleBank& bank() { return bank_; }
  /// The kept samples (read-only).
  const SampleBank& bank() const { return bank_; }
  /// The SGLD or SGHMC optimizer stepping θ.
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  /// The chain's generator: draws both the sampler noise and the minibatch permutations.
  torch::Generator& generator() { return generator_; }
  /// The options the chain was built with.
  const SGMCMCOptions& options() const { return options_; }
  /// The minibatch sampler over the training data (or the index data set when data-parallel).
  const data::MinibatchSampler& sampler() const { return sampler_; }
  /// Data-parallel training (data_parallel.h): construct the trainer over the index data set and
  /// set this before the first step. Default: one process.
  void set_data_parallel(DataParallel parallel) { data_parallel_ = std::move(parallel); }
  /// The data-parallel hooks (empty: one process).
  const DataParallel& data_parallel() const { return data_parallel_; }

  /// Writes under `prefix`: tensors theta, optimizer, generator, minibatch/epoch_generator,
  /// samples; metadata step, sampler ("sgld" | "sghmc"), optimizer, minibatch, bank.
  void save_state(io::Checkpoint& checkpoint, const std::string& prefix = "sgmcmc/") const;
  /// Restores what save_state wrote into this (freshly built) trainer: same model, sampler kind,
  /// data size, batch size and bank options (checked).
  void load_state(const io::Checkpoint& checkpoint, const std::string& prefix = "sgmcmc/");

 private:
  std::shared_ptr<Model> model_;
  SGMCMCOptions options_;
  torch::Generator generator_;
  data::MinibatchSampler sampler_;
  torch::Tensor theta_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  SampleBank bank_;
  torch::Tensor last_energy_;
  int64_t step_ = 0;
  DataParallel data_parallel_;  // empty: one process
};

/// An SG-MCMC posterior's chain, as forgetting methods need it: the state, the SGHMC velocity and
/// the sampler settings frozen at their last training values (BIF keeps sampling with them).
struct ChainState {
  torch::Tensor theta;     ///< [P], detached
  torch::Tensor velocity;  ///< [P] for SGHMC, undefined for SGLD
  double step_size = 0.0;  ///< η, frozen during forgetting
  double friction = 1.0;   ///< SGHMC's α (unused by SGLD)
  /// T of the injected noise, frozen during forgetting.
  double temperature = 1.0;
  /// Which sampler produced the chain (and continues it).
  Sampler sampler = Sampler::kSGLD;

  /// Whether the chain is SGHMC's (then `velocity` is defined).
  bool sghmc() const { return sampler == Sampler::kSGHMC; }
  /// A deep copy (the tensors cloned).
  ChainState clone() const;
};

/// The state of a trained chain: θ, its velocity (SGHMC) and η = the last step size it used.
ChainState chain_state_of(SGMCMCTrainer& chain);

}  // namespace unlearn::inference
