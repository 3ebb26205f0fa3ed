// The plugin: `unlearn --plugin build/libpoisson_plugin.so train poisson.json --out runs/p` gives
// the stock command the model kind "poisson" (contract: unlearn/plugin.h, docs/extending.md).
#include <unlearn/plugin.h>

#include "poisson_regression.h"

extern "C" UNLEARN_PLUGIN_EXPORT int unlearn_register_plugin(int /*host_api_version*/) {
  unlearn::register_model_kind(poisson::poisson_kind());
  return UNLEARN_PLUGIN_API_VERSION;
}
