// The vbu study's evaluation and tables (vbu_table.h).
#include "vbu/vbu_table.h"

#include <fmt/format.h>

#include <cmath>
#include <optional>

#include "unlearn/metrics/predictive.h"

namespace unlearn::studies {
namespace {

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
// The terminal's threshold: λ, or e^{ln λ} where λ underflows a double.
std::string fmt_threshold(const Row& r) {
  if (r.lambda && *r.lambda == 0 && r.log_lambda && std::isfinite(*r.log_lambda))
    return fmt::format("e^{:.6g}", *r.log_lambda);
  return fmt_lambda(r.lambda);
}

// The metric: Monte Carlo predictives with `predictive_samples` samples each (independent draws
// per posterior, from one generator in row order), against the retrain's.
std::vector<Row> evaluate(const VbuConfig& c, const VbuRuns& runs, torch::Generator& gen) {
  const auto opts = c.model->theta_options();
  const auto erased = c.dataset.subset(c.erased_ids), remaining = c.dataset.erase(c.erased_ids);
  auto xe = erased.x().to(opts), xr = remaining.x().to(opts);
  auto probs = [&](const GaussianPosteriorImpl& q, const torch::Tensor& x) {
    return metrics::predictive_probs(*c.model, q, x, c.predictive_samples, gen);
  };
  auto ref_e = probs(*runs.retrain, xe);
  auto ref_r = probs(*runs.retrain, xr);
  auto row = [&](const std::string& method, const GaussianPosteriorImpl& q, double seconds) {
    Row r{method, std::nullopt, std::nullopt, {}, {}, 0, seconds, std::nullopt, std::nullopt};
    r.kl_erased = metrics::averaged_kl(ref_e, probs(q, xe));
    r.kl_remaining = metrics::averaged_kl(ref_r, probs(q, xr));
    torch::NoGradGuard no_grad;
    r.kl_param = q.kl_divergence(*runs.retrain).item<double>();
    return r;
  };
  std::vector<Row> rows;
  rows.push_back(row("full", *runs.full, runs.train_seconds));
  // Retrain vs itself with fresh predictive samples: the Monte Carlo noise floor of the metric.
  rows.push_back(row("retrain", *runs.retrain, runs.retrain_seconds));
  for (const auto& u : runs.unlearned) {
    auto r = row(u.method, *u.posterior, u.seconds);
    r.lambda = u.lambda;
    r.log_lambda = u.log_lambda;
    r.fraction_inside = u.fraction_inside;
    r.ess = u.ess;
    rows.push_back(r);
  }
  return rows;
}

std::string terminal_table(const std::vector<Row>& rows) {
  std::string s = fmt::format("\n{:<11} {:>10} {:>20} {:>20} {:>10} {:>8} {:>8}\n", "method", "lambda",
                              "KL on D_e (mean±std)", "KL on D_r (mean±std)", "KL param", "inside", "seconds");
  for (const auto& r : rows)
    s += fmt::format("{:<11} {:>10} {:>10.4f} ± {:<7.4f} {:>10.4f} ± {:<7.4f} {:>10.4f} {:>8} {:>8.2f}\n", r.method,
                     fmt_threshold(r), r.kl_erased.mean, r.kl_erased.std, r.kl_remaining.mean, r.kl_remaining.std,
                     r.kl_param, r.fraction_inside ? fmt::format("{:.3f}", *r.fraction_inside) : "", r.seconds);
  return s;
}

}  // namespace

ResultsTable vbu_table(const VbuConfig& c, const VbuRuns& runs, torch::Generator& gen, std::string& summary) {
  // log_lambda last: ln λ of each unlearning row (-inf for λ = 0), the threshold itself where λ
  // underflows to 0; the earlier columns keep the layout of the first release.
  ResultsTable table({"method", "lambda", "kl_erased_mean", "kl_erased_std", "kl_remaining_mean", "kl_remaining_std",
                      "kl_param", "seconds", "log_lambda"});
  const auto rows = evaluate(c, runs, gen);
  for (const auto& r : rows) {
    auto& t = table.add_row()
                  .text("method", r.method)
                  .csv("lambda", fmt_lambda(r.lambda))
                  .json("lambda", r.lambda ? nlohmann::json(*r.lambda) : nlohmann::json(nullptr))
                  .number("kl_erased_mean", r.kl_erased.mean)
                  .number("kl_erased_std", r.kl_erased.std)
                  .number("kl_remaining_mean", r.kl_remaining.mean)
                  .number("kl_remaining_std", r.kl_remaining.std)
                  .number("kl_param", r.kl_param)
                  .number("seconds", r.seconds, "{:.4g}")
                  .csv("log_lambda", fmt_log_lambda(r.log_lambda));
    if (r.log_lambda)
      t.json("log_lambda", std::isfinite(*r.log_lambda) ? nlohmann::json(*r.log_lambda) : nlohmann::json(nullptr));
    if (r.fraction_inside) t.json("fraction_inside", *r.fraction_inside);
    if (r.ess) t.json("effective_sample_size", *r.ess);
  }
  summary = terminal_table(rows);
  return table;
}

nlohmann::json vbu_document(const nlohmann::json& config, const VbuConfig& c, const VbuRuns& runs) {
  const auto ids = c.erased_ids.contiguous();
  nlohmann::json out{{"config", config},
                     {"erase_rule", c.erase_rule},
                     {"erased_ids", std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel())},
                     {"train_seconds", runs.train_seconds},
                     {"retrain_seconds", runs.retrain_seconds},
                     {"training_and_unlearning_seconds", runs.study_seconds},
                     {"concurrent", c.concurrent}};
  if (!runs.reports.empty()) out["unlearning"] = runs.reports;
  return out;
}

}  // namespace unlearn::studies
