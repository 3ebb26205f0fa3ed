#pragma once
// Inverse Hessian-vector products for Bayesian inference forgetting (docs/concepts.md, "BIF").
//
// Every solver sees the Hessian only through a closure v ↦ H v (a HessianVectorProduct), so the
// same solvers serve the VI energy (γ = variational parameters), the SG-MCMC energy (θ = chain
// state, H averaged along the chain) and any test operator. The `term` argument tells the
// closure which Hessian estimate is wanted:
//   term >= 0      the t-th LiSSA term: a stochastic closure draws a fresh minibatch per term;
//   term == kFullHessian (-1)   the deterministic operator (CG, residuals, dense Hessians).
// A deterministic closure may ignore `term`.
//
//   auto energy = [&](int64_t term) { return 0.5 * x.dot(torch::mv(A, x)); };   // x: a leaf
//   FlatParameters gamma({x});
//   auto hvp = hvp_of(energy, gamma);                                            // double backward
//   SolverResult r = conjugate_gradient(hvp, v, CgOptions().damping(1e-6).tol(1e-10));
//   SolverResult d = dense_solve(dense_hessian(energy, gamma), v, /*damping=*/0);
//   SolverResult l = lissa(hvp, v, LissaOptions().scale(0.1).terms(200));
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

/// Bayesian inference forgetting (BIF): one Newton-type step per removal batch, for Gaussian VI
/// posteriors (vi_bif.h) and SG-MCMC chains (sgmcmc_bif.h), built on inverse Hessian-vector
/// product solvers (LiSSA, conjugate gradient, dense Cholesky) and Gauss–Newton curvature.
namespace unlearn::bif {

/// The `term` value that asks a HessianVectorProduct for its deterministic (full-data) operator.
constexpr int64_t kFullHessian = -1;

/// v [P] ↦ H v [P]. `term` >= 0 is the index of a LiSSA term, kFullHessian the exact operator.
using HessianVectorProduct = std::function<torch::Tensor(const torch::Tensor& v, int64_t term)>;

/// A scalar function of some leaf tensors (the energy), evaluated for one HVP term (see above).
using EnergyFn = std::function<torch::Tensor(int64_t term)>;

/// What every inverse-HVP solver returns.
struct SolverResult {
  torch::Tensor solution;  ///< x ≈ (H + δI)⁻¹ v, [P]
  /// ‖(H + δI) x − v‖ / ‖v‖ against the deterministic operator (NaN where not computed).
  double residual = 0.0;
  int64_t iterations = 0;  ///< LiSSA terms, CG iterations, 1 for a dense solve
  double seconds = 0.0;    ///< wall-clock time of the solve (Hessian assembly excluded for dense)
};

/// Some leaf tensors (module parameters or a chain state) seen as one flat vector γ. A mask per
/// tensor (bool, same shape) may restrict γ to some entries: e.g. the lower triangle of a
/// full-rank factor, whose upper entries the energy never uses (they would make H singular).
class FlatParameters {
 public:
  FlatParameters() = default;
  /// Every tensor must be a floating-point leaf; `masks` is empty or one per tensor (an
  /// undefined mask keeps every entry).
  explicit FlatParameters(std::vector<torch::Tensor> tensors, std::vector<torch::Tensor> masks = {});

  /// The number of coordinates of γ.
  int64_t numel() const { return numel_; }
  /// The leaf tensors γ is made of, in flattening order.
  const std::vector<torch::Tensor>& tensors() const { return tensors_; }

  /// γ now, detached: [numel].
  torch::Tensor values() const;
  /// Per-tensor tensors (gradients, ...) of the tensors' shapes -> [numel] (undefined = zeros).
  torch::Tensor flatten(const std::vector<torch::Tensor>& per_tensor) const;
  /// [numel] -> one tensor per leaf, of its shape (zeros outside the masks).
  std::vector<torch::Tensor> unflatten(const torch::Tensor& flat) const;
  /// ∂scalar/∂γ as [numel]; with create_graph the result is differentiable (for HVPs).
  torch::Tensor gradient(const torch::Tensor& scalar, bool create_graph = false,
                         bool retain_graph = false) const;
  /// γ ← γ + delta, in place and outside autograd.
  void add_(const torch::Tensor& delta) const;

