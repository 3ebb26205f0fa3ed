// The GMM study of the BIF papers (issue 6): train VI, SGLD and SGHMC on D (origin), retrain on
// D_r (target), forget the erased points in sequential requests with every inverse-HVP solver
// (processed), and compare centres, certificates and costs.
#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "experiments.h"
#include "bif_study.h"
#include "gmm/gmm.h"
#include "config/data_section.h"
#include "unlearn/data/csv.h"
#include "unlearn/data/split.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/inference/vi.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"
#include "unlearn/metrics/predictive.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/bif/sgmcmc_bif.h"
#include "unlearn/unlearning/bif/vi_bif.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;
using study::Clock;
using study::SamplerConfig;
using study::seconds_since;
using io::Range;

struct EraseRule {
  int64_t label = 0;
  std::string feature;
  bool largest = true;
  int64_t count = 0;
};

struct GmmBifConfig {
  int64_t seed = 0;
  std::string data_path = "configs/data/gmm_2d_2000.csv";
  std::vector<std::string> features{"x1", "x2"};
  std::string label = "label";
  std::string id = "id";
  int64_t components = 4;
  double prior_std = 1.0;
  std::vector<EraseRule> rules;
  int64_t request_size = 4;
  std::string init = "class_means";
  int64_t steps = 2000;
  int64_t batch_size = 64;
  SamplerConfig sgld{4.0 / 2000, 1.0, 0.15, 1.0};
  SamplerConfig sghmc{2.0 / 2000, 1.0, 0.15, 0.4};
  int64_t burn_in = 1000;
  int64_t thinning = 10;
  int64_t capacity = 100;
  // VI
  inference::Optimizer vi_optimizer = inference::Optimizer::kSGD;
  double vi_lr = 1e-3;
  int64_t vi_train_samples = 100;
  double vi_init_scale = 0.1;
  bool vi_polish = true;
  int64_t vi_energy_samples = 64;
  /// "closed_form": the papers' mean-field family with closed-form responsibilities (the
  /// deterministic collapsed ELBO of models/gmm); "monte_carlo": E_q on common random numbers.
  std::string vi_energy = "closed_form";
  // BIF
  std::vector<std::string> methods{"vi", "sgld", "sghmc"};
  std::vector<std::string> solvers{"lissa", "cg", "dense"};
  int64_t sample_steps = 5;
  int64_t lissa_terms = 32;
  double lissa_c = 1.0;
  int64_t hvp_batch_size = 64;
  double cg_tol = 1e-10;
  int64_t cg_max_iter = 100;
  double damping = 0.0;
  /// SG-MCMC: the GMM's closed-form likelihood Hessians instead of double backward.
  bool closed_form_hessian = true;
  bool plot = true;
};

