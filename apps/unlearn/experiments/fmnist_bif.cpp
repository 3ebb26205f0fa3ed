// The Fashion-MNIST study of the BIF papers (issue 7): train a Bayesian network by mean-field VI,
// SGLD and SGHMC on D (origin), retrain on D_r = D without the removed class-0 points (target),
// forget those points with BIF in batches of 64 (processed), and compare errors on S_f (removed),
// S_r (remaining) and test, a membership-inference attack and the predictive L1 distance to the
// retrained model. Writes DIR/results.csv (one row per method and stage), DIR/results.json.
#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "experiments.h"
#include "bif_study.h"
#include "registry.h"
#include "run_config.h"
#include "unlearn/data/idx.h"
#include "unlearn/distributed/data_parallel.h"
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

struct FmnistBifConfig {
  int64_t seed = 0;
  // data
  std::string dir = data::kFashionMnistDir;
  bool pad_to_32 = true;
  int64_t train_subset = 0;    ///< 0: all 60 000
  int64_t test_subset = 0;     ///< 0: all 10 000
  int64_t eval_remaining = 0;  ///< S_r points evaluated (0: all)
  nlohmann::json model = {{"kind", "bnn_lenet"}};
  // erase
  int64_t erase_class = 0;
  /// One removal per entry: k random points of the class (nested: the first k of one permutation),
  /// 0 = every point. The origin is trained once; each removal has its own retrain and forgetting.
  std::vector<int64_t> erase_counts{0};
  int64_t request_size = 64;
  // train
  int64_t steps = 10000;
  int64_t batch_size = 128;
  SamplerConfig sgld{0.5 / 60000, 1.0, 0.5, 1.0};
  SamplerConfig sghmc{0.5 / 60000, 1.0, 0.5, 0.4};
  int64_t burn_in = 5000, thinning = 100, capacity = 20;
  std::string vi_optimizer = "adam";
  double vi_lr = 1e-3;
  double vi_lr_decay = 1.0;       ///< lr ← lr·decay every vi_lr_decay_every steps
  int64_t vi_lr_decay_every = 0;  ///< 0: constant
  int64_t vi_train_samples = 1;
  bool vi_local_reparameterisation = false;
  double vi_init_scale = 0.005;
  // BIF
  std::vector<std::string> methods{"vi", "sgld", "sghmc"};
  std::string solver = "lissa";
  /// Per method (a number in the config sets all three): LiSSA's T and each term's minibatch.
  std::map<std::string, int64_t> lissa_terms{{"vi", 64}, {"sgld", 64}, {"sghmc", 64}};
  std::map<std::string, double> lissa_c{{"vi", 0.1}, {"sgld", 0.005}, {"sghmc", 0.05}};
  std::map<std::string, int64_t> hvp_batch_size{{"vi", 128}, {"sgld", 128}, {"sghmc", 128}};
  int64_t sample_steps = 5;
  int64_t hessian_states = 0;  ///< 0: all sample_steps states
  bool refresh_bank = true;    ///< the processed chain's predictive includes its forgetting-phase states
  int64_t vi_energy_samples = 5;
  double cg_tol = 1e-4;
  int64_t cg_max_iter = 50;
  double damping = 0.0;
  // evaluation
  int64_t eval_samples = 20;  ///< VI: posterior samples per predictive; SG-MCMC: the last ones of the bank
  int64_t eval_chunk = 256;
};

// `key`: one number for every method, or {"vi": .., "sgld": .., "sghmc": ..} (absent ones keep
// their defaults).
void read_per_method(const io::JsonObjectReader& r, const std::string& key, std::map<std::string, int64_t>& values,
                     const Range& range) {
  if (r.raw(key).is_object()) {
    auto o = r.object(key);
    for (auto& [m, v] : values) v = o.get<int64_t>(m, v, range);
  } else if (r.has(key)) {
    const auto all = r.get<int64_t>(key, 0, range);
    for (auto& [m, v] : values) v = all;
  }
}

