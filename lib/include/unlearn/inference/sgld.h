#pragma once
// Stochastic-gradient Langevin dynamics (Welling & Teh 2011) as a torch::optim::Optimizer, in
// the style of torch/optim/sgd.h (docs/concepts.md; docs/architecture.md, "Idioms"):
//
//   θ ← θ − η_t ∇U(θ) + N(0, 2 η_t T),   η_t = lr · (offset + t)^(−decay).
//
// The energy convention, one for the whole library: the optimizer takes p.grad() to be ∇U with
//
//   U(θ) = −log p(θ) − (N/B) Σ_{i ∈ batch} log p(y_i | x_i, θ),
//
// i.e. the negative log posterior, with the minibatch likelihood scaled up to the full data set
// (N rows, B in the batch). Build U that way (SGMCMCTrainer does) and call backward(); the
// optimizer neither scales nor negates the gradient. T = 1 samples the posterior, T = 0 is
// plain SGD on U (a MAP estimate).
//
//   auto gen = at::detail::createCPUGenerator(0);
//   SGLD sgld({theta}, SGLDOptions(1e-4).decay(0.55), gen);
//   for (...) { sgld.zero_grad(); energy(theta).backward(); sgld.step(); }
//
// t is the optimizer's own per-parameter step counter, saved with its state, so that a resumed
// chain continues with the same step sizes. The noise is drawn from the generator given to the
// constructor (one seeded generator per run); its state is *not* part of the optimizer's
// archive: save it next to it (SGMCMCTrainer::save_state does).
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

/// Approximate Bayesian inference over the flat parameter vector θ: variational inference
/// (VITrainer), SG-MCMC (the SGLD and SGHMC optimizers, SGMCMCTrainer, SampleBank), their step-size
/// schedules, callbacks, optimizer checkpoints and data-parallel hooks.
namespace unlearn::inference {

/// Hyperparameters of SGLD, per parameter group: the step-size schedule η_t = lr · (offset + t)^(−decay)
/// and the temperature T of the injected noise.
struct SGLDOptions : public torch::optim::OptimizerCloneableOptions<SGLDOptions> {
  /// Options with lr = a and the other fields at their defaults; implicit, so a plain number works.
  /* implicit */ SGLDOptions(double lr) : lr_(lr) {}
  /// a: the step size of the first step is a · offset^(−decay) (a itself when decay = 0).
  TORCH_ARG(double, lr);
  /// b: added to the step counter in the schedule (> 0 when decay > 0).
  TORCH_ARG(double, offset) = 1.0;
  /// γ: 0 keeps the step size constant; 0.5 < γ ≤ 1 is the Robbins–Monro range.
  TORCH_ARG(double, decay) = 0.0;
  /// T ≥ 0: the injected noise has variance 2 η T (1: posterior; 0: SGD on U).
  TORCH_ARG(double, temperature) = 1.0;

 public:
  /// η_t for a parameter that has taken t steps.
  double step_size(int64_t t) const;
  /// TORCH_CHECKs every field, naming the value.
  void validate() const;

  /// Reads lr, offset, decay and temperature (the param group's options in an optimizer archive).
  void serialize(torch::serialize::InputArchive& archive) override;
  /// Writes lr, offset, decay and temperature.
  void serialize(torch::serialize::OutputArchive& archive) const override;
  /// Every field equal.
  friend bool operator==(const SGLDOptions& lhs, const SGLDOptions& rhs);
  ~SGLDOptions() override = default;
  /// lr(), for LibTorch's generic learning-rate access (e.g. its LR schedulers).
  double get_lr() const override { return lr(); }
  /// Sets lr(), for LibTorch's generic learning-rate access.
  void set_lr(const double lr) override { this->lr(lr); }
};

/// SGLD's per-parameter state: the step counter t of the schedule.
struct SGLDParamState : public torch::optim::OptimizerCloneableParamState<SGLDParamState> {
  /// Steps this parameter has taken (the t of the schedule).
  TORCH_ARG(int64_t, step) = 0;

 public:
  /// Reads the step counter.
  void serialize(torch::serialize::InputArchive& archive) override;
  /// Writes the step counter.
  void serialize(torch::serialize::OutputArchive& archive) const override;
  /// Equal step counters.
  friend bool operator==(const SGLDParamState& lhs, const SGLDParamState& rhs);
  ~SGLDParamState() override = default;
};

/// One SGLD update of `theta` in place (outside autograd): θ ← θ − η g, then θ ← θ + √(2ηT) ε when
/// T > 0, with ε standard normal drawn by the caller (undefined when T = 0). The one place the
/// update is written: the optimizer and BIF's frozen-step sampling both call it.
void sgld_update_(const torch::Tensor& theta, const torch::Tensor& grad, double eta, double temperature,
                  const torch::Tensor& noise);

/// Stochastic-gradient Langevin dynamics as a torch::optim::Optimizer: θ ← θ − η_t ∇U(θ) +
/// N(0, 2 η_t T), with p.grad() taken to be ∇U of the N-scaled negative log posterior (see the
/// file comment). The noise comes from the generator given to the constructor.
class SGLD : public torch::optim::Optimizer {
 public:
  /// `generator` draws the noise: give each run its own seeded one. Its device should be the
  /// parameters' (noise from a CPU generator is moved to a CUDA parameter, which works but costs
  /// a copy per step).
  SGLD(std::vector<torch::optim::OptimizerParamGroup> param_groups, SGLDOptions defaults, torch::Generator generator);
  /// One param group over `params`, with `defaults` as its options.
  SGLD(std::vector<torch::Tensor> params, SGLDOptions defaults, torch::Generator generator)
      : SGLD({torch::optim::OptimizerParamGroup(std::move(params))}, defaults, std::move(generator)) {}

  /// One update of every parameter that has a gradient (p.grad() = ∇U, see above).
  torch::Tensor step(LossClosure closure = nullptr) override;

  /// State (per-parameter step counters) and param groups, as torch::optim::SGD does. LibTorch
  /// 1.13's load() does not restore the groups' options: re-apply them (load_optimizer in
  /// unlearn/inference/optimizer_state.h does).
  void save(torch::serialize::OutputArchive& archive) const override;
  /// Restores what save() wrote (step counters and groups; re-apply the groups' options).
  void load(torch::serialize::InputArchive& archive) override;

  /// The generator the noise is drawn from (save its state next to the optimizer's archive).
  torch::Generator& generator() { return generator_; }
  /// Steps `param` has taken (0 before the first).
  int64_t step_count(const torch::Tensor& param) const;
  /// The step size the next step() uses for `param` (the options of its group at its counter).
  double next_step_size(const torch::Tensor& param) const;

 private:
  template <typename Self, typename Archive>
  static void serialize(Self& self, Archive& archive) {
    _TORCH_OPTIM_SERIALIZE_WITH_TEMPLATE_ARG(SGLD);
  }
  const SGLDOptions& group_options_of(const torch::Tensor& param) const;

  torch::Generator generator_;
  torch::Tensor noise_;  // scratch buffer, reused while the parameter's shape allows
};

}  // namespace unlearn::inference
