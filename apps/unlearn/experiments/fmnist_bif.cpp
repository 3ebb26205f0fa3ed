// The Fashion-MNIST study of the BIF papers (issue 7): train a Bayesian network by mean-field VI,
// SGLD and SGHMC on D (origin), retrain on D_r = D without the removed class-0 points (target),
// forget those points with BIF in batches of 64 (processed) — and, for the VI posterior, with EUBO
// and reverse KL (the VBU paper's methods) — and compare errors on S_f (removed), S_r (remaining)
// and test, a membership-inference attack and the predictive L1 distance to the retrained model.
// Writes DIR/results.csv (one row per method and stage), DIR/results.json.
#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bif_study.h"
#include "experiments.h"
#include "fmnist_bif_config.h"
#include "registry.h"
#include "unlearn/data/idx.h"
#include "unlearn/distributed/data_parallel.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/inference/vi.h"
#include "unlearn/io/config_error.h"
#include "unlearn/metrics/predictive.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/bif/sgmcmc_bif.h"
#include "unlearn/unlearning/bif/vi_bif.h"
#include "unlearn/unlearning/adjusted_likelihood.h"
#include "unlearn/unlearning/eubo.h"
#include "unlearn/unlearning/reverse_kl.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;
using study::Clock;
using study::seconds_since;

// The three sets every model is judged on.
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
          const Predictive& target, const EvalSets& sets) {
  Row r{method, stage, removed};
  r.err_forget = metrics::error_rate(p.forget, sets.forget.y());
  r.err_remain = metrics::error_rate(p.remain, sets.remain.y());
  r.err_test = metrics::error_rate(p.test, sets.test.y());
  r.mia = metrics::membership_attack(metrics::true_label_probs(p.remain, sets.remain.y()),
                                     metrics::true_label_probs(p.test, sets.test.y()),
                                     metrics::true_label_probs(p.forget, sets.forget.y()))
              .target_nonmember_fraction;
  r.l1_forget = metrics::mean_l1_distance(p.forget, target.forget);
  r.l1_remain = metrics::mean_l1_distance(p.remain, target.remain);
  r.l1_test = metrics::mean_l1_distance(p.test, target.test);
  auto all = torch::cat({p.forget, p.remain, p.test}), all_t = torch::cat({target.forget, target.remain, target.test});
  r.l1 = metrics::mean_l1_distance(all, all_t);
  return r;
}

// One removal: the erased ids, what remains, its shards and the sets it is judged on.
struct Removal {
  int64_t removed = 0, requests = 0;
  torch::Tensor erased;
  data::Dataset remaining;
  distributed::ShardedData sharded;
  EvalSets sets;
};

// What a method's forgetting of one removal produced, next to its retrain.
struct Outcome {
  Predictive origin, processed, target;
  double forget_seconds = 0, retrain_seconds = 0;
};

class FmnistStudy {
 public:
  FmnistStudy(const nlohmann::json& config, const ExperimentContext& ctx)
      : json_(config), c_(parse_fmnist_bif_config(config)), ctx_(ctx), cluster_(ctx.cluster), root_(cluster_->is_root()) {}

  void run() {
    load();
    if (c_.runs("vi")) run_vi();
    for (const char* m : {"sgld", "sghmc"})
      if (c_.runs(m)) run_chain(m);
    if (root_) write_outputs();
  }

 private:
  void log(const std::string& s) const {
    if (!ctx_.quiet) std::cout << s << std::flush;
  }

