#include "evaluation.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include <fmt/format.h>

#include "unlearn/inference/sample_bank.h"
#include "unlearn/io/config_error.h"
#include "unlearn/metrics/predictive.h"
#include "unlearn/unlearning/exact_conjugate.h"

namespace unlearn::app {
namespace {

/// θ samples [S, P] representing a generation's posterior: the bank, or draws from the Gaussian.
torch::Tensor posterior_samples(const Generation& g, const EvaluateOptions& o) {
  auto gen = at::detail::createCPUGenerator(o.seed);
  return g.state.theta_samples(o.num_samples, gen);
}

bool same_ids(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.numel() != b.numel()) return false;
  return std::get<0>(a.sort()).equal(std::get<0>(b.sort()));
}

std::string fmt_value(double v) {
  if (!std::isfinite(v)) return fmt::format("{}", v);
  if (v != 0 && (std::fabs(v) < 1e-3 || std::fabs(v) >= 1e5)) return fmt::format("{:.3e}", v);
  return fmt::format("{:.4f}", v);
}

}  // namespace

bool is_classifier(const Model& model, const data::Dataset& d) {
  return model.is_classifier() && d.size() > 0 && d.y().dim() == 1 && !at::isFloatingType(d.y().scalar_type());
}

nlohmann::json Evaluation::to_json() const {
  nlohmann::json j = header;
  nlohmann::json m = nlohmann::json::object();
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  for (const auto& x : metrics) m[x.name] = x.std ? nlohmann::json{{"mean", num(x.value)}, {"std", num(*x.std)}} : num(x.value);
  j["metrics"] = m;
  j["notes"] = notes;
  return j;
}

std::string Evaluation::to_table() const {
  std::string s = fmt::format("run {}, generation {}: {}, model {}\n", header.value("run_dir", ""),
                              header.value("generation", 0), header.value("posterior", ""), header.value("model", ""));
  const auto& d = header["data"];
  s += fmt::format("data: {} remaining (D_r), {} erased (D_e), {} held out (test)\n", d.value("remaining", 0),
                   d.value("erased", 0), d.value("test", 0));
  if (header.contains("reference"))
    s += fmt::format("reference: {}, generation {}: {}\n", header["reference"].value("run_dir", ""),
                     header["reference"].value("generation", 0), header["reference"].value("posterior", ""));
  s += fmt::format("\n{:<28} {:>22}  {}\n", "metric", "value", "what");
  for (const auto& m : metrics) {
    auto v = m.std ? fmt::format("{} ± {}", fmt_value(m.value), fmt_value(*m.std)) : fmt_value(m.value);
    s += fmt::format("{:<28} {:>22}  {}\n", m.name, v, m.what);
  }
  if (!notes.empty()) {
    s += "\nnotes:\n";
    for (const auto& n : notes) s += "  - " + n + "\n";
  }
  return s;
}

