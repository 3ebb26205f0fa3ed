#pragma once
// Predictive distributions and the metrics the papers report on them, for any classifier under
// the model contract (docs/architecture.md, "Tiers", metrics/). Pure functions over tensors where possible.
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"

/// What the papers report: posterior predictives of classifiers, predictive KLs and distances,
/// error rates, the membership-inference attack and sample-based KL estimates.
namespace unlearn::metrics {

/// Monte Carlo posterior predictive p(y | x) = mean_s p(y | x, θ_s) from samples θ [S, P]:
/// [B, C] probabilities, computed as logsumexp over samples for accuracy. Inputs are processed
/// in chunks of `chunk` points so that [S, chunk, C] fits in memory.
torch::Tensor predictive_probs(Model& model, const torch::Tensor& theta, const torch::Tensor& x,
                               int64_t chunk = 4096);

/// Same, drawing `num_samples` samples from a posterior (no gradient).
torch::Tensor predictive_probs(Model& model, const GaussianPosteriorImpl& posterior,
                               const torch::Tensor& x, int64_t num_samples, torch::Generator& gen);

/// KL(p_i ‖ q_i) per point between categorical rows [B, C] -> [B] (0·log 0 = 0; probabilities
/// of q are floored at `floor` so that a zero where p is positive gives a large finite number).
torch::Tensor categorical_kl(const torch::Tensor& p, const torch::Tensor& q, double floor = 1e-300);

/// A mean and its population standard deviation over a set of values (e.g. per-point KLs).
struct MeanStd {
  /// Arithmetic mean.
  double mean = 0;
  double std = 0;  ///< population standard deviation (the paper's)
};
/// Mean and population std (divisor n) of every element of `values`, in float64.
MeanStd mean_std(const torch::Tensor& values);

/// The VBU paper's averaged KL: mean and population std over the points of
/// KL[q(y|x, D_r) ‖ q̃(y|x)].
MeanStd averaged_kl(const torch::Tensor& reference_probs, const torch::Tensor& probs);

/// Fraction of points whose most probable class differs from the label.
double error_rate(const torch::Tensor& probs, const torch::Tensor& labels);

/// Mean L1 distance between the predictive probability vectors of two models, per point.
double mean_l1_distance(const torch::Tensor& probs_a, const torch::Tensor& probs_b);

/// Membership-inference threshold attack (BIF ICLR paper): score = p(true label); threshold τ
/// maximises ½(TPR + TNR) of "member iff score ≥ τ" with `member_scores` (S_r) as members and
/// `nonmember_scores` (test) as non-members. Returns τ and the fraction of `target_scores` (S_f)
/// called non-members (score < τ).
struct MembershipAttack {
  /// τ: a point is called a member iff its score ≥ τ (+∞ when calling nobody a member is best).
  double threshold = 0;
  /// ½(TPR + TNR) at τ on members vs non-members, in [0, 1] (0.5: no better than chance).
  double balanced_accuracy = 0;
  /// Fraction of `target_scores` below τ, i.e. called non-members (forgotten), in [0, 1].
  double target_nonmember_fraction = 0;
};
/// Fits the threshold on `member_scores` and `nonmember_scores` (each non-empty, any shape) and
/// applies it to `target_scores`; see MembershipAttack.
MembershipAttack membership_attack(const torch::Tensor& member_scores,
                                   const torch::Tensor& nonmember_scores,
                                   const torch::Tensor& target_scores);

/// Probability of the true label per point: probs [B, C], labels [B] -> [B].
torch::Tensor true_label_probs(const torch::Tensor& probs, const torch::Tensor& labels);

/// 1-nearest-neighbour KL estimator between sample sets x ~ P [n, d] and y ~ Q [m, d]
/// (Wang, Kulkarni & Verdú 2009; the BIF paper's certificate for SG-MCMC):
///   D̂(P‖Q) = (d/n) Σ_i log(ν_i / ρ_i) + log(m / (n − 1)),
/// ρ_i the distance from x_i to its nearest other x (x_i itself excluded), ν_i to its nearest y.
/// Consistent (n, m → ∞) but neither unbiased nor non-negative at finite n: for P = Q its spread
/// is about √(π²/3 · 1/n) (sd 0.23 at n = m = 100, d = 8; 0.03 at n = 4000), so small banks give
/// negative estimates of small divergences — sampling noise, not a defect. The finite-sample bias
/// grows with d: in d = 8 at n = m = 4000 it is ≈ −0.1 for KL(N(0,I)‖N(e₁,I)) = 0.5 and ≈ +0.2
/// for KL(N(0,I)‖N(0,1.5²I)) = 1.02 (simulated). Correlated samples (a thinned chain) shrink ρ
/// and bias it upwards. Duplicate points (a zero distance) are an error: the estimator assumes
/// continuous distributions.
double knn_kl_estimate(const torch::Tensor& x, const torch::Tensor& y);

}  // namespace unlearn::metrics
