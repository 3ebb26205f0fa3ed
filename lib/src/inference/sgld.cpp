#include "unlearn/inference/sgld.h"

#include <cmath>

#include "unlearn/random/normal.h"
#include "optimizer_key.h"
#include "unlearn/inference/schedule.h"

namespace unlearn::inference {

// ---- options -------------------------------------------------------------------------------

double SGLDOptions::step_size(int64_t t) const { return polynomial_step_size(lr(), offset(), decay(), t); }

void SGLDOptions::validate() const {
  check_polynomial_schedule("SGLD", lr(), offset(), decay());
  TORCH_CHECK(std::isfinite(temperature()) && temperature() >= 0, "SGLD: temperature T = ", temperature(),
              " must be >= 0 and finite");
}

void SGLDOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(offset);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(temperature);
}

void SGLDOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, offset);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, temperature);
}

bool operator==(const SGLDOptions& lhs, const SGLDOptions& rhs) {
  return lhs.lr() == rhs.lr() && lhs.offset() == rhs.offset() && lhs.decay() == rhs.decay() &&
         lhs.temperature() == rhs.temperature();
}

// ---- per-parameter state -------------------------------------------------------------------

void SGLDParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
}

void SGLDParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
}

bool operator==(const SGLDParamState& lhs, const SGLDParamState& rhs) { return lhs.step() == rhs.step(); }

// ---- the update ----------------------------------------------------------------------------

void sgld_update_(const torch::Tensor& theta, const torch::Tensor& grad, double eta, double temperature,
                  const torch::Tensor& noise) {
  torch::NoGradGuard no_grad;
  theta.add_(grad, -eta);
  if (temperature > 0) {
    TORCH_CHECK(noise.defined(), "SGLD: the update needs noise when the temperature is ", temperature);
    theta.add_(noise, std::sqrt(2.0 * eta * temperature));
  }
}

// ---- optimizer -----------------------------------------------------------------------------

SGLD::SGLD(std::vector<torch::optim::OptimizerParamGroup> param_groups, SGLDOptions defaults,
           torch::Generator generator)
    : Optimizer(std::move(param_groups), std::make_unique<SGLDOptions>(defaults)), generator_(std::move(generator)) {
  defaults.validate();
  for (const auto& group : param_groups_) static_cast<const SGLDOptions&>(group.options()).validate();
  TORCH_CHECK(generator_.defined(), "SGLD: the generator is undefined");
}

torch::Tensor SGLD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = {};
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const SGLDOptions&>(group.options());
    options.validate();  // a handful of comparisons; catches options edited after construction
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto key = detail::optimizer_state_key(state_, p);
      auto it = state_.find(key);
      if (it == state_.end()) it = state_.emplace(key, std::make_unique<SGLDParamState>()).first;
      auto& st = static_cast<SGLDParamState&>(*it->second);
      const double eta = options.step_size(st.step());
      const bool noisy = options.temperature() > 0;
      sgld_update_(p, p.grad(), eta, options.temperature(),
                   noisy ? standard_normal_like(p, generator_, noise_) : torch::Tensor());
      st.step(st.step() + 1);
    }
  }
  return loss;
}

void SGLD::save(torch::serialize::OutputArchive& archive) const { serialize(*this, archive); }

void SGLD::load(torch::serialize::InputArchive& archive) { serialize(*this, archive); }

const SGLDOptions& SGLD::group_options_of(const torch::Tensor& param) const {
  for (const auto& group : param_groups_) {
    for (const auto& p : group.params()) {
      if (p.is_same(param)) return static_cast<const SGLDOptions&>(group.options());
    }
  }
  TORCH_CHECK(false, "SGLD: the tensor is not one of this optimizer's parameters");
}

int64_t SGLD::step_count(const torch::Tensor& param) const {
  group_options_of(param);  // checks membership
  auto it = state_.find(detail::optimizer_state_key(state_, param));
  return it == state_.end() ? 0 : static_cast<const SGLDParamState&>(*it->second).step();
}

double SGLD::next_step_size(const torch::Tensor& param) const {
  return group_options_of(param).step_size(step_count(param));
}

}  // namespace unlearn::inference