FmnistBifConfig parse_config(const nlohmann::json& json) {
  FmnistBifConfig c;
  io::JsonObjectReader r(json, "");
  r.get_enum("experiment", "fmnist_bif", {"fmnist_bif"});
  c.seed = r.get<int64_t>("seed", c.seed, Range::non_negative());
  {
    auto d = r.object("data");
    c.dir = d.get<std::string>("dir", c.dir);
    c.pad_to_32 = d.get<bool>("pad_to_32", c.pad_to_32);
    c.train_subset = d.get<int64_t>("train_subset", c.train_subset, Range::non_negative());
    c.test_subset = d.get<int64_t>("test_subset", c.test_subset, Range::non_negative());
    c.eval_remaining = d.get<int64_t>("eval_remaining", c.eval_remaining, Range::non_negative());
  }
  c.model = r.raw("model", c.model);  // read strictly by the model registry
  {
    auto e = r.object("erase");
    c.erase_class = e.get<int64_t>("class", c.erase_class, Range::closed(0, 9));
    // "count": 6000 or "count": [1000, 2000, 3000, 4000, 5000, 0]
    if (e.raw("count").is_array()) {
      c.erase_counts = e.get_vector<int64_t>("count", c.erase_counts, Range::non_negative());
      if (c.erase_counts.empty()) throw io::ConfigError(e.field("count") + " = []: give at least one count");
    } else {
      c.erase_counts = {e.get<int64_t>("count", 0, Range::non_negative())};
    }
    c.request_size = e.get<int64_t>("request_size", c.request_size, Range::at_least(1));
  }
  {
    auto t = r.object("train");
    c.steps = t.get<int64_t>("steps", c.steps, Range::at_least(1));
    c.batch_size = t.get<int64_t>("batch_size", c.batch_size, Range::at_least(1));
    study::read_sampler(t.object("sgld"), c.sgld, false);
    study::read_sampler(t.object("sghmc"), c.sghmc, true);
    study::read_bank(t.object("bank"), c.burn_in, c.thinning, c.capacity, 1);
    auto v = t.object("vi");
    c.vi_optimizer = v.get_enum("optimizer", c.vi_optimizer, {"sgd", "adam"});
    c.vi_lr = v.get<double>("lr", c.vi_lr, Range::positive());
    c.vi_lr_decay = v.get<double>("lr_decay", c.vi_lr_decay, Range::left_open(0, 1));
    c.vi_lr_decay_every = v.get<int64_t>("lr_decay_every", c.vi_lr_decay_every, Range::non_negative());
    c.vi_train_samples = v.get<int64_t>("mc_samples", c.vi_train_samples, Range::at_least(1));
    c.vi_local_reparameterisation = v.get<bool>("local_reparameterisation", c.vi_local_reparameterisation);
    c.vi_init_scale = v.get<double>("init_scale", c.vi_init_scale, Range::positive());
  }
  {
    auto b = r.object("bif");
    c.methods = study::read_methods(b, c.methods);
    c.solver = b.get_enum("solver", c.solver, {"lissa", "cg"});
    read_per_method(b, "lissa_terms", c.lissa_terms, Range::at_least(1));
    auto lc = b.object("lissa_c");
    for (auto& [m, v] : c.lissa_c) v = lc.get<double>(m, v, Range::positive());
    read_per_method(b, "hvp_batch_size", c.hvp_batch_size, Range::non_negative());
    c.sample_steps = b.get<int64_t>("sample_steps", c.sample_steps, Range::at_least(1));
    c.hessian_states = b.get<int64_t>("hessian_states", c.hessian_states, Range::non_negative());
    c.refresh_bank = b.get<bool>("refresh_bank", c.refresh_bank);
    c.vi_energy_samples = b.get<int64_t>("vi_mc_samples", c.vi_energy_samples, Range::at_least(1));
    c.cg_tol = b.get<double>("cg_tol", c.cg_tol, Range::positive());
    c.cg_max_iter = b.get<int64_t>("cg_max_iter", c.cg_max_iter, Range::at_least(1));
    c.damping = b.get<double>("damping", c.damping, Range::non_negative());
  }
  {
    auto e = r.object("eval");
    c.eval_samples = e.get<int64_t>("samples", c.eval_samples, Range::at_least(1));
    c.eval_chunk = e.get<int64_t>("chunk", c.eval_chunk, Range::at_least(1));
  }
  r.finish();
  return c;
}

