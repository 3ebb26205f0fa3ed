#include "plugins.h"

#include <dlfcn.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "unlearn/io/config_error.h"
#include "unlearn/plugin.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;

std::vector<LoadedPlugin>& plugins() {
  static std::vector<LoadedPlugin> p;
  return p;
}

std::set<std::string> kind_names() {
  std::set<std::string> s;
  for (const auto& k : registered_model_kinds()) s.insert(k.kind);
  return s;
}

std::set<std::string> method_names() {
  std::set<std::string> s;
  for (const auto& m : registered_methods()) s.insert(m.name);
  return s;
}

std::vector<std::string> added(const std::set<std::string>& before, const std::set<std::string>& after) {
  std::vector<std::string> out;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(out));
  return out;
}

}  // namespace

const LoadedPlugin& load_plugin(const std::string& path) {
  const std::string where = "--plugin " + path;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw io::ConfigError(where + ": no such file (a plugin is a shared library, e.g. build/libpoisson.so)");
  const std::string absolute = fs::absolute(path).lexically_normal().string();
  for (const auto& p : plugins())
    if (p.path == absolute) return p;  // the same plugin twice: once is enough
  // RTLD_GLOBAL: a plugin's types (its Model subclass's RTTI) must be the ones the host sees.
  void* handle = dlopen(absolute.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) throw io::ConfigError(where + ": cannot load it: " + std::string(dlerror()));
  dlerror();
  auto* symbol = dlsym(handle, UNLEARN_PLUGIN_SYMBOL);
  if (!symbol)
    throw io::ConfigError(where + ": it does not export the C symbol " + std::string(UNLEARN_PLUGIN_SYMBOL) +
                          " (declare it extern \"C\" UNLEARN_PLUGIN_EXPORT int " + UNLEARN_PLUGIN_SYMBOL +
                          "(int); docs/extending.md)");
  auto register_plugin = reinterpret_cast<PluginRegisterFunction>(symbol);
  const auto kinds_before = kind_names();
  const auto methods_before = method_names();
  int version = 0;
  try {
    ScopedRegistrationOrigin origin("plugin " + absolute);
    version = register_plugin(UNLEARN_PLUGIN_API_VERSION);
  } catch (const io::ConfigError& e) {
    throw io::ConfigError(where + ": its registration failed: " + e.what());
  } catch (const c10::Error& e) {
    throw io::ConfigError(where + ": its registration failed: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw io::ConfigError(where + ": its registration failed: " + e.what());
  } catch (...) {
    throw io::ConfigError(where + ": its registration threw something that is not a std::exception");
  }
  if (version != UNLEARN_PLUGIN_API_VERSION)
    throw io::ConfigError(where + ": it was built for plugin API version " + std::to_string(version) +
                          "; this unlearn has version " + std::to_string(UNLEARN_PLUGIN_API_VERSION) +
                          " (rebuild the plugin against these headers)");
  LoadedPlugin loaded{absolute, added(kinds_before, kind_names()), added(methods_before, method_names())};
  if (loaded.kinds.empty() && loaded.methods.empty())
    throw io::ConfigError(where + ": it registered no model kind and no method");
  plugins().push_back(std::move(loaded));
  return plugins().back();
}

const std::vector<LoadedPlugin>& loaded_plugins() { return plugins(); }

const LoadedPlugin* plugin_of_model_kind(const std::string& kind) {
  for (const auto& p : plugins())
    if (std::find(p.kinds.begin(), p.kinds.end(), kind) != p.kinds.end()) return &p;
  return nullptr;
}

nlohmann::json plugin_record(const std::string& kind) {
  const auto* p = plugin_of_model_kind(kind);
  if (!p) return nullptr;
  return {{"model_kind", kind}, {"plugins", {p->path}}};
}

void require_recorded_plugin(const fs::path& run_dir, const std::string& kind) {
  const auto record_path = run_dir / "plugins.json";
  std::ifstream in(record_path);
  if (!in) return;
  nlohmann::json record;
  try {
    record = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw io::ConfigError(record_path.string() + " is not valid JSON: " + e.what());
  }
  std::string paths;
  for (const auto& p : record.value("plugins", nlohmann::json::array())) paths += " --plugin " + p.get<std::string>();
  throw io::ConfigError("run directory " + run_dir.string() + " was trained with model kind \"" + kind +
                        "\" from a plugin that is not loaded: run unlearn" + paths + " ...");
}

}  // namespace unlearn::app
