// The GMM study of the BIF papers (issue 6): train VI, SGLD and SGHMC on D (origin), retrain on
// D_r (target), forget the erased points in sequential requests with every inverse-HVP solver
// (processed), and compare centres, certificates and costs. Training and retraining go through
// train_posterior, forgetting through forget_request with the bif method (docs/architecture.md,
// "The request loop", "Retraining").
#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "gmm_bif/gmm_bif_setup.h"
#include "unlearn/io/atomic_file.h"
#include "unlearn/metrics/predictive.h"
#include "unlearn/studies/results_table.h"
#include "unlearn/studies/studies.h"
#include "unlearn/unlearning/bif/vi_bif.h"
#include "unlearn/unlearning/methods.h"
#include "unlearn/unlearning/request.h"

namespace unlearn::studies {
namespace {
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Row {
  std::string method, solver;
  double origin_to_target = 0, processed_to_target = 0, certificate = 0;
  double forget_total = 0, forget_per_request = 0, retrain = 0;
  double max_residual = std::numeric_limits<double>::quiet_NaN();  ///< NaN: none computed
  double solve_total = 0;  ///< seconds inside the inverse-HVP solves (Hessian assembly included)
};

bif::InverseHvpOptions solver_options(const GmmBifConfig& c, const std::string& name) {
  return bif::InverseHvpOptions()
      .kind(bif::solver_kind_from_string(name))
      .lissa(bif::LissaOptions().terms(c.lissa_terms).damping(c.damping).compute_residual(false))
      .cg(bif::CgOptions().tol(c.cg_tol).max_iter(c.cg_max_iter).damping(c.damping))
      .dense_damping(c.damping);
}

bif::ViEnergyOptions vi_energy(const GmmBifConfig& c) {
  return bif::ViEnergyOptions()
      .mc_samples(c.vi_energy_samples)
      .moment_matched_noise(c.vi_energy_samples > 2 * c.components)
      .hvp_batch_size(c.hvp_batch_size);
}

// BIF with solver `s` for both kinds of posterior; a diverged step is recorded, not refused.
// VI: every step draws the polish's common random numbers (fixed_noise, seeded with the request's
// seed; see vi_bif.h). Chains: the GMM's closed-form likelihood Hessians unless the config says no.
std::unique_ptr<Unlearner> bif_method(const GmmBifConfig& c, const std::string& s) {
  auto vi = bif::ViBifOptions().energy(vi_energy(c)).solver(solver_options(c, s)).lissa_c(c.lissa_c);
  auto chain = bif::SgmcmcBifOptions()
                   .solver(solver_options(c, s))
                   .sample_steps(c.sample_steps)
                   .minibatch_size(c.batch_size)
                   .hvp_batch_size(c.hvp_batch_size)
                   .lissa_c(c.lissa_c);
  return bif_unlearner(BifOptions()
                           .vi(vi)
                           .sgmcmc(chain)
                           .moment_matched_noise(vi.energy().moment_matched_noise())
                           .vi_energy(c.vi_energy == "closed_form" ? ViEnergyForm::kClosedForm : ViEnergyForm::kMonteCarlo)
                           .fixed_noise(true)
                           .hessian(c.closed_form_hessian ? HessianSource::kClosedForm : HessianSource::kAutograd)
                           .stop_on_divergence(false));
}

// Forgets every erased id from `origin` in requests of request_size with solver `s`; the row's
// costs and certificates come from the request's batch records.
RequestResult forget(const GmmBifConfig& c, GmmSetup& g, const PosteriorState& origin, const std::string& s,
                     uint64_t seed, Row& row) {
  auto method = bif_method(c, s);
  ForgetContext ctx;
  ctx.seed = seed;
  auto r = forget_request(*method, *g.model, origin, g.ds, g.erased, ctx,
                          RequestOptions().batch_size(c.request_size).allow_non_finite(true));
  for (const auto& b : r.batches) {
    row.forget_total += b.seconds;
    row.solve_total += b.certificate.at("solve_seconds").get<double>();
    const auto& residual = b.certificate.at("relative_residual");
    if (residual.is_number())
      row.max_residual = std::isnan(row.max_residual) ? residual.get<double>()
                                                      : std::max(row.max_residual, residual.get<double>());
  }
  row.forget_per_request = row.forget_total / static_cast<double>(g.requests);
  return r;
}

// VI: mean-field from the starting point, SGD on the ELBO, then (polish) full-data L-BFGS to the
// exact minimiser of the energy on the common random numbers the forgetting steps draw (Newton
// steps assume it). The target is the same recipe on D_r.
TrainingRecipe vi_recipe(const GmmBifConfig& c, const GmmSetup& g) {
  auto recipe = TrainingRecipe()
                    .method(TrainingMethod::kVI)
                    .vi(inference::VIOptions()
                            .steps(c.steps)
                            .batch_size(c.batch_size)
                            .optimizer(c.vi_optimizer)
                            .lr(c.vi_lr)
                            .num_samples(c.vi_train_samples)
                            .analytic_kl(true)
                            .seed(static_cast<uint64_t>(c.seed) + 11))
                    .fresh_posterior([P = g.model->num_params(), scale = c.vi_init_scale, init = g.init] {
                      auto q = std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(P).init_scale(scale));
                      torch::NoGradGuard no_grad;
                      q->loc().copy_(init);
                      return q;
                    });
  if (c.vi_polish) {
    recipe.finish([&c](Model& model, GaussianPosteriorImpl& q, const data::Dataset& d) {
      bif::ExpectedLogLikelihood closed_form;
      if (c.vi_energy == "closed_form") {
        closed_form = [&model](const GaussianPosteriorImpl& post, const data::Batch& b) {
          return model.expected_log_likelihood(post, b);
        };
      }
      bif::ViEnergy energy(model, q, vi_energy(c), closed_form);
      auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed) + 21);
      energy.draw_noise(gen);
      energy.minimise(d, /*max_iter=*/500, /*tolerance_grad=*/1e-9, /*tolerance_change=*/1e-14);
    });
  }
  return recipe;
}

