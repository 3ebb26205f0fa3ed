#pragma once
// What every forgetting method transforms (docs/architecture.md, "The Unlearner concept"): the
// posterior of a run, in one of its two forms.
//
//  - a Gaussian posterior q(θ) (variational inference, or the exact posterior of a conjugate
//    model), as a GaussianPosteriorImpl module;
//  - an SG-MCMC posterior: the chain (state, SGHMC velocity, frozen sampler settings) and the
//    bank of samples [n, P] that represents the posterior (oldest first).
//
//   auto state = unlearn::PosteriorState::gaussian(q);                       // VI
//   auto chain = unlearn::PosteriorState::chain(inference::chain_state_of(trainer),
//                                               trainer.bank().samples());   // SGLD / SGHMC
//   auto draws = state.theta_samples(1000, gen);                             // [S, P] either way
//
// A state is a value: clone() deep-copies; methods never modify the state they are given.
#include <cstdint>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "unlearn/inference/sgmcmc.h"
#include "unlearn/posterior/gaussian.h"

namespace unlearn {

/// The posterior of a run, as every forgetting method takes and returns it: a Gaussian q(θ)
/// (VI or the exact conjugate posterior) or an SG-MCMC chain with its bank of samples [n, P].
/// A value: clone() deep-copies and methods never modify the state they are given.
class PosteriorState {
 public:
  /// Which form the posterior has.
  enum class Kind { kNone, kGaussian, kChain };

  PosteriorState() = default;
  /// A Gaussian posterior. `exact`: it is the exact conjugate posterior of its data (exact
  /// training or exact unlearning of one); only then may exact unlearning start from it.
  static PosteriorState gaussian(std::shared_ptr<GaussianPosteriorImpl> posterior, bool exact = false);
  /// An SG-MCMC chain and its bank of samples [n >= 1, P].
  static PosteriorState chain(inference::ChainState chain, torch::Tensor samples);

  /// Which form this state has (kNone for a default-constructed one).
  Kind kind() const { return kind_; }
  /// Whether it holds a Gaussian posterior.
  bool is_gaussian() const { return kind_ == Kind::kGaussian; }
  /// Whether it holds an SG-MCMC chain and its samples.
  bool is_chain() const { return kind_ == Kind::kChain; }
  /// Whether it holds a posterior at all (not kNone).
  bool defined() const { return kind_ != Kind::kNone; }

  /// The Gaussian (an error for a chain).
  GaussianPosteriorImpl& gaussian() const;
  /// The Gaussian as the shared pointer it is held by (an error for a chain).
  const std::shared_ptr<GaussianPosteriorImpl>& gaussian_ptr() const;
  /// Whether the Gaussian is the exact conjugate posterior (false for chains and VI).
  bool exact() const { return exact_; }
  /// The chain and its bank (errors for a Gaussian).
  const inference::ChainState& chain() const;
  /// The bank's samples [n, P], oldest first (an error for a Gaussian).
  const torch::Tensor& samples() const;

  /// P, the dimension of θ.
  int64_t dim() const;
  /// A deep copy that shares no tensor with this one.
  PosteriorState clone() const;
  /// Every parameter (Gaussian) or every sample and the chain state (chain) is finite.
  bool is_finite() const;
  /// "full_rank Gaussian", "exact full_rank Gaussian", "SGHMC bank of 100 samples".
  std::string describe() const;
  /// θ draws [S, P] that represent the posterior: the bank itself for a chain (`num_samples`
  /// ignored), `num_samples` reparameterised draws from `gen` for a Gaussian. No gradient.
  torch::Tensor theta_samples(int64_t num_samples, torch::Generator& gen) const;
  /// The posterior mean [P] (the bank's mean for a chain).
  torch::Tensor mean() const;

 private:
  Kind kind_ = Kind::kNone;
  std::shared_ptr<GaussianPosteriorImpl> gaussian_;
  bool exact_ = false;
  inference::ChainState chain_;
  torch::Tensor samples_;
};

}  // namespace unlearn
