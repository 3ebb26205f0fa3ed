// Who is registering right now (unlearn/plugin.h): the registries of model kinds and methods ask,
// so that a plugin's kinds carry the plugin's path in --help and in clash messages.
#include <mutex>

#include "unlearn/registration_origin.h"

namespace unlearn {
namespace {
std::mutex g_mutex;
std::string g_origin;
}  // namespace

ScopedRegistrationOrigin::ScopedRegistrationOrigin(std::string origin) {
  std::lock_guard<std::mutex> lock(g_mutex);
  previous_ = std::move(g_origin);
  g_origin = std::move(origin);
}

ScopedRegistrationOrigin::~ScopedRegistrationOrigin() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_origin = std::move(previous_);
}

std::string current_registration_origin() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_origin;
}

}  // namespace unlearn