void run_vi(const GmmBifConfig& c, GmmSetup& g, std::vector<Row>& rows, const StudyContext& ctx) {
  const auto recipe = vi_recipe(c, g);
  const auto origin = train_posterior(*g.model, recipe, g.ds);
  const auto t0 = Clock::now();
  const auto target = train_posterior(*g.model, recipe, g.remaining);
  const double retrain = since(t0);
  const auto origin_c = g.centres(origin.gaussian().loc()), target_c = g.centres(target.gaussian().loc());
  const double o2t = models::matched_centre_distance(origin_c, target_c);
  g.plot.add("origin_centre", "vi", "", origin_c);
  g.plot.add("target_centre", "vi", "", target_c);
  for (const auto& s : c.solvers) {
    Row row{"vi", s};
    const auto r = forget(c, g, origin, s, static_cast<uint64_t>(c.seed) + 21, row);
    const auto& q = r.state.gaussian();
    row.origin_to_target = o2t;
    row.processed_to_target = models::matched_centre_distance(g.centres(q.loc()), target_c);
    row.certificate = q.kl_divergence(target.gaussian()).item<double>();
    row.retrain = retrain;
    g.plot.add("processed_centre", "vi", s, g.centres(q.loc()));
    rows.push_back(row);
    ctx.say(fmt::format("  vi/{}: processed→target {:.4f} (origin {:.4f})\n", s, row.processed_to_target, o2t));
  }
}

