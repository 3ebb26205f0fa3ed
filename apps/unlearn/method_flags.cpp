#include "method_flags.h"

#include <limits>

#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"

namespace unlearn::app {
namespace {

enum class Kind { kNumber, kInteger, kText };

struct Flag {
  const char* name;  // "--cg-max-iter"; its key is the name without "--", '-' -> '_'
  Kind kind;
  const char* help;
  const char* group;
};

const char* const kVariational = "Variational unlearning (eubo, rkl, rkl_closed)";
const char* const kBif = "BIF (--method bif)";

const std::vector<Flag>& flags() {
  static const std::vector<Flag> all = {
      {"--lambda", Kind::kNumber, "adjusted-likelihood threshold λ in [0, 1]", kVariational},
      {"--log-lambda", Kind::kNumber,
       "the threshold as ln λ <= 0, for high-dimensional posteriors where λ ≈ e^{-P/2} underflows", kVariational},
      {"--steps", Kind::kInteger, "optimiser steps (eubo, rkl)", kVariational},
      {"--num-samples", Kind::kInteger, "Monte Carlo samples per step (rkl_closed: in total)", kVariational},
      {"--lr", Kind::kNumber, "Adam learning rate (eubo, rkl)", kVariational},
      {"--solver", Kind::kText, "inverse-HVP solver: cg (default), lissa or dense", kBif},
      {"--mc-samples", Kind::kInteger, "VI runs: Monte Carlo samples of the energy (default 64)", kBif},
      {"--sample-steps", Kind::kInteger, "SG-MCMC runs: chain steps per batch that H and ∇h average over (default 5)", kBif},
      {"--hessian-states", Kind::kInteger, "SG-MCMC runs: H and ∇h average over the last K of those states (0: all)", kBif},
      {"--curvature", Kind::kText,
       "SG-MCMC runs: hessian (the papers', default) or gauss_newton (the prior's Hessian + the likelihood's "
       "generalised Gauss-Newton matrix: positive semi-definite; classifiers)",
       kBif},
      {"--curvature-batch", Kind::kInteger,
       "SG-MCMC runs: rows the curvature of CG / dense solves is estimated on, drawn once per batch and weighted "
       "n/rows (default 0: every row)",
       kBif},
      {"--damping", Kind::kNumber, "δ added to the Hessian (default 0)", kBif},
      {"--lissa-terms", Kind::kInteger, "LiSSA: terms T (default 32)", kBif},
      {"--lissa-guard", Kind::kNumber,
       "LiSSA: divergence guard κ, 0 (off, default) or >= 1: keep the terms before the first iterate h_t above "
       "κ(t + 1)·||∇h||",
       kBif},
      {"--lissa-c", Kind::kNumber, "LiSSA: scale s = c / n, n the data left (default 1)", kBif},
      {"--lissa-scale", Kind::kNumber, "LiSSA: the scale s itself (instead of c / n)", kBif},
      {"--hvp-batch", Kind::kInteger, "LiSSA: rows per Hessian term (default 0: all)", kBif},
      {"--cg-tol", Kind::kNumber, "CG: relative residual to stop at (default 1e-10)", kBif},
      {"--cg-max-iter", Kind::kInteger, "CG: iteration limit (default 1000)", kBif},
  };
  return all;
}

std::string key_of(const std::string& flag) {
  std::string k = flag.substr(2);
  for (auto& c : k) c = c == '-' ? '_' : c;
  return k;
}

nlohmann::json value_of(const Flag& f, const std::string& text) {
  try {
    size_t used = 0;
    if (f.kind == Kind::kInteger) {
      const long long v = std::stoll(text, &used);
      if (used == text.size()) return v;
    } else if (f.kind == Kind::kNumber) {
      const double v = std::stod(text, &used);
      if (used == text.size()) return v;
    } else {
      return text;
    }
  } catch (const std::exception&) {
  }
  throw io::ConfigError(std::string(f.name) + " = '" + text + "' is not " +
                        (f.kind == Kind::kInteger ? "an integer" : "a finite number in a double's range"));
}

void add_key(nlohmann::json& out, const std::string& key, nlohmann::json value, const std::string& source) {
  if (out.contains(key)) throw io::ConfigError("the method option \"" + key + "\" is given twice (" + source + ")");
  out[key] = std::move(value);
}

}  // namespace

nlohmann::json MethodFlags::options() const {
  nlohmann::json out = nlohmann::json::object();
  if (!json.empty()) {
    out = io::parse_json_string(json, "--options");
    if (!out.is_object()) throw io::ConfigError("--options must be a JSON object, e.g. '{\"solver\": \"cg\"}'");
  }
  for (const auto& pair : pairs) {
    const auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0)
      throw io::ConfigError("--option '" + pair + "' must be KEY=VALUE (VALUE as JSON, or plain text)");
    const auto text = pair.substr(eq + 1);
    nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) value = text;
    add_key(out, pair.substr(0, eq), value, "--option " + pair);
  }
  for (const auto& f : flags()) {
    auto it = values.find(key_of(f.name));
    if (it != values.end()) add_key(out, it->first, value_of(f, it->second), f.name);
  }
  if (refresh_bank) add_key(out, "refresh_bank", true, "--refresh-bank");
  return out;
}

void add_method_flags(CLI::App& cmd, MethodFlags& m) {
  std::map<std::string, CLI::Option*> made;
  for (const auto& f : flags()) {
    const std::string key = key_of(f.name);
    made[f.name] = cmd.add_option_function<std::string>(
                          f.name, [&m, key](const std::string& v) { m.values[key] = v; }, f.help)
                       ->group(f.group);
  }
  made["--log-lambda"]->excludes(made["--lambda"]);
  made["--lissa-scale"]->excludes(made["--lissa-c"]);
  cmd.add_flag("--refresh-bank", m.refresh_bank,
               "SG-MCMC runs: after each batch the corrected chain state replaces the bank's oldest sample")
      ->group(kBif);
  cmd.add_option("--option", m.pairs, "a method option KEY=VALUE (repeatable; any registered method)")
      ->group("Any method");
  cmd.add_option("--options", m.json, "the method's options as a JSON object")->group("Any method");
}

}  // namespace unlearn::app
