// A shared library that is not a plugin: it lacks unlearn_register_plugin (tests/apps/test_plugins.cpp).
extern "C" int not_the_plugin_symbol() { return 0; }
