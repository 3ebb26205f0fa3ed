// The VI posterior of the Fashion-MNIST study (fmnist_study.h): mean-field Bayes by backprop with
// the analytic KL on D (origin) and D_r (target), forgotten by BIF in requests and, when the
// config asks, by EUBO and reverse KL over all of D_e in one call.
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "fmnist_bif/fmnist_study.h"
#include "unlearn/unlearning/adjusted_likelihood.h"
#include "unlearn/unlearning/methods.h"

namespace unlearn::studies {

// From the model's initial θ with the config's initial scale; the step decay (the paper's SGD:
// ×0.1 every 4000 steps) is VIOptions' lr_decay.
TrainingRecipe FmnistStudy::vi_recipe() const {
  const auto topts = model_->theta_options();
  auto goptions = GaussianOptions(model_->num_params())
                      .init_scale(c_.vi_init_scale)
                      .dtype(topts.dtype().toScalarType())
                      .device(topts.device());
  return TrainingRecipe()
      .method(TrainingMethod::kVI)
      .vi(inference::VIOptions()
              .steps(c_.steps)
              .batch_size(c_.batch_size)
              .optimizer(c_.vi_optimizer)
              .lr(c_.vi_lr)
              .lr_decay_every(c_.vi_lr_decay_every)
              .lr_decay(c_.vi_lr_decay)
              .num_samples(c_.vi_train_samples)
              .analytic_kl(true)
              .local_reparameterisation(c_.vi_local_reparameterisation))
      .fresh_posterior([goptions, init = init_] {
        auto q = std::make_shared<MeanFieldGaussianImpl>(goptions);
        torch::NoGradGuard no_grad;
        q->loc().copy_(init);
        return q;
      });
}

PosteriorState FmnistStudy::fit_vi(const distributed::ShardedData& d, uint64_t seed, const std::string& what) const {
  return train_posterior(*model_, vi_recipe(), d.index, train_start(d, seed, what));
}

// The predictive of a Gaussian posterior: eval_samples draws of one evaluation generator.
Predictive FmnistStudy::predict_gaussian(const GaussianPosteriorImpl& post, const EvalSets& sets) const {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c_.seed) + 14);
  torch::Tensor theta;
  {
    torch::NoGradGuard g;
    theta = post.rsample(c_.eval_samples, gen);
  }
  return predict(*model_, theta, sets, c_.eval_chunk);
}

void FmnistStudy::run_vi() {
  auto t0 = std::chrono::steady_clock::now();
  const auto origin = fit_vi(sharded_train_, static_cast<uint64_t>(c_.seed) + 11, "vi origin");
  const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Few MC samples (5 < P): plain noise, not moment matched; the energy's data-parallel hooks
  // come from the context.
  auto forgetter = bif_unlearner(BifOptions()
                               .vi(bif::ViBifOptions()
                                       .energy(bif::ViEnergyOptions()
                                                   .mc_samples(c_.vi_energy_samples)
                                                   .hvp_batch_size(c_.hvp_batch_size.at("vi")))
                                       .solver(solver_options("vi"))
                                       .lissa_c(c_.solver.at("vi") == "lissa" ? c_.lissa_c.at("vi") : 0.0))
                               .moment_matched_noise(false)
                               .stop_on_divergence(false));
  for (auto count : c_.erase_counts) {
    const auto r = make_removal(count);
    t0 = std::chrono::steady_clock::now();
    const auto target = fit_vi(r.sharded, static_cast<uint64_t>(c_.seed) + 12, "vi target");
    const double retrain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto processed = forget_in_requests("vi", *forgetter, origin, r, static_cast<uint64_t>(c_.seed) + 13);
    record_timing("vi", train_s, r, retrain_s, processed.seconds);
    Predictive target_p;
    if (root_) {  // rank 0 evaluates
      auto origin_p = predict_gaussian(origin.gaussian(), r.sets);
      target_p = predict_gaussian(target.gaussian(), r.sets);
      add_rows("vi", r, {origin_p, predict_gaussian(processed.state.gaussian(), r.sets), target_p, processed.seconds,
                         retrain_s});
    }
    if (!c_.vbu.methods.empty()) run_vbu(r, origin, target_p, train_s, retrain_s);
  }
}

// EUBO / reverse KL on the VI posterior: all of D_e in one request (the paper's setting; a call
// per request of 64 would repeat the whole optimisation 94 times), every threshold together — the
// λ first, then those given as ln λ — and every threshold its own row.
void FmnistStudy::run_vbu(const Removal& r, const PosteriorState& origin, const Predictive& target, double train_s,
                          double retrain_s) {
  const auto& v = c_.vbu;
  auto log_lambdas = v.lambdas.empty() ? std::vector<double>{} : functional::resolve_log_lambdas(v.lambdas, {});
  std::vector<std::string> labels;
  for (double l : v.lambdas) labels.push_back(fmt::format("lambda={:g}", l));
  for (double l : v.log_lambdas) {
    log_lambdas.push_back(l);
    labels.push_back(fmt::format("ln_lambda={:g}", l));
  }
  const int64_t every = std::max<int64_t>(1, v.steps / 5);
  for (const auto& method : v.methods) {
    // EuboOptions and ReverseKlOptions share these settings (and their setters' names).
    auto configure = [&](auto options) {
      return options.log_lambdas(log_lambdas).num_samples(v.mc_samples).max_steps(v.steps).lr(v.lr)
          .chunk_size(v.chunk).erased_batch_size(v.erased_batch_size).report_every(every);
    };
    auto unlearner = method == "eubo" ? eubo_unlearner(configure(EuboOptions()))
                                      : reverse_kl_unlearner(configure(ReverseKlOptions()));
    ForgetContext ctx;
    ctx.seed = static_cast<uint64_t>(c_.seed) + (method == "eubo" ? 15 : 16);
    ctx.parallel = parallel_;  // each rank passes its rows of D_e and a sum over every rank's
    ctx.progress_every = every;
    ctx.on_progress = [this, method](const ProgressEvent& e) {
      std::string values;
      for (double o : e.values) values += fmt::format(" {:.5g}", o);
      log(fmt::format("    {} step {}/{}: objective{}\n", method, e.done, e.total, values));
    };
    const auto res = forget_request(*unlearner, *model_, origin, sharded_train_.index, r.erased, ctx);
    auto report = res.batches.at(0).report;  // the call's VbuResult
    const double seconds = report.at("seconds").get<double>();
    // The λ of one call are trained together: each row's forget time is the call's.
    record_timing(method, train_s, r, retrain_s, seconds, /*requests=*/1);
    report["removed"] = r.removed;
    vbu_reports_.push_back(report);
    if (!root_) continue;
    for (size_t k = 0; k < res.variants.size(); ++k) {
      auto row = judge(method + "_" + labels[k], "processed", r.removed,
                       predict_gaussian(res.variants[k].state.gaussian(), r.sets), target, r.sets);
      row.forget_seconds = seconds;
      row.retrain_seconds = retrain_s;
      push_row(row);
    }
  }
}

}  // namespace unlearn::studies
