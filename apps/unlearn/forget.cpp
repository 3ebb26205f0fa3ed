// `unlearn forget RUN_DIR --ids 3,17,42 | --ids-file FILE --method exact|eubo|rkl|rkl_closed|bif|retrain`:
// writes the next generation and appends an audit line. Bad requests change nothing on disk.
#include <chrono>
#include <ctime>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "commands.h"
#include "distributed_args.h"
#include "evaluation.h"
#include "forget_bif.h"
#include "output.h"
#include "progress.h"
#include "run_store.h"
#include "unlearn/data/csv.h"
#include "unlearn/distributed/data_parallel.h"
#include "unlearn/io/audit_log.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/run_dir.h"
#include "unlearn/unlearning/eubo.h"
#include "unlearn/unlearning/exact_conjugate.h"
#include "unlearn/unlearning/reverse_kl.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;

// Data parallel (distributed_args.h): the run's processes; rank 0 alone writes and prints.
std::shared_ptr<distributed::Cluster> g_cluster = distributed::local_cluster();

struct ForgetArgs {
  std::string run_dir;
  std::string ids;
  std::string ids_file;
  std::string method = "exact";
  double lambda = 0.0;
  std::optional<double> log_lambda;  ///< the threshold as ln λ (replaces lambda): λ below a double's range
  int64_t steps = 5000;
  int64_t num_samples = 1000;
  double lr = 1e-3;
  uint64_t seed = 0;
  BifArgs bif;
  OutputMode output;
  DistributedArgs dist;
};

torch::Tensor parse_ids(const ForgetArgs& a) {
  if (a.ids.empty() == a.ids_file.empty())
    throw io::ConfigError("forget needs exactly one of --ids and --ids-file");
  if (!a.ids_file.empty()) {
    try {
      return data::read_id_list(a.ids_file);
    } catch (const c10::Error& e) {
      throw io::ConfigError(std::string("--ids-file: ") + e.what_without_backtrace());
    }
  }
  std::vector<int64_t> ids;
  std::stringstream ss(a.ids);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      ids.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw io::ConfigError("--ids: '" + item + "' is not an integer id");
    }
  }
  if (ids.empty()) throw io::ConfigError("--ids is empty");
  return torch::tensor(ids, torch::kLong);
}

/// Rejects duplicate, unknown and already-erased ids, naming them, and a request that would
/// leave no data.
void check_request(const torch::Tensor& ids, const Generation& g) {
  auto [uniq, inverse, counts] = torch::_unique2(ids, /*sorted=*/true, false, /*return_counts=*/true);
  auto dup = uniq.masked_select(counts > 1);
  if (dup.numel() > 0) throw io::ConfigError("duplicate ids in the request: " + data::describe_ids(dup));
  auto known = torch::isin(ids, g.trained_ids);
  if (!known.all().item<bool>()) {
    auto missing = ids.masked_select(known.logical_not());
    auto erased = missing.masked_select(torch::isin(missing, g.erased_ids));
    auto unknown = missing.masked_select(torch::isin(missing, g.erased_ids).logical_not());
    std::string msg;
    if (erased.numel() > 0) msg += "already erased ids: " + data::describe_ids(erased);
    if (unknown.numel() > 0)
      msg += (msg.empty() ? "" : "; ") + std::string("unknown ids: ") + data::describe_ids(unknown);
    throw io::ConfigError(msg + " (generation " + std::to_string(g.number) + " was trained on " +
                          std::to_string(g.trained_ids.numel()) + " ids)");
  }
  if (ids.numel() >= g.trained_ids.numel())
    throw io::ConfigError("the request erases all " + std::to_string(g.trained_ids.numel()) +
                          " ids generation " + std::to_string(g.number) + " was trained on: nothing would remain");
}

/// Which methods a run's posterior allows; anything else is a usage error naming the choices.
void check_method(const ForgetArgs& a, const RunConfig& c) {
  if (c.is_sgmcmc()) {
    if (a.method != "bif" && a.method != "retrain")
      throw io::ConfigError("--method " + a.method + " needs a Gaussian (VI or exact) posterior; this run holds " +
                            c.method + " samples: use --method bif or retrain");
    if (a.method == "bif" && a.bif.curvature == "gauss_newton" && 
        !is_classifier(*c.model, c.dataset, c.model->init_theta().unsqueeze(0)))
      throw io::ConfigError("--curvature gauss_newton needs a classifier (softmax outputs); this run's model is " +
                            c.model->architecture() + ": use --curvature hessian");
    return;
  }
  if (a.bif.curvature != "hessian")
    throw io::ConfigError("--curvature " + a.bif.curvature + " applies to SG-MCMC runs (sgld, sghmc); this run is " +
                          c.method + ", whose BIF energy is over the variational parameters: leave --curvature out");
  if (a.method == "exact" && !(dynamic_cast<ConjugateGaussianLikelihood*>(c.model.get()) && c.model->gaussian_prior()))
    throw io::ConfigError("--method exact needs a conjugate Gaussian model (linear_regression); this run's model is " +
                          c.model->architecture() + ": use eubo, rkl, rkl_closed, bif or retrain");
}

