#pragma once
// Where a command's output goes (issue 8): with --json, stdout carries exactly one JSON document
// (so `unlearn ... --json | jq` works) and human text is suppressed, progress moving to stderr;
// with --quiet, only errors (stderr) and the JSON document, if asked for, are printed.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "progress.h"

namespace unlearn::app {

struct OutputMode {
  bool json = false;
  bool quiet = false;
  int64_t log_every = 0;  ///< the progress interval (0: automatic)

  /// Human text on stdout, unless --json or --quiet.
  template <typename... Args>
  void say(fmt::format_string<Args...> format, Args&&... args) const {
    if (json || quiet) return;
    fmt::print(stdout, format, std::forward<Args>(args)...);
    std::fflush(stdout);
  }
  /// The JSON document on stdout, when --json was given.
  void emit(const nlohmann::json& document) const {
    if (json) std::cout << document.dump(2) << std::endl;
  }
  /// A progress for `total` steps: on stdout, or on stderr under --json; silent with --quiet.
  ProgressOptions progress(const std::string& label, int64_t total, const std::string& objective_name,
                           int64_t initial = 0) const {
    return ProgressOptions()
        .label(label)
        .total(total)
        .initial(initial)
        .objective_name(objective_name)
        .log_every(log_every)
        .quiet(quiet)
        .stream(json ? stderr : stdout);
  }
};

/// A finite double as JSON, NaN / infinity as null (JSON has no NaN).
inline nlohmann::json json_number(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace unlearn::app