// The three sets every model is judged on, with the retrained model's predictive on each.
struct EvalSets {
  data::Dataset forget, remain, test;
};

struct Predictive {
  torch::Tensor forget, remain, test;  // [n, C] probabilities
};

struct Row {
  std::string method, stage;
  int64_t removed = 0;
  double err_forget = 0, err_remain = 0, err_test = 0, mia = 0, l1 = 0;
  double l1_forget = 0, l1_remain = 0, l1_test = 0;
  double forget_seconds = 0, retrain_seconds = 0;
};

Predictive predict(Model& model, const torch::Tensor& theta, const EvalSets& sets, int64_t chunk) {
  auto probs = [&](const data::Dataset& d) { return metrics::predictive_probs(model, theta, d.x(), chunk); };
  return {probs(sets.forget), probs(sets.remain), probs(sets.test)};
}

Row judge(const std::string& method, const std::string& stage, int64_t removed, const Predictive& p,
          const Predictive* target, const EvalSets& sets) {
  Row r{method, stage, removed};
  r.err_forget = metrics::error_rate(p.forget, sets.forget.y());
  r.err_remain = metrics::error_rate(p.remain, sets.remain.y());
  r.err_test = metrics::error_rate(p.test, sets.test.y());
  r.mia = metrics::membership_attack(metrics::true_label_probs(p.remain, sets.remain.y()),
                                     metrics::true_label_probs(p.test, sets.test.y()),
                                     metrics::true_label_probs(p.forget, sets.forget.y()))
              .target_nonmember_fraction;
  if (target) {
    r.l1_forget = metrics::mean_l1_distance(p.forget, target->forget);
    r.l1_remain = metrics::mean_l1_distance(p.remain, target->remain);
    r.l1_test = metrics::mean_l1_distance(p.test, target->test);
    auto all = torch::cat({p.forget, p.remain, p.test}), all_t = torch::cat({target->forget, target->remain, target->test});
    r.l1 = metrics::mean_l1_distance(all, all_t);
  }
  return r;
}

}  // namespace

