// The built-in methods: one registration line each (docs/extending.md, "A method").
#include "method_support.h"

namespace unlearn::detail {

void register_builtin_methods() {
  register_exact_method();
  register_eubo_method();
  register_reverse_kl_methods();  // rkl and rkl_closed
  register_bif_method();
  register_retrain_method();
}

void refuse(const std::string& method, const std::string& needs, const std::string& holds,
            const std::string& instead) {
  throw io::ConfigError("--method " + method + " needs " + needs + "; this run holds " + holds +
                        (instead.empty() ? std::string() : ": use " + instead));
}

std::pair<std::vector<double>, std::vector<double>> read_thresholds(const io::JsonObjectReader& r,
                                                                    std::vector<double> fallback) {
  using io::Range;
  const int given = int(r.has("lambda")) + int(r.has("lambdas")) + int(r.has("log_lambda")) + int(r.has("log_lambdas"));
  if (given > 1)
    throw io::ConfigError(r.path() + ": give one of lambda, lambdas, log_lambda, log_lambdas (the threshold as λ "
                          "or as ln λ), not several");
  if (r.has("lambda")) return {{r.get<double>("lambda", 0.0, Range::closed(0, 1))}, {}};
  if (r.has("log_lambda")) return {{}, {r.get<double>("log_lambda", 0.0, Range::at_most(0))}};
  if (r.has("log_lambdas")) {
    auto l = r.get_vector<double>("log_lambdas", {}, Range::at_most(0));
    if (l.empty()) throw io::ConfigError(r.field("log_lambdas") + " is empty: list at least one threshold");
    return {{}, l};
  }
  auto l = r.get_vector<double>("lambdas", fallback, Range::closed(0, 1));
  if (l.empty()) throw io::ConfigError(r.field("lambdas") + " is empty: list at least one threshold");
  return {l, {}};
}

}  // namespace unlearn::detail
