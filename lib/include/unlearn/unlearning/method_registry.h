#pragma once
// Forgetting methods by name (docs/architecture.md, "Registries"): `unlearn forget --method NAME`,
// the studies' configs and a library user resolve a method here, with its options read by the
// strict JSON bridge (io::JsonObjectReader: unknown keys, wrong types and out-of-range values are
// io::ConfigErrors naming the field).
//
//   auto bif = unlearn::make_unlearner("bif", {{"solver", "cg"}, {"cg_max_iter", 6}});
//   auto eubo = unlearn::make_unlearner("eubo", nlohmann::json::parse(R"({"lambdas": [1e-5, 0]})"));
//
// Adding a method = one file with an Unlearner and its Options, and one registration line: the
// built-in methods are listed in lib/src/unlearning/methods/builtin_methods.cpp; a user's own
// executable or plugin calls register_method (or UNLEARN_REGISTER_METHOD in a .cpp that is linked
// into the executable itself, not into a static library the linker may drop).
//
//   class Toy : public unlearn::Unlearner { ... };
//   UNLEARN_REGISTER_METHOD("toy", "does nothing, twice as fast", [](const unlearn::io::JsonObjectReader& r) {
//     return std::make_unique<Toy>(r.get<double>("scale", 1.0));
//   });
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "unlearn/io/json_config.h"
#include "unlearn/unlearning/unlearner.h"

namespace unlearn {

/// Builds a method from its options. The reader is the method's options object; the registry calls
/// finish() on it afterwards, so every key the factory did not read is reported as unknown.
using UnlearnerFactory = std::function<std::unique_ptr<Unlearner>(const io::JsonObjectReader& options)>;

/// One entry of the method registry: the name `unlearn forget --method` and configs use, its
/// summary, the factory that builds it from its options, and who registered it.
struct MethodInfo {
  std::string name;     ///< "bif"; lower case, digits and '_'
  std::string summary;  ///< one line for `unlearn forget --help` and docs
  /// Builds the method from its options object.
  UnlearnerFactory factory;
  std::string origin = "built-in";  ///< "built-in", or the plugin that registered it
};

/// Registers a method. A name that is taken, or not [a-z][a-z0-9_]*, is an io::ConfigError naming it
/// (and who registered it first).
void register_method(MethodInfo info);
/// Whether a method of that name is registered.
bool has_method(const std::string& name);
/// Every registered method, sorted by name.
std::vector<MethodInfo> registered_methods();
/// The method `name` built from `options` (a JSON object; {} keeps every default). An unknown name
/// or a bad option is an io::ConfigError; `where` names the options in messages (default
/// "method NAME").
std::unique_ptr<Unlearner> make_unlearner(const std::string& name, const nlohmann::json& options = nlohmann::json::object(),
                                          const std::string& where = "");

namespace detail {
/// Registers at static-initialisation time (UNLEARN_REGISTER_METHOD).
struct MethodRegistration {
  MethodRegistration(const char* name, const char* summary, UnlearnerFactory factory);
};
}  // namespace detail

}  // namespace unlearn

#define UNLEARN_METHOD_CONCAT_INNER(a, b) a##b
#define UNLEARN_METHOD_CONCAT(a, b) UNLEARN_METHOD_CONCAT_INNER(a, b)
/// UNLEARN_REGISTER_METHOD("name", "summary", factory): registers a method when the program starts.
#define UNLEARN_REGISTER_METHOD(name, summary, factory)                                            \
  static const ::unlearn::detail::MethodRegistration UNLEARN_METHOD_CONCAT(unlearn_method_registration_, \
                                                                           __LINE__)(name, summary, factory)
