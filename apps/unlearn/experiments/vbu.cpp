// The variational Bayesian unlearning study (Nguyen, Low & Jaillet 2020; issue 5):
// train q(θ|D) by VI, retrain q(θ|D_r) from it, unlearn with EUBO, reverse KL (iterative and
// closed form) for every λ at once, and compare predictives on D_e and D_r with the retrained one.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "experiments/experiments.h"
#include "progress.h"
#include "run_config.h"
#include "config/data_section.h"
#include "registry.h"
#include "unlearn/data/split.h"
#include "unlearn/data/csv.h"
#include "unlearn/inference/vi.h"
#include "unlearn/io/atomic_file.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"
#include "unlearn/metrics/predictive.h"
#include "unlearn/unlearning/eubo.h"
#include "unlearn/unlearning/reverse_kl.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;
using io::Range;

struct VbuStudy {
  uint64_t seed = 0;
  data::Dataset dataset;
  std::shared_ptr<Model> model;
  std::string family;
  torch::Tensor erased_ids;
  std::string erase_rule;
  inference::VIOptions train;
  std::vector<double> lambdas;
  // Thresholds given as ln λ (after `lambdas`), for posteriors whose useful λ ≈ e^{−P/2}
  // underflow a double (the 7 065-weight logistic model on Fashion-MNIST: ln λ ≈ −3 532).
  std::vector<double> log_lambdas;
  int64_t unlearn_steps = 30000, unlearn_samples = 1000, closed_form_samples = 100000;
  double closed_form_jitter = 0.0;  // ReverseKlClosedFormOptions::jitter
  double unlearn_lr = 1e-3;
  int64_t erased_batch_size = 0;
  std::vector<std::string> methods;
  int64_t predictive_samples = 100;
  std::vector<double> map_lambdas;
  bool concurrent = true;
};

torch::Tensor select_erased(const io::JsonObjectReader& r, const data::Dataset& d, uint64_t seed,
                            const fs::path& base_dir, std::string& rule) {
  rule = r.get_enum("rule", "top_k_feature", {"top_k_feature", "random", "ids_file"});
  if (rule == "top_k_feature") {
    auto column = r.get<int64_t>("feature", 0, Range::at_least(0));
    auto k = r.get<int64_t>("k", 20, Range::at_least(1));
    auto largest = r.get<bool>("largest", true);
    auto label = r.get_optional<int64_t>("label", Range::at_least(0));
    if (column >= d.x().size(1))
      throw io::ConfigError(r.field("feature") + " = " + std::to_string(column) + " is out of range: the data has " +
                            std::to_string(d.x().size(1)) + " features");
    rule = fmt::format("the {} points{} with the {} feature {}", k,
                       label ? fmt::format(" of class {}", *label) : "", largest ? "largest" : "smallest", column);
    return data::ids_top_k_by_feature(d, column, k, largest, label).erased;
  }
  if (rule == "random") {
    auto k = r.get<int64_t>("count", 20, Range::at_least(1));
    auto s = r.get<int64_t>("seed", static_cast<int64_t>(seed), Range::non_negative());
    rule = fmt::format("{} points at random (seed {})", k, s);
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(s));
    return data::random_split_ids(d, k, gen).erased;
  }
  auto path = models::resolve_path(r.require<std::string>("path"), base_dir, r.field("path"));
  rule = "the ids in " + path;
  return data::read_id_list(path);
}