// SGLD / SGHMC: origin and target chains from the same start and seed; the certificate is the
// 1-NN KL estimate between the processed and the target banks.
void run_chain(const GmmBifConfig& c, GmmSetup& g, const std::string& method, std::vector<Row>& rows,
               const StudyContext& ctx) {
  const auto recipe = chain_recipe(method, method == "sgld" ? c.sgld : c.sghmc, c.bank, c.steps, c.batch_size,
                                   static_cast<uint64_t>(c.seed) + 31, g.init);
  const auto origin = train_posterior(*g.model, recipe, g.ds);
  const auto t0 = Clock::now();
  const auto target = train_posterior(*g.model, recipe, g.remaining);
  const double retrain = since(t0);
  const auto target_c = g.centres(target.mean());
  const double o2t = models::matched_centre_distance(g.centres(origin.mean()), target_c);
  g.plot.add("origin_centre", method, "", g.centres(origin.mean()));
  g.plot.add("target_centre", method, "", target_c);
  g.plot.add("origin_sample", method, "", origin.samples());
  g.plot.add("target_sample", method, "", target.samples());
  for (const auto& s : c.solvers) {
    Row row{method, s};
    const auto r = forget(c, g, origin, s, static_cast<uint64_t>(c.seed) + 41, row);
    const auto processed_c = g.centres(r.state.samples().mean(0));
    row.origin_to_target = o2t;
    row.processed_to_target = models::matched_centre_distance(processed_c, target_c);
    row.certificate = metrics::knn_kl_estimate(r.state.samples(), target.samples());
    row.retrain = retrain;
    g.plot.add("processed_centre", method, s, processed_c);
    g.plot.add("processed_sample", method, s, r.state.samples());
    rows.push_back(row);
    ctx.say(fmt::format("  {}/{}: processed→target {:.4f} (origin {:.4f})\n", method, s, row.processed_to_target, o2t));
  }
}

ResultsTable gmm_table(const std::vector<Row>& rows) {
  ResultsTable table({"method", "solver", "origin_to_target", "processed_to_target", "certificate",
                      "forget_seconds_total", "forget_seconds_per_request", "retrain_seconds"});
  for (const auto& r : rows)
    table.add_row()
        .text("method", r.method)
        .text("solver", r.solver)
        .number("origin_to_target", r.origin_to_target)
        .number("processed_to_target", r.processed_to_target)
        .number("certificate", r.certificate)
        .json("certificate_kind", r.method == "vi" ? "kl_gaussian" : "knn_kl")
        .number("forget_seconds_total", r.forget_total)
        .number("forget_seconds_per_request", r.forget_per_request)
        .number("retrain_seconds", r.retrain)
        .json("request_fraction_of_retrain", r.forget_per_request / r.retrain)
        .json("max_solver_residual", r.max_residual)
        .json("solve_seconds_total", r.solve_total);
  return table;
}

std::string terminal_table(const std::vector<Row>& rows) {
  std::string s = fmt::format("{:<6} {:<6} {:>10} {:>10} {:>11} {:>10} {:>12} {:>9} {:>9}\n", "method", "solver",
                              "orig→tgt", "proc→tgt", "certificate", "forget s", "s/request", "retrain s", "req/retr");
  for (const auto& r : rows)
    s += fmt::format("{:<6} {:<6} {:>10.4f} {:>10.4f} {:>11.4g} {:>10.3f} {:>12.5f} {:>9.3f} {:>8.2f}%\n", r.method,
                     r.solver, r.origin_to_target, r.processed_to_target, r.certificate, r.forget_total,
                     r.forget_per_request, r.retrain, 100.0 * r.forget_per_request / r.retrain);
  return s;
}

}  // namespace

StudyResult run_gmm_bif_study(const nlohmann::json& config, const StudyContext& ctx) {
  const auto c = parse_gmm_bif_config(config);
  auto g = gmm_setup(c, ctx.config_dir);
  std::filesystem::create_directories(ctx.out_dir);  // only once the config and data are good
  ctx.say(fmt::format("gmm_bif: {} points, erasing {} in {} requests of {}\n", g.ds.size(), g.erased.size(0),
                      g.requests, c.request_size));
  std::vector<Row> rows;
  auto runs = [&](const std::string& m) { return std::find(c.methods.begin(), c.methods.end(), m) != c.methods.end(); };
  if (runs("vi")) run_vi(c, g, rows, ctx);
  for (const char* m : {"sgld", "sghmc"})
    if (runs(m)) run_chain(c, g, m, rows, ctx);
  gmm_table(rows).write(ctx.out_dir, {{"experiment", "gmm_bif"},
                                      {"config", config},
                                      {"erased", g.erased.size(0)},
                                      {"requests", g.requests}});
  io::write_text_atomic(ctx.out_dir / "gmm_points.csv", g.plot.text);
  StudyResult result;
  result.summary = terminal_table(rows);
  if (c.plot) result.plot_script = "scripts/plot_gmm.py";
  result.plot_files = "gmm plots";
  return result;
}

}  // namespace unlearn::studies
