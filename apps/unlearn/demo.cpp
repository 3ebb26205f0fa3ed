// `unlearn demo`: the README's main job. Train → erase 10 % by id → unlearn → compare to retrain,
// on conjugate Bayesian linear regression, where the exact answer is known.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "commands.h"
#include "study_command.h"
#include "unlearn/io/json_config.h"
#include "linear_regression/linear_regression.h"
#include "unlearn/data/dataset.h"
#include "unlearn/data/split.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/exact_conjugate.h"

namespace unlearn::app {
namespace {

struct DemoOptions {
  std::string out = "out/demo";
  bool conjugate_only = false;
  int64_t n = 500;
  int64_t features = 4;
  double erase_fraction = 0.1;
  uint64_t seed = 0;
};

std::string row(const torch::Tensor& v) {
  std::string s;
  auto a = v.contiguous().to(torch::kFloat64);
  for (int64_t i = 0; i < a.numel(); ++i) s += fmt::format("{:>10.5f}", a[i].item<double>());
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run_conjugate_demo(const DemoOptions& o) {
  auto gen = at::detail::createCPUGenerator(o.seed);
  auto model_options = models::LinearRegressionOptions(o.features).noise_std(0.5).prior_std(1.0);
  models::LinearRegression model(model_options);
  auto problem = models::make_regression_problem(o.n, model_options, gen);
  data::Dataset d(problem.x, problem.y, problem.ids);

  fmt::print("unlearn demo: Bayesian linear regression, {} points, {} weights, noise σ = 0.5, "
             "prior N(0, I), seed {}\n\n", o.n, o.features, o.seed);

  // Train on D: the conjugate posterior is exact.
  auto t0 = std::chrono::steady_clock::now();
  auto [mean_d, cov_d] = exact_conjugate_posterior(*model, d.batch());
  auto q_d = FullRankGaussianImpl::from_moments(mean_d, cov_d);
  double train_s = seconds_since(t0);

  // Erase 10 % of the points, named by id.
  auto n_erase = static_cast<int64_t>(o.erase_fraction * static_cast<double>(o.n));
  auto split = data::random_split_ids(d, n_erase, gen);
  auto erased = d.subset(split.erased);
  auto remaining = d.erase(split.erased);
  fmt::print("erase request: {} ids ({})\n\n", n_erase, data::describe_ids(split.erased, 8));

  // Unlearn exactly: p(θ|D_r) ∝ p(θ|D) / p(D_e|θ).
  t0 = std::chrono::steady_clock::now();
  auto q_u = exact_unlearn(*model, *q_d, erased.batch());
  double unlearn_s = seconds_since(t0);

  // Retrain on D_r: the reference every method is judged by.
  t0 = std::chrono::steady_clock::now();
  auto [mean_r, cov_r] = exact_conjugate_posterior(*model, remaining.batch());
  auto q_r = FullRankGaussianImpl::from_moments(mean_r, cov_r);
  double retrain_s = seconds_since(t0);

  torch::NoGradGuard no_grad;
  fmt::print("{:<28}{}\n", "posterior mean", "");
  fmt::print("{:<28}{}\n", "  true weights", row(problem.true_theta));
  fmt::print("{:<28}{}\n", "  trained on D", row(q_d->mean()));
  fmt::print("{:<28}{}\n", "  unlearned (exact)", row(q_u->mean()));
  fmt::print("{:<28}{}\n", "  retrained on D_r", row(q_r->mean()));
  fmt::print("{:<28}{}\n", "posterior std", "");
  fmt::print("{:<28}{}\n", "  trained on D", row(q_d->stddev()));
  fmt::print("{:<28}{}\n", "  unlearned (exact)", row(q_u->stddev()));
  fmt::print("{:<28}{}\n\n", "  retrained on D_r", row(q_r->stddev()));

  double kl_unlearned = q_u->kl_divergence(*q_r).item<double>();
  double kl_full = q_d->kl_divergence(*q_r).item<double>();
  double mean_gap = (q_u->mean() - q_r->mean()).abs().max().item<double>();
  double cov_gap = (q_u->covariance() - q_r->covariance()).abs().max().item<double>();
  fmt::print("KL(unlearned ‖ retrained)      = {:.3e}   (max |Δmean| {:.1e}, max |Δcov| {:.1e})\n",
             kl_unlearned, mean_gap, cov_gap);
  fmt::print("KL(trained on D ‖ retrained)   = {:.3e}   (what doing nothing would leave)\n",
             kl_full);
  fmt::print("seconds: train {:.2e}, unlearn {:.2e}, retrain {:.2e}\n", train_s, unlearn_s,
             retrain_s);
}

/// One row of the study's results.csv: method, λ (empty for full / retrain) and the erased-data KL.
struct ResultRow {
  std::string method;
  std::optional<double> lambda;  // null for the full / retrain rows and for rows given as ln λ
  std::string threshold;         // as printed: "1e-05", or "exp(-12725)" for a row given as ln λ
  double kl_erased = 0.0;
};

/// The rows of the study's results.json (the same table as results.csv, typed).
std::vector<ResultRow> read_results(const std::filesystem::path& json_path) {
  const auto json = io::parse_json_file(json_path);
  std::vector<ResultRow> rows;
  for (const auto& r : json.at("rows")) {
    ResultRow row{r.at("method").get<std::string>(), std::nullopt, "", r.at("kl_erased_mean").get<double>()};
    if (r.at("lambda").is_number()) {
      row.lambda = r.at("lambda").get<double>();
      row.threshold = fmt::format("{:g}", *row.lambda);
    } else if (r.contains("log_lambda") && r.at("log_lambda").is_number()) {
      row.threshold = fmt::format("exp({:g})", r.at("log_lambda").get<double>());
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

/// Three or four lines in words, computed from the run's table: where doing nothing and retraining
/// leave the erased data, the best reverse KL, and EUBO at λ = 0 (catastrophic unlearning).
void summarise_moons(const std::filesystem::path& out) {
  auto rows = read_results(out / "results.json");
  const ResultRow* full = nullptr;
  const ResultRow* retrain = nullptr;
  const ResultRow* best_rkl = nullptr;
  const ResultRow* eubo_zero = nullptr;
  for (const auto& r : rows) {
    if (r.method == "full") full = &r;
    if (r.method == "retrain") retrain = &r;
    if ((r.method == "rkl" || r.method == "rkl_closed") && (!best_rkl || r.kl_erased < best_rkl->kl_erased)) best_rkl = &r;
    if (r.method == "eubo" && r.lambda == 0.0) eubo_zero = &r;
  }
  TORCH_CHECK(full && retrain, (out / "results.json").string(), " has no \"full\" or \"retrain\" row to summarise");
  fmt::print("\nIn words (averaged predictive KL to the retrained posterior on the erased points; lower is better):\n");
  fmt::print("  doing nothing leaves {:.3g}; retraining on D_r, the target, reaches {:.3g}.\n", full->kl_erased,
             retrain->kl_erased);
  if (best_rkl)
    fmt::print("  {} at λ = {} brings it to {:.3g} without retraining.\n", best_rkl->method == "rkl" ? "reverse KL" : "closed-form reverse KL",
               best_rkl->threshold, best_rkl->kl_erased);
  if (eubo_zero)
    fmt::print("  EUBO at λ = 0 gives {:.3g}: {} (the adjusted likelihood, λ > 0, is what prevents it).\n", eubo_zero->kl_erased,
               eubo_zero->kl_erased > full->kl_erased ? "catastrophic unlearning, worse than doing nothing" : "no better than λ > 0");
  std::vector<std::string> plots;
  for (const auto& e : std::filesystem::directory_iterator(out))
    if (e.path().extension() == ".png") plots.push_back(e.path().string());
  std::sort(plots.begin(), plots.end());
  if (!plots.empty()) fmt::print("  plots: {}\n", fmt::join(plots, ", "));
}

/// The small moons study: configs/moons_vbu_small.json (3 000 steps instead of 30 000).
void run_moons_demo(const DemoOptions& o) {
  namespace fs = std::filesystem;
  fs::path config = "configs/moons_vbu_small.json";
  if (!fs::exists(config)) config = fs::path(UNLEARN_SOURCE_DIR) / config;
  fmt::print("\n=== sparse GP classification on moons: erase the 20 points with the largest x1 ===\n"
             "(config {}, results in {}; the paper-scale study is configs/moons_vbu.json)\n\n",
             config.string(), o.out);
  auto t0 = std::chrono::steady_clock::now();
  run_study_command(io::parse_json_file(config), StudyRun{o.out, config.parent_path(), config.string()});
  fmt::print("demo study took {:.1f} s\n", seconds_since(t0));
  summarise_moons(o.out);
}

void run_demo(const DemoOptions& o) {
  fmt::print("=== exact unlearning on a conjugate model (the ground truth) ===\n");
  run_conjugate_demo(o);
  if (!o.conjugate_only) run_moons_demo(o);
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto opts = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand(
      "demo", "Train -> erase by id -> unlearn -> compare to retrain: exact on a conjugate model, then a small moons study");
  cmd->add_option("--n", opts->n, "number of training points")->check(CLI::Range(20, 1000000));
  cmd->add_option("--features", opts->features, "number of weights")->check(CLI::Range(1, 1000));
  cmd->add_option("--seed", opts->seed, "random seed");
  cmd->add_option("--out", opts->out, "where the moons study writes results.csv and plots");
  cmd->add_flag("--conjugate-only", opts->conjugate_only, "only the exact linear-regression part");
  cmd->callback([opts] { run_demo(*opts); });
}

}  // namespace unlearn::app
