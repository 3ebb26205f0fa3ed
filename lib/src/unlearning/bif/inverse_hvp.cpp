#include "unlearn/unlearning/bif/inverse_hvp.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>

namespace unlearn::bif {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void check_vector(const torch::Tensor& v, const char* who) {
  TORCH_CHECK(v.defined(), who, ": v is undefined");
  TORCH_CHECK(v.dim() == 1, who, ": v must be a vector [P], got ", v.sizes());
  TORCH_CHECK(v.is_floating_point(), who, ": v must be floating point, got ", v.scalar_type());
}

// ‖(H + δI) x − v‖ / ‖v‖ with the deterministic operator (0/0 -> 0).
double relative_residual(const HessianVectorProduct& hvp, const torch::Tensor& x,
                         const torch::Tensor& v, double damping) {
  const double vnorm = v.norm().item<double>();
  auto r = hvp(x, kFullHessian) + damping * x - v;
  const double rnorm = r.norm().item<double>();
  return vnorm > 0 ? rnorm / vnorm : rnorm;
}

}  // namespace

// ---- FlatParameters -------------------------------------------------------------------------

FlatParameters::FlatParameters(std::vector<torch::Tensor> tensors, std::vector<torch::Tensor> masks)
    : tensors_(std::move(tensors)), masks_(std::move(masks)) {
  TORCH_CHECK(masks_.empty() || masks_.size() == tensors_.size(), "FlatParameters: ",
              masks_.size(), " masks for ", tensors_.size(), " tensors");
  if (masks_.empty()) masks_.resize(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    TORCH_CHECK(t.defined() && t.is_floating_point(), "FlatParameters: tensor ", i,
                " must be a defined floating-point tensor");
    TORCH_CHECK(t.is_leaf(), "FlatParameters: tensor ", i, " must be a leaf (a parameter)");
    if (masks_[i].defined()) {
      TORCH_CHECK(masks_[i].sizes() == t.sizes(), "FlatParameters: mask ", i, " has shape ",
                  masks_[i].sizes(), ", its tensor ", t.sizes());
      masks_[i] = masks_[i].to(t.device(), torch::kBool);
      sizes_.push_back(masks_[i].sum().item<int64_t>());
    } else {
      sizes_.push_back(t.numel());
    }
    numel_ += sizes_.back();
  }
}

torch::Tensor FlatParameters::flatten(const std::vector<torch::Tensor>& per_tensor) const {
  TORCH_CHECK(per_tensor.size() == tensors_.size(), "FlatParameters::flatten: got ",
              per_tensor.size(), " tensors, expected ", tensors_.size());
  std::vector<torch::Tensor> parts;
  parts.reserve(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    auto t = per_tensor[i].defined() ? per_tensor[i] : torch::zeros_like(tensors_[i]);
    parts.push_back(masks_[i].defined() ? t.masked_select(masks_[i]) : t.reshape({-1}));
  }
  if (parts.empty()) return torch::zeros({0}, torch::kFloat64);
  return torch::cat(parts);
}

torch::Tensor FlatParameters::values() const {
  std::vector<torch::Tensor> detached;
  for (const auto& t : tensors_) detached.push_back(t.detach());
  return flatten(detached).clone();
}

std::vector<torch::Tensor> FlatParameters::unflatten(const torch::Tensor& flat) const {
  TORCH_CHECK(flat.dim() == 1 && flat.size(0) == numel_, "FlatParameters::unflatten: expected [",
              numel_, "], got ", flat.sizes());
  std::vector<torch::Tensor> out;
  int64_t offset = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    auto part = flat.narrow(0, offset, sizes_[i]);
    offset += sizes_[i];
    if (masks_[i].defined()) {
      auto full = torch::zeros(tensors_[i].sizes(), flat.options());
      out.push_back(full.masked_scatter(masks_[i], part));
    } else {
      out.push_back(part.reshape(tensors_[i].sizes()));
    }
  }
  return out;
}

torch::Tensor FlatParameters::gradient(const torch::Tensor& scalar, bool create_graph,
                                       bool retain_graph) const {
  TORCH_CHECK(scalar.numel() == 1, "FlatParameters::gradient: the energy must be a scalar, got ",
              scalar.sizes());
  auto grads = torch::autograd::grad({scalar}, tensors_, /*grad_outputs=*/{},
                                     /*retain_graph=*/retain_graph || create_graph, create_graph,
                                     /*allow_unused=*/true);
  return flatten(grads);
}

