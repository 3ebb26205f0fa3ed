#include "unlearn/unlearning/bif/sgmcmc_bif.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "unlearn/inference/sghmc.h"
#include "unlearn/inference/sgld.h"
#include "unlearn/random/normal.h"
#include "unlearn/unlearning/bif/gauss_newton.h"

namespace unlearn::bif {
namespace {

using inference::detail::averaged;
using inference::detail::local_share;

using Clock = std::chrono::steady_clock;

void check_options(const SgmcmcBifOptions& o) {
  TORCH_CHECK(o.sample_steps() >= 1, "SGMCMC-BIF: sample_steps = ", o.sample_steps(), " must be >= 1");
  TORCH_CHECK(o.hessian_states() >= 0, "SGMCMC-BIF: hessian_states = ", o.hessian_states(),
              " must be >= 0 (0 = all sample_steps states)");
  TORCH_CHECK(o.minibatch_size() >= -1, "SGMCMC-BIF: minibatch_size = ", o.minibatch_size(),
              " must be >= 0 (0 = full data) or -1 (the chain's batch size)");
  TORCH_CHECK(o.hvp_batch_size() >= 0, "SGMCMC-BIF: hvp_batch_size = ", o.hvp_batch_size(),
              " must be >= 0 (0 = full data)");
  TORCH_CHECK(o.curvature_batch_size() >= 0, "SGMCMC-BIF: curvature_batch_size = ", o.curvature_batch_size(),
              " must be >= 0 (0 = full data)");
  TORCH_CHECK(!(o.curvature_batch_size() > 0 && o.likelihood_hessians()),
              "SGMCMC-BIF: curvature_batch_size subsamples the autograd operator; closed-form likelihood_hessians "
              "always use the full set: leave it 0");
  TORCH_CHECK(o.lissa_c() >= 0, "SGMCMC-BIF: lissa_c = ", o.lissa_c(), " must be >= 0");
  TORCH_CHECK(!(o.parallel() && o.likelihood_hessians()),
              "SGMCMC-BIF: closed-form likelihood_hessians are not supported data-parallel; leave them empty "
              "(autograd HVPs) or run one process");
  TORCH_CHECK(!(o.curvature() == Curvature::kGaussNewton && o.likelihood_hessians()),
              "SGMCMC-BIF: curvature gauss_newton replaces the Hessian; closed-form likelihood_hessians (the exact "
              "Hessian) cannot be used with it");
}


// `size` rows of `data` drawn without replacement (all rows when size is 0 or >= n).
data::Batch random_batch(const data::Dataset& data, int64_t size, torch::Generator& gen) {
  const int64_t n = data.size();
  if (size <= 0 || size >= n) return data.batch();
  auto pos = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong)).narrow(0, 0, size);
  pos = pos.to(data.device());
  return {data.x().index_select(0, pos), data.y().index_select(0, pos), data.ids().index_select(0, pos)};
}

// Σ_rows U over chain states: −Σ_j log p(θ_j) − scale Σ_j Σ_b log p(z_b | θ_j), θ_j = rows of theta.
torch::Tensor energy_sum(Model& model, const torch::Tensor& theta, const data::Batch& batch, double scale) {
  auto ll = model.log_likelihood(theta, batch);  // [J, B]
  auto lp = model.log_prior(theta);              // [J]
  return -(lp.sum() + scale * ll.sum());
}

// −∇² log p(θ): a Gaussian prior's precision (LLᵀ)⁻¹, otherwise the Hessian of −Σ_j log p(θ_j)/J
// by autograd (P small: this path serves models that supply closed-form likelihood Hessians).
torch::Tensor prior_precision(Model& model, const torch::Tensor& thetas) {
  if (auto prior = model.gaussian_prior()) {
    return torch::cholesky_inverse(prior->tril().to(thetas.options()));
  }
  const double J = static_cast<double>(thetas.size(0));
  auto x = torch::zeros({thetas.size(1)}, thetas.options()).requires_grad_(true);
  FlatParameters params({x});
  EnergyFn f = [&model, &thetas, x, J](int64_t) { return -model.log_prior(thetas + x).sum() / J; };
  return dense_hessian(f, params);
}