GmmBifConfig parse_config(const nlohmann::json& json) {
  GmmBifConfig c;
  io::JsonObjectReader r(json, "");
  r.get_enum("experiment", "gmm_bif", {"gmm_bif"});
  c.seed = r.get<int64_t>("seed", c.seed, Range::non_negative());
  {
    auto d = r.object("data");
    c.data_path = d.get<std::string>("path", c.data_path);
    c.features = d.get_vector<std::string>("features", c.features);
    c.label = d.get<std::string>("label", c.label);
    c.id = d.get<std::string>("id", c.id);
  }
  {
    auto m = r.object("model");
    c.components = m.get<int64_t>("components", c.components, Range::closed(1, 8));
    c.prior_std = m.get<double>("prior_std", c.prior_std, Range::positive());
  }
  {
    auto e = r.object("erase");
    for (auto& rule : e.objects("rules")) {
      EraseRule er;
      er.label = rule.require<int64_t>("label", Range::non_negative());
      er.feature = rule.require<std::string>("feature");
      er.largest = rule.get<bool>("largest", true);
      er.count = rule.require<int64_t>("count", Range::at_least(1));
      c.rules.push_back(er);
    }
    c.request_size = e.get<int64_t>("request_size", c.request_size, Range::at_least(1));
  }
  {
    auto t = r.object("train");
    c.init = t.get_enum("init", c.init, {"class_means", "model"});
    c.steps = t.get<int64_t>("steps", c.steps, Range::at_least(1));
    c.batch_size = t.get<int64_t>("batch_size", c.batch_size, Range::non_negative());
    study::read_sampler(t.object("sgld"), c.sgld, false);
    study::read_sampler(t.object("sghmc"), c.sghmc, true);
    study::read_bank(t.object("bank"), c.burn_in, c.thinning, c.capacity, 2);
    auto v = t.object("vi");
    c.vi_optimizer = inference::optimizer_from_string(v.get_enum("optimizer", "sgd", {"sgd", "adam"}));
    c.vi_lr = v.get<double>("lr", c.vi_lr, Range::positive());
    c.vi_train_samples = v.get<int64_t>("mc_samples", c.vi_train_samples, Range::at_least(1));
    c.vi_init_scale = v.get<double>("init_scale", c.vi_init_scale, Range::positive());
    c.vi_polish = v.get<bool>("polish", c.vi_polish);
  }
  {
    auto b = r.object("bif");
    c.methods = study::read_methods(b, c.methods);
    c.solvers = b.get_vector<std::string>("solvers", c.solvers);
    for (const auto& s : c.solvers)
      if (s != "lissa" && s != "cg" && s != "dense")
        throw io::ConfigError(b.field("solvers") + ": \"" + s + "\" is unknown: allowed are lissa, cg, dense");
    c.sample_steps = b.get<int64_t>("sample_steps", c.sample_steps, Range::at_least(1));
    c.vi_energy_samples = b.get<int64_t>("vi_mc_samples", c.vi_energy_samples, Range::at_least(1));
    c.vi_energy = b.get_enum("vi_energy", c.vi_energy, {"closed_form", "monte_carlo"});
    c.closed_form_hessian = b.get<bool>("closed_form_hessian", c.closed_form_hessian);
    c.lissa_terms = b.get<int64_t>("lissa_terms", c.lissa_terms, Range::at_least(1));
    c.lissa_c = b.get<double>("lissa_c", c.lissa_c, Range::positive());
    c.hvp_batch_size = b.get<int64_t>("hvp_batch_size", c.hvp_batch_size, Range::non_negative());
    c.cg_tol = b.get<double>("cg_tol", c.cg_tol, Range::positive());
    c.cg_max_iter = b.get<int64_t>("cg_max_iter", c.cg_max_iter, Range::at_least(1));
    c.damping = b.get<double>("damping", c.damping, Range::non_negative());
  }
  c.plot = r.get<bool>("plot", c.plot);
  r.finish();
  if (c.rules.empty()) throw io::ConfigError("erase.rules: at least one rule is required");
  return c;
}

struct Row {
  std::string method, solver;
  double origin_to_target = 0, processed_to_target = 0, certificate = 0;
  double forget_total = 0, forget_per_request = 0, retrain = 0;
  double max_residual = std::numeric_limits<double>::quiet_NaN();  ///< NaN: none computed
  double solve_total = 0;  ///< seconds inside the inverse-HVP solves (Hessian assembly included)
};

// Points for the plot: kind,method,solver,x1,x2.
struct PlotRows {
  std::string text = "kind,method,solver,x1,x2\n";
  void add(const std::string& kind, const std::string& method, const std::string& solver, const torch::Tensor& xy) {
    auto t = xy.detach().to(torch::kFloat64).cpu().reshape({-1, 2}).contiguous();
    auto a = t.accessor<double, 2>();
    for (int64_t i = 0; i < t.size(0); ++i)
      text += fmt::format("{},{},{},{:.6g},{:.6g}\n", kind, method, solver, a[i][0], a[i][1]);
  }
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

}  // namespace

