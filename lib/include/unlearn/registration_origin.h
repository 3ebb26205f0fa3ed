#pragma once
// Who is registering right now: the registries of model kinds (unlearn/model_registry.h) and of
// methods (unlearn/unlearning/method_registry.h) mark what they register with it, so that a
// plugin's kinds carry the plugin's path in listings and clash messages (unlearn/plugin.h).
#include <string>

namespace unlearn {

/// While alive, every model kind and method registered is marked with `origin` ("plugin PATH")
/// instead of the origin its registration names. Used by the host around unlearn_register_plugin.
class ScopedRegistrationOrigin {
 public:
  /// Makes `origin` the current one; the destructor restores the previous origin (so scopes nest).
  explicit ScopedRegistrationOrigin(std::string origin);
  ~ScopedRegistrationOrigin();
  ScopedRegistrationOrigin(const ScopedRegistrationOrigin&) = delete;
  ScopedRegistrationOrigin& operator=(const ScopedRegistrationOrigin&) = delete;

 private:
  std::string previous_;
};

/// The origin set by the innermost ScopedRegistrationOrigin ("" outside of one).
std::string current_registration_origin();

}  // namespace unlearn