VbuStudy parse(const nlohmann::json& json, const fs::path& base_dir) {
  VbuStudy s;
  io::JsonObjectReader root(json, "");
  root.get_enum("experiment", "vbu", {"vbu"});
  s.seed = static_cast<uint64_t>(root.get<int64_t>("seed", 0, Range::non_negative()));
  s.dataset = models::load_data(root.object("data"), base_dir, s.seed);
  s.model = models::make_model(root.object("model"), s.dataset,
                               ModelContext{[&](const std::string& p, const std::string& f) {
                                 return models::resolve_path(p, base_dir, f);
                               }});
  s.family = root.object("posterior").get_enum("family", "full_rank", {"full_rank", "mean_field"});
  s.erased_ids = select_erased(root.object("erase"), s.dataset, s.seed, base_dir, s.erase_rule);
  auto t = root.object("train");
  s.train.steps(t.get<int64_t>("steps", 30000, Range::at_least(1)))
      .num_samples(t.get<int64_t>("num_samples", 1000, Range::at_least(1)))
      .lr(t.get<double>("lr", 1e-3, Range::positive()))
      .batch_size(t.get<int64_t>("batch_size", 0, Range::non_negative()))  // 0: full batch (the paper)
      .seed(s.seed);
  auto u = root.object("unlearn");
  s.log_lambdas = u.get_vector<double>("log_lambdas", {}, Range::at_most(0));
  // lambdas defaults to the paper's six only when no ln λ is given.
  s.lambdas = u.get_vector<double>("lambdas",
                                   s.log_lambdas.empty() ? std::vector<double>{0.5, 0.1, 1e-3, 1e-5, 1e-9, 0.0}
                                                         : std::vector<double>{},
                                   Range::closed(0, 1));
  if (s.lambdas.empty() && s.log_lambdas.empty())
    throw io::ConfigError(u.field("lambdas") + " and " + u.field("log_lambdas") +
                          " are both empty: list at least one threshold");
  s.unlearn_steps = u.get<int64_t>("steps", 30000, Range::at_least(1));
  s.unlearn_samples = u.get<int64_t>("num_samples", 1000, Range::at_least(1));
  s.unlearn_lr = u.get<double>("lr", 1e-3, Range::positive());
  s.erased_batch_size = u.get<int64_t>("erased_batch_size", 0, Range::non_negative());  // 0: all of D_e
  s.closed_form_samples = u.get<int64_t>("closed_form_samples", 100000, Range::at_least(100));
  s.closed_form_jitter = u.get<double>("closed_form_jitter", 0.0, Range::non_negative());
  s.methods = u.get_vector<std::string>("methods", {"eubo", "rkl", "rkl_closed"});
  for (size_t i = 0; i < s.methods.size(); ++i)
    if (s.methods[i] != "eubo" && s.methods[i] != "rkl" && s.methods[i] != "rkl_closed")
      throw io::ConfigError(fmt::format("{}[{}] = \"{}\" is unknown: allowed are eubo, rkl, rkl_closed",
                                        u.field("methods"), i, s.methods[i]));
  auto m = root.object("metric");
  s.predictive_samples = m.get<int64_t>("predictive_samples", 100, Range::at_least(1));
  s.map_lambdas = m.get_vector<double>("map_lambdas", {1e-5, 1e-9, 0.0}, Range::closed(0, 1));
  s.concurrent = root.get<bool>("concurrent", true);
  root.finish();
  return s;
}

// Every threshold of the study as ln λ: `lambdas` (−∞ for 0), then `log_lambdas`; each method
// trains them all in one batch.
std::vector<double> all_log_lambdas(const VbuStudy& s) {
  std::vector<double> all;
  if (!s.lambdas.empty()) all = functional::resolve_log_lambdas(s.lambdas, {});
  all.insert(all.end(), s.log_lambdas.begin(), s.log_lambdas.end());
  return all;
}

struct Row {
  std::string method;
  std::optional<double> lambda;
  std::optional<double> log_lambda;  // ln λ, −∞ for λ = 0
  metrics::MeanStd kl_erased, kl_remaining;
  double kl_param = 0, seconds = 0;
  std::optional<double> fraction_inside, ess;
};

std::string fmt_lambda(const std::optional<double>& l) { return l ? fmt::format("{:g}", *l) : ""; }
std::string fmt_log_lambda(const std::optional<double>& l) { return l ? fmt::format("{:.10g}", *l) : ""; }
// The table's threshold: λ, or e^{ln λ} where λ underflows a double.
std::string fmt_threshold(const Row& r) {
  if (r.lambda && *r.lambda == 0 && r.log_lambda && std::isfinite(*r.log_lambda))
    return fmt::format("e^{:.6g}", *r.log_lambda);
  return fmt_lambda(r.lambda);
}

}  // namespace

