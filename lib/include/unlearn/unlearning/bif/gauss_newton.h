#pragma once
// The generalised Gauss–Newton (GGN) curvature of a classifier's negative log-likelihood, as a
// matrix-free product for the inverse-HVP solvers (inverse_hvp.h). A departure from the papers'
// BIF, which inverts the exact Hessian of the energy.
//
// For softmax outputs with log-probabilities ℓ(γ) ∈ R^C of one datum, the Hessian of −ℓ_y is
//   ∇²(−ℓ_y) = Lᵀ diag(p) L  +  Σ_c (p_c − [c = y]) ∇²f_c,   L = ∂ℓ/∂γ, p = exp ℓ,
// (f the logits); the first term — the GGN, equal to the Fisher information E_{y∼p}[∇ℓ_y ∇ℓ_yᵀ]
// and to Jᵀ(diag p − ppᵀ)J with J = ∂f/∂γ — is positive semi-definite and needs no label; the
// second carries the network's own curvature, indefinite away from a minimum. For a model whose
// logits are linear in γ (multinomial logistic regression) the two coincide.
//
// Why: at SG-MCMC states of a neural network the exact Hessian has negative eigenvalues, so the
// LiSSA series (h ← v + (I − sH)h) expands along them for any scale s; with the GGN every term
// is PSD and the series is stable whenever s·λ_max < 2 (see lissa's guard for the minibatch case).
//
//   ClassifierOutputsFn outputs = [&](int64_t term) {
//     return ClassifierOutputs{model.predict_log_proba(theta + x, batch.x), /*weight=*/n / b};
//   };
//   auto ggn = gauss_newton_vp(outputs, FlatParameters({x}));  // v ↦ weight · Σ_i L_iᵀ diag(p_i) L_i v
#include <functional>

#include <torch/torch.h>

#include "unlearn/unlearning/bif/inverse_hvp.h"

namespace unlearn::bif {

/// A classifier's log-probabilities for one curvature term, and the weight of every datum.
struct ClassifierOutputs {
  torch::Tensor log_proba;  ///< [..., C]: any leading shape (samples, data), differentiable in the leaves
  double weight = 1.0;      ///< the GGN is weight · Σ over the leading entries
};

/// The outputs for one HVP term (term >= 0: a LiSSA term, kFullHessian: the deterministic
/// operator), as EnergyFn is for hvp_of.
using ClassifierOutputsFn = std::function<ClassifierOutputs(int64_t term)>;

/// v ↦ weight · Lᵀ (p ⊙ L v) over every leading entry of log_proba, L = ∂ log_proba / ∂γ. Two
/// reverse passes give L v (the transpose of a vector–Jacobian product, differentiated in its
/// cotangent), a third Lᵀ(·); p is held constant. Each call re-evaluates outputs(term).
HessianVectorProduct gauss_newton_vp(ClassifierOutputsFn outputs, FlatParameters params);

/// The sum of two operators (e.g. a likelihood's GGN plus the prior's exact Hessian).
HessianVectorProduct sum_of(HessianVectorProduct a, HessianVectorProduct b);

}  // namespace unlearn::bif