/// The Gaussian methods: returns the new posterior and fills the audit options.
std::shared_ptr<GaussianPosteriorImpl> forget_gaussian(const ForgetArgs& a, const RunConfig& c, const Generation& g,
                                                       const data::Dataset& current, const data::Dataset& erased,
                                                       const data::Dataset& remaining, const torch::Tensor& ids,
                                                       nlohmann::json& options, nlohmann::json& certificate) {
  if (a.method == "exact") return exact_unlearn(*c.model, *g.posterior, erased.batch());
  if (a.method == "bif") {
    auto q = g.posterior->copy();
    // W > 1: every rank steps over the index set; each evaluates its own rows (W = 1: current).
    auto sharded = distributed::shard_for_training(g_cluster, current);
    auto outcome = bif_forget_gaussian(*c.model, *q, sharded.index, ids, a.bif, a.output, sharded.parallel);
    options = outcome.options;
    certificate = outcome.certificate;
    return q;
  }
  if (a.method == "retrain") {
    if (c.method == "exact") {
      auto [mean, cov] = exact_conjugate_posterior(*c.model, remaining.batch());
      auto q = make_posterior(c);
      q->set_moments(mean, cov);
      return q;
    }
    // As in the VBU paper, retraining starts at q(θ|D) and runs the training schedule on D_r.
    options = {{"steps", c.vi.steps()}, {"seed", c.vi.seed()}};
    auto q = g.posterior->copy();
    auto sharded = distributed::shard_for_training(g_cluster, remaining);  // W = 1: D_r itself
    inference::VITrainer trainer(c.model, q, sharded.index, c.vi);
    trainer.set_data_parallel(sharded.parallel);
    Progress progress(a.output.progress("retrain", c.vi.steps(), "-ELBO"));
    trainer.train(progress.attach({}));
    return q;
  }
  // eubo, rkl, rkl_closed: the variational methods with the adjusted likelihood.
  options = {{"lambda", a.lambda}, {"seed", a.seed}};
  if (a.log_lambda) options["log_lambda"] = *a.log_lambda;
  // One threshold, as λ or as ln λ (the options' log_lambdas replaces lambdas when given).
  const std::vector<double> log_lambdas = a.log_lambda ? std::vector<double>{*a.log_lambda} : std::vector<double>{};
  // Each rank passes its own rows of D_e and a sum that adds the other ranks' (W = 1: all of D_e).
  auto share = distributed::erased_share(
      g_cluster, distributed::shard(current, g_cluster->world_size(), g_cluster->rank()), ids);
  // Progress reads the objective every progress.every() steps; nothing else changes.
  Progress progress(a.output.progress(a.method, a.steps, a.method == "eubo" ? "EUBO" : "objective"));
  VbuProgressFn on_progress;
  if (!a.output.quiet) {
    on_progress = [&progress](int64_t steps, int64_t, const std::vector<double>& objective) {
      progress.update(steps, objective.at(0));
    };
  }
  VbuResult res;
  if (a.method == "eubo") {
    options.update({{"steps", a.steps}, {"num_samples", a.num_samples}, {"lr", a.lr}});
    res = eubo_unlearn(*c.model, *g.posterior, share.erased,
                       EuboOptions().lambdas({a.lambda}).log_lambdas(log_lambdas).max_steps(a.steps).num_samples(a.num_samples).lr(a.lr).seed(a.seed)
                           .erased_log_likelihood(share.sum).progress_every(progress.every()).on_progress(on_progress));
    progress.finish();
  } else if (a.method == "rkl") {
    options.update({{"steps", a.steps}, {"num_samples", a.num_samples}, {"lr", a.lr}});
    res = reverse_kl_unlearn(*c.model, *g.posterior, share.erased,
                             ReverseKlOptions().lambdas({a.lambda}).log_lambdas(log_lambdas).max_steps(a.steps).num_samples(a.num_samples)
                                 .lr(a.lr).seed(a.seed).erased_log_likelihood(share.sum)
                                 .progress_every(progress.every()).on_progress(on_progress));
    progress.finish();
  } else {
    options["num_samples"] = a.num_samples;
    res = reverse_kl_closed_form(*c.model, *g.posterior, share.erased,
                                 ReverseKlClosedFormOptions().lambdas({a.lambda}).log_lambdas(log_lambdas).num_samples(a.num_samples).seed(a.seed)
                                     .erased_log_likelihood(share.sum));
  }
  nlohmann::json report;
  to_json(report, res.runs.at(0));
  report.erase("objective_trace");
  options["report"] = report;
  return res.runs.at(0).posterior;
}