void run_vbu_experiment(const nlohmann::json& json, const ExperimentContext& ctx) {
  auto s = parse(json, ctx.config_dir);
  const auto thresholds = all_log_lambdas(s);
  fs::create_directories(ctx.out_dir);
  auto say = [&](const std::string& line) {
    if (!ctx.quiet) fmt::print("{}\n", line);
  };
  auto erased = s.dataset.subset(s.erased_ids);
  auto remaining = s.dataset.erase(s.erased_ids);
  say(fmt::format("data: {} points; erasing {} ({}); model {}", s.dataset.size(), erased.size(),
                  s.erase_rule, s.model->architecture()));
  auto clock = [] { return std::chrono::steady_clock::now(); };
  auto since = [](auto t0) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  auto opts = s.model->theta_options();
  auto goptions = GaussianOptions(s.model->num_params()).dtype(opts.dtype().toScalarType()).device(opts.device());

  // q(θ|D) from N(0, I), then q(θ|D_r) from q(θ|D): the paper's protocol.
  const auto study_start = clock();
  auto t0 = clock();
  // Progress: a bar on a terminal, a line every k steps otherwise (progress.h); reading the
  // objective for it never changes a result.
  auto progress_options = [&](const std::string& label, int64_t total, const std::string& objective) {
    return ProgressOptions().label(label).total(total).objective_name(objective).quiet(ctx.quiet);
  };
  auto q_full = make_gaussian_posterior(s.family, goptions);
  {
    Progress progress(progress_options("train q(θ|D)", s.train.steps(), "-ELBO"));
    inference::VITrainer(s.model, q_full, s.dataset, s.train).train(progress.attach({}));
    progress.finish();
  }
  double train_s = since(t0);
  say(fmt::format("trained q(θ|D): {} steps, S = {}, {:.1f} s", s.train.steps(), s.train.num_samples(), train_s));
  // The retrain and the unlearning methods all start from q(θ|D) and are independent: with
  // "concurrent" (the default) the retrain runs on a second thread while this one unlearns, so
  // a 2-core machine does both at once (each keeps one intra-op thread; the model's caches are
  // locked). Their "seconds" are then wall times of overlapping work.
  auto q_retrain = q_full->copy();
  double retrain_s = 0;
  std::exception_ptr retrain_error;
  auto retrain = [&] {
    try {
      const auto r0 = clock();
      // Concurrent with the unlearning runs, whose progress has the terminal: this one is quiet.
      Progress progress(progress_options("retrain", s.train.steps(), "-ELBO").quiet(ctx.quiet || s.concurrent));
      inference::VITrainer(s.model, q_retrain, remaining, inference::VIOptions(s.train).seed(s.seed + 1))
          .train(progress.attach({}));
      progress.finish();
      retrain_s = since(r0);
      say(fmt::format("retrained q(θ|D_r) from q(θ|D): {:.1f} s", retrain_s));
    } catch (...) {
      retrain_error = std::current_exception();
    }
  };
  std::thread retrain_thread;
  if (s.concurrent) {
    retrain_thread = std::thread(retrain);
  } else {
    retrain();
  }

  // Every λ of a method as one batched computation. Without ln λ the options get `lambdas`
  // itself, so runs report each λ exactly as written.
  auto with_thresholds = [&](auto options) {
    if (s.log_lambdas.empty()) return options.lambdas(s.lambdas);
    return options.log_lambdas(thresholds);
  };

  std::vector<VbuResult> results;
  std::exception_ptr unlearn_error;
  try {
    for (const auto& method : s.methods) {
      t0 = clock();
      // The iterative methods show progress (the objective shown is the first λ's run).
      std::optional<Progress> progress;
      VbuProgressFn on_progress;
      if (method != "rkl_closed") {
        progress.emplace(progress_options(method + " (" + std::to_string(thresholds.size()) + " λ)", s.unlearn_steps,
                                          method == "eubo" ? "EUBO" : "objective"));
        if (!ctx.quiet) {
          on_progress = [&progress](int64_t steps, int64_t, const std::vector<double>& objective) {
            progress->update(steps, objective.at(0));
          };
        }
      }
      const int64_t progress_every = progress ? progress->every() : 100;
      if (method == "eubo") {
        results.push_back(eubo_unlearn(*s.model, *q_full, erased.batch(),
                                       with_thresholds(EuboOptions()).num_samples(s.unlearn_samples)
                                           .max_steps(s.unlearn_steps).lr(s.unlearn_lr).seed(s.seed + 2)
                                           .erased_batch_size(s.erased_batch_size)
                                           .progress_every(progress_every).on_progress(on_progress)));
      } else if (method == "rkl") {
        results.push_back(reverse_kl_unlearn(*s.model, *q_full, erased.batch(),
                                             with_thresholds(ReverseKlOptions()).num_samples(s.unlearn_samples)
                                                 .max_steps(s.unlearn_steps).lr(s.unlearn_lr).seed(s.seed + 3)
                                                 .erased_batch_size(s.erased_batch_size)
                                                 .progress_every(progress_every).on_progress(on_progress)));
      } else {
        results.push_back(reverse_kl_closed_form(*s.model, *q_full, erased.batch(),
                                                 with_thresholds(ReverseKlClosedFormOptions())
                                                     .num_samples(s.closed_form_samples).seed(s.seed + 4)
                                                     .jitter(s.closed_form_jitter)));
      }
      if (progress) progress->finish();
      say(fmt::format("{}: {} λ values in one batch, {:.1f} s", method, thresholds.size(), since(t0)));
    }
  } catch (...) {
    unlearn_error = std::current_exception();
  }
  if (retrain_thread.joinable()) retrain_thread.join();
  if (unlearn_error) std::rethrow_exception(unlearn_error);
  if (retrain_error) std::rethrow_exception(retrain_error);
  const double study_s = since(study_start);

  // The metric: KL[q(y|x,D_r) ‖ q̃(y|x)] on D_e and D_r, Monte Carlo predictives with
  // `predictive_samples` samples each (independent draws per posterior).
  auto gen = at::detail::createCPUGenerator(s.seed + 5);
  auto xe = erased.x().to(opts), xr = remaining.x().to(opts);
  auto ref_e = metrics::predictive_probs(*s.model, *q_retrain, xe, s.predictive_samples, gen);
  auto ref_r = metrics::predictive_probs(*s.model, *q_retrain, xr, s.predictive_samples, gen);
  auto evaluate = [&](const std::string& method, std::optional<double> lambda,
                      const GaussianPosteriorImpl& q, double seconds) {
    Row row{method, lambda, std::nullopt, {}, {}, 0, seconds, std::nullopt, std::nullopt};
    row.kl_erased = metrics::averaged_kl(ref_e, metrics::predictive_probs(*s.model, q, xe, s.predictive_samples, gen));
    row.kl_remaining = metrics::averaged_kl(ref_r, metrics::predictive_probs(*s.model, q, xr, s.predictive_samples, gen));
    torch::NoGradGuard no_grad;
    row.kl_param = q.kl_divergence(*q_retrain).item<double>();
    return row;
  };
  std::vector<Row> rows;
  rows.push_back(evaluate("full", std::nullopt, *q_full, train_s));
  // Retrain vs itself with fresh predictive samples: the Monte Carlo noise floor of the metric.
  rows.push_back(evaluate("retrain", std::nullopt, *q_retrain, retrain_s));
  for (const auto& res : results) {
    for (const auto& run : res.runs) {
      auto row = evaluate(res.method, run.lambda, *run.posterior, res.seconds);
      row.log_lambda = run.log_lambda;
      row.fraction_inside = run.fraction_inside;
      row.ess = run.effective_sample_size;
      rows.push_back(row);
    }
  }

  // results.csv / results.json / the terminal table.
  // log_lambda last: ln λ of each unlearning row (-inf for λ = 0), the threshold itself where λ
  // underflows to 0; the earlier columns keep the layout of the first release.
  std::string csv =
      "method,lambda,kl_erased_mean,kl_erased_std,kl_remaining_mean,kl_remaining_std,kl_param,seconds,log_lambda\n";
  nlohmann::json jrows = nlohmann::json::array();
  for (const auto& r : rows) {
    csv += fmt::format("{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.4g},{}\n", r.method, fmt_lambda(r.lambda),
                       r.kl_erased.mean, r.kl_erased.std, r.kl_remaining.mean, r.kl_remaining.std, r.kl_param,
                       r.seconds, fmt_log_lambda(r.log_lambda));
    nlohmann::json j{{"method", r.method},
                     {"lambda", r.lambda ? nlohmann::json(*r.lambda) : nlohmann::json(nullptr)},
                     {"kl_erased_mean", r.kl_erased.mean}, {"kl_erased_std", r.kl_erased.std},
                     {"kl_remaining_mean", r.kl_remaining.mean}, {"kl_remaining_std", r.kl_remaining.std},
                     {"kl_param", r.kl_param}, {"seconds", r.seconds}};
    if (r.log_lambda)
      j["log_lambda"] = std::isfinite(*r.log_lambda) ? nlohmann::json(*r.log_lambda) : nlohmann::json(nullptr);
    if (r.fraction_inside) j["fraction_inside"] = *r.fraction_inside;
    if (r.ess) j["effective_sample_size"] = *r.ess;
    jrows.push_back(j);
  }
  io::write_text_atomic(ctx.out_dir / "results.csv", csv);
  nlohmann::json out{{"config", json}, {"erase_rule", s.erase_rule}, {"rows", jrows},
                     {"erased_ids", std::vector<int64_t>(s.erased_ids.data_ptr<int64_t>(),
                                                         s.erased_ids.data_ptr<int64_t>() + s.erased_ids.numel())},
                     {"train_seconds", train_s}, {"retrain_seconds", retrain_s},
                     {"training_and_unlearning_seconds", study_s}, {"concurrent", s.concurrent}};
  for (const auto& res : results) {
    nlohmann::json jr;
    to_json(jr, res);
    out["unlearning"].push_back(jr);
  }
  io::write_text_atomic(ctx.out_dir / "results.json", out.dump(2) + "\n");
  if (!ctx.quiet) {
    fmt::print("\n{:<11} {:>10} {:>20} {:>20} {:>10} {:>8} {:>8}\n", "method", "lambda", "KL on D_e (mean±std)",
               "KL on D_r (mean±std)", "KL param", "inside", "seconds");
    for (const auto& r : rows)
      fmt::print("{:<11} {:>10} {:>10.4f} ± {:<7.4f} {:>10.4f} ± {:<7.4f} {:>10.4f} {:>8} {:>8.2f}\n", r.method,
                 fmt_threshold(r), r.kl_erased.mean, r.kl_erased.std, r.kl_remaining.mean, r.kl_remaining.std,
                 r.kl_param, r.fraction_inside ? fmt::format("{:.3f}", *r.fraction_inside) : "", r.seconds);
  }

  say(fmt::format("\nwall time of training and unlearning: {:.1f} s (training {:.1f} s, then the retrain {} the "
                  "unlearning runs)",
                  study_s, train_s, s.concurrent ? "concurrently with" : "followed by"));

  // Points and predictive maps over [−1.5, 2.5]² for 2-D inputs, for scripts/plot.py.
  if (s.dataset.x().size(1) == 2) {
    std::string pts = "x1,x2,label,erased\n";
    auto is_erased = torch::isin(s.dataset.ids(), s.erased_ids);
    for (int64_t i = 0; i < s.dataset.size(); ++i)
      pts += fmt::format("{},{},{},{}\n", s.dataset.x()[i][0].item<double>(), s.dataset.x()[i][1].item<double>(),
                         s.dataset.y()[i].item<int64_t>(), is_erased[i].item<bool>() ? 1 : 0);
    io::write_text_atomic(ctx.out_dir / "points.csv", pts);
    const int64_t g = 61;
    auto axis = torch::linspace(-1.5, 2.5, g, opts);
    auto grid = torch::stack(torch::meshgrid({axis, axis}, "xy"), -1).reshape({-1, 2});
    std::vector<std::pair<std::string, torch::Tensor>> maps;
    auto p1 = [&](const GaussianPosteriorImpl& q) {
      return metrics::predictive_probs(*s.model, q, grid, s.predictive_samples, gen).select(1, 1);
    };
    maps.emplace_back("full", p1(*q_full));
    maps.emplace_back("retrain", p1(*q_retrain));
    for (const auto& res : results)
      for (const auto& run : res.runs)
        for (double l : s.map_lambdas)
          if (run.log_lambda == functional::resolve_log_lambdas({l}, {}).front())
            maps.emplace_back(fmt::format("{}_{:g}", res.method, l), p1(*run.posterior));
    std::string m = "x1,x2";
    for (auto& [name, _] : maps) m += "," + name;
    m += "\n";
    for (int64_t i = 0; i < grid.size(0); ++i) {
      m += fmt::format("{:.4f},{:.4f}", grid[i][0].item<double>(), grid[i][1].item<double>());
      for (auto& [_, p] : maps) m += fmt::format(",{:.5f}", p[i].item<double>());
      m += "\n";
    }
    io::write_text_atomic(ctx.out_dir / "maps.csv", m);
  }
  auto plot = fmt::format("{} scripts/plot.py {} >/dev/null 2>&1", plotting_python(), ctx.out_dir.string());
  if (fs::exists("scripts/plot.py") && std::system(plot.c_str()) == 0) {
    say(fmt::format("\nwrote {}/results.csv, results.json and plots (kl_vs_lambda.png, maps.png)", ctx.out_dir.string()));
  } else {
    say(fmt::format("\nwrote {}/results.csv and results.json; for plots install python3-matplotlib and run "
                    "`python3 scripts/plot.py {}` from the repository root", ctx.out_dir.string(), ctx.out_dir.string()));
  }
}

}  // namespace unlearn::app
