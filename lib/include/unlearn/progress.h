#pragma once
// Progress of long work (training, unlearning), reported the same way by every method so that a
// progress bar, a log line or a study's own printing hangs off one callback type.
//
//   unlearn::ProgressFn show = [](const unlearn::ProgressEvent& e) {
//     fmt::print("{} {}/{} {}\n", e.stage, e.done, e.total, e.values.empty() ? 0.0 : e.values[0]);
//   };
//
// Reading a value back from the device is a host synchronisation: methods call the callback only
// every so often (an optimiser's report window, once per Newton step), never every step, and
// nothing a callback does changes a result.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace unlearn {

/// One progress report.
struct ProgressEvent {
  /// What is running: "eubo", "rkl", "bif", "retrain", "request" (the batches of a request)...
  std::string stage;
  /// Units done so far and in all (optimiser steps, Newton steps, batches).
  int64_t done = 0;
  /// Units in all: the `done` of the last report (the steps the call runs to, the batches of a request).
  int64_t total = 0;
  /// The objective(s) now: one per run of a batched call, or the residual of a solve; may be empty.
  std::vector<double> values;
  /// What `values` are ("objective", "EUBO", "residual"); may be empty.
  std::string value_name;
};

/// Called with each report; may be null (no reports).
using ProgressFn = std::function<void(const ProgressEvent&)>;

}  // namespace unlearn
