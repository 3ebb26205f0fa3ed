#pragma once
// Model kinds by name (docs/architecture.md, "Registries"): the "model" section of every config
// ({"kind": "logistic", ...}) is resolved here, so that a kind registered by a user's executable
// or plugin reaches `unlearn train / forget / evaluate / export` like a built-in one.
//
//   unlearn::register_model_kind({"poisson", "Poisson regression with a log link",
//       [](const unlearn::io::JsonObjectReader& r, const unlearn::data::Dataset& d, const unlearn::ModelContext& ctx) {
//         return std::make_shared<Poisson>(d.x().size(1), r.get<double>("prior_std", 1.0));
//       }});
//   auto model = unlearn::make_model(config_reader.object("model"), dataset, ctx);
//
// The kinds the project ships are registered by unlearn::models::register_builtin_model_kinds()
// (models/registry.h), which the command calls at start-up.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "unlearn/data/dataset.h"
#include "unlearn/io/json_config.h"
#include "unlearn/model.h"

namespace unlearn {

/// What a model factory may need besides its config section and the data.
struct ModelContext {
  /// Turns a path from a config into an existing file, or throws io::ConfigError naming `field`
  /// (relative paths are tried against the config's folder). Null: paths are used as they are.
  std::function<std::string(const std::string& path, const std::string& field)> resolve_path;
};

/// Builds a model for `data` (its features and labels fix the shapes) from its config section,
/// reading every key it accepts through the reader (unknown keys are errors afterwards).
using ModelFactory =
    std::function<std::shared_ptr<Model>(const io::JsonObjectReader& section, const data::Dataset& data,
                                         const ModelContext& context)>;

/// One entry of the model registry: a config `model.kind` name, its summary, the factory that
/// builds it, and who registered it.
struct ModelKindInfo {
  std::string kind;     ///< "logistic"; lower case, digits and '_'
  std::string summary;  ///< one line for --help and docs
  /// Builds the model from its config section and the data set.
  ModelFactory factory;
  std::string origin = "built-in";  ///< "built-in", or the plugin that registered it
};

/// Registers a model kind; a taken or malformed name is an io::ConfigError naming it and who took it.
void register_model_kind(ModelKindInfo info);
/// Whether a kind of that name is registered.
bool has_model_kind(const std::string& kind);
/// Every registered kind, sorted by name.
std::vector<ModelKindInfo> registered_model_kinds();
/// The model of `section` ({"kind": ..., the kind's keys}; no kind: "linear_regression"); an
/// unknown kind lists the registered ones. Does not call section.finish(): the caller does, once the whole config is read.
std::shared_ptr<Model> make_model(const io::JsonObjectReader& section, const data::Dataset& data,
                                  const ModelContext& context = {});

namespace detail {
struct ModelKindRegistration {
  ModelKindRegistration(const char* kind, const char* summary, ModelFactory factory);
};
}  // namespace detail

}  // namespace unlearn

#define UNLEARN_MODEL_CONCAT_INNER(a, b) a##b
#define UNLEARN_MODEL_CONCAT(a, b) UNLEARN_MODEL_CONCAT_INNER(a, b)
/// UNLEARN_REGISTER_MODEL_KIND("kind", "summary", factory): registers a model kind when the program
/// starts (put it in a .cpp linked into the executable itself).
#define UNLEARN_REGISTER_MODEL_KIND(kind, summary, factory)                                        \
  static const ::unlearn::detail::ModelKindRegistration UNLEARN_MODEL_CONCAT(unlearn_model_registration_, \
                                                                           __LINE__)(kind, summary, factory)
