#pragma once
// The `unlearn` command as a library (CMake target unlearn::cli): a user's own executable that
// links its models gets every subcommand (train, forget, evaluate, export, experiment, demo, bench,
// launch) for them, with the same flags, exit codes and run directories as the stock binary.
//
//   #include <unlearn/cli.h>
//   #include <unlearn/model_registry.h>
//   int main(int argc, char** argv) {
//     unlearn::register_model_kind({"poisson", "Poisson regression, log link", make_poisson});
//     return unlearn::cli::run_cli(argc, argv);
//   }
//
// The stock binary's main() is exactly that without the registration (apps/unlearn/main.cpp).
// The other way in, without building an executable, is a plugin (unlearn/plugin.h).
/// The `unlearn` command as a library (target unlearn::cli): run_cli gives a user's executable
/// every subcommand for the model kinds it registers.
namespace unlearn::cli {

/// Parses argv and runs the subcommand. Registers the shipped model kinds first (a kind the caller
/// registered before keeps its name; a clash is reported). Returns the exit code: 0 ok, 1 runtime
/// failure, 2 usage / config / request error (the message is on stderr); 130 after Ctrl-C in train.
int run_cli(int argc, char** argv);

}  // namespace unlearn::cli
