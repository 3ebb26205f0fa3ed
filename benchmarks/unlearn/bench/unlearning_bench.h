#pragma once
// Timing of the variational-unlearning hot loops, for `unlearn bench` (docs/performance.md). The
// benchmarks tier (benchmarks/, unlearn::bench): it links the library, the library does not link it.
//
// Setting: P = 20, |D_e| = 20, S = 1000, full-rank Gaussian q(θ|D), float64, a Bernoulli-logit
// model on θ·x (defined in bench.cpp, not shipped). Measures ms per Adam step of the EUBO and
// the reverse KL at R = 1 and R = 6 runs (λ grid {0.5, 0.1, 1e-3, 1e-5, 1e-9, 0}), and one
// closed-form reverse-KL pass, with the thread settings of the caller (reported).
//
//   nlohmann::json j = unlearn::bench_unlearning();   // {"config": {...}, "results": [...]}
#include <cstdint>

#include <nlohmann/json.hpp>
#include <torch/arg.h>

namespace unlearn {

/// Sizes and repeats of bench_unlearning.
struct UnlearningBenchOptions {
  /// Timed Adam steps per configuration (after `warmup` untimed ones).
  TORCH_ARG(int64_t, steps) = 300;
  /// Untimed Adam steps before each timed configuration.
  TORCH_ARG(int64_t, warmup) = 30;
  /// Timed repetitions per configuration; the fastest is reported (other work on the machine
  /// only ever adds time).
  TORCH_ARG(int64_t, repeats) = 3;
  /// Samples of the timed closed-form pass.
  TORCH_ARG(int64_t, closed_form_samples) = 100000;
  /// Seed of the data and of the runs.
  TORCH_ARG(uint64_t, seed) = 0;
};

/// {"config": {"dim", "num_erased", "num_samples", "family", "dtype", "threads", "steps", "repeats"},
///  "results": [{"method": "eubo"|"rkl", "runs": R, "ms_per_step" (wall), "ms_per_run_step",
///               "cpu_ms_per_step" (process CPU time, all threads)}, ...,
///              {"method": "rkl_closed", "runs": 6, "num_samples", "ms"}]}
nlohmann::json bench_unlearning(const UnlearningBenchOptions& options = UnlearningBenchOptions());

}  // namespace unlearn