/// The SG-MCMC methods, on a copy of the chain and bank: bif corrects them, retrain reruns the
/// chain on D_r from the model's starting point with the run's options.
void forget_chain(const ForgetArgs& a, const RunConfig& c, Generation& g, const data::Dataset& current,
                  const data::Dataset& remaining, const torch::Tensor& ids, nlohmann::json& options,
                  nlohmann::json& certificate) {
  if (a.method == "bif") {
    g.chain.theta = g.chain.theta.clone();
    if (g.chain.velocity.defined()) g.chain.velocity = g.chain.velocity.clone();
    g.samples = g.samples.clone();
    auto sharded = distributed::shard_for_training(g_cluster, current);  // as for the Gaussian runs
    auto outcome = bif_forget_chain(*c.model, g.chain, g.samples, sharded.index, ids, c.sgmcmc.batch_size(), a.bif,
                                    a.output, sharded.parallel);
    options = outcome.options;
    certificate = outcome.certificate;
    return;
  }
  options = {{"steps", c.sgmcmc.steps()}, {"seed", c.sgmcmc.seed()}};
  auto sharded = distributed::shard_for_training(g_cluster, remaining);  // W = 1: D_r itself
  inference::SGMCMCTrainer trainer(c.model, sharded.index, c.sgmcmc);
  trainer.set_data_parallel(sharded.parallel);
  Progress progress(a.output.progress("retrain", c.sgmcmc.steps(), "U"));
  trainer.train(progress.attach({}));
  progress.finish();
  g.chain = bif::chain_state_of(trainer);
  g.samples = trainer.bank().samples().clone();
}

/// A diverged solve (LiSSA with too large a scale, an ill-conditioned Hessian) must not become a
/// generation: later requests would build on it. Nothing is written; exit 1.
void refuse_broken_result(const ForgetArgs& a, const std::shared_ptr<GaussianPosteriorImpl>& q, const Generation& g,
                          const nlohmann::json& certificate) {
  bool finite = true;
  if (q) {
    for (const auto& p : q->parameters()) finite = finite && torch::isfinite(p).all().item<bool>();
  } else {
    finite = torch::isfinite(g.samples).all().item<bool>() && torch::isfinite(g.chain.theta).all().item<bool>();
  }
  const auto residual = certificate.value("max_relative_residual", nlohmann::json(nullptr));
  const bool diverged = residual.is_number() && residual.get<double>() > 1.0;
  if (finite && !diverged) return;
  std::string why = !finite ? "the new posterior is not finite"
                            : fmt::format("the inverse-HVP solve diverged (relative residual {:.3g} > 1)",
                                          residual.get<double>());
  std::string hint = a.method == "bif" && a.bif.solver == "lissa"
                         ? ": LiSSA needs s·λ_max(H) < 2, so lower --lissa-c / --lissa-scale, or use --solver cg or dense"
                         : (a.method == "bif" ? ": try --damping > 0" : "");
  throw std::runtime_error("forget --method " + a.method + ": " + why + hint + "; nothing was written");
}

