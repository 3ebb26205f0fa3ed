#pragma once
// Timings of the inference hot loops, for `unlearn bench` (docs/performance.md). The benchmarks tier
// (benchmarks/, unlearn::bench): it links the library, the library does not link it.
//
//   auto report = unlearn::inference::bench_inference();   // JSON, see below
//
// VI: the moons experiment's shape — P = 20, N = 100, S = 1000, full-rank posterior, Monte Carlo
// KL, full batch, Adam — on a logistic-regression model over 20 Gaussian features (the moons
// "sparse GP" is kernel logistic regression on 20 inducing inputs). SGLD: P = 8, batch 64 of
// N = 1024. Each is timed as `repeats` runs of `steps` steps after `warmup` steps; the report
// gives ms per step of every repeat, their minimum and median, and the thread count.
#include <torch/arg.h>

#include <cstdint>
#include <nlohmann/json.hpp>

namespace unlearn::inference {

/// Sizes and repeats of bench_inference.
struct InferenceBenchOptions {
  /// VI steps per timed repeat.
  TORCH_ARG(int64_t, vi_steps) = 200;
  /// SGLD steps per timed repeat.
  TORCH_ARG(int64_t, sgld_steps) = 2000;
  /// Untimed steps before the first repeat (allocator and caches warm up).
  TORCH_ARG(int64_t, warmup) = 20;
  /// Timed repeats of each benchmark (>= 1).
  TORCH_ARG(int64_t, repeats) = 3;
  /// Intra-op threads for the duration of the benchmark (0: leave LibTorch's setting).
  TORCH_ARG(int64_t, threads) = 0;
  /// Seed of the data and of the runs.
  TORCH_ARG(uint64_t, seed) = 0;
};

/// {"threads", "vi": {"P", "N", "S", "family", "kl", "steps", "ms_per_step": [..], "min_ms", "median_ms"},
///  "sgld": {"P", "N", "batch_size", "steps", "ms_per_step": [..], "min_ms", "median_ms"}}
nlohmann::json bench_inference(const InferenceBenchOptions& options = {});

}  // namespace unlearn::inference
