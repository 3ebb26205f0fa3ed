#include "forget_bif.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

#include "progress.h"
#include "unlearn/unlearning/bif/vi_bif.h"

namespace unlearn::app {
namespace {

bif::InverseHvpOptions solver_options(const BifArgs& a) {
  return bif::InverseHvpOptions()
      .kind(bif::solver_kind_from_string(a.solver))
      .lissa(bif::LissaOptions().terms(a.lissa_terms).scale(a.lissa_scale).damping(a.damping).guard(a.lissa_guard))
      .cg(bif::CgOptions().tol(a.cg_tol).max_iter(a.cg_max_iter).damping(a.damping))
      .dense_damping(a.damping);
}

nlohmann::json options_json(const BifArgs& a, int64_t batch) {
  nlohmann::json o{{"solver", a.solver}, {"removal_batch", batch}, {"damping", a.damping}, {"seed", a.seed}};
  if (a.solver == "lissa") {
    o["lissa_terms"] = a.lissa_terms;
    if (a.lissa_guard > 0) o["lissa_guard"] = a.lissa_guard;
    o["hvp_batch"] = a.hvp_batch;
    if (a.lissa_c > 0) o["lissa_c"] = a.lissa_c;
    else o["lissa_scale"] = a.lissa_scale;
  }
  if (a.solver == "cg") {
    o["cg_tol"] = a.cg_tol;
    o["cg_max_iter"] = a.cg_max_iter;
  }
  return o;
}

/// Forgets `ids` in removal batches of `batch`: `step(current, removed)` does one Newton step.
/// The certificate summarises the steps: the solves' worst relative residual ‖(H + δI)Δ − ∇h‖/‖∇h‖
/// (how exactly each Newton step was taken) and the largest step ‖Δ‖.
nlohmann::json run_batches(const data::Dataset& data, const torch::Tensor& ids, int64_t batch,
                           const std::function<bif::BifStep(const data::Dataset&, const data::Batch&)>& step,
                           const OutputMode& output) {
  const int64_t k = ids.size(0);
  const int64_t batches = (k + batch - 1) / batch;
  Progress progress(output.progress("bif", batches, "residual"));
  data::Dataset current = data;
  double max_residual = 0, max_step = 0;
  int64_t iterations = 0;
  bool residual_known = true;
  nlohmann::json seconds = nlohmann::json::array();
  for (int64_t b = 0; b < batches; ++b) {
    const auto t0 = std::chrono::steady_clock::now();
    auto batch_ids = ids.narrow(0, b * batch, std::min(batch, k - b * batch));
    auto s = step(current, current.subset(batch_ids).batch());
    current = current.erase(batch_ids);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (std::isfinite(s.solve.residual)) max_residual = std::max(max_residual, s.solve.residual);
    else residual_known = false;
    max_step = std::max(max_step, s.solve.solution.norm().item<double>());
    iterations += s.solve.iterations;
    progress.update(b + 1, s.solve.residual);
  }
  progress.finish();
  return {{"kind", "bif_newton_step"},
          {"batches", batches},
          {"max_relative_residual", residual_known ? json_number(max_residual) : nlohmann::json(nullptr)},
          {"max_step_norm", max_step},
          {"solver_iterations", iterations},
          {"batch_seconds", seconds}};
}

int64_t batch_size(const BifArgs& a, const torch::Tensor& ids) {
  return a.removal_batch > 0 ? std::min(a.removal_batch, ids.size(0)) : ids.size(0);
}

}  // namespace

void add_bif_options(CLI::App& cmd, BifArgs& a) {
  const std::string g = "BIF (--method bif)";
  cmd.add_option("--solver", a.solver, "inverse-HVP solver: cg, lissa or dense (default cg)")
      ->check(CLI::IsMember({"cg", "lissa", "dense"}))->group(g);
  cmd.add_option("--removal-batch", a.removal_batch, "ids per Newton step (default: the whole request)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))->group(g);
  cmd.add_option("--mc-samples", a.mc_samples, "VI runs: Monte Carlo samples of the energy (default 64)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->group(g);
  cmd.add_option("--sample-steps", a.sample_steps, "SG-MCMC runs: chain steps per batch that H and ∇h average over (default 5)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->group(g);
  cmd.add_option("--hessian-states", a.hessian_states,
                 "SG-MCMC runs: H and ∇h average over the last K of those states (default 0: all)")
      ->check(CLI::NonNegativeNumber)->group(g);
  cmd.add_flag("--refresh-bank", a.refresh_bank,
               "SG-MCMC runs: after each batch the corrected chain state replaces the bank's oldest sample")
      ->group(g);
  cmd.add_option("--curvature", a.curvature,
                 "SG-MCMC runs: the curvature inverted, hessian (the papers', default) or gauss_newton (the prior's "
                 "Hessian + the likelihood's generalised Gauss-Newton matrix: positive semi-definite; classifiers)")
      ->check(CLI::IsMember({"hessian", "gauss_newton"}))->group(g);
  cmd.add_option("--curvature-batch", a.curvature_batch,
                 "SG-MCMC runs: rows the curvature of CG / dense solves is estimated on, drawn once per removal "
                 "batch and weighted n/rows (default 0: every row)")
      ->check(CLI::NonNegativeNumber)->group(g);
  cmd.add_option("--damping", a.damping, "δ added to the Hessian (default 0)")->check(CLI::NonNegativeNumber)->group(g);
  cmd.add_option("--lissa-terms", a.lissa_terms, "LiSSA: terms T (default 32)")->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->group(g);
  cmd.add_option("--lissa-guard", a.lissa_guard,
                 "LiSSA: divergence guard κ, 0 (off, default) or >= 1: keep the terms before the first iterate h_t "
                 "above κ(t + 1)·||∇h||")
      ->check([](const std::string& v) {
        double k = -1;
        try {
          k = std::stod(v);
        } catch (const std::exception&) {
        }
        return k == 0 || k >= 1 ? std::string() : "must be 0 (off) or >= 1, got " + v;
      })
      ->group(g);
  auto* c = cmd.add_option("--lissa-c", a.lissa_c, "LiSSA: scale s = c / n, n the data left (default 1)")
                ->check(CLI::PositiveNumber)->group(g);
  // A scale given as such replaces the papers' s = c / n.
  cmd.add_option("--lissa-scale", a.lissa_scale, "LiSSA: the scale s itself (instead of c / n)")
      ->check(CLI::PositiveNumber)->group(g)->excludes(c)->each([&a](const std::string&) { a.lissa_c = 0; });
  cmd.add_option("--hvp-batch", a.hvp_batch, "LiSSA: rows per Hessian term (default 0: all)")->check(CLI::NonNegativeNumber)->group(g);
  cmd.add_option("--cg-tol", a.cg_tol, "CG: relative residual to stop at (default 1e-10)")->check(CLI::PositiveNumber)->group(g);
  cmd.add_option("--cg-max-iter", a.cg_max_iter, "CG: iteration limit (default 1000)")->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->group(g);
}

BifOutcome bif_forget_gaussian(Model& model, GaussianPosteriorImpl& posterior, const data::Dataset& current,
                               const torch::Tensor& ids, const BifArgs& a, const OutputMode& output,
                               const inference::DataParallel& parallel) {
  const int64_t batch = batch_size(a, ids);
  auto opts = bif::ViBifOptions()
                  .energy(bif::ViEnergyOptions()
                              .mc_samples(a.mc_samples)
                              // Exact E_q of quadratics (and a symmetric H estimate) whenever it is possible.
                              .moment_matched_noise(a.mc_samples > model.num_params())
                              .hvp_batch_size(a.hvp_batch)
                              .parallel(parallel))
                  .solver(solver_options(a))
                  .batch_size(batch)
                  .lissa_c(a.lissa_c)
                  .seed(a.seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(a.seed);
  BifOutcome out;
  out.options = options_json(a, batch);
  out.options["mc_samples"] = a.mc_samples;
  out.certificate = run_batches(current, ids, batch, [&](const data::Dataset& cur, const data::Batch& removed) {
    return bif::vi_bif_step(model, posterior, cur, removed, opts, gen);
  }, output);
  return out;
}

BifOutcome bif_forget_chain(Model& model, bif::SgmcmcChainState& chain, torch::Tensor& samples,
                            const data::Dataset& current, const torch::Tensor& ids, int64_t chain_batch_size,
                            const BifArgs& a, const OutputMode& output, const inference::DataParallel& parallel) {
  const int64_t batch = batch_size(a, ids);
  auto opts = bif::SgmcmcBifOptions()
                  .solver(solver_options(a))
                  .batch_size(batch)
                  .sample_steps(a.sample_steps)
                  .hessian_states(a.hessian_states)
                  .refresh_samples(a.refresh_bank)
                  .minibatch_size(chain_batch_size)
                  .hvp_batch_size(a.hvp_batch)
                  .curvature(bif::curvature_from_string(a.curvature))
                  .curvature_batch_size(a.curvature_batch)
                  .lissa_c(a.lissa_c)
                  .parallel(parallel)
                  .seed(a.seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(a.seed);
  BifOutcome out;
  out.options = options_json(a, batch);
  out.options["sample_steps"] = a.sample_steps;
  out.options["hessian_states"] = a.hessian_states;
  out.options["refresh_bank"] = a.refresh_bank;
  out.options["curvature"] = a.curvature;
  out.options["curvature_batch"] = a.curvature_batch;
  out.certificate = run_batches(current, ids, batch, [&](const data::Dataset& cur, const data::Batch& removed) {
    return bif::sgmcmc_bif_step(model, chain, samples, cur, removed, opts, gen);
  }, output);
  return out;
}

}  // namespace unlearn::app
