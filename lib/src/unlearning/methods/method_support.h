#pragma once
// What the built-in methods' files share (private to lib/src/unlearning/methods).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"
#include "unlearn/unlearning/method_registry.h"

namespace unlearn::detail {

/// Registers a built-in method (called by register_builtin_methods only).
void register_builtin_method(MethodInfo info);

/// The registration functions, one per method file; builtin_methods.cpp calls each once.
void register_exact_method();
void register_eubo_method();
void register_reverse_kl_methods();
void register_bif_method();
void register_retrain_method();

/// An io::ConfigError "method NAME needs ...; this run holds ...: use ..." for a posterior the
/// method cannot take.
[[noreturn]] void refuse(const std::string& method, const std::string& needs, const std::string& holds,
                         const std::string& instead);

/// The thresholds of a variational method's options: "lambda" (one λ), "lambdas" (a list),
/// "log_lambda" / "log_lambdas" (ln λ: for λ below a double's range). One kind of key at most;
/// none: {fallback}. Returns (lambdas, log_lambdas) for the options' fields.
std::pair<std::vector<double>, std::vector<double>> read_thresholds(const io::JsonObjectReader& r,
                                                                    std::vector<double> fallback);

/// The ids of `rows` as a batch of `current` (the rows themselves) or, data parallel, this rank's
/// rows of them.
}  // namespace unlearn::detail
