#pragma once
// The plugin contract of the stock `unlearn` command (docs/extending.md, "A plugin"):
//
//   unlearn --plugin ./libpoisson.so train poisson.json --out runs/p
//
// loads the shared library with dlopen and calls the one C symbol it must export,
//
//   extern "C" UNLEARN_PLUGIN_EXPORT int unlearn_register_plugin(int host_api_version);
//
// In it the plugin registers its model kinds (unlearn::register_model_kind) and methods
// (unlearn::register_method) and returns UNLEARN_PLUGIN_API_VERSION, the version of this contract
// it was built against; the host refuses a plugin whose version differs from its own. The plugin
// is built against the headers of lib/include only (CMake target unlearn::plugin_api) and does not
// link unlearn's static libraries: their symbols come from the `unlearn` executable, which exports
// them. Everything the plugin registers is marked with the plugin's path as its origin, and a run
// directory trained with a plugin's model kind records that path (RUN_DIR/plugins.json), so that
// using the run without the plugin is an error that names it.
//
//   #include <unlearn/plugin.h>
//   extern "C" UNLEARN_PLUGIN_EXPORT int unlearn_register_plugin(int) {
//     unlearn::register_model_kind({"poisson", "Poisson regression, log link", make_poisson});
//     return UNLEARN_PLUGIN_API_VERSION;
//   }
//
// A registration that throws (a kind that clashes with a built-in one, say) stops the command with
// exit code 2 and a message naming the plugin, before anything is read or written.
#include <string>

#include "unlearn/model_registry.h"
#include "unlearn/registration_origin.h"
#include "unlearn/unlearning/method_registry.h"

/// The version of the plugin contract; bumped whenever Model, Unlearner or the registries change in
/// a way that breaks a compiled plugin.
#define UNLEARN_PLUGIN_API_VERSION 1
/// The name of the symbol the host looks up.
#define UNLEARN_PLUGIN_SYMBOL "unlearn_register_plugin"
#define UNLEARN_PLUGIN_EXPORT __attribute__((visibility("default")))

namespace unlearn {

/// The signature of unlearn_register_plugin.
using PluginRegisterFunction = int (*)(int host_api_version);

}  // namespace unlearn