  // ---- data, model, the removed ids ---------------------------------------------------------------
  void load() {
    try {
      const auto opts = data::FashionMnistOptions().pad_to_32(c_.pad_to_32);
      train_ = data::load_fashion_mnist(c_.dir, true, opts);
      test_ = data::load_fashion_mnist(c_.dir, false, opts);
    } catch (const c10::Error& e) {
      throw io::ConfigError("data.dir = \"" + c_.dir + "\": " + e.what_without_backtrace() +
                            " (Debian: apt-get install dataset-fashion-mnist)");
    }
    // One generator, drawn in this order: the train subset, the test subset, the class permutation.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c_.seed));
    auto random_ids = [&](const data::Dataset& d, int64_t k) {
      return d.ids().index_select(0, torch::randperm(d.size(), gen, long_opts()).narrow(0, 0, std::min(k, d.size())));
    };
    if (c_.train_subset > 0 && c_.train_subset < train_.size()) train_ = train_.subset(random_ids(train_, c_.train_subset));
    if (c_.test_subset > 0 && c_.test_subset < test_.size()) test_ = test_.subset(random_ids(test_, c_.test_subset));
    io::JsonObjectReader model_section(c_.model, "model");
    model_ = models::make_model(model_section, train_);
    model_section.finish();  // unknown keys of the model section are errors too
    const auto topts = model_->theta_options();
    train_ = train_.to(topts.device(), topts.dtype().toScalarType());
    test_ = test_.to(topts.device(), topts.dtype().toScalarType());

    auto class_ids = train_.ids().index({train_.y() == c_.erase_class});
    TORCH_CHECK(class_ids.size(0) >= 1, "fmnist_bif: class ", c_.erase_class, " has no training points to remove");
    for (auto k : c_.erase_counts) {
      if (k > class_ids.size(0))
        throw io::ConfigError(fmt::format("erase.count = {}: class {} has only {} training points", k, c_.erase_class,
                                          class_ids.size(0)));
    }
    permuted_ = class_ids.index_select(0, torch::randperm(class_ids.size(0), gen, long_opts()));
    for (auto k : c_.erase_counts) removed_sizes_.push_back(k == 0 ? permuted_.size(0) : k);
    // Data parallel (--world-size W): every rank loaded every row; each trains and forgets on its
    // shard (ids mod W) over the index sets, so every rank holds the one-process posterior. Rank 0
    // evaluates, prints and writes.
    if (cluster_->world_size() > 1 && !c_.vbu.methods.empty() && c_.vbu.erased_batch_size > 0)
      throw io::ConfigError(fmt::format(
          "vbu.erased_batch_size = {}: data-parallel EUBO / reverse KL sum all of D_e over the ranks every step; "
          "set it to 0 or run one process",
          c_.vbu.erased_batch_size));
    sharded_train_ = distributed::shard_for_training(cluster_, train_);
    if (root_) fs::create_directories(ctx_.out_dir);  // only once the config and data are good
    std::string counts;
    for (auto k : removed_sizes_) counts += (counts.empty() ? "" : ", ") + std::to_string(k);
    log(fmt::format("fmnist_bif: {} ({} parameters); {} training points, {} test; removing {} of the {} of class {} "
                    "in requests of {}{}\n",
                    model_->architecture(), model_->num_params(), train_.size(), test_.size(), counts,
                    permuted_.size(0), c_.erase_class, c_.request_size,
                    cluster_->world_size() > 1 ? fmt::format("; {} data-parallel ranks", cluster_->world_size()) : ""));
    init_ = model_->init_theta();
  }

  static torch::TensorOptions long_opts() { return torch::TensorOptions().dtype(torch::kLong); }