void run_forget(const ForgetArgs& a) {
  fs::path run_dir(a.run_dir);
  auto c = load_run(run_dir);
  auto g = load_generation(c, run_dir);
  auto ids = parse_ids(a);
  check_request(ids, g);
  check_method(a, c);

  auto current = c.dataset.subset(g.trained_ids);
  auto erased = current.subset(ids);
  auto remaining = current.erase(ids);
  auto t0 = std::chrono::steady_clock::now();
  nlohmann::json options = nlohmann::json::object();
  nlohmann::json certificate = nlohmann::json::object();
  std::shared_ptr<GaussianPosteriorImpl> q;
  if (c.is_sgmcmc()) forget_chain(a, c, g, current, remaining, ids, options, certificate);
  else q = forget_gaussian(a, c, g, current, erased, remaining, ids, options, certificate);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  refuse_broken_result(a, q, g, certificate);

  if (q && dynamic_cast<ConjugateGaussianLikelihood*>(c.model.get()) && c.model->gaussian_prior()) {
    // Conjugate model: the exact retrained posterior is cheap, so measure the gap to it.
    auto [mean, cov] = exact_conjugate_posterior(*c.model, remaining.batch());
    auto target = make_posterior(c);
    target->set_moments(mean, cov);
    certificate["kl_to_exact_retrain"] = q->kl_divergence(*target).item<double>();
  }
  if (!g_cluster->is_root()) return;  // rank 0 writes the generation and the audit line
  auto erased_all = torch::cat({g.erased_ids, ids});
  int next = g.number + 1;
  nlohmann::json meta{{"method", a.method}, {"parent", g.number}};
  auto ckpt = q ? generation_checkpoint(c, *q, remaining.ids(), erased_all, next, meta)
                : chain_generation_checkpoint(c, g.chain, g.samples, remaining.ids(), erased_all, next, meta);
  io::save_checkpoint(ckpt, io::generation_path(run_dir, next));
  auto ids_vec = std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  nlohmann::json record{{"generation", next},
                        {"ids", ids_vec},
                        {"method", a.method},
                        {"options", options},
                        {"seconds", secs},
                        {"certificate", certificate},
                        {"time", static_cast<int64_t>(std::time(nullptr))}};
  io::append_audit_line(run_dir / "audit.jsonl", record);
  record["run_dir"] = run_dir.string();
  record["checkpoint"] = io::generation_path(run_dir, next).string();
  a.output.emit(record);
  std::string note;
  if (certificate.contains("kl_to_exact_retrain"))
    note = fmt::format("; KL to exact retrain {:.3e}", certificate["kl_to_exact_retrain"].get<double>());
  else if (certificate.contains("max_relative_residual") && certificate["max_relative_residual"].is_number())
    note = fmt::format("; worst solver residual {:.2e}", certificate["max_relative_residual"].get<double>());
  a.output.say("generation {}: erased {} ids by {} in {:.3g} s{}\n", next, ids.numel(), a.method, secs, note);
}

}  // namespace

void add_forget_command(CLI::App& app) {
  auto a = std::make_shared<ForgetArgs>();
  auto* cmd = app.add_subcommand("forget", "Erase training points (by id) from a run's posterior");
  cmd->add_option("run_dir", a->run_dir, "run directory")->required();
  cmd->add_option("--ids", a->ids, "comma-separated ids, e.g. 3,17,42");
  cmd->add_option("--ids-file", a->ids_file, "file with one id a line");
  cmd->add_option("--method", a->method,
                  "exact (conjugate models), eubo, rkl, rkl_closed (variational unlearning), bif (VI and "
                  "SG-MCMC runs) or retrain")
      ->check(CLI::IsMember({"exact", "eubo", "rkl", "rkl_closed", "bif", "retrain"}));
  auto* lambda = cmd->add_option("--lambda", a->lambda, "adjusted-likelihood threshold λ (eubo, rkl, rkl_closed)")
                     ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--log-lambda", a->log_lambda,
                  "the threshold as ln λ <= 0, for high-dimensional posteriors where λ ≈ e^{-P/2} underflows "
                  "(eubo, rkl, rkl_closed)")
      ->check(CLI::Range(-std::numeric_limits<double>::max(), 0.0))
      ->excludes(lambda);
  cmd->add_option("--steps", a->steps, "optimiser steps (eubo, rkl)")->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--num-samples", a->num_samples, "Monte Carlo samples per step (closed form: in total)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--lr", a->lr, "Adam learning rate (eubo, rkl)")->check(CLI::PositiveNumber);
  cmd->add_option("--seed", a->seed, "seed of the Monte Carlo noise (eubo, rkl, rkl_closed, bif)");
  add_bif_options(*cmd, a->bif);
  cmd->add_option("--log-every", a->output.log_every, "progress: a line every k steps when stdout is not a terminal")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_flag("--quiet", a->output.quiet, "no progress or summary, only errors (and --json output)");
  cmd->add_flag("--json", a->output.json, "print the audit record as JSON on stdout (progress goes to stderr)");
  add_distributed_options(cmd, a->dist);
  cmd->callback([a] {
    a->bif.seed = a->seed;
    g_cluster = connect_cluster(a->dist);
    if (!g_cluster->is_root()) a->output = OutputMode{false, true, 0};  // rank 0 speaks for the run
    run_forget(*a);
  });
}

}  // namespace unlearn::app
