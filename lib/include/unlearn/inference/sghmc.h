#pragma once
// Stochastic-gradient Hamiltonian Monte Carlo (Chen, Fox & Guestrin 2014) as a
// torch::optim::Optimizer, in the style of torch/optim/sgd.h (docs/concepts.md; docs/architecture.md, "Idioms"):
//
//   v ← v − η_t ∇U(θ) − α v + N(0, 2 α η_t T),   θ ← θ + v,   η_t = lr · (offset + t)^(−decay),
//
// with the velocity v starting at 0. This is Chen et al.'s Eq. (15) with v = ε M⁻¹ r, η = ε² M⁻¹,
// α = ε M⁻¹ C and the gradient-noise estimate β̂ = 0; in stationarity v ~ N(0, η T).
//
// Energy convention (the same as SGLD's, one for the whole library): p.grad() is ∇U with
//
//   U(θ) = −log p(θ) − (N/B) Σ_{i ∈ batch} log p(y_i | x_i, θ).
//
// The optimizer neither scales nor negates the gradient. Per-parameter state: the velocity and
// the step counter t, both saved by save() / load(). The noise generator is given to the
// constructor and is not part of the archive: save its state next to it.
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace unlearn::inference {

/// Hyperparameters of SGHMC, per parameter group: the learning-rate schedule
/// η_t = lr · (offset + t)^(−decay), the friction α and the temperature T.
struct SGHMCOptions : public torch::optim::OptimizerCloneableOptions<SGHMCOptions> {
  /// Options with lr = a and the other fields at their defaults; implicit, so a plain number works.
  /* implicit */ SGHMCOptions(double lr) : lr_(lr) {}
  /// a: the learning rate η of the first step is a · offset^(−decay) (a itself when decay = 0).
  TORCH_ARG(double, lr);
  /// b: added to the step counter in the schedule (> 0 when decay > 0).
  TORCH_ARG(double, offset) = 1.0;
  /// γ: 0 keeps η constant.
  TORCH_ARG(double, decay) = 0.0;
  /// α ∈ (0, 1]: the fraction of the velocity lost per step (1 − momentum). α = 1 forgets the
  /// velocity every step: the update is then exactly SGLD with step size η.
  TORCH_ARG(double, friction) = 0.1;
  /// T ≥ 0: the injected noise has variance 2 α η T (1: posterior; 0: SGD with momentum on U).
  TORCH_ARG(double, temperature) = 1.0;

 public:
  /// η_t for a parameter that has taken t steps.
  double step_size(int64_t t) const;
  /// TORCH_CHECKs every field, naming the value.
  void validate() const;

  /// Reads lr, offset, decay, friction and temperature (the param group's options in an archive).
  void serialize(torch::serialize::InputArchive& archive) override;
  /// Writes lr, offset, decay, friction and temperature.
  void serialize(torch::serialize::OutputArchive& archive) const override;
  /// Every field equal.
  friend bool operator==(const SGHMCOptions& lhs, const SGHMCOptions& rhs);
  ~SGHMCOptions() override = default;
  /// lr(), for LibTorch's generic learning-rate access (e.g. its LR schedulers).
  double get_lr() const override { return lr(); }
  /// Sets lr(), for LibTorch's generic learning-rate access.
  void set_lr(const double lr) override { this->lr(lr); }
};

/// SGHMC's per-parameter state: the step counter t and the velocity v.
struct SGHMCParamState : public torch::optim::OptimizerCloneableParamState<SGHMCParamState> {
  /// Steps this parameter has taken (the t of the schedule).
  TORCH_ARG(int64_t, step) = 0;
  /// v, shaped like the parameter.
  TORCH_ARG(torch::Tensor, velocity);

 public:
  /// Reads the step counter and the velocity.
  void serialize(torch::serialize::InputArchive& archive) override;
  /// Writes the step counter and the velocity.
  void serialize(torch::serialize::OutputArchive& archive) const override;
  /// Equal step counters and bitwise-equal velocities (torch::equal).
  friend bool operator==(const SGHMCParamState& lhs, const SGHMCParamState& rhs);
  ~SGHMCParamState() override = default;
};

/// One SGHMC update in place (outside autograd): v ← (1 − α) v − η g, then v ← v + √(2αηT) ε when
/// T > 0 (ε standard normal from the caller, undefined when T = 0), and θ ← θ + v. The one place
/// the update is written: the optimizer and BIF's frozen-step sampling both call it.
void sghmc_update_(const torch::Tensor& theta, const torch::Tensor& velocity, const torch::Tensor& grad, double eta,
                   double friction, double temperature, const torch::Tensor& noise);

/// Stochastic-gradient Hamiltonian Monte Carlo as a torch::optim::Optimizer: v ← v − η_t ∇U(θ) − α v +
/// N(0, 2 α η_t T), θ ← θ + v, with p.grad() taken to be ∇U of the N-scaled negative log posterior
/// (see the file comment). The noise comes from the generator given to the constructor.
class SGHMC : public torch::optim::Optimizer {
 public:
  /// `generator` draws the noise: give each run its own seeded one, on the parameters' device.
  SGHMC(std::vector<torch::optim::OptimizerParamGroup> param_groups, SGHMCOptions defaults, torch::Generator generator);
  /// One param group over `params`, with `defaults` as its options.
  SGHMC(std::vector<torch::Tensor> params, SGHMCOptions defaults, torch::Generator generator)
      : SGHMC({torch::optim::OptimizerParamGroup(std::move(params))}, defaults, std::move(generator)) {}

  /// One update of every parameter that has a gradient (p.grad() = ∇U, see above).
  torch::Tensor step(LossClosure closure = nullptr) override;

  /// State (velocities, step counters) and param groups. LibTorch 1.13's load() does not restore
  /// the groups' options: re-apply them (load_optimizer in optimizer_state.h does).
  void save(torch::serialize::OutputArchive& archive) const override;
  /// Restores what save() wrote (velocities, step counters, groups; re-apply the groups' options).
  void load(torch::serialize::InputArchive& archive) override;

  /// The generator the noise is drawn from (save its state next to the optimizer's archive).
  torch::Generator& generator() { return generator_; }
  /// Steps `param` has taken (0 before the first).
  int64_t step_count(const torch::Tensor& param) const;
  /// The learning rate η the next step() uses for `param`.
  double next_step_size(const torch::Tensor& param) const;
  /// The velocity of `param` (zeros before the first step: a new tensor then).
  torch::Tensor velocity(const torch::Tensor& param) const;

 private:
  template <typename Self, typename Archive>
  static void serialize(Self& self, Archive& archive) {
    _TORCH_OPTIM_SERIALIZE_WITH_TEMPLATE_ARG(SGHMC);
  }
  const SGHMCOptions& group_options_of(const torch::Tensor& param) const;

  torch::Generator generator_;
  torch::Tensor noise_;  // scratch buffer, reused while the parameter's shape allows
};

}  // namespace unlearn::inference