Evaluation evaluate_run(const EvaluatedRun& run, const std::optional<EvaluatedRun>& reference,
                        const EvaluateOptions& o) {
  const auto& c = run.config;
  const auto& g = run.generation;
  Model& model = *c.model;
  torch::NoGradGuard no_grad;
  Evaluation ev;
  auto remaining = c.dataset.subset(g.trained_ids);
  auto erased = c.dataset.subset(g.erased_ids);
  const auto& test = c.test;
  ev.header = {{"run_dir", run.run_dir},
               {"generation", g.number},
               {"method", g.metadata.value("method", c.method_name())},
               {"model", model.architecture()},
               {"posterior", g.state.describe()},
               {"data", {{"remaining", remaining.size()}, {"erased", erased.size()}, {"test", test.size()}}}};
  if (g.state.is_gaussian()) ev.header["num_samples"] = o.num_samples;
  auto theta = posterior_samples(g, o);
  const bool classifier = is_classifier(model, c.dataset);
  ev.header["classifier"] = classifier;

  struct Split {
    std::string name, symbol;
    const data::Dataset* data;
    torch::Tensor probs;  // classifiers: the predictive [B, C]
  };
  std::vector<Split> splits{{"remaining", "D_r", &remaining, {}}, {"erased", "D_e", &erased, {}}, {"test", "test", &test, {}}};
  for (auto& s : splits) {
    if (s.data->size() == 0) continue;
    auto lpd = inference::predictive_log_likelihood(model, theta, s.data->batch());
    ev.metrics.push_back({"nll_" + s.name, -lpd.mean().item<double>(), std::nullopt,
                          fmt::format("mean -log p(y|x) under the posterior predictive on {} ({} points)", s.symbol,
                                      s.data->size())});
    if (!classifier) continue;
    s.probs = metrics::predictive_probs(model, theta, s.data->x());
    ev.metrics.push_back({"error_" + s.name, metrics::error_rate(s.probs, s.data->y()), std::nullopt,
                          fmt::format("fraction misclassified on {}", s.symbol)});
  }
  if (erased.size() == 0) ev.notes.push_back("no erased data yet (generation " + std::to_string(g.number) + "): nothing to measure on D_e");

  if (classifier) {
    if (test.size() == 0) {
      ev.notes.push_back("membership attack skipped: the config holds no test split (set data.test_fraction)");
    } else if (erased.size() == 0) {
      ev.notes.push_back("membership attack skipped: no erased points to attack");
    } else {
      auto score = [&](const Split& s) { return metrics::true_label_probs(s.probs, s.data->y()); };
      auto mia = metrics::membership_attack(score(splits[0]), score(splits[2]), score(splits[1]));
      ev.metrics.push_back({"mia_balanced_accuracy", mia.balanced_accuracy, std::nullopt,
                            "threshold attack on p(true label), D_r vs test (0.5: no membership signal)"});
      ev.metrics.push_back({"mia_erased_nonmember", mia.target_nonmember_fraction, std::nullopt,
                            "fraction of D_e the attack calls non-members (higher: better forgotten)"});
    }
  }

  if (g.state.is_gaussian() && dynamic_cast<ConjugateGaussianLikelihood*>(&model) && model.gaussian_prior()) {
    auto [mean, cov] = exact_conjugate_posterior(model, remaining.batch());
    auto target = make_posterior(c);
    target->set_moments(mean, cov);
    ev.metrics.push_back({"kl_to_exact_retrain", g.state.gaussian().kl_divergence(*target).item<double>(), std::nullopt,
                          "KL(q ‖ exact posterior on D_r), closed form (conjugate model)"});
  }

  if (!reference) return ev;
  const auto& rc = reference->config;
  const auto& rg = reference->generation;
  if (rc.model->architecture() != model.architecture())
    throw io::ConfigError("--reference " + reference->run_dir + " holds model " + rc.model->architecture() +
                          ", the run " + run.run_dir + " model " + model.architecture() + ": they are not comparable");
  ev.header["reference"] = {{"run_dir", reference->run_dir},
                            {"generation", rg.number},
                            {"method", rg.metadata.value("method", rc.method_name())},
                            {"posterior", rg.state.describe()}};
  if (!same_ids(rg.trained_ids, g.trained_ids))
    ev.notes.push_back(fmt::format("the reference was trained on {} ids, not exactly this run's {} remaining ones: "
                                   "it is not a retrain on D_r",
                                   rg.trained_ids.numel(), g.trained_ids.numel()));
  auto ref_theta = posterior_samples(rg, o);  // same seed: common random numbers
  if (classifier) {
    for (int i = 1; i >= 0; --i) {  // D_e first, as the paper's tables
      const auto& s = splits[static_cast<size_t>(i)];
      if (s.data->size() == 0) continue;
      auto ref_probs = metrics::predictive_probs(*rc.model, ref_theta, s.data->x());
      auto kl = metrics::averaged_kl(ref_probs, s.probs);
      ev.metrics.push_back({"kl_" + s.name, kl.mean, kl.std,
                            fmt::format("averaged KL[p_ref(y|x) ‖ p(y|x)] over {} (mean ± std)", s.symbol)});
      ev.metrics.push_back({"l1_" + s.name, metrics::mean_l1_distance(ref_probs, s.probs), std::nullopt,
                            fmt::format("mean L1 distance of the predictive probabilities on {}", s.symbol)});
    }
  }
  if (g.state.is_gaussian() && rg.state.is_gaussian()) {
    ev.metrics.push_back({"kl_param", g.state.gaussian().kl_divergence(rg.state.gaussian()).item<double>(), std::nullopt,
                          "KL(q ‖ q_ref) between the Gaussian posteriors, closed form"});
  } else if (theta.size(0) >= 2) {
    ev.metrics.push_back({"knn_kl", metrics::knn_kl_estimate(theta, ref_theta), std::nullopt,
                          fmt::format("1-NN estimate of KL(run ‖ reference) from {} vs {} samples", theta.size(0),
                                      ref_theta.size(0))});
  } else {
    ev.notes.push_back("1-NN KL skipped: the run's bank holds a single sample");
  }
  ev.metrics.push_back({"mean_distance", (g.state.mean() - rg.state.mean()).norm().item<double>(), std::nullopt,
                        "‖E[θ] − E_ref[θ]‖₂ between the posterior means"});
  return ev;
}

}  // namespace unlearn::app
