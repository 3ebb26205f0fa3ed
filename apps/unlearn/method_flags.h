#pragma once
// The method options of `unlearn forget`, as flags: each flag is one key of the method's JSON
// options (docs/cli.md, docs/config.md), so `--cg-max-iter 6` is {"cg_max_iter": 6}. A flag the
// method does not read is refused by the method's strict reader, naming the key. Methods
// registered by a plugin take their options through --option KEY=VALUE or --options JSON.
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace unlearn::app {

struct MethodFlags {
  std::map<std::string, std::string> values;  ///< flag key -> the text given
  std::vector<std::string> pairs;             ///< --option KEY=VALUE, in order
  std::string json;                           ///< --options JSON (an object)
  bool refresh_bank = false;

  /// The method's options object: --options, then --option pairs, then the flags; a key given
  /// twice is an io::ConfigError naming both sources.
  nlohmann::json options() const;
};

/// Adds the method flags (--lambda, --steps, --solver, ...) and --option / --options to `cmd`.
void add_method_flags(CLI::App& cmd, MethodFlags& flags);

}  // namespace unlearn::app