void run_gmm_bif_experiment(const nlohmann::json& config, const ExperimentContext& ctx) {
  const GmmBifConfig c = parse_config(config);
  auto log = [&](const std::string& s) {
    if (!ctx.quiet) std::cout << s << std::flush;
  };

  const fs::path data_path = models::resolve_path(c.data_path, ctx.config_dir, "data.path");
  auto ds = data::load_csv_dataset(data_path.string(), c.features, c.label, c.id);
  std::filesystem::create_directories(ctx.out_dir);  // only once the config and data are good
  const int64_t dim = ds.x().size(1);
  auto model = models::Gmm(models::GmmOptions(c.components, dim).prior_std(c.prior_std));
  const int64_t P = model->num_params();

  // Erased ids: each rule's extreme points of one cluster, then a seeded random order.
  std::vector<torch::Tensor> parts;
  for (const auto& rule : c.rules) {
    int64_t column = -1;
    for (size_t i = 0; i < c.features.size(); ++i)
      if (c.features[i] == rule.feature) column = static_cast<int64_t>(i);
    if (column < 0) throw io::ConfigError("erase.rules: feature \"" + rule.feature + "\" is not one of data.features");
    parts.push_back(data::ids_top_k_by_feature(ds, column, rule.count, rule.largest, rule.label).erased);
  }
  auto erased = torch::cat(parts);
  auto order_gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed));
  erased = erased.index_select(0, torch::randperm(erased.size(0), order_gen, torch::TensorOptions().dtype(torch::kLong)));
  auto remaining = ds.erase(erased);
  const int64_t requests = (erased.size(0) + c.request_size - 1) / c.request_size;
  log(fmt::format("gmm_bif: {} points, erasing {} in {} requests of {}\n", ds.size(), erased.size(0), requests,
                  c.request_size));

  torch::Tensor init;
  if (c.init == "class_means") {
    init = torch::zeros({c.components, dim}, torch::kFloat64);
    for (int64_t k = 0; k < c.components; ++k) init[k] = ds.x().index({ds.y() == k}).mean(0);
    init = init.reshape({-1});
  } else {
    init = model->init_theta();
  }

  PlotRows plot;
  plot.add("data", "", "", ds.erase(erased).x());
  plot.add("removed", "", "", ds.subset(erased).x());
  std::vector<Row> rows;
  auto centres = [&](const torch::Tensor& theta) { return model->means(theta.detach()).reshape({c.components, dim}); };
  bif::ExpectedLogLikelihood vi_closed_form;
  if (c.vi_energy == "closed_form") {
    vi_closed_form = [m = model.get()](const GaussianPosteriorImpl& q, const data::Batch& b) {
      return m->variational_expected_log_likelihood(q, b);
    };
  }

  // ---- VI ---------------------------------------------------------------------------------------
  auto fit_vi = [&](const data::Dataset& d, std::shared_ptr<GaussianPosteriorImpl> q) {
    {
      torch::NoGradGuard g;
      q->loc().copy_(init);
    }
    inference::VITrainer trainer(model.ptr(), q, d,
                                 inference::VIOptions()
                                     .steps(c.steps)
                                     .batch_size(c.batch_size)
                                     .optimizer(c.vi_optimizer)
                                     .lr(c.vi_lr)
                                     .num_samples(c.vi_train_samples)
                                     .analytic_kl(true)
                                     .seed(static_cast<uint64_t>(c.seed) + 11));
    trainer.train();
    if (c.vi_polish) {
      // Polish to the exact minimiser of the energy on the common random numbers the forgetting
      // steps draw (Newton steps assume it): full-data L-BFGS from the SGD solution.
      bif::ViEnergy energy(*model, *q, vi_energy(c), vi_closed_form);
      auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed) + 21);
      energy.draw_noise(gen);
      energy.minimise(d, /*max_iter=*/500, /*tolerance_grad=*/1e-9, /*tolerance_change=*/1e-14);
    }
  };
  auto has = [&](const std::string& m) { return std::find(c.methods.begin(), c.methods.end(), m) != c.methods.end(); };

  if (has("vi")) {
    auto make_q = [&] { return std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(P).init_scale(c.vi_init_scale)); };
    auto origin = make_q();
    fit_vi(ds, origin);
    auto target = make_q();
    auto t0 = Clock::now();
    fit_vi(remaining, target);
    const double retrain = seconds_since(t0);
    const double o2t = models::matched_centre_distance(centres(origin->loc()), centres(target->loc()));
    plot.add("origin_centre", "vi", "", centres(origin->loc()));
    plot.add("target_centre", "vi", "", centres(target->loc()));
    for (const auto& s : c.solvers) {
      auto q = origin->copy();
      auto opts = bif::ViBifOptions()
                      .energy(vi_energy(c))
                      .solver(solver_options(c, s))
                      .lissa_c(c.lissa_c);
      // Every step draws the polish's common random numbers (see vi_bif.h): step by step.
      data::Dataset current = ds;
      Row row{"vi", s};
      for (int64_t start = 0; start < erased.size(0); start += c.request_size) {
        auto ids = erased.narrow(0, start, std::min(c.request_size, erased.size(0) - start));
        auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed) + 21);
        auto t1 = Clock::now();
        auto step = bif::vi_bif_step(*model, *q, current, current.subset(ids).batch(), opts, gen, vi_closed_form);
        current = current.erase(ids);
        row.forget_total += seconds_since(t1);
        row.solve_total += step.solve.seconds;
        if (std::isfinite(step.solve.residual))
          row.max_residual = std::isnan(row.max_residual) ? step.solve.residual : std::max(row.max_residual, step.solve.residual);
      }
      row.origin_to_target = o2t;
      row.processed_to_target = models::matched_centre_distance(centres(q->loc()), centres(target->loc()));
      row.certificate = q->kl_divergence(*target).item<double>();
      row.forget_per_request = row.forget_total / static_cast<double>(requests);
      row.retrain = retrain;
      plot.add("processed_centre", "vi", s, centres(q->loc()));
      rows.push_back(row);
      log(fmt::format("  vi/{}: processed→target {:.4f} (origin {:.4f})\n", s, row.processed_to_target, o2t));
    }
  }

  // ---- SG-MCMC ----------------------------------------------------------------------------------
  for (const char* method_name : {"sgld", "sghmc"}) {
    const std::string method = method_name;
    if (!has(method)) continue;
    const auto& sc = method == "sgld" ? c.sgld : c.sghmc;
    auto opts = study::sgmcmc_options(
        method, sc, c.steps, c.batch_size, static_cast<uint64_t>(c.seed) + 31,
        inference::SampleBankOptions().burn_in(c.burn_in).thinning(c.thinning).capacity(c.capacity));
    inference::SGMCMCTrainer origin(model.ptr(), ds, opts, init);
    origin.train();
    auto t0 = Clock::now();
    inference::SGMCMCTrainer target(model.ptr(), remaining, opts, init);
    target.train();
    const double retrain = seconds_since(t0);
    TORCH_CHECK(!origin.bank().empty() && !target.bank().empty(), "gmm_bif: the sample bank is empty (burn_in ",
                c.burn_in, " >= steps ", c.steps, ")");
    auto target_samples = target.bank().samples().clone();
    auto target_centres = centres(target.bank().mean());
    const double o2t = models::matched_centre_distance(centres(origin.bank().mean()), target_centres);
    plot.add("origin_centre", method, "", centres(origin.bank().mean()));
    plot.add("target_centre", method, "", target_centres);
    plot.add("origin_sample", method, "", origin.bank().samples());
    plot.add("target_sample", method, "", target_samples);
    for (const auto& s : c.solvers) {
      auto state = inference::chain_state_of(origin);
      auto samples = origin.bank().samples().clone();
      auto bopts = bif::SgmcmcBifOptions()
                       .solver(solver_options(c, s))
                       .sample_steps(c.sample_steps)
                       .minibatch_size(c.batch_size)
                       .hvp_batch_size(c.hvp_batch_size)
                       .lissa_c(c.lissa_c);
      if (c.closed_form_hessian) {
        bopts.likelihood_hessians([m = model.get()](const torch::Tensor& thetas, const data::Batch& b, int64_t groups) {
          return m->neg_log_likelihood_hessian(thetas, b, groups);
        });
      }
      auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed) + 41);
      data::Dataset current = ds;
      Row row{method, s};
      for (int64_t start = 0; start < erased.size(0); start += c.request_size) {
        auto ids = erased.narrow(0, start, std::min(c.request_size, erased.size(0) - start));
        auto t1 = Clock::now();
        auto step = bif::sgmcmc_bif_step(*model, state, samples, current, current.subset(ids).batch(), bopts, gen);
        current = current.erase(ids);
        row.forget_total += seconds_since(t1);
        row.solve_total += step.solve.seconds;
        if (std::isfinite(step.solve.residual))
          row.max_residual = std::isnan(row.max_residual) ? step.solve.residual : std::max(row.max_residual, step.solve.residual);
      }
      auto processed_centres = centres(samples.mean(0));
      row.origin_to_target = o2t;
      row.processed_to_target = models::matched_centre_distance(processed_centres, target_centres);
      row.certificate = metrics::knn_kl_estimate(samples, target_samples);
      row.forget_per_request = row.forget_total / static_cast<double>(requests);
      row.retrain = retrain;
      plot.add("processed_centre", method, s, processed_centres);
      plot.add("processed_sample", method, s, samples);
      rows.push_back(row);
      log(fmt::format("  {}/{}: processed→target {:.4f} (origin {:.4f})\n", method, s, row.processed_to_target, o2t));
    }
  }

  // ---- outputs ----------------------------------------------------------------------------------
  std::string csv =
      "method,solver,origin_to_target,processed_to_target,certificate,forget_seconds_total,"
      "forget_seconds_per_request,retrain_seconds\n";
  nlohmann::json jrows = nlohmann::json::array();
  for (const auto& r : rows) {
    csv += fmt::format("{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g}\n", r.method, r.solver, r.origin_to_target,
                       r.processed_to_target, r.certificate, r.forget_total, r.forget_per_request, r.retrain);
    jrows.push_back({{"method", r.method},
                     {"solver", r.solver},
                     {"origin_to_target", r.origin_to_target},
                     {"processed_to_target", r.processed_to_target},
                     {"certificate", r.certificate},
                     {"certificate_kind", r.method == "vi" ? "kl_gaussian" : "knn_kl"},
                     {"forget_seconds_total", r.forget_total},
                     {"forget_seconds_per_request", r.forget_per_request},
                     {"retrain_seconds", r.retrain},
                     {"request_fraction_of_retrain", r.forget_per_request / r.retrain},
                     {"max_solver_residual", r.max_residual},
                     {"solve_seconds_total", r.solve_total}});
  }
  auto write = [](const fs::path& p, const std::string& text) { study::write_text(p, text, "gmm_bif"); };
  write(ctx.out_dir / "results.csv", csv);
  nlohmann::json out{{"experiment", "gmm_bif"},
                     {"config", config},
                     {"erased", erased.size(0)},
                     {"requests", requests},
                     {"rows", jrows}};
  write(ctx.out_dir / "results.json", out.dump(2) + "\n");
  write(ctx.out_dir / "gmm_points.csv", plot.text);

  if (!ctx.quiet) {
    std::cout << fmt::format("{:<6} {:<6} {:>10} {:>10} {:>11} {:>10} {:>12} {:>9} {:>9}\n", "method", "solver",
                             "orig→tgt", "proc→tgt", "certificate", "forget s", "s/request", "retrain s",
                             "req/retr");
    for (const auto& r : rows)
      std::cout << fmt::format("{:<6} {:<6} {:>10.4f} {:>10.4f} {:>11.4g} {:>10.3f} {:>12.5f} {:>9.3f} {:>8.2f}%\n",
                               r.method, r.solver, r.origin_to_target, r.processed_to_target, r.certificate,
                               r.forget_total, r.forget_per_request, r.retrain,
                               100.0 * r.forget_per_request / r.retrain);
  }
  if (c.plot) {
    const bool python = std::system((std::string(plotting_python()) + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) == 0;
    fs::path script = "scripts/plot_gmm.py";
    if (!fs::exists(script)) script = ctx.config_dir / ".." / "scripts" / "plot_gmm.py";
    if (python && fs::exists(script)) {
      const auto cmd = std::string(plotting_python()) + " '" + script.string() + "' '" + ctx.out_dir.string() + "'";
      if (std::system(cmd.c_str()) != 0) log("gmm_bif: plotting failed: " + cmd + "\n");
    } else {
      log("gmm_bif: no plot (needs python3 with matplotlib: apt-get install python3-matplotlib); then run\n"
          "  python3 scripts/plot_gmm.py " +
          ctx.out_dir.string() + "\n");
    }
  }
}

}  // namespace unlearn::app