  // Built when needed (a removal of 60 000 images holds a copy of them), identically for every method.
  Removal make_removal(int64_t count) const {
    Removal r;
    r.erased = count == 0 ? permuted_ : permuted_.narrow(0, 0, count);
    r.removed = r.erased.size(0);
    r.requests = (r.removed + c_.request_size - 1) / c_.request_size;
    r.remaining = train_.erase(r.erased);
    r.sets = EvalSets{train_.subset(r.erased), r.remaining, test_};
    if (c_.eval_remaining > 0 && c_.eval_remaining < r.remaining.size()) {
      auto g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c_.seed) + 1000 + r.removed);
      auto pick = torch::randperm(r.remaining.size(), g, long_opts()).narrow(0, 0, c_.eval_remaining);
      r.sets.remain = r.remaining.subset(r.remaining.ids().index_select(0, pick));
    }
    r.sharded = distributed::shard_for_training(cluster_, r.remaining);
    return r;
  }

  bif::InverseHvpOptions solver_options(const std::string& method) const {
    return bif::InverseHvpOptions()
        .kind(bif::solver_kind_from_string(c_.solver.at(method)))
        .lissa(bif::LissaOptions()
                   .terms(c_.lissa_terms.at(method))
                   .damping(c_.damping)
                   .guard(c_.lissa_guard.at(method))
                   .compute_residual(false))
        .cg(bif::CgOptions().tol(c_.cg_tol).max_iter(c_.cg_max_iter.at(method)).damping(c_.damping));
  }

  inference::TrainingCallbacks step_log(const std::string& what) const {
    return inference::TrainingCallbacks().every(std::max<int64_t>(1, c_.steps / 5)).on_step([this, what](int64_t s, double obj) {
      log(fmt::format("    {} step {}/{}: objective {:.5g}\n", what, s, c_.steps, obj));
      return true;
    });
  }

  // Forgets r.erased from the whole training set in requests of request_size, in order: `step`
  // corrects the posterior for one request given the data still held (-> bif::BifStep), then the
  // request leaves the data. Returns the wall time.
  template <class Step>
  double forget_in_requests(const std::string& method, const Removal& r, Step&& step) {
    data::Dataset current = sharded_train_.index;  // W = 1: the training set itself
    const bool guarded = c_.solver.at(method) == "lissa" && c_.lissa_guard.at(method) > 0;
    const int64_t terms = c_.lissa_terms.at(method);
    int64_t cut = 0;  // guarded requests whose series was cut (fewer than `terms` kept)
    int64_t iterations = 0, least = std::numeric_limits<int64_t>::max(), most = 0;
    const auto t0 = Clock::now();
    for (int64_t start = 0; start < r.removed; start += c_.request_size) {
      auto ids = r.erased.narrow(0, start, std::min(c_.request_size, r.removed - start));
      const auto result = step(current, current.subset(ids).batch());
      note_divergence(method, start / c_.request_size, result);
      iterations += result.solve.iterations;
      least = std::min(least, result.solve.iterations);
      most = std::max(most, result.solve.iterations);
      if (guarded && result.solve.iterations < terms) ++cut;
      current = current.erase(ids);
    }
    const double seconds = seconds_since(t0);
    // What each request's inverse-HVP took: LiSSA terms kept or CG iterations.
    solves_[method].push_back({{"removed", r.removed},
                               {"solver", c_.solver.at(method)},
                               {"mean_iterations", static_cast<double>(iterations) / static_cast<double>(r.requests)},
                               {"fewest_iterations", least},
                               {"most_iterations", most}});
    if (guarded) {
      guard_[method].push_back({{"removed", r.removed}, {"requests", r.requests}, {"requests_cut", cut},
                                {"fewest_terms_kept", least}, {"terms", terms}});
      if (cut > 0)
        log(fmt::format("  {}: the LiSSA guard (bif.lissa_guard: {:g}) cut the series of {} of {} requests (fewest "
                        "terms kept: {} of {})\n",
                        method, c_.lissa_guard.at(method), cut, r.requests, least, terms));
    }
    return seconds;
  }

  // LiSSA diverges when s·λ_max(H) > 2 (s = c/n): the step then holds inf/NaN and so does the
  // posterior. Say so (once per method) instead of leaving it to the reader of a NaN column.
  void note_divergence(const std::string& method, int64_t request, const bif::BifStep& step) {
    if (diverged_.contains(method) || torch::isfinite(step.solve.solution).all().item<bool>()) return;
    diverged_[method] = request;
    if (c_.solver.at(method) == "lissa")
      log(fmt::format("  {}: the BIF step of request {} is not finite (LiSSA diverged: lower bif.lissa_c.{}, or for "
                      "SG-MCMC use bif.curvature \"gauss_newton\" with bif.solver \"cg\")\n",
                      method, request, method));
    else
      log(fmt::format("  {}: the BIF step of request {} is not finite (CG overshot: lower bif.cg_max_iter.{} or raise "
                      "bif.curvature_batch_size.{})\n",
                      method, request, method, method));
  }

  // ---- VI (mean-field, Bayes by backprop with the analytic KL) --------------------------------------
  std::shared_ptr<GaussianPosteriorImpl> fit_vi(const distributed::ShardedData& d, uint64_t seed, const std::string& what) {
    const auto topts = model_->theta_options();
    auto q = std::make_shared<MeanFieldGaussianImpl>(GaussianOptions(model_->num_params())
                                                         .init_scale(c_.vi_init_scale)
                                                         .dtype(topts.dtype().toScalarType())
                                                         .device(topts.device()));
    {
      torch::NoGradGuard g;
      q->loc().copy_(init_);
    }
    inference::VITrainer trainer(model_, q, d.index,
                                 inference::VIOptions()
                                     .steps(c_.steps)
                                     .batch_size(c_.batch_size)
                                     .optimizer(c_.vi_optimizer)
                                     .lr(c_.vi_lr)
                                     .num_samples(c_.vi_train_samples)
                                     .analytic_kl(true)
                                     .local_reparameterisation(c_.vi_local_reparameterisation)
                                     .seed(seed));
    trainer.set_data_parallel(d.parallel);
    // Step decay (the paper's SGD: ×0.1 every 4000 steps) by resetting the optimiser's lr.
    auto cb = step_log(what);
    double lr = c_.vi_lr;
    while (trainer.step_count() < c_.steps) {
      const int64_t t = trainer.step_count();
      if (c_.vi_lr_decay_every > 0 && t > 0 && t % c_.vi_lr_decay_every == 0) {
        lr *= c_.vi_lr_decay;
        for (auto& g : trainer.optimizer().param_groups()) g.options().set_lr(lr);
      }
      trainer.step();
      cb.after_step(trainer.step_count(), trainer.step_count() == c_.steps,
                    [&] { return trainer.last_objective().item<double>(); });
    }
    return q;
  }

  // The predictive of a Gaussian posterior: eval_samples draws of one evaluation generator.
  Predictive predict_gaussian(const GaussianPosteriorImpl& post, const EvalSets& sets) const {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c_.seed) + 14);
    torch::Tensor theta;
    {
      torch::NoGradGuard g;
      theta = post.rsample(c_.eval_samples, gen);
    }
    return predict(*model_, theta, sets, c_.eval_chunk);
  }

  void run_vi() {
    auto t0 = Clock::now();
    auto origin = fit_vi(sharded_train_, static_cast<uint64_t>(c_.seed) + 11, "vi origin");
    const double train_s = seconds_since(t0);
    for (auto count : c_.erase_counts) {
      const auto r = make_removal(count);
      t0 = Clock::now();
      auto target = fit_vi(r.sharded, static_cast<uint64_t>(c_.seed) + 12, "vi target");
      const double retrain_s = seconds_since(t0);

      auto q = origin->copy();
      auto opts = bif::ViBifOptions()
                      .energy(bif::ViEnergyOptions()
                                  .mc_samples(c_.vi_energy_samples)
                                  .hvp_batch_size(c_.hvp_batch_size.at("vi"))
                                  .parallel(sharded_train_.parallel))
                      .solver(solver_options("vi"))
                      .lissa_c(c_.solver.at("vi") == "lissa" ? c_.lissa_c.at("vi") : 0.0);
      auto bif_gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c_.seed) + 13);
      const double forget_s = forget_in_requests("vi", r, [&](const data::Dataset& current, const data::Batch& request) {
        return bif::vi_bif_step(*model_, *q, current, request, opts, bif_gen);
      });
      record_timing("vi", train_s, r, retrain_s, forget_s);
      Predictive origin_p, target_p;
      if (root_) {  // rank 0 evaluates
        origin_p = predict_gaussian(*origin, r.sets);
        target_p = predict_gaussian(*target, r.sets);
        add_rows("vi", r, {origin_p, predict_gaussian(*q, r.sets), target_p, forget_s, retrain_s});
      }
      if (!c_.vbu.methods.empty()) run_vbu(r, *origin, target_p, train_s, retrain_s);
    }
  }

  // ---- EUBO / reverse KL on the VI posterior (all of D_e in one call, every λ together) ------------
  void run_vbu(const Removal& r, const GaussianPosteriorImpl& origin, const Predictive& target, double train_s,
               double retrain_s) {
    const auto& v = c_.vbu;
    // Each rank passes its rows of D_e and a sum that adds the other ranks' (W = 1: all of D_e).
    auto share = distributed::erased_share(cluster_, sharded_train_.local, r.erased);
    // One run per threshold: the λ first, then those given as ln λ; every run gets its own row.
    auto log_lambdas = v.lambdas.empty() ? std::vector<double>{} : functional::resolve_log_lambdas(v.lambdas, {});
    std::vector<std::string> labels;
    for (double l : v.lambdas) labels.push_back(fmt::format("lambda={:g}", l));
    for (double l : v.log_lambdas) {
      log_lambdas.push_back(l);
      labels.push_back(fmt::format("ln_lambda={:g}", l));
    }
    for (const auto& method : v.methods) {
      auto on_progress = [this, method, &v](int64_t steps, int64_t, const std::vector<double>& objective) {
        std::string values;
        for (double o : objective) values += fmt::format(" {:.5g}", o);
        log(fmt::format("    {} step {}/{}: objective{}\n", method, steps, v.steps, values));
      };
      const int64_t every = std::max<int64_t>(1, v.steps / 5);
      const uint64_t seed = static_cast<uint64_t>(c_.seed) + (method == "eubo" ? 15 : 16);
      // EuboOptions and ReverseKlOptions share these settings (and their setters' names).
      auto configure = [&](auto options) {
        return options.log_lambdas(log_lambdas)
            .num_samples(v.mc_samples)
            .max_steps(v.steps)
            .lr(v.lr)
            .chunk_size(v.chunk)
            .erased_batch_size(v.erased_batch_size)
            .report_every(every)
            .seed(seed)
            .erased_log_likelihood(share.sum)
            .progress_every(every)
            .on_progress(on_progress);
      };
      const VbuResult res = method == "eubo"
                                ? eubo_unlearn(*model_, origin, share.erased, configure(EuboOptions()))
                                : reverse_kl_unlearn(*model_, origin, share.erased, configure(ReverseKlOptions()));
      // The λ of one call are trained together: each row's forget time is the call's.
      record_timing(method, train_s, r, retrain_s, res.seconds, /*requests=*/1);
      nlohmann::json report = res;
      report["removed"] = r.removed;
      vbu_reports_.push_back(report);
      if (!root_) continue;
      for (size_t k = 0; k < res.runs.size(); ++k) {
        auto row = judge(method + "_" + labels[k], "processed", r.removed,
                         predict_gaussian(*res.runs[k].posterior, r.sets), target, r.sets);
        row.forget_seconds = res.seconds;
        row.retrain_seconds = retrain_s;
        push_row(row);
      }
    }
  }

  // ---- SG-MCMC ------------------------------------------------------------------------------------
  void run_chain(const std::string& method) {
    const auto& sc = method == "sgld" ? c_.sgld : c_.sghmc;
    auto opts = study::sgmcmc_options(
        method, sc, c_.steps, c_.batch_size, static_cast<uint64_t>(c_.seed) + 31,
        inference::SampleBankOptions().burn_in(c_.burn_in).thinning(c_.thinning).capacity(c_.capacity));
    auto t0 = Clock::now();
    inference::SGMCMCTrainer origin(model_, sharded_train_.index, opts, init_);
    origin.set_data_parallel(sharded_train_.parallel);
    origin.train(step_log(method + " origin"));
    const double train_s = seconds_since(t0);
    TORCH_CHECK(!origin.bank().empty(), "fmnist_bif: the sample bank is empty (burn_in ", c_.burn_in, " >= steps ",
                c_.steps, ")");
    // The predictive of a chain: the last eval_samples samples of its bank.
    auto last = [&](const torch::Tensor& s) {
      return s.narrow(0, std::max<int64_t>(0, s.size(0) - c_.eval_samples), std::min(c_.eval_samples, s.size(0)));
    };
    for (auto count : c_.erase_counts) {
      const auto r = make_removal(count);
      t0 = Clock::now();
      inference::SGMCMCTrainer target(model_, r.sharded.index, inference::SGMCMCOptions(opts).seed(opts.seed() + 1),
                                      init_);
      target.set_data_parallel(r.sharded.parallel);
      target.train(step_log(method + " target"));
      const double retrain_s = seconds_since(t0);

      auto state = inference::chain_state_of(origin);  // a copy: every removal starts from the trained chain
      auto samples = origin.bank().samples().clone();
      auto bopts = bif::SgmcmcBifOptions()
                       .solver(solver_options(method))
                       .sample_steps(c_.sample_steps.at(method))
                       .hessian_states(c_.hessian_states)
                       .refresh_samples(c_.refresh_bank)
                       .parallel(sharded_train_.parallel)
                       .minibatch_size(c_.batch_size)
                       .hvp_batch_size(c_.hvp_batch_size.at(method))
                       .curvature(bif::curvature_from_string(c_.curvature.at(method)))
                       .curvature_batch_size(c_.curvature_batch_size.at(method))
                       .lissa_c(c_.solver.at(method) == "lissa" ? c_.lissa_c.at(method) : 0.0);
      auto bif_gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c_.seed) + 41);
      const double forget_s = forget_in_requests(method, r, [&](const data::Dataset& current, const data::Batch& request) {
        return bif::sgmcmc_bif_step(*model_, state, samples, current, request, bopts, bif_gen);
      });
      record_timing(method, train_s, r, retrain_s, forget_s);
      if (!root_) continue;
      add_rows(method, r,
               {predict(*model_, last(origin.bank().samples()), r.sets, c_.eval_chunk),
                predict(*model_, last(samples), r.sets, c_.eval_chunk),
                predict(*model_, last(target.bank().samples()), r.sets, c_.eval_chunk), forget_s, retrain_s});
    }
  }

  // ---- rows, timings, outputs -----------------------------------------------------------------------
  void push_row(const Row& row) {
    rows_.push_back(row);
    log(fmt::format("  {:<18} {:>5} {:<9} err S_f {:6.2f}%  S_r {:6.2f}%  test {:6.2f}%  MIA(S_f non-member) "
                    "{:6.2f}%  L1 to target {:.4f}\n",
                    row.method, row.removed, row.stage, 100 * row.err_forget, 100 * row.err_remain, 100 * row.err_test,
                    100 * row.mia, row.l1));
  }

  void add_rows(const std::string& method, const Removal& r, const Outcome& o) {
    for (auto [stage, p] : {std::pair<const char*, const Predictive*>{"origin", &o.origin},
                            {"processed", &o.processed},
                            {"target", &o.target}}) {
      auto row = judge(method, stage, r.removed, *p, o.target, r.sets);
      row.forget_seconds = std::string(stage) == "processed" ? o.forget_seconds : 0.0;
      row.retrain_seconds = o.retrain_seconds;
      push_row(row);
    }
  }

  // timings[method]: training once, then per removal; the flat retrain/forget fields are the last
  // removal's (the only one in a single-count config).
  // requests: how many calls the forgetting took (0: the removal's requests of request_size).
  void record_timing(const std::string& method, double train_s, const Removal& r, double retrain_s, double forget_s,
                     int64_t requests = 0) {
    auto& t = timings_[method];
    t["train_seconds"] = train_s;
    t["train_ms_per_step"] = 1e3 * train_s / c_.steps;
    nlohmann::json one{{"removed", r.removed},
                       {"retrain_seconds", retrain_s},
                       {"forget_seconds", forget_s},
                       {"forget_seconds_per_request", forget_s / (requests > 0 ? requests : r.requests)},
                       {"forget_over_retrain", forget_s / retrain_s}};
    t.update(one);
    t["per_removal"].push_back(one);
  }

  void write_outputs() const {
    std::string csv =
        "method,removed,err_forget,err_remain,err_test,mia_forget_nonmember,pred_l1_to_retrain,forget_seconds,"
        "retrain_seconds\n";
    nlohmann::json jrows = nlohmann::json::array();
    for (const auto& r : rows_) {
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
    write(ctx_.out_dir / "results.csv", csv);
    nlohmann::json out{{"experiment", "fmnist_bif"},
                       {"config", json_},
                       {"model", model_->architecture()},
                       {"num_params", model_->num_params()},
                       {"train_size", train_.size()},
                       {"world_size", cluster_->world_size()},
                       {"test_size", test_.size()},
                       {"eval_remaining", c_.eval_remaining},
                       {"removed", removed_sizes_},
                       {"class_size", permuted_.size(0)},
                       {"pred_l1_to_retrain_on", "S_f, the evaluated S_r and test together"},
                       {"timings", timings_},
                       {"diverged_at_request", diverged_},
                       {"lissa_guard", guard_},
                       {"solves", solves_},
                       {"vbu", vbu_reports_},
                       {"rows", jrows}};
    write(ctx_.out_dir / "results.json", out.dump(2) + "\n");
    log("fmnist_bif: wrote " + (ctx_.out_dir / "results.csv").string() + "\n");
  }

  const nlohmann::json& json_;
  const FmnistBifConfig c_;
  const ExperimentContext& ctx_;
  std::shared_ptr<distributed::Cluster> cluster_;
  const bool root_;

  data::Dataset train_, test_;
  std::shared_ptr<Model> model_;
  torch::Tensor permuted_;  // the class's ids in random order: a removal of k takes the first k
  std::vector<int64_t> removed_sizes_;
  distributed::ShardedData sharded_train_;
  torch::Tensor init_;

  std::vector<Row> rows_;
  nlohmann::json timings_ = nlohmann::json::object();
  nlohmann::json diverged_ = nlohmann::json::object();
  // Per method, one entry per removal: how often LiSSA's divergence guard cut the series.
  nlohmann::json guard_ = nlohmann::json::object();
  nlohmann::json solves_ = nlohmann::json::object();  // per method and removal: the solver's iterations
  nlohmann::json vbu_reports_ = nlohmann::json::array();
};

}  // namespace

void run_fmnist_bif_experiment(const nlohmann::json& config, const ExperimentContext& ctx) {
  FmnistStudy(config, ctx).run();
}

}  // namespace unlearn::app
