#pragma once
// What a variational-Bayesian-unlearning call (EUBO, reverse KL, closed-form reverse KL)
// returns: one report per λ and the batched posterior they were trained in.
//
//   auto result = unlearn::eubo_unlearn(model, *q_full, erased, unlearn::EuboOptions().lambdas({1e-5, 0}));
//   for (const auto& run : result.runs) fmt::print("{} {} {}\n", run.lambda, run.objective, run.fraction_inside);
//   nlohmann::json j = result;   // reports only (no tensors)
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "unlearn/posterior/gaussian.h"

namespace unlearn {

/// Progress of an iterative unlearning call (EuboOptions / ReverseKlOptions::on_progress): called
/// every progress_every steps and after the last with the steps done, the step budget and that
/// step's objective of every run (λ order). Each call reads the objective back to the host once;
/// nothing it does changes a result. Progress bars and logs hang off it.
using VbuProgressFn = std::function<void(int64_t steps, int64_t max_steps, const std::vector<double>& objective)>;

/// One λ of a (batched) unlearning call.
struct VbuRun {
  /// λ ∈ [0, 1] of the adjusted likelihood (0 when given as ln λ and e^{ln λ} underflows).
  double lambda = 0.0;
  /// ln λ (−∞ for λ = 0): the threshold itself when λ underflows (options' log_lambdas).
  double log_lambda = -std::numeric_limits<double>::infinity();
  /// The objective, averaged over the last report window (the last `report_every` steps; the
  /// single pass of the closed form). EUBO: the EUBO estimate (minimised). Reverse KL:
  /// Σ_s w̄_s log q_v(θ_s) (maximised).
  double objective = 0.0;
  /// Fraction of the samples inside the λ region {log q(θ|D) − log q(mode|D) > ln λ}, averaged
  /// like the objective. EUBO: samples of q_u; reverse KL: samples of q(θ|D).
  double fraction_inside = 0.0;
  /// Reverse KL only: effective sample size (Σw)²/Σw² of the self-normalised weights (per step,
  /// averaged like the objective; over all samples for the closed form). Absent for EUBO.
  std::optional<double> effective_sample_size;
  /// Wall time of the whole batched call this run was part of (all λ together: the time it
  /// took to get this run's answer).
  double seconds = 0.0;
  /// Optimiser steps taken (0 for the closed form).
  int64_t steps = 0;
  /// The objective averaged over each report window, in order (one entry for the closed form).
  std::vector<double> objective_trace;
  /// This run's unlearned posterior, without a run dimension.
  std::shared_ptr<GaussianPosteriorImpl> posterior;
};

/// What one (batched) EUBO or reverse-KL call returns: every run's unlearned posterior together
/// (leading run dimension R) and one VbuRun report per λ.
struct VbuResult {
  /// "eubo", "rkl" or "rkl_closed".
  std::string method;
  /// All runs in one posterior with a leading run dimension R = number of λ, in λ order.
  std::shared_ptr<GaussianPosteriorImpl> posterior;
  /// One report per λ, in λ order (run r is posterior's run r).
  std::vector<VbuRun> runs;
  /// Wall time of the whole call, all runs together.
  double seconds = 0.0;
  /// Adam steps taken (the same for every run; 0 for the closed form).
  int64_t steps = 0;
  /// True when the optional convergence stop ended the call before the step budget.
  bool converged = false;
};

/// JSON of the reports (no tensors): {"lambda", "log_lambda" (null for λ = 0), "objective", "fraction_inside",
/// "effective_sample_size" (null for EUBO), "seconds", "steps", "objective_trace"}.
void to_json(nlohmann::json& j, const VbuRun& run);
/// {"method", "seconds", "steps", "converged", "runs": [...]}.
void to_json(nlohmann::json& j, const VbuResult& result);

}  // namespace unlearn
