// The variational Bayesian unlearning study (Nguyen, Low & Jaillet 2020; issue 5): train q(θ|D)
// by VI, retrain q(θ|D_r) from it, unlearn with EUBO and reverse KL (iterative and closed form),
// every λ in one batched call per method, and compare predictives on D_e and D_r with the retrain
// (vbu_table.cpp). Training and retraining go through train_posterior, the methods through
// forget_request (docs/architecture.md, "The request loop", "Retraining").
#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <future>
#include <limits>

#include "unlearn/studies/studies.h"
#include "unlearn/unlearning/methods.h"
#include "unlearn/unlearning/request.h"
#include "unlearn/unlearning/training.h"
#include "vbu/vbu_runs.h"
#include "vbu/vbu_table.h"

namespace unlearn::studies {
namespace {
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// q(θ|D) from N(0, I) of the config's family; the retrain replays it on D_r from q(θ|D) (the
// paper's protocol) with its own seed.
TrainingRecipe vi_recipe(const VbuConfig& c) {
  auto opts = c.model->theta_options();
  auto goptions = GaussianOptions(c.model->num_params()).dtype(opts.dtype().toScalarType()).device(opts.device());
  return TrainingRecipe().method(TrainingMethod::kVI).vi(c.train).fresh_posterior([family = c.family, goptions] {
    return make_gaussian_posterior(family, goptions);
  });
}

// A method with the study's thresholds: without ln λ the options get `lambdas` itself, so that the
// runs report each λ exactly as written. Its seed (ForgetContext) is the study's seed + 2, 3, 4.
std::unique_ptr<Unlearner> make_method(const VbuConfig& c, const std::string& method) {
  auto with_thresholds = [&](auto options) {
    if (c.log_lambdas.empty()) return options.lambdas(c.lambdas);
    return options.log_lambdas(all_log_lambdas(c));
  };
  auto iterative = [&](auto options) {
    return with_thresholds(options).num_samples(c.unlearn_samples).max_steps(c.unlearn_steps).lr(c.unlearn_lr)
        .erased_batch_size(c.erased_batch_size);
  };
  if (method == "eubo") return eubo_unlearner(iterative(EuboOptions()));
  if (method == "rkl") return reverse_kl_unlearner(iterative(ReverseKlOptions()));
  return reverse_kl_closed_form_unlearner(
      with_thresholds(ReverseKlClosedFormOptions()).num_samples(c.closed_form_samples).jitter(c.closed_form_jitter));
}

uint64_t method_seed(const VbuConfig& c, const std::string& method) {
  return c.seed + (method == "eubo" ? 2 : method == "rkl" ? 3 : 4);
}

// Every method on q(θ|D), one request of all of D_e each; every threshold becomes an entry.
void unlearn_all(const VbuConfig& c, const PosteriorState& full, const StudyContext& ctx, VbuRuns& runs) {
  const size_t thresholds = all_log_lambdas(c).size();
  for (const auto& method : c.methods) {
    auto unlearner = make_method(c, method);
    ForgetContext fctx;
    fctx.seed = method_seed(c, method);
    fctx.on_progress = ctx.on_progress;
    const auto t0 = Clock::now();
    auto r = forget_request(*unlearner, *c.model, full, c.dataset, c.erased_ids, fctx);
    for (const auto& v : r.variants) {
      const auto& j = v.report;
      VbuUnlearned u{method, j.at("lambda").get<double>(),
                     j.at("log_lambda").is_null() ? -std::numeric_limits<double>::infinity()
                                                  : j.at("log_lambda").get<double>(),
                     j.at("fraction_inside").get<double>(), std::nullopt, j.at("seconds").get<double>(),
                     v.state.gaussian_ptr()};
      if (j.at("effective_sample_size").is_number()) u.ess = j.at("effective_sample_size").get<double>();
      runs.unlearned.push_back(u);
    }
    runs.reports.push_back(r.batches.at(0).report);
    ctx.say(fmt::format("{}: {} λ values in one batch, {:.1f} s\n", method, thresholds, since(t0)));
  }
}

// Trains q(θ|D), then retrains q(θ|D_r) and unlearns. The retrain and the methods all start from
// q(θ|D) and are independent: with "concurrent" (the default) the retrain runs on a second thread
// while this one unlearns, so a 2-core machine does both at once; their "seconds" are then wall
// times of overlapping work. The retrain's progress is quiet then (the methods have the terminal).
VbuRuns train_and_unlearn(const VbuConfig& c, const StudyContext& ctx) {
  VbuRuns runs;
  const auto recipe = vi_recipe(c);
  const auto t0 = Clock::now();
  runs.full = train_posterior(*c.model, recipe, c.dataset, TrainStart().on_progress(ctx.on_progress).stage("train q(θ|D)"))
                  .gaussian_ptr();
  runs.train_seconds = since(t0);
  ctx.say(fmt::format("trained q(θ|D): {} steps, S = {}, {:.1f} s\n", c.train.steps(), c.train.num_samples(),
                      runs.train_seconds));
  const auto remaining = c.dataset.erase(c.erased_ids);
  auto retrain = [&, quiet = c.concurrent] {
    const auto r0 = Clock::now();
    auto start = TrainStart().from(runs.full).seed(c.seed + 1).stage("retrain");
    if (!quiet) start.on_progress(ctx.on_progress);
    runs.retrain = train_posterior(*c.model, recipe, remaining, start).gaussian_ptr();
    runs.retrain_seconds = since(r0);
    ctx.say(fmt::format("retrained q(θ|D_r) from q(θ|D): {:.1f} s\n", runs.retrain_seconds));
  };
  std::future<void> retraining;  // its destructor waits, also when unlearning throws
  if (c.concurrent) retraining = std::async(std::launch::async, retrain);
  else retrain();
  unlearn_all(c, PosteriorState::gaussian(runs.full), ctx, runs);
  if (retraining.valid()) retraining.get();  // rethrows the retrain's error
  runs.study_seconds = since(t0);
  return runs;
}

}  // namespace

StudyResult run_vbu_study(const nlohmann::json& json, const StudyContext& ctx) {
  const auto c = parse_vbu_config(json, ctx.config_dir);
  std::filesystem::create_directories(ctx.out_dir);  // only once the config and data are good
  ctx.say(fmt::format("data: {} points; erasing {} ({}); model {}\n", c.dataset.size(), c.erased_ids.numel(),
                      c.erase_rule, c.model->architecture()));
  const auto runs = train_and_unlearn(c, ctx);
  // One evaluation generator for the table and then the maps, in that order.
  auto gen = at::detail::createCPUGenerator(c.seed + 5);
  StudyResult result;
  auto table = vbu_table(c, runs, gen, result.summary);
  result.summary += fmt::format(
      "\nwall time of training and unlearning: {:.1f} s (training {:.1f} s, then the retrain {} the unlearning runs)\n",
      runs.study_seconds, runs.train_seconds, c.concurrent ? "concurrently with" : "followed by");
  table.write(ctx.out_dir, vbu_document(json, c, runs));
  write_vbu_maps(c, runs, gen, ctx.out_dir);
  result.plot_script = "scripts/plot.py";
  result.plot_files = "kl_vs_lambda.png, maps.png";
  return result;
}

}  // namespace unlearn::studies
