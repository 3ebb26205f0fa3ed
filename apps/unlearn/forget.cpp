// `unlearn forget RUN_DIR --ids 3,17,42 | --ids-file FILE --method exact|retrain`: writes the next
// generation and appends an audit line. Bad requests change nothing on disk.
#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "commands.h"
#include "run_store.h"
#include "unlearn/data/csv.h"
#include "unlearn/io/audit_log.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/run_dir.h"
#include "unlearn/unlearning/eubo.h"
#include "unlearn/unlearning/exact_conjugate.h"
#include "unlearn/unlearning/reverse_kl.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;

struct ForgetArgs {
  std::string run_dir;
  std::string ids;
  std::string ids_file;
  std::string method = "exact";
  double lambda = 0.0;
  int64_t steps = 5000;
  int64_t num_samples = 1000;
  double lr = 1e-3;
  uint64_t seed = 0;
  bool quiet = false;
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

/// Rejects duplicate, unknown and already-erased ids, naming them.
void check_request(const torch::Tensor& ids, const Generation& g) {
  auto [uniq, inverse, counts] = torch::_unique2(ids, /*sorted=*/true, false, /*return_counts=*/true);
  auto dup = uniq.masked_select(counts > 1);
  if (dup.numel() > 0) throw io::ConfigError("duplicate ids in the request: " + data::describe_ids(dup));
  auto known = torch::isin(ids, g.trained_ids);
  if (known.all().item<bool>()) return;
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

void run_forget(const ForgetArgs& a) {
  fs::path run_dir(a.run_dir);
  auto c = load_run(run_dir);
  auto g = load_generation(c, run_dir);
  auto ids = parse_ids(a);
  check_request(ids, g);

  auto current = c.dataset.subset(g.trained_ids);
  auto erased = current.subset(ids);
  auto remaining = current.erase(ids);
  auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<GaussianPosteriorImpl> q;
  nlohmann::json options = nlohmann::json::object();
  if (a.method == "exact") {
    q = exact_unlearn(*c.model, *g.posterior, erased.batch());
  } else if (a.method == "eubo" || a.method == "rkl" || a.method == "rkl_closed") {
    options = {{"lambda", a.lambda}, {"seed", a.seed}};
    VbuResult res;
    if (a.method == "eubo") {
      options.update({{"steps", a.steps}, {"num_samples", a.num_samples}, {"lr", a.lr}});
      res = eubo_unlearn(*c.model, *g.posterior, erased.batch(),
                         EuboOptions().lambdas({a.lambda}).max_steps(a.steps).num_samples(a.num_samples)
                             .lr(a.lr).seed(a.seed));
    } else if (a.method == "rkl") {
      options.update({{"steps", a.steps}, {"num_samples", a.num_samples}, {"lr", a.lr}});
      res = reverse_kl_unlearn(*c.model, *g.posterior, erased.batch(),
                               ReverseKlOptions().lambdas({a.lambda}).max_steps(a.steps)
                                   .num_samples(a.num_samples).lr(a.lr).seed(a.seed));
    } else {
      options["num_samples"] = a.num_samples;
      res = reverse_kl_closed_form(*c.model, *g.posterior, erased.batch(),
                                   ReverseKlClosedFormOptions().lambdas({a.lambda})
                                       .num_samples(a.num_samples).seed(a.seed));
    }
    q = res.runs.at(0).posterior;
    nlohmann::json report;
    to_json(report, res.runs.at(0));
    report.erase("objective_trace");
    options["report"] = report;
  } else {  // retrain: the reference every method is judged by
    if (c.method == "exact") {
      auto [mean, cov] = exact_conjugate_posterior(*c.model, remaining.batch());
      q = make_posterior(c);
      q->set_moments(mean, cov);
    } else {
      // As in the VBU paper, retraining starts at q(θ|D) and runs the training schedule on D_r.
      q = g.posterior->copy();
      inference::VITrainer trainer(c.model, q, remaining, c.vi);
      trainer.train();
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json certificate = nlohmann::json::object();
  if (dynamic_cast<ConjugateGaussianLikelihood*>(c.model.get()) && c.model->gaussian_prior()) {
    // Conjugate model: the exact retrained posterior is cheap, so measure the gap to it.
    auto [mean, cov] = exact_conjugate_posterior(*c.model, remaining.batch());
    auto target = make_posterior(c);
    target->set_moments(mean, cov);
    certificate["kl_to_exact_retrain"] = q->kl_divergence(*target).item<double>();
  }
  auto erased_all = torch::cat({g.erased_ids, ids});
  int next = g.number + 1;
  auto ckpt = generation_checkpoint(c, *q, remaining.ids(), erased_all, next,
                                    {{"method", a.method}, {"parent", g.number}});
  io::save_checkpoint(ckpt, io::generation_path(run_dir, next));
  auto ids_vec = std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  io::append_audit_line(run_dir / "audit.jsonl",
                        {{"generation", next},
                         {"ids", ids_vec},
                         {"method", a.method},
                         {"options", options},
                         {"seconds", secs},
                         {"certificate", certificate},
                         {"time", static_cast<int64_t>(std::time(nullptr))}});
  if (!a.quiet)
    fmt::print("generation {}: erased {} ids by {} in {:.3g} s{}\n", next, ids.numel(), a.method, secs,
               certificate.contains("kl_to_exact_retrain")
                   ? fmt::format("; KL to exact retrain {:.3e}", certificate["kl_to_exact_retrain"].get<double>())
                   : "");
}

}  // namespace

void add_forget_command(CLI::App& app) {
  auto a = std::make_shared<ForgetArgs>();
  auto* cmd = app.add_subcommand("forget", "Erase training points (by id) from a run's posterior");
  cmd->add_option("run_dir", a->run_dir, "run directory")->required();
  cmd->add_option("--ids", a->ids, "comma-separated ids, e.g. 3,17,42");
  cmd->add_option("--ids-file", a->ids_file, "file with one id a line");
  cmd->add_option("--method", a->method,
                  "exact (conjugate models), eubo, rkl, rkl_closed (variational unlearning) or retrain")
      ->check(CLI::IsMember({"exact", "eubo", "rkl", "rkl_closed", "retrain"}));
  cmd->add_option("--lambda", a->lambda, "adjusted-likelihood threshold λ (eubo, rkl)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--steps", a->steps, "optimiser steps (eubo, rkl)")->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--num-samples", a->num_samples, "Monte Carlo samples per step (closed form: in total)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--lr", a->lr, "Adam learning rate (eubo, rkl)")->check(CLI::PositiveNumber);
  cmd->add_option("--seed", a->seed, "seed of the Monte Carlo noise");
  cmd->add_flag("--quiet", a->quiet, "print nothing but errors");
  cmd->callback([a] { run_forget(*a); });
}

}  // namespace unlearn::app
