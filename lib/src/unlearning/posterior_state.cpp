#include "unlearn/unlearning/posterior_state.h"

#include <c10/util/Exception.h>

namespace unlearn {

PosteriorState PosteriorState::gaussian(std::shared_ptr<GaussianPosteriorImpl> posterior, bool exact) {
  TORCH_CHECK(posterior != nullptr, "PosteriorState::gaussian: the posterior is null");
  TORCH_CHECK(posterior->runs() == 0, "PosteriorState::gaussian: a posterior with runs (R = ", posterior->runs(),
              ") is several posteriors; select_run one");
  PosteriorState s;
  s.kind_ = Kind::kGaussian;
  s.gaussian_ = std::move(posterior);
  s.exact_ = exact;
  return s;
}

PosteriorState PosteriorState::chain(inference::ChainState chain, torch::Tensor samples) {
  TORCH_CHECK(chain.theta.defined() && chain.theta.dim() == 1, "PosteriorState::chain: the chain state must be [P]");
  const int64_t p = chain.theta.size(0);
  TORCH_CHECK(samples.defined() && samples.dim() == 2 && samples.size(0) >= 1 && samples.size(1) == p,
              "PosteriorState::chain: the samples must be [n >= 1, ", p, "], got ",
              samples.defined() ? samples.sizes() : c10::IntArrayRef{});
  TORCH_CHECK(!chain.sghmc() || !chain.velocity.defined() || chain.velocity.sizes() == chain.theta.sizes(),
              "PosteriorState::chain: the SGHMC velocity must be [", p, "]");
  PosteriorState s;
  s.kind_ = Kind::kChain;
  s.chain_ = std::move(chain);
  s.samples_ = std::move(samples);
  return s;
}

GaussianPosteriorImpl& PosteriorState::gaussian() const { return *gaussian_ptr(); }

const std::shared_ptr<GaussianPosteriorImpl>& PosteriorState::gaussian_ptr() const {
  TORCH_CHECK(is_gaussian(), "PosteriorState: this posterior is ", describe(), ", not a Gaussian");
  return gaussian_;
}

const inference::ChainState& PosteriorState::chain() const {
  TORCH_CHECK(is_chain(), "PosteriorState: this posterior is ", describe(), ", not an SG-MCMC chain");
  return chain_;
}

const torch::Tensor& PosteriorState::samples() const {
  TORCH_CHECK(is_chain(), "PosteriorState: this posterior is ", describe(), ", not a sample bank");
  return samples_;
}

int64_t PosteriorState::dim() const {
  if (is_gaussian()) return gaussian_->dim();
  if (is_chain()) return chain_.theta.size(0);
  return 0;
}

PosteriorState PosteriorState::clone() const {
  PosteriorState s = *this;
  if (is_gaussian()) s.gaussian_ = gaussian_->copy();
  if (is_chain()) {
    s.chain_ = chain_.clone();
    s.samples_ = samples_.detach().clone();
  }
  return s;
}

bool PosteriorState::is_finite() const {
  torch::NoGradGuard no_grad;
  if (is_gaussian()) {
    for (const auto& p : gaussian_->parameters())
      if (!torch::isfinite(p).all().item<bool>()) return false;
    return true;
  }
  if (is_chain()) {
    bool ok = torch::isfinite(samples_).all().item<bool>() && torch::isfinite(chain_.theta).all().item<bool>();
    if (chain_.velocity.defined()) ok = ok && torch::isfinite(chain_.velocity).all().item<bool>();
    return ok;
  }
  return false;
}

std::string PosteriorState::describe() const {
  if (is_gaussian()) return std::string(exact_ ? "exact " : "") + gaussian_->family() + " Gaussian";
  if (is_chain())
    return std::string(chain_.sghmc() ? "SGHMC" : "SGLD") + " bank of " + std::to_string(samples_.size(0)) +
           " samples";
  return "no posterior";
}

torch::Tensor PosteriorState::theta_samples(int64_t num_samples, torch::Generator& gen) const {
  if (is_chain()) return samples_;
  TORCH_CHECK(num_samples >= 1, "PosteriorState::theta_samples: num_samples = ", num_samples, " must be >= 1");
  torch::NoGradGuard no_grad;
  return gaussian().rsample(num_samples, gen).detach();
}

torch::Tensor PosteriorState::mean() const {
  if (is_chain()) return samples_.mean(0);
  return gaussian().mean().detach();
}

}  // namespace unlearn
