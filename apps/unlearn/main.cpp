// `unlearn`: train Bayesian models, erase data from their posteriors, and compare with retraining.
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "commands.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/io/config_error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "unlearn: Bayesian deep learning that can forget.\n"
      "Exit codes: 0 ok, 1 runtime failure, 2 usage / config / request error."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "unlearn 0.1.0");
  // One intra-op thread by default: on a 2-core machine two OpenMP threads ran the moons-shaped
  // step 50x slower whenever anything else used a core (README, "Performance").
  int threads = 1;
  app.add_option("--threads", threads, "torch intra-op threads")->check(CLI::Range(1, 1024));
  app.parse_complete_callback([&threads] { at::set_num_threads(threads); });
  unlearn::app::add_demo_command(app);
  unlearn::app::add_train_command(app);
  unlearn::app::add_forget_command(app);
  unlearn::app::add_evaluate_command(app);
  unlearn::app::add_export_command(app);
  unlearn::app::add_experiment_command(app);
  unlearn::app::add_launch_command(app);
  unlearn::app::add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? unlearn::app::kOk : unlearn::app::kUsageError;
  } catch (const unlearn::io::ConfigError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return unlearn::app::kUsageError;
  } catch (const unlearn::io::CheckpointError& e) {
    fmt::print(stderr, "error: {}\n", e.what_without_backtrace());
    return unlearn::app::kUsageError;
  } catch (const c10::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what_without_backtrace());
    return unlearn::app::kRuntimeError;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return unlearn::app::kRuntimeError;
  }
  return unlearn::app::kOk;
}
