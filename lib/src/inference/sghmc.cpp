#include "unlearn/inference/sghmc.h"

#include <cmath>

#include "unlearn/random/normal.h"
#include "optimizer_key.h"
#include "unlearn/inference/schedule.h"

namespace unlearn::inference {

// ---- options -------------------------------------------------------------------------------

double SGHMCOptions::step_size(int64_t t) const { return polynomial_step_size(lr(), offset(), decay(), t); }

void SGHMCOptions::validate() const {
  check_polynomial_schedule("SGHMC", lr(), offset(), decay());
  TORCH_CHECK(friction() > 0 && friction() <= 1, "SGHMC: friction alpha = ", friction(), " must be in (0, 1]");
  TORCH_CHECK(std::isfinite(temperature()) && temperature() >= 0, "SGHMC: temperature T = ", temperature(),
              " must be >= 0 and finite");
}

void SGHMCOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(offset);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(friction);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(temperature);
}

void SGHMCOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, offset);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, friction);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, temperature);
}

bool operator==(const SGHMCOptions& lhs, const SGHMCOptions& rhs) {
  return lhs.lr() == rhs.lr() && lhs.offset() == rhs.offset() && lhs.decay() == rhs.decay() &&
         lhs.friction() == rhs.friction() && lhs.temperature() == rhs.temperature();
}

// ---- per-parameter state -------------------------------------------------------------------

void SGHMCParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(velocity);
}

void SGHMCParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, velocity);
}

bool operator==(const SGHMCParamState& lhs, const SGHMCParamState& rhs) {
  return lhs.step() == rhs.step() && torch::equal(lhs.velocity(), rhs.velocity());
}

// ---- optimizer -----------------------------------------------------------------------------

void sghmc_update_(const torch::Tensor& theta, const torch::Tensor& velocity, const torch::Tensor& grad, double eta,
                   double friction, double temperature, const torch::Tensor& noise) {
  torch::NoGradGuard no_grad;
  // v ← (1 − α) v − η ∇U + N(0, 2αηT); θ ← θ + v
  velocity.mul_(1.0 - friction).add_(grad, -eta);
  if (temperature > 0) {
    TORCH_CHECK(noise.defined(), "SGHMC: the update needs noise when the temperature is ", temperature);
    velocity.add_(noise, std::sqrt(2.0 * friction * eta * temperature));
  }
  theta.add_(velocity);
}

SGHMC::SGHMC(std::vector<torch::optim::OptimizerParamGroup> param_groups, SGHMCOptions defaults,
             torch::Generator generator)
    : Optimizer(std::move(param_groups), std::make_unique<SGHMCOptions>(defaults)), generator_(std::move(generator)) {
  defaults.validate();
  for (const auto& group : param_groups_) static_cast<const SGHMCOptions&>(group.options()).validate();
  TORCH_CHECK(generator_.defined(), "SGHMC: the generator is undefined");
}

torch::Tensor SGHMC::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = {};
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const SGHMCOptions&>(group.options());
    options.validate();
    const double alpha = options.friction();
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto key = detail::optimizer_state_key(state_, p);
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto st = std::make_unique<SGHMCParamState>();
        st->velocity(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = state_.emplace(key, std::move(st)).first;
      }
      auto& st = static_cast<SGHMCParamState&>(*it->second);
      const double eta = options.step_size(st.step());
      const bool noisy = options.temperature() > 0;
      sghmc_update_(p, st.velocity(), p.grad(), eta, alpha, options.temperature(),
                    noisy ? standard_normal_like(p, generator_, noise_) : torch::Tensor());
      st.step(st.step() + 1);
    }
  }
  return loss;
}

void SGHMC::save(torch::serialize::OutputArchive& archive) const { serialize(*this, archive); }

void SGHMC::load(torch::serialize::InputArchive& archive) { serialize(*this, archive); }

const SGHMCOptions& SGHMC::group_options_of(const torch::Tensor& param) const {
  for (const auto& group : param_groups_) {
    for (const auto& p : group.params()) {
      if (p.is_same(param)) return static_cast<const SGHMCOptions&>(group.options());
    }
  }
  TORCH_CHECK(false, "SGHMC: the tensor is not one of this optimizer's parameters");
}

int64_t SGHMC::step_count(const torch::Tensor& param) const {
  group_options_of(param);
  auto it = state_.find(detail::optimizer_state_key(state_, param));
  return it == state_.end() ? 0 : static_cast<const SGHMCParamState&>(*it->second).step();
}

double SGHMC::next_step_size(const torch::Tensor& param) const {
  return group_options_of(param).step_size(step_count(param));
}

torch::Tensor SGHMC::velocity(const torch::Tensor& param) const {
  group_options_of(param);
  auto it = state_.find(detail::optimizer_state_key(state_, param));
  if (it == state_.end()) return torch::zeros_like(param).detach();
  return static_cast<const SGHMCParamState&>(*it->second).velocity();
}

}  // namespace unlearn::inference