// The inverse-HVP solve with explicit Hessians from options.likelihood_hessians() (see the header).
// H(b) = prior precision + (n/|b|)/J · Σ_{z∈b} Σ_j −∇² log p(z | θ_j); the deterministic operator
// uses every row of `current`; LiSSA's term t the t-th of T minibatches drawn from term_gen.
SolverResult explicit_hessian_solve(Model& model, const torch::Tensor& thetas, const data::Dataset& current,
                                    const torch::Tensor& gradient, const InverseHvpOptions& solver,
                                    const SgmcmcBifOptions& options, torch::Generator& term_gen) {
  const auto start = Clock::now();
  const int64_t n = current.size();
  const int64_t p = thetas.size(1);
  const double J = static_cast<double>(thetas.size(0));
  const auto& hessians = options.likelihood_hessians();
  auto precision = prior_precision(model, thetas);
  auto full_hessian = [&] {
    auto sum = hessians(thetas, current.batch(), 1);
    TORCH_CHECK(sum.dim() == 3 && sum.size(0) == 1 && sum.size(1) == p && sum.size(2) == p,
                "SGMCMC-BIF: likelihood_hessians must return [1, ", p, ", ", p, "], got ", sum.sizes());
    return precision + sum[0] / J;
  };
  SolverResult result;
  switch (solver.kind()) {
    case SolverKind::kDense:
      result = dense_solve(full_hessian(), gradient, solver.dense_damping());
      break;
    case SolverKind::kConjugateGradient: {
      auto h = full_hessian();
      result = conjugate_gradient([h](const torch::Tensor& v, int64_t) { return torch::mv(h, v); }, gradient,
                                  solver.cg());
      break;
    }
    case SolverKind::kLissa: {
      const int64_t T = solver.lissa().terms();
      const int64_t b = options.hvp_batch_size();
      torch::Tensor terms;  // [T, P, P]
      if (b > 0 && b < n) {
        // T minibatches of b rows in one draw (rows drawn uniformly, with replacement: the same
        // unbiased Hessian estimate as without, and one operator call instead of T permutations).
        auto pos = torch::randint(n, {T * b}, term_gen, torch::TensorOptions().dtype(torch::kLong));
        auto rows = pos.to(current.device());
        data::Batch drawn{current.x().index_select(0, rows), current.y().index_select(0, rows),
                          current.ids().index_select(0, rows)};
        auto per = hessians(thetas, drawn, T);
        TORCH_CHECK(per.dim() == 3 && per.size(0) == T && per.size(1) == p && per.size(2) == p,
                    "SGMCMC-BIF: likelihood_hessians must return [", T, ", ", p, ", ", p, "], got ", per.sizes());
        terms = precision + per * (static_cast<double>(n) / static_cast<double>(b) / J);
      } else {
        terms = full_hessian().unsqueeze(0).expand({T, p, p});
      }
      torch::Tensor full;  // for the residual only, built on first use
      HessianVectorProduct hvp = [&, terms](const torch::Tensor& v, int64_t term) {
        if (term == kFullHessian || term >= T) {
          if (!full.defined()) full = full_hessian();
          return torch::mv(full, v);
        }
        return torch::mv(terms[term], v);
      };
      result = lissa(hvp, gradient, solver.lissa());
      break;
    }
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace

std::string to_string(Curvature curvature) {
  switch (curvature) {
    case Curvature::kHessian:
      return "hessian";
    case Curvature::kGaussNewton:
      return "gauss_newton";
  }
  TORCH_CHECK(false, "unknown curvature");
}

Curvature curvature_from_string(const std::string& name) {
  if (name == "hessian") return Curvature::kHessian;
  if (name == "gauss_newton") return Curvature::kGaussNewton;
  TORCH_CHECK(false, "unknown curvature '", name, "': allowed are hessian, gauss_newton");
}

BifStep sgmcmc_bif_step(Model& model, inference::ChainState& state, torch::Tensor& samples,
                        const data::Dataset& current, const data::Batch& removed,
                        const SgmcmcBifOptions& options, torch::Generator& gen) {
  check_options(options);
  const int64_t p = model.num_params();
  TORCH_CHECK(state.theta.defined() && state.theta.dim() == 1 && state.theta.size(0) == p,
              "SGMCMC-BIF: the chain state must be [", p, "]");
  TORCH_CHECK(state.step_size > 0, "SGMCMC-BIF: the frozen step size ", state.step_size, " must be > 0");
  TORCH_CHECK(removed.size() >= 1, "SGMCMC-BIF: the removal batch is empty");
  TORCH_CHECK(current.size() > removed.size(), "SGMCMC-BIF: removing ", removed.size(), " of ",
              current.size(), " points leaves nothing");
  const int64_t n = current.size();
  const int64_t steps = options.sample_steps();
  const int64_t J = options.hessian_states() > 0 ? std::min(options.hessian_states(), steps) : steps;
  const double eta = state.step_size;
  const auto& parallel = options.parallel();
  // The samplers update in place: work on our own copies (the caller's tensors may be shared).
  state.theta = state.theta.detach().clone();
  state.velocity = state.sghmc() ? (state.velocity.defined() ? state.velocity.detach().clone()
                                                             : torch::zeros_like(state.theta))
                                 : torch::Tensor();

  // 1. samp_T sampler steps on the set that still contains S′, keeping the last J states.
  std::vector<torch::Tensor> states;
  states.reserve(static_cast<size_t>(J));
  for (int64_t j = 0; j < steps; ++j) {
    auto batch = random_batch(current, options.minibatch_size(), gen);
    auto [local, factor] =
        local_share(parallel, batch, static_cast<double>(n) / static_cast<double>(batch.size()));
    auto theta = state.theta.detach().clone().requires_grad_(true);
    auto u = energy_sum(model, theta.unsqueeze(0), local, factor);
    auto grad = averaged(parallel, torch::autograd::grad({u}, {theta})[0].detach());
    auto noise = standard_normal(state.theta.sizes(), state.theta.options(), gen);
    // The samplers' own updates (sgld.h, sghmc.h) at the frozen step size.
    if (state.sghmc()) {
      inference::sghmc_update_(state.theta, state.velocity, grad, eta, state.friction, state.temperature, noise);
    } else {
      inference::sgld_update_(state.theta, grad, eta, state.temperature, noise);
    }
    if (j >= steps - J) states.push_back(state.theta.detach().clone());  // the last J states
  }
  auto thetas = torch::stack(states);  // [J, P]

  // 2. ∇h = (1/J) Σ_j Σ_{z∈S′} −∇ log p(z | θ_j) and H = (1/J) Σ_j ∇²U_S(θ_j), both as functions of
  //    a common displacement x (at 0) of every chain state.
  auto x = torch::zeros({p}, state.theta.options()).requires_grad_(true);
  FlatParameters params({x});
  torch::Tensor gradient;
  {
    auto [local, factor] = local_share(parallel, removed, 1.0);
    auto h = -factor * model.log_likelihood(thetas + x, local).sum() / static_cast<double>(J);
    gradient = averaged(parallel, params.gradient(h));
  }
  const auto term_seed = static_cast<uint64_t>(
      torch::randint(0, std::numeric_limits<int32_t>::max(), {1}, gen, torch::TensorOptions().dtype(torch::kLong))
          .item<int64_t>());
  auto term_gen = std::make_shared<torch::Generator>(at::make_generator<at::CPUGeneratorImpl>(term_seed));
  // The deterministic operator's rows: all of them, or one minibatch fixed for this solve.
  const auto full = random_batch(current, options.curvature_batch_size(), *term_gen);
  const double full_scale = static_cast<double>(n) / static_cast<double>(full.size());
  const int64_t hvp_batch = options.hvp_batch_size();
  // The rows of one curvature term and their weight n/|b|: a fresh minibatch per LiSSA term, all
  // rows for the deterministic operator; then this rank's share.
  auto term_rows = [&parallel, full, full_scale, current, hvp_batch, term_gen, n](int64_t term) {
    data::Batch b = full;
    double scale = full_scale;
    if (term != kFullHessian && hvp_batch > 0 && hvp_batch < n) {
      b = random_batch(current, hvp_batch, *term_gen);
      scale = static_cast<double>(n) / static_cast<double>(hvp_batch);
    }
    return local_share(parallel, b, scale);
  };
  EnergyFn energy = [&model, term_rows, thetas, x, J](int64_t term) {
    auto [local, factor] = term_rows(term);
    return energy_sum(model, thetas + x, local, factor) / static_cast<double>(J);
  };
  InverseHvpOptions solver = options.solver();
  if (parallel) solver.average(parallel.average);
  if (options.lissa_c() > 0) solver.lissa().scale(options.lissa_c() / static_cast<double>(n));
  BifStep step;
  step.gradient = gradient;
  if (options.likelihood_hessians()) {
    step.solve = explicit_hessian_solve(model, thetas, current, gradient, solver, options, *term_gen);
  } else if (options.curvature() == Curvature::kGaussNewton) {
    // Prior: its exact Hessian (a Gaussian's is constant); likelihood: the GGN of the same rows.
    EnergyFn prior = [&model, thetas, x, J](int64_t) { return -model.log_prior(thetas + x).sum() / static_cast<double>(J); };
    ClassifierOutputsFn outputs = [&model, term_rows, thetas, x, J](int64_t term) {
      auto [local, factor] = term_rows(term);
      return ClassifierOutputs{model.predict_log_proba(thetas + x, local.x), factor / static_cast<double>(J)};
    };
    step.solve = solve_inverse_operator(sum_of(hvp_of(prior, params), gauss_newton_vp(outputs, params)), gradient,
                                        solver);  // the solvers time themselves
  } else {
    step.solve = solve_inverse_hvp(energy, params, gradient, solver);
  }

  // 3. θ ← θ + H⁻¹ ∇h on the chain state and every stored sample.
  torch::NoGradGuard no_grad;
  auto delta = step.solve.solution.detach().to(state.theta.dtype());
  state.theta = state.theta + delta;
  if (samples.defined() && samples.numel() > 0) {
    samples = samples + delta.reshape({1, p}).to(samples.dtype());
    if (options.refresh_samples()) {
      // Oldest out, the chain's corrected state in: the bank keeps its size and order (newest last).
      samples = torch::cat({samples.narrow(0, 1, samples.size(0) - 1),
                            state.theta.reshape({1, p}).to(samples.dtype())});
    }
  }
  return step;
}

}  // namespace unlearn::bif
