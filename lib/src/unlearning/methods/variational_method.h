#pragma once
// What eubo, rkl and rkl_closed share (private): the thresholds and common options from JSON, the
// context's hooks put into the options, and one call's VbuResult turned into a ForgetResult.
#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <string>

#include "method_support.h"
#include "unlearn/unlearning/adjusted_likelihood.h"
#include "unlearn/unlearning/vbu_options.h"
#include "unlearn/unlearning/vbu_result.h"

namespace unlearn::detail {

/// Refuses anything but a Gaussian posterior.
inline void check_gaussian(const std::string& method, const PosteriorState& state) {
  if (!state.is_gaussian())
    refuse(method, "a Gaussian (VI or exact) posterior", state.describe(), "--method bif or retrain");
}

/// D_e as the method sees it: the rows themselves, or (data parallel) this rank's rows and the sum
/// over the ranks.
struct ErasedRows {
  data::Batch batch;
  ErasedLogLikelihoodFn sum;  ///< null: the local sum
};
inline ErasedRows erased_rows(const ForgetContext& ctx, const data::Dataset& current, const torch::Tensor& ids) {
  if (ctx.parallel) {
    TORCH_CHECK(ctx.parallel.erased, "data-parallel forgetting: the context has no erased-rows hook");
    auto [batch, sum] = ctx.parallel.erased(ids);
    return {batch, sum};
  }
  return {current.subset(ids).batch(), nullptr};
}

/// The options' progress callback: the context's, as stage `stage`.
inline VbuProgressFn vbu_progress(const ForgetContext& ctx, const std::string& stage, const std::string& value_name) {
  if (!ctx.on_progress) return nullptr;
  auto fn = ctx.on_progress;
  return [fn, stage, value_name](int64_t steps, int64_t total, const std::vector<double>& objective) {
    fn(ProgressEvent{stage, steps, total, objective, value_name});
  };
}

inline int64_t progress_every(const ForgetContext& ctx, int64_t steps) {
  return ctx.progress_every > 0 ? ctx.progress_every : std::max<int64_t>(1, steps / 20);
}

/// "lambda=1e-05" or "ln_lambda=-3532": a variant's label.
inline std::string threshold_label(const VbuRun& run) {
  if (run.lambda == 0 && std::isfinite(run.log_lambda)) return fmt::format("ln_lambda={:g}", run.log_lambda);
  return fmt::format("lambda={:g}", run.lambda);
}

/// One call's result: the first threshold's posterior, every threshold a variant.
inline ForgetResult to_forget_result(const VbuResult& res) {
  ForgetResult r;
  for (const auto& run : res.runs) {
    nlohmann::json report = run;
    r.variants.push_back({threshold_label(run), PosteriorState::gaussian(run.posterior), report});
  }
  const auto& first = res.runs.at(0);
  r.state = r.variants.front().state;
  nlohmann::json threshold = first;
  threshold.erase("objective_trace");
  threshold.erase("seconds");
  threshold["kind"] = "variational";
  r.certificate = threshold;
  r.report = res;
  return r;
}

/// The JSON of the thresholds (the options() of the three methods).
inline nlohmann::json thresholds_json(const std::vector<double>& lambdas, const std::vector<double>& log_lambdas) {
  if (!log_lambdas.empty()) return {{"log_lambdas", log_lambdas}};
  return {{"lambdas", lambdas}};
}

/// The options of eubo and rkl from JSON (the keys of docs/config.md, "forget methods").
inline VbuOptions read_vbu_options(const io::JsonObjectReader& r) {
  using io::Range;
  VbuOptions o;
  auto [lambdas, log_lambdas] = read_thresholds(r, o.lambdas());
  o.lambdas(lambdas).log_lambdas(log_lambdas);
  o.max_steps(r.get<int64_t>("steps", o.max_steps(), Range::closed(1, 1e12)));
  o.num_samples(r.get<int64_t>("num_samples", o.num_samples(), Range::closed(1, 1e9)));
  o.lr(r.get<double>("lr", o.lr(), Range::positive()));
  o.chunk_size(r.get<int64_t>("chunk_size", o.chunk_size(), Range::closed(1, 1e9)));
  o.erased_batch_size(r.get<int64_t>("erased_batch_size", o.erased_batch_size(), Range::closed(0, 1e12)));
  o.report_every(r.get<int64_t>("report_every", o.report_every(), Range::closed(1, 1e12)));
  o.tolerance(r.get<double>("tolerance", o.tolerance(), Range::non_negative()));
  return o;
}

/// The JSON of those options (the methods' options()).
inline nlohmann::json vbu_options_json(const VbuOptions& o) {
  auto j = thresholds_json(o.lambdas(), o.log_lambdas());
  j.update({{"steps", o.max_steps()}, {"num_samples", o.num_samples()}, {"lr", o.lr()}, {"chunk_size", o.chunk_size()},
            {"erased_batch_size", o.erased_batch_size()}, {"report_every", o.report_every()},
            {"tolerance", o.tolerance()}});
  return j;
}

/// How many thresholds (runs) a call trains.
template <class Options>
size_t threshold_count(const Options& o) {
  return o.log_lambdas().empty() ? o.lambdas().size() : o.log_lambdas().size();
}

/// The options with the context's seed, progress and data-parallel sum put in.
inline VbuOptions with_context(VbuOptions o, ForgetContext& ctx, const ErasedRows& erased, const std::string& stage,
                               const std::string& value_name) {
  o.seed(ctx.seed).erased_log_likelihood(erased.sum).on_progress(vbu_progress(ctx, stage, value_name));
  o.progress_every(progress_every(ctx, o.max_steps()));
  return o;
}

}  // namespace unlearn::detail
