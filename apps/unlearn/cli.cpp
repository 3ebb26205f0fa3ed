// unlearn::cli::run_cli (unlearn/cli.h): the whole `unlearn` command, for the stock binary and for
// a user's executable that links its own models.
#include "unlearn/cli.h"

#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "commands.h"
#include "plugins.h"
#include "registry.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/io/config_error.h"

namespace unlearn::cli {
namespace {

// The --plugin values, read before CLI11 parses: the plugins' kinds and methods must be registered
// before any subcommand reads a config or lists methods in --help.
std::vector<std::string> plugin_arguments(int argc, char** argv) {
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--plugin" && i + 1 < argc) paths.emplace_back(argv[++i]);
    else if (arg.rfind("--plugin=", 0) == 0) paths.push_back(arg.substr(std::strlen("--plugin=")));
  }
  return paths;
}

// Messages echo what they were given (a path, a value); a 100 KB argument must not become a
// 100 KB error. The head names the field and the problem, so that is what is kept.
constexpr std::size_t kMaxMessageChars = 2000;

int report(const char* message, int code) {
  std::string text(message);
  if (text.size() > kMaxMessageChars) {
    const auto cut = text.size() - kMaxMessageChars;
    text.resize(kMaxMessageChars);
    text += fmt::format("... ({} more characters)", cut);
  }
  fmt::print(stderr, "error: {}\n", text);
  return code;
}

}  // namespace

int run_cli(int argc, char** argv) {
  using app::kOk;
  using app::kRuntimeError;
  using app::kUsageError;
  CLI::App cli{
      "unlearn: Bayesian deep learning that can forget.\n"
      "Exit codes: 0 ok, 1 runtime failure, 2 usage / config / request error."};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", "unlearn 0.1.0");
  // One intra-op thread by default: on a 2-core machine two OpenMP threads ran the moons-shaped
  // step 50x slower whenever anything else used a core (docs/performance.md).
  int threads = 1;
  cli.add_option("--threads", threads, "torch intra-op threads")->check(CLI::Range(1, 1024));
  std::vector<std::string> plugin_paths;
  cli.add_option("--plugin", plugin_paths,
                 "shared library that registers model kinds or methods (repeatable; docs/extending.md)");
  cli.fallthrough();  // --plugin and --threads may also follow the subcommand's name
  cli.parse_complete_callback([&threads] { at::set_num_threads(threads); });
  try {
    models::register_builtin_model_kinds();
    for (const auto& path : plugin_arguments(argc, argv)) app::load_plugin(path);
  } catch (const io::ConfigError& e) {
    return report(e.what(), kUsageError);
  }
  app::add_demo_command(cli);
  app::add_train_command(cli);
  app::add_forget_command(cli);
  app::add_evaluate_command(cli);
  app::add_export_command(cli);
  app::add_verify_command(cli);
  app::add_experiment_command(cli);
  app::add_launch_command(cli);
  app::add_bench_command(cli);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = cli.exit(e);
    return rc == 0 ? kOk : kUsageError;
  } catch (const io::ConfigError& e) {
    return report(e.what(), kUsageError);
  } catch (const io::CheckpointError& e) {
    return report(e.what_without_backtrace(), kUsageError);
  } catch (const c10::Error& e) {
    return report(e.what_without_backtrace(), kRuntimeError);
  } catch (const std::exception& e) {
    return report(e.what(), kRuntimeError);
  }
  return kOk;
}

}  // namespace unlearn::cli