 private:
  std::vector<torch::Tensor> tensors_;
  std::vector<torch::Tensor> masks_;  // undefined: whole tensor
  std::vector<int64_t> sizes_;        // coordinates each tensor contributes
  int64_t numel_ = 0;
};

/// The Hessian-vector product of `energy` by double backward: H v = ∇(∇F · v). A call with
/// term >= 0 re-evaluates energy(term) (so a stochastic energy draws its term's minibatch); the
/// deterministic operator (kFullHessian) builds the graph of ∇F once and reuses it until a leaf's
/// version counter changes (an in-place update of γ), so CG pays one backward per iteration. The
/// energy must otherwise be fixed while the closure is in use (e.g. the same common noise).
HessianVectorProduct hvp_of(EnergyFn energy, FlatParameters params);

/// The full Hessian ∇²F (deterministic term kFullHessian) by autograd, one backward per row:
/// [P, P], symmetrised. P must be <= kMaxDenseParams.
constexpr int64_t kMaxDenseParams = 2048;
/// The full Hessian ∇²F of `energy` (its term kFullHessian) with respect to γ, by autograd, one
/// backward per row: [P, P] symmetrised, P = params.numel() <= kMaxDenseParams.
torch::Tensor dense_hessian(const EnergyFn& energy, const FlatParameters& params);

/// Options of the LiSSA series (lissa()): scale s, number of terms T, damping δ, residual and
/// divergence guard.
struct LissaOptions {
  /// s, the scale: the recursion converges iff every eigenvalue of s(H + δI) lies in (0, 2).
  /// The papers use s = c/n (c = 1 for the GMM).
  TORCH_ARG(double, scale) = 1e-3;
  /// T, the number of terms (one HVP each); the error contracts like (1 − s·λ_min)^T.
  TORCH_ARG(int64_t, terms) = 32;
  /// δ >= 0 added to H (0 in the papers).
  TORCH_ARG(double, damping) = 0.0;
  /// Compute the residual against the deterministic operator (one more HVP, term
  /// kFullHessian); otherwise SolverResult::residual is NaN.
  TORCH_ARG(bool, compute_residual) = true;
  /// κ, a divergence guard (0: off, the papers' recursion). When every term's operator
  /// s(H̃_t + δI) has its eigenvalues in [0, 2], ‖I − s(H̃_t + δI)‖ <= 1 and so
  /// ‖h_t‖ <= (t + 1)‖v‖, minibatch terms or not. An iterate above κ(t + 1)‖v‖ (κ >= 1) shows an
  /// expanding direction: a term whose curvature exceeds 2/s, or negative curvature. The result
  /// is then s·h of the last iterate before the first such one (SolverResult::iterations: the
  /// terms kept), at most κ times the largest step a stable series of that length can take,
  /// instead of a vector that grew like |1 − sλ|^T.
  TORCH_ARG(double, guard) = 0.0;
};

/// LiSSA exactly as the papers: h_0 = v; h_t = v + h_{t−1} − s·(H̃_t + δI) h_{t−1}, t = 1..T,
/// where H̃_t = hvp(·, t − 1); the result is s·h_T. No convergence test: T terms are taken
/// (with options.guard() > 0, fewer are kept once the series diverges; the guard reads one flag
/// from the device every 8 terms, to stop early).
SolverResult lissa(const HessianVectorProduct& hvp, const torch::Tensor& v,
                   const LissaOptions& options = {});

/// Options of conjugate_gradient(): damping δ, relative tolerance and iteration cap.
struct CgOptions {
  /// δ >= 0: solves (H + δI) x = v.
  TORCH_ARG(double, damping) = 0.0;
  /// Stop when ‖r‖ / ‖v‖ <= tol (> 0).
  TORCH_ARG(double, tol) = 1e-10;
  /// At most this many iterations (> 0); exact arithmetic needs at most P.
  TORCH_ARG(int64_t, max_iter) = 1000;
};

/// Conjugate gradient on (H + δI) x = v with the deterministic operator (term kFullHessian).
/// Non-positive curvature pᵀ(H + δI)p <= 0 is an error naming it and the damping: H + δI is
/// not positive definite. The residual returned is the recursive one, ‖r_k‖ / ‖v‖.
SolverResult conjugate_gradient(const HessianVectorProduct& hvp, const torch::Tensor& v,
                                const CgOptions& options = {});

/// x = (H + δI)⁻¹ v by Cholesky. H [P, P] symmetric; a matrix that is not positive definite
/// after damping is an error naming δ and P.
SolverResult dense_solve(const torch::Tensor& hessian, const torch::Tensor& v, double damping = 0.0);

/// Which solver a forgetting step uses, with the options of each.
enum class SolverKind { kLissa, kConjugateGradient, kDense };
/// "lissa", "cg" or "dense".
std::string to_string(SolverKind kind);
/// Inverse of to_string; an unknown name is an error listing the allowed ones.
SolverKind solver_kind_from_string(const std::string& name);

/// Which inverse-HVP solver a forgetting step uses (kind) and the options of each, plus the
/// data-parallel averaging of its operator.
struct InverseHvpOptions {
  /// The solver: LiSSA (default), conjugate gradient or a dense Cholesky solve.
  TORCH_ARG(SolverKind, kind) = SolverKind::kLissa;
  /// Used when kind is kLissa.
  TORCH_ARG(LissaOptions, lissa) = {};
  /// Used when kind is kConjugateGradient.
  TORCH_ARG(CgOptions, cg) = {};
  /// δ for the dense solve.
  TORCH_ARG(double, dense_damping) = 0.0;
  /// Data parallel (inference::DataParallel::average): each rank's energy is its share of the
  /// data (the rank's rows ×W), so every HVP — and the dense Hessian — is replaced in place by
  /// its mean over the ranks before the solver uses it. Every rank must run the same solve.
  /// Empty: one process.
  TORCH_ARG(std::function<void(std::vector<torch::Tensor>&)>, average) = nullptr;
};

/// Dispatches to the chosen solver. The dense solver assembles ∇²F with dense_hessian(energy,
/// params) (its time is included in `seconds`); the others use hvp_of(energy, params).
SolverResult solve_inverse_hvp(const EnergyFn& energy, const FlatParameters& params,
                               const torch::Tensor& v, const InverseHvpOptions& options);

/// The same for an operator given only as a product (e.g. gauss_newton_vp): the dense solver
/// assembles its P columns H e_i from the deterministic operator (P <= kMaxDenseParams).
SolverResult solve_inverse_operator(const HessianVectorProduct& hvp, const torch::Tensor& v,
                                    const InverseHvpOptions& options);

}  // namespace unlearn::bif