void run_fmnist_bif_experiment(const nlohmann::json& config, const ExperimentContext& ctx) {
  const FmnistBifConfig c = parse_config(config);
  auto log = [&](const std::string& s) {
    if (!ctx.quiet) std::cout << s << std::flush;
  };

  // ---- data, model, the removed ids ---------------------------------------------------------------
  data::Dataset train, test;
  try {
    const auto opts = data::FashionMnistOptions().pad_to_32(c.pad_to_32);
    train = data::load_fashion_mnist(c.dir, true, opts);
    test = data::load_fashion_mnist(c.dir, false, opts);
  } catch (const c10::Error& e) {
    throw io::ConfigError("data.dir = \"" + c.dir + "\": " + e.what_without_backtrace() +
                          " (Debian: apt-get install dataset-fashion-mnist)");
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed));
  auto long_opts = torch::TensorOptions().dtype(torch::kLong);
  auto random_ids = [&](const data::Dataset& d, int64_t k) {
    return d.ids().index_select(0, torch::randperm(d.size(), gen, long_opts).narrow(0, 0, std::min(k, d.size())));
  };
  if (c.train_subset > 0 && c.train_subset < train.size()) train = train.subset(random_ids(train, c.train_subset));
  if (c.test_subset > 0 && c.test_subset < test.size()) test = test.subset(random_ids(test, c.test_subset));
  io::JsonObjectReader model_section(c.model, "model");
  auto model = models::make_model(model_section, train);
  model_section.finish();  // unknown keys of the model section are errors too
  const auto topts = model->theta_options();
  train = train.to(topts.device(), topts.dtype().toScalarType());
  test = test.to(topts.device(), topts.dtype().toScalarType());

  auto class_ids = train.ids().index({train.y() == c.erase_class});
  TORCH_CHECK(class_ids.size(0) >= 1, "fmnist_bif: class ", c.erase_class, " has no training points to remove");
  for (auto k : c.erase_counts) {
    if (k > class_ids.size(0))
      throw io::ConfigError(fmt::format("erase.count = {}: class {} has only {} training points", k, c.erase_class,
                                        class_ids.size(0)));
  }
  const auto permuted = class_ids.index_select(0, torch::randperm(class_ids.size(0), gen, long_opts));
  std::vector<int64_t> removed_sizes;
  for (auto k : c.erase_counts) removed_sizes.push_back(k == 0 ? permuted.size(0) : k);
  // Data parallel (--world-size W): every rank loaded every row; each trains and forgets on its
  // shard (ids mod W) over the index sets, so every rank holds the one-process posterior. Rank 0
  // evaluates, prints and writes.
  const auto& cluster = ctx.cluster;
  const bool root = cluster->is_root();
  const auto sharded_train = distributed::shard_for_training(cluster, train);

  // One removal: the erased ids, what remains, its shards and the sets it is judged on. Built when
  // needed (a removal of 60 000 images holds a copy of them), identically for every method.
  struct Removal {
    int64_t removed = 0, requests = 0;
    torch::Tensor erased;
    data::Dataset remaining;
    distributed::ShardedData sharded;
    EvalSets sets;
  };
  auto make_removal = [&](int64_t count) {
    Removal r;
    r.erased = count == 0 ? permuted : permuted.narrow(0, 0, count);
    r.removed = r.erased.size(0);
    r.requests = (r.removed + c.request_size - 1) / c.request_size;
    r.remaining = train.erase(r.erased);
    r.sets = EvalSets{train.subset(r.erased), r.remaining, test};
    if (c.eval_remaining > 0 && c.eval_remaining < r.remaining.size()) {
      auto g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed) + 1000 + r.removed);
      auto pick = torch::randperm(r.remaining.size(), g, long_opts).narrow(0, 0, c.eval_remaining);
      r.sets.remain = r.remaining.subset(r.remaining.ids().index_select(0, pick));
    }
    r.sharded = distributed::shard_for_training(cluster, r.remaining);
    return r;
  };
  if (root) fs::create_directories(ctx.out_dir);  // only once the config and data are good
  {
    std::string counts;
    for (auto k : removed_sizes) counts += (counts.empty() ? "" : ", ") + std::to_string(k);
    log(fmt::format("fmnist_bif: {} ({} parameters); {} training points, {} test; removing {} of the {} of class {} "
                    "in requests of {}{}\n",
                    model->architecture(), model->num_params(), train.size(), test.size(), counts, permuted.size(0),
                    c.erase_class, c.request_size,
                    cluster->world_size() > 1 ? fmt::format("; {} data-parallel ranks", cluster->world_size()) : ""));
  }
  const auto init = model->init_theta();
  auto has = [&](const std::string& m) { return std::find(c.methods.begin(), c.methods.end(), m) != c.methods.end(); };
  auto solver_options = [&](const std::string& method) {
    return bif::InverseHvpOptions()
        .kind(bif::solver_kind_from_string(c.solver))
        .lissa(bif::LissaOptions().terms(c.lissa_terms.at(method)).damping(c.damping).compute_residual(false))
        .cg(bif::CgOptions().tol(c.cg_tol).max_iter(c.cg_max_iter).damping(c.damping));
  };

  std::vector<Row> rows;
  nlohmann::json timings = nlohmann::json::object();
  auto add_rows = [&](const std::string& method, const Removal& removal, const Predictive& origin,
                      const Predictive& processed, const Predictive& target, double forget_s, double retrain_s) {
    for (auto [stage, p] : {std::pair<const char*, const Predictive*>{"origin", &origin}, {"processed", &processed},
                            {"target", &target}}) {
      auto row = judge(method, stage, removal.removed, *p, &target, removal.sets);
      row.forget_seconds = std::string(stage) == "processed" ? forget_s : 0.0;
      row.retrain_seconds = retrain_s;
      rows.push_back(row);
      log(fmt::format("  {:<5} {:>5} {:<9} err S_f {:6.2f}%  S_r {:6.2f}%  test {:6.2f}%  MIA(S_f non-member) "
                      "{:6.2f}%  L1 to target {:.4f}\n",
                      method, removal.removed, stage, 100 * row.err_forget, 100 * row.err_remain, 100 * row.err_test, 100 * row.mia,
                      row.l1));
    }
  };
  // LiSSA diverges when s·λ_max(H) > 2 (s = c/n): the step then holds inf/NaN and so does the
  // posterior. Say so (once per method) instead of leaving it to the reader of a NaN column.
  nlohmann::json diverged = nlohmann::json::object();
  auto note_divergence = [&](const std::string& method, int64_t request, const bif::BifStep& step) {
    if (diverged.contains(method) || torch::isfinite(step.solve.solution).all().item<bool>()) return;
    diverged[method] = request;
    log(fmt::format("  {}: the BIF step of request {} is not finite (LiSSA diverged: lower bif.lissa_c.{} or use "
                    "bif.solver = \"cg\")\n",
                    method, request, method));
  };
  // timings[method]: training once, then per removal; the flat retrain/forget fields are the last
  // removal's (the only one in a single-count config).
  auto record_timing = [&](const std::string& method, double train_s, const Removal& r, double retrain_s,
                           double forget_s) {
    auto& t = timings[method];
    t["train_seconds"] = train_s;
    t["train_ms_per_step"] = 1e3 * train_s / c.steps;
    nlohmann::json one{{"removed", r.removed},
                       {"retrain_seconds", retrain_s},
                       {"forget_seconds", forget_s},
                       {"forget_seconds_per_request", forget_s / r.requests},
                       {"forget_over_retrain", forget_s / retrain_s}};
    t.update(one);
    t["per_removal"].push_back(one);
  };
  auto step_log = [&](const std::string& what) {
    return inference::TrainingCallbacks().every(std::max<int64_t>(1, c.steps / 5)).on_step([&, what](int64_t s, double obj) {
      log(fmt::format("    {} step {}/{}: objective {:.5g}\n", what, s, c.steps, obj));
      return true;
    });
  };

  // ---- VI (mean-field, Bayes by backprop with the analytic KL) --------------------------------------
  if (has("vi")) {
    const int64_t P = model->num_params();
    auto fit = [&](const distributed::ShardedData& d, uint64_t seed, const std::string& what) {
      auto q = std::make_shared<MeanFieldGaussianImpl>(
          GaussianOptions(P).init_scale(c.vi_init_scale).dtype(topts.dtype().toScalarType()).device(topts.device()));
      {
        torch::NoGradGuard g;
        q->loc().copy_(init);
      }
      inference::VITrainer trainer(model, q, d.index,
                                   inference::VIOptions()
                                       .steps(c.steps)
                                       .batch_size(c.batch_size)
                                       .optimizer(c.vi_optimizer)
                                       .lr(c.vi_lr)
                                       .num_samples(c.vi_train_samples)
                                       .analytic_kl(true)
                                       .local_reparameterisation(c.vi_local_reparameterisation)
                                       .seed(seed));
      trainer.set_data_parallel(d.parallel);
      // Step decay (the paper's SGD: ×0.1 every 4000 steps) by resetting the optimiser's lr.
      auto cb = step_log(what);
      double lr = c.vi_lr;
      while (trainer.step_count() < c.steps) {
        const int64_t t = trainer.step_count();
        if (c.vi_lr_decay_every > 0 && t > 0 && t % c.vi_lr_decay_every == 0) {
          lr *= c.vi_lr_decay;
          for (auto& g : trainer.optimizer().param_groups()) g.options().set_lr(lr);
        }
        trainer.step();
        cb.after_step(trainer.step_count(), trainer.step_count() == c.steps,
                      [&] { return trainer.last_objective().item<double>(); });
      }
      return q;
    };
    auto t0 = Clock::now();
    auto origin = fit(sharded_train, static_cast<uint64_t>(c.seed) + 11, "vi origin");
    const double train_s = seconds_since(t0);
    for (auto count : c.erase_counts) {
      const auto r = make_removal(count);
      t0 = Clock::now();
      auto target = fit(r.sharded, static_cast<uint64_t>(c.seed) + 12, "vi target");
      const double retrain_s = seconds_since(t0);

      auto q = origin->copy();
      auto opts = bif::ViBifOptions()
                      .energy(bif::ViEnergyOptions()
                                  .mc_samples(c.vi_energy_samples)
                                  .hvp_batch_size(c.hvp_batch_size.at("vi"))
                                  .parallel(sharded_train.parallel))
                      .solver(solver_options("vi"))
                      .batch_size(c.request_size)
                      .lissa_c(c.solver == "lissa" ? c.lissa_c.at("vi") : 0.0);
      auto bif_gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed) + 13);
      data::Dataset current = sharded_train.index;  // W = 1: the training set itself
      t0 = Clock::now();
      for (int64_t start = 0; start < r.removed; start += c.request_size) {
        auto ids = r.erased.narrow(0, start, std::min(c.request_size, r.removed - start));
        auto step = bif::vi_bif_step(*model, *q, current, current.subset(ids).batch(), opts, bif_gen);
        note_divergence("vi", start / c.request_size, step);
        current = current.erase(ids);
      }
      const double forget_s = seconds_since(t0);
      record_timing("vi", train_s, r, retrain_s, forget_s);
      if (root) {  // rank 0 evaluates
        auto eval_gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed) + 14);
        auto samples = [&](const GaussianPosteriorImpl& post) {
          torch::NoGradGuard g;
          return post.rsample(c.eval_samples, eval_gen);
        };
        auto pt = predict(*model, samples(*target), r.sets, c.eval_chunk);
        add_rows("vi", r, predict(*model, samples(*origin), r.sets, c.eval_chunk),
                 predict(*model, samples(*q), r.sets, c.eval_chunk), pt, forget_s, retrain_s);
      }
    }
  }

  // ---- SG-MCMC ------------------------------------------------------------------------------------
  for (const char* name : {"sgld", "sghmc"}) {
    const std::string method = name;
    if (!has(method)) continue;
    const auto& sc = method == "sgld" ? c.sgld : c.sghmc;
    auto opts = study::sgmcmc_options(
        method, sc, c.steps, c.batch_size, static_cast<uint64_t>(c.seed) + 31,
        inference::SampleBankOptions().burn_in(c.burn_in).thinning(c.thinning).capacity(c.capacity));
    auto t0 = Clock::now();
    inference::SGMCMCTrainer origin(model, sharded_train.index, opts, init);
    origin.set_data_parallel(sharded_train.parallel);
    origin.train(step_log(method + " origin"));
    const double train_s = seconds_since(t0);
    TORCH_CHECK(!origin.bank().empty(), "fmnist_bif: the sample bank is empty (burn_in ", c.burn_in, " >= steps ",
                c.steps, ")");
    // The predictive of a chain: the last eval_samples samples of its bank.
    auto last = [&](const torch::Tensor& s) {
      return s.narrow(0, std::max<int64_t>(0, s.size(0) - c.eval_samples), std::min(c.eval_samples, s.size(0)));
    };
    for (auto count : c.erase_counts) {
      const auto r = make_removal(count);
      t0 = Clock::now();
      inference::SGMCMCTrainer target(model, r.sharded.index, inference::SGMCMCOptions(opts).seed(opts.seed() + 1),
                                      init);
      target.set_data_parallel(r.sharded.parallel);
      target.train(step_log(method + " target"));
      const double retrain_s = seconds_since(t0);

      auto state = bif::chain_state_of(origin);  // a copy: every removal starts from the trained chain
      auto samples = origin.bank().samples().clone();
      auto bopts = bif::SgmcmcBifOptions()
                       .solver(solver_options(method))
                       .batch_size(c.request_size)
                       .sample_steps(c.sample_steps)
                       .hessian_states(c.hessian_states)
                       .refresh_samples(c.refresh_bank)
                       .parallel(sharded_train.parallel)
                       .minibatch_size(c.batch_size)
                       .hvp_batch_size(c.hvp_batch_size.at(method))
                       .lissa_c(c.solver == "lissa" ? c.lissa_c.at(method) : 0.0);
      auto bif_gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed) + 41);
      data::Dataset current = sharded_train.index;  // W = 1: the training set itself
      t0 = Clock::now();
      for (int64_t start = 0; start < r.removed; start += c.request_size) {
        auto ids = r.erased.narrow(0, start, std::min(c.request_size, r.removed - start));
        auto step = bif::sgmcmc_bif_step(*model, state, samples, current, current.subset(ids).batch(), bopts, bif_gen);
        note_divergence(method, start / c.request_size, step);
        current = current.erase(ids);
      }
      const double forget_s = seconds_since(t0);
      record_timing(method, train_s, r, retrain_s, forget_s);
      if (!root) continue;
      auto pt = predict(*model, last(target.bank().samples()), r.sets, c.eval_chunk);
      add_rows(method, r, predict(*model, last(origin.bank().samples()), r.sets, c.eval_chunk),
               predict(*model, last(samples), r.sets, c.eval_chunk), pt, forget_s, retrain_s);
    }
  }

  // ---- outputs ------------------------------------------------------------------------------------
  if (!root) return;
  std::string csv =
      "method,removed,err_forget,err_remain,err_test,mia_forget_nonmember,pred_l1_to_retrain,forget_seconds,"
      "retrain_seconds\n";
  nlohmann::json jrows = nlohmann::json::array();
  for (const auto& r : rows) {
    csv += fmt::format("{}/{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g}\n", r.method, r.stage, r.removed,
                       r.err_forget, r.err_remain, r.err_test, r.mia, r.l1, r.forget_seconds, r.retrain_seconds);
    jrows.push_back({{"method", r.method},
                     {"stage", r.stage},
                     {"removed", r.removed},
                     {"err_forget", r.err_forget},
                     {"err_remain", r.err_remain},
                     {"err_test", r.err_test},
                     {"mia_forget_nonmember", r.mia},
                     {"pred_l1_to_retrain", r.l1},
                     {"pred_l1_forget", r.l1_forget},
                     {"pred_l1_remain", r.l1_remain},
                     {"pred_l1_test", r.l1_test},
                     {"forget_seconds", r.forget_seconds},
                     {"retrain_seconds", r.retrain_seconds}});
  }
  auto write = [](const fs::path& p, const std::string& text) { study::write_text(p, text, "fmnist_bif"); };
  write(ctx.out_dir / "results.csv", csv);
  nlohmann::json out{{"experiment", "fmnist_bif"},
                     {"config", config},
                     {"model", model->architecture()},
                     {"num_params", model->num_params()},
                     {"train_size", train.size()},
                     {"world_size", cluster->world_size()},
                     {"test_size", test.size()},
                     {"eval_remaining", c.eval_remaining},
                     {"removed", removed_sizes},
                     {"class_size", permuted.size(0)},
                     {"pred_l1_to_retrain_on", "S_f, the evaluated S_r and test together"},
                     {"timings", timings},
                     {"diverged_at_request", diverged},
                     {"rows", jrows}};
  write(ctx.out_dir / "results.json", out.dump(2) + "\n");
  if (!ctx.quiet) std::cout << "fmnist_bif: wrote " << (ctx.out_dir / "results.csv").string() << "\n";
}

}  // namespace unlearn::app