void FlatParameters::add_(const torch::Tensor& delta) const {
  auto parts = unflatten(delta);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    tensors_[i].add_(parts[i].to(tensors_[i].dtype()));
  }
}

// ---- HVPs and Hessians ------------------------------------------------------------------------

HessianVectorProduct hvp_of(EnergyFn energy, FlatParameters params) {
  TORCH_CHECK(energy, "hvp_of: the energy function is empty");
  // The deterministic operator's gradient graph ∇F (create_graph) is built once and reused by every
  // kFullHessian call (CG iterations, residuals) as long as no leaf changed: each leaf's version
  // counter is recorded, and an in-place update (γ ← γ + Δ) rebuilds it. Stochastic terms (LiSSA)
  // draw their minibatch, so they re-evaluate the energy every call.
  struct Cache {
    torch::Tensor gradient;
    std::vector<int64_t> versions;
  };
  auto cache = std::make_shared<Cache>();
  return [energy = std::move(energy), params = std::move(params), cache](const torch::Tensor& v,
                                                                          int64_t term) {
    TORCH_CHECK(v.dim() == 1 && v.size(0) == params.numel(), "hvp: v must be [",
                params.numel(), "], got ", v.sizes());
    torch::AutoGradMode grad_mode(true);
    torch::Tensor g;
    bool reuse = false;
    if (term == kFullHessian) {
      std::vector<int64_t> versions;
      versions.reserve(params.tensors().size());
      for (const auto& t : params.tensors()) versions.push_back(t._version());
      if (cache->gradient.defined() && cache->versions == versions) {
        g = cache->gradient;
      } else {
        g = params.gradient(energy(term), /*create_graph=*/true);
        cache->gradient = g.requires_grad() ? g : torch::Tensor();
        cache->versions = std::move(versions);
      }
      reuse = true;
    } else {
      g = params.gradient(energy(term), /*create_graph=*/true);
    }
    if (!g.requires_grad()) return torch::zeros_like(v);  // energy affine in γ
    auto gv = (g * v.detach().to(g.dtype())).sum();
    auto grads = torch::autograd::grad({gv}, params.tensors(), {}, /*retain_graph=*/reuse,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    return params.flatten(grads).detach();
  };
}

torch::Tensor dense_hessian(const EnergyFn& energy, const FlatParameters& params) {
  const int64_t p = params.numel();
  TORCH_CHECK(p <= kMaxDenseParams, "dense_hessian: P = ", p, " parameters exceeds the limit of ",
              kMaxDenseParams, " for a dense Hessian; use LiSSA or conjugate gradient");
  TORCH_CHECK(p > 0, "dense_hessian: no parameters");
  torch::AutoGradMode grad_mode(true);
  auto g = params.gradient(energy(kFullHessian), /*create_graph=*/true);
  auto opts = g.options().requires_grad(false);
  auto hessian = torch::zeros({p, p}, opts);
  if (!g.requires_grad()) return hessian;
  for (int64_t i = 0; i < p; ++i) {
    auto grads = torch::autograd::grad({g[i]}, params.tensors(), {}, /*retain_graph=*/i + 1 < p,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    hessian[i] = params.flatten(grads).detach();
  }
  return 0.5 * (hessian + hessian.t());
}

// ---- solvers ------------------------------------------------------------------------------------

SolverResult lissa(const HessianVectorProduct& hvp, const torch::Tensor& v,
                   const LissaOptions& options) {
  TORCH_CHECK(options.scale() > 0 && std::isfinite(options.scale()), "lissa: scale s = ",
              options.scale(), " must be finite and > 0");
  TORCH_CHECK(options.terms() >= 1, "lissa: terms T = ", options.terms(), " must be >= 1");
  TORCH_CHECK(options.damping() >= 0, "lissa: damping = ", options.damping(), " must be >= 0");
  check_vector(v, "lissa");
  const auto start = Clock::now();
  TORCH_CHECK(options.guard() == 0 || options.guard() >= 1, "lissa: guard = ", options.guard(),
              " must be 0 (off) or >= 1 (a stable series has ||h_t|| <= (t + 1) ||v||)");
  torch::NoGradGuard no_grad;
  const double s = options.scale();
  auto vd = v.detach();
  auto h = vd.clone();
  const bool guarded = options.guard() > 0;
  // Guard state on the device of v: `ok` stays true while every iterate was within its limit
  // κ(t + 1)‖v‖ (a NaN one is not), `kept` counts those terms, `safe` is the last such iterate.
  torch::Tensor unit, ok, kept, safe;
  if (guarded) {
    unit = options.guard() * vd.norm();
    ok = torch::ones({}, vd.options().dtype(torch::kBool));
    kept = torch::zeros({}, vd.options().dtype(torch::kLong));
    safe = h;
  }
  // Once the guard trips the remaining terms cannot change the result: look every few terms
  // (one host sync each) and stop early. Data parallel, every rank holds the same averaged
  // iterate, so every rank stops at the same term and the HVPs' collectives stay matched.
  constexpr int64_t kGuardCheckEvery = 8;
  for (int64_t t = 0; t < options.terms(); ++t) {
    auto hh = hvp(h, t);
    auto next = vd + h - s * (hh + options.damping() * h);
    if (guarded) {
      ok = ok.logical_and(next.norm() <= unit * static_cast<double>(t + 2));  // h_{t+1}: t + 2 terms
      kept = kept + ok.to(torch::kLong);
      safe = torch::where(ok, next, safe);
      if ((t + 1) % kGuardCheckEvery == 0 && t + 1 < options.terms() && !ok.item<bool>()) break;
    }
    h = std::move(next);
  }
  SolverResult result;
  result.solution = s * (guarded ? safe : h);
  result.iterations = guarded ? kept.item<int64_t>() : options.terms();
  result.seconds = seconds_since(start);
  result.residual = options.compute_residual()
                        ? relative_residual(hvp, result.solution, vd, options.damping())
                        : std::numeric_limits<double>::quiet_NaN();
  return result;
}

SolverResult conjugate_gradient(const HessianVectorProduct& hvp, const torch::Tensor& v,
                                const CgOptions& options) {
  TORCH_CHECK(options.damping() >= 0 && std::isfinite(options.damping()),
              "conjugate_gradient: damping = ", options.damping(), " must be finite and >= 0");
  TORCH_CHECK(options.tol() > 0, "conjugate_gradient: tol = ", options.tol(), " must be > 0");
  TORCH_CHECK(options.max_iter() >= 1, "conjugate_gradient: max_iter = ", options.max_iter(),
              " must be >= 1");
  check_vector(v, "conjugate_gradient");
  const auto start = Clock::now();
  torch::NoGradGuard no_grad;
  const double delta = options.damping();
  auto b = v.detach();
  const double bnorm = b.norm().item<double>();
  SolverResult result;
  auto x = torch::zeros_like(b);
  if (bnorm == 0) {
    result.solution = x;
    result.seconds = seconds_since(start);
    return result;
  }
  auto r = b.clone();
  auto p = r.clone();
  double rr = r.dot(r).item<double>();
  int64_t k = 0;
  while (k < options.max_iter() && std::sqrt(rr) / bnorm > options.tol()) {
    auto ap = hvp(p, kFullHessian) + delta * p;
    const double pap = p.dot(ap).item<double>();
    TORCH_CHECK(pap > 0, "conjugate_gradient: non-positive curvature pᵀ(H + δI)p = ", pap,
                " at iteration ", k, " with damping δ = ", delta,
                ": H + δI is not positive definite (increase the damping)");
    const double alpha = rr / pap;
    x = x + alpha * p;
    r = r - alpha * ap;
    const double rr_new = r.dot(r).item<double>();
    p = r + (rr_new / rr) * p;
    rr = rr_new;
    ++k;
  }
  result.solution = x;
  result.residual = std::sqrt(rr) / bnorm;
  result.iterations = k;
  result.seconds = seconds_since(start);
  return result;
}

SolverResult dense_solve(const torch::Tensor& hessian, const torch::Tensor& v, double damping) {
  TORCH_CHECK(damping >= 0 && std::isfinite(damping), "dense_solve: damping = ", damping,
              " must be finite and >= 0");
  check_vector(v, "dense_solve");
  const int64_t p = v.size(0);
  TORCH_CHECK(hessian.dim() == 2 && hessian.size(0) == p && hessian.size(1) == p,
              "dense_solve: the Hessian must be [", p, ", ", p, "], got ", hessian.sizes());
  const auto start = Clock::now();
  torch::NoGradGuard no_grad;
  auto h = hessian.detach().to(v.scalar_type());
  auto a = h + damping * torch::eye(p, h.options());
  auto [chol, info] = torch::linalg_cholesky_ex(a);
  const int64_t bad = info.item<int64_t>();
  TORCH_CHECK(bad == 0, "dense_solve: H + δI (P = ", p, ", damping δ = ", damping,
              ") is not positive definite (leading minor ", bad,
              " fails); increase the damping or use another solver");
  auto x = torch::cholesky_solve(v.detach().unsqueeze(1), chol).squeeze(1);
  SolverResult result;
  result.solution = x;
  const double vnorm = v.norm().item<double>();
  const double rnorm = (torch::mv(a, x) - v.detach()).norm().item<double>();
  result.residual = vnorm > 0 ? rnorm / vnorm : rnorm;
  result.iterations = 1;
  result.seconds = seconds_since(start);
  return result;
}

std::string to_string(SolverKind kind) {
  switch (kind) {
    case SolverKind::kLissa:
      return "lissa";
    case SolverKind::kConjugateGradient:
      return "cg";
    case SolverKind::kDense:
      return "dense";
  }
  return "unknown";
}

SolverKind solver_kind_from_string(const std::string& name) {
  if (name == "lissa") return SolverKind::kLissa;
  if (name == "cg") return SolverKind::kConjugateGradient;
  if (name == "dense") return SolverKind::kDense;
  TORCH_CHECK(false, "unknown inverse-HVP solver '", name, "' (allowed: lissa, cg, dense)");
}

namespace {

// Data parallel: every rank computes the same sequence of HVPs, so the collectives pair up.
torch::Tensor rank_mean(const InverseHvpOptions& options, const torch::Tensor& t) {
  if (!options.average()) return t;
  std::vector<torch::Tensor> v{t.contiguous()};
  options.average()(v);
  return v[0];
}

HessianVectorProduct rank_averaged(HessianVectorProduct local, const InverseHvpOptions& options) {
  if (!options.average()) return local;
  return [local = std::move(local), options](const torch::Tensor& v, int64_t term) {
    return rank_mean(options, local(v, term));
  };
}

}  // namespace

SolverResult solve_inverse_hvp(const EnergyFn& energy, const FlatParameters& params,
                               const torch::Tensor& v, const InverseHvpOptions& options) {
  if (options.kind() == SolverKind::kDense) {
    const auto start = Clock::now();
    auto hessian = rank_mean(options, dense_hessian(energy, params));
    auto result = dense_solve(hessian, v, options.dense_damping());
    result.seconds = seconds_since(start);
    return result;
  }
  return solve_inverse_operator(hvp_of(energy, params), v, options);
}

SolverResult solve_inverse_operator(const HessianVectorProduct& local_hvp, const torch::Tensor& v,
                                    const InverseHvpOptions& options) {
  check_vector(v, "solve_inverse_operator");
  auto hvp = rank_averaged(local_hvp, options);
  switch (options.kind()) {
    case SolverKind::kLissa:
      return lissa(hvp, v, options.lissa());
    case SolverKind::kConjugateGradient:
      return conjugate_gradient(hvp, v, options.cg());
    case SolverKind::kDense: {
      const int64_t p = v.size(0);
      TORCH_CHECK(p <= kMaxDenseParams, "solve_inverse_operator: a dense solve needs P <= ", kMaxDenseParams,
                  ", got P = ", p, "; use lissa or cg");
      const auto start = Clock::now();
      // Column i = H e_i of the deterministic operator; symmetrised like dense_hessian.
      auto eye = torch::eye(p, v.options());
      std::vector<torch::Tensor> columns;
      columns.reserve(static_cast<size_t>(p));
      for (int64_t i = 0; i < p; ++i) columns.push_back(hvp(eye[i], kFullHessian));
      auto h = torch::stack(columns, 1);
      auto result = dense_solve(0.5 * (h + h.t()), v, options.dense_damping());
      result.seconds = seconds_since(start);
      return result;
    }
  }
  TORCH_CHECK(false, "solve_inverse_operator: unknown solver kind");
}

}  // namespace unlearn::bif
