#include "unlearn/model_registry.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "unlearn/io/config_error.h"
#include "unlearn/registration_origin.h"

namespace unlearn {
namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, ModelKindInfo> kinds;
};

Registry& registry() {
  static Registry r;
  return r;
}

bool valid_name(const std::string& name) {
  if (name.empty() || !std::islower(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::islower(c) || std::isdigit(c) || c == '_'; });
}

}  // namespace

void register_model_kind(ModelKindInfo info) {
  if (auto origin = current_registration_origin(); !origin.empty()) info.origin = origin;
  if (!valid_name(info.kind))
    throw io::ConfigError("model kind \"" + info.kind + "\" is not allowed: use lower case letters, digits and '_', "
                          "starting with a letter");
  if (!info.factory) throw io::ConfigError("model kind \"" + info.kind + "\" has no factory");
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.kinds.find(info.kind);
  if (it != r.kinds.end())
    throw io::ConfigError("model kind \"" + info.kind + "\" is already registered (" + it->second.origin +
                          "); a kind cannot replace another");
  r.kinds.emplace(info.kind, std::move(info));
}

bool has_model_kind(const std::string& kind) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.kinds.count(kind) > 0;
}

std::vector<ModelKindInfo> registered_model_kinds() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<ModelKindInfo> out;
  for (const auto& [kind, info] : r.kinds) out.push_back(info);
  return out;
}

std::shared_ptr<Model> make_model(const io::JsonObjectReader& section, const data::Dataset& data,
                                  const ModelContext& context) {
  std::vector<std::string> names;
  for (const auto& info : registered_model_kinds()) names.push_back(info.kind);
  if (names.empty()) throw io::ConfigError(section.path() + ": no model kind is registered");
  // A config without a kind means the conjugate regression, as it always has.
  const auto kind = section.get<std::string>("kind", "linear_regression");
  ModelFactory factory;
  {
    auto& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.kinds.find(kind);
    if (it != r.kinds.end()) factory = it->second.factory;
  }
  if (!factory) section.get_enum("kind", names.front(), names);  // the strict reader's message: allowed kinds
  try {
    auto model = factory(section, data, context);
    if (!model) throw io::ConfigError(section.path() + ": model kind \"" + kind + "\" built nothing");
    return model;
  } catch (const c10::Error& e) {
    throw io::ConfigError(section.path() + ": " + e.what_without_backtrace());
  }
}

namespace detail {
ModelKindRegistration::ModelKindRegistration(const char* kind, const char* summary, ModelFactory factory) {
  register_model_kind(ModelKindInfo{kind, summary, std::move(factory), "registered by the program"});
}
}  // namespace detail

}  // namespace unlearn
