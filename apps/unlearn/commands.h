#pragma once
// Each subcommand of `unlearn` lives in its own file and registers itself here.
#include <CLI/CLI.hpp>

namespace unlearn::app {

/// Exit codes of the command (documented in --help): 0 ok, 1 runtime failure,
/// 2 usage / config / request error.
enum ExitCode : int { kOk = 0, kRuntimeError = 1, kUsageError = 2 };

void add_demo_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_forget_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_verify_command(CLI::App& app);  // verify.cpp: the hash chain and the deletion receipts
void add_evaluate_command(CLI::App& app);
void add_experiment_command(CLI::App& app);
void add_launch_command(CLI::App& app);  // launch.cpp: N data-parallel processes on loopback

}  // namespace unlearn::app
