#pragma once
// `unlearn --plugin PATH.so ...` (unlearn/plugin.h has the contract): the plugins this process
// loaded, which of the registered model kinds and methods each brought, and the record a run
// directory keeps of the plugin its model kind needs (RUN_DIR/plugins.json).
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace unlearn::app {

struct LoadedPlugin {
  std::string path;                  ///< absolute path as loaded
  std::vector<std::string> kinds;    ///< model kinds it registered
  std::vector<std::string> methods;  ///< methods it registered
};

/// Loads one plugin: dlopen, the symbol unlearn_register_plugin, the API version, the
/// registrations. A missing file, a library that does not load, a missing symbol, a version
/// mismatch or a registration that throws (a clash with a built-in kind, say) is an
/// io::ConfigError naming the path (exit 2).
const LoadedPlugin& load_plugin(const std::string& path);

/// Every plugin loaded so far, in load order.
const std::vector<LoadedPlugin>& loaded_plugins();

/// The plugin that registered model kind `kind`, or nullptr for a built-in kind.
const LoadedPlugin* plugin_of_model_kind(const std::string& kind);

/// RUN_DIR/plugins.json for a run whose model kind is `kind`: {"model_kind": kind, "plugins":
/// [path]}, or null when the kind is built in (the file is then not written).
nlohmann::json plugin_record(const std::string& kind);

/// Called when a run directory's model kind is not registered: an io::ConfigError that names the
/// plugin the run recorded (RUN_DIR/plugins.json) and how to pass it, or nothing when the run
/// recorded none (the caller's own unknown-kind error then stands).
void require_recorded_plugin(const std::filesystem::path& run_dir, const std::string& kind);

}  // namespace unlearn::app
