#include "unlearn/unlearning/method_registry.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "unlearn/io/config_error.h"
#include "unlearn/registration_origin.h"

namespace unlearn {
namespace detail {
// The built-in methods' registration lines (methods/builtin_methods.cpp).
void register_builtin_methods();
}  // namespace detail

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, MethodInfo> methods;
};

Registry& registry_without_builtins() {
  static Registry r;
  return r;
}

// The registry with the built-in methods in it. They are registered on first use (not by static
// initialisers in the static library, which the linker would drop from executables that never
// name them).
Registry& registry() {
  static std::once_flag once;
  std::call_once(once, [] { detail::register_builtin_methods(); });
  return registry_without_builtins();
}

bool valid_name(const std::string& name) {
  if (name.empty() || !std::islower(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::islower(c) || std::isdigit(c) || c == '_'; });
}

std::string names_of(const Registry& r) {
  std::string s;
  for (const auto& [name, info] : r.methods) s += (s.empty() ? "" : ", ") + name;
  return s;
}

void insert(Registry& r, MethodInfo info) {
  if (!valid_name(info.name))
    throw io::ConfigError("method name \"" + info.name + "\" is not allowed: use lower case letters, digits and '_', "
                          "starting with a letter");
  if (!info.factory) throw io::ConfigError("method \"" + info.name + "\" has no factory");
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.methods.find(info.name);
  if (it != r.methods.end())
    throw io::ConfigError("method \"" + info.name + "\" is already registered (" + it->second.origin +
                          "); a method cannot replace another");
  r.methods.emplace(info.name, std::move(info));
}

}  // namespace

void register_method(MethodInfo info) {
  if (auto origin = current_registration_origin(); !origin.empty()) info.origin = origin;
  insert(registry(), std::move(info));
}

namespace detail {
// Used by register_builtin_methods, which runs inside registry()'s call_once.
void register_builtin_method(MethodInfo info) { insert(registry_without_builtins(), std::move(info)); }

MethodRegistration::MethodRegistration(const char* name, const char* summary, UnlearnerFactory factory) {
  register_method(MethodInfo{name, summary, std::move(factory), "registered by the program"});
}
}  // namespace detail

bool has_method(const std::string& name) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.methods.count(name) > 0;
}

std::vector<MethodInfo> registered_methods() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<MethodInfo> out;
  for (const auto& [name, info] : r.methods) out.push_back(info);
  return out;
}

std::unique_ptr<Unlearner> make_unlearner(const std::string& name, const nlohmann::json& options,
                                          const std::string& where) {
  auto& r = registry();
  UnlearnerFactory factory;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.methods.find(name);
    if (it == r.methods.end())
      throw io::ConfigError("method \"" + name + "\" is unknown: registered are " + names_of(r));
    factory = it->second.factory;
  }
  io::JsonObjectReader reader(options.is_null() ? nlohmann::json::object() : options,
                              where.empty() ? "method " + name : where);
  auto method = factory(reader);
  reader.finish();
  if (!method) throw io::ConfigError("method \"" + name + "\": its factory returned nothing");
  return method;
}

}  // namespace unlearn
