// `unlearn evaluate RUN_DIR [--reference RUN_DIR] [--generation N] [--json]`: the metrics of a
// generation for its model kind (see evaluation.h), as a table or as JSON on stdout.
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "evaluation.h"

namespace unlearn::app {
namespace {

struct EvaluateArgs {
  std::string run_dir;
  std::string reference;
  int generation = -1;
  int reference_generation = -1;
  EvaluateOptions options;
  bool json = false;
};

EvaluatedRun load_evaluated(const std::string& run_dir, int generation) {
  auto c = load_run(run_dir);
  auto g = load_generation(c, run_dir, generation >= 0 ? std::optional<int>(generation) : std::nullopt);
  return {run_dir, std::move(c), std::move(g)};
}

void run_evaluate(const EvaluateArgs& a) {
  auto run = load_evaluated(a.run_dir, a.generation);
  std::optional<EvaluatedRun> reference;
  if (!a.reference.empty()) reference = load_evaluated(a.reference, a.reference_generation);
  auto ev = evaluate_run(run, reference, a.options);
  if (a.json) std::cout << ev.to_json().dump(2) << std::endl;
  else fmt::print("{}", ev.to_table());
}

}  // namespace

void add_evaluate_command(CLI::App& app) {
  auto a = std::make_shared<EvaluateArgs>();
  auto* cmd = app.add_subcommand(
      "evaluate", "Metrics of a run's posterior: errors, NLL, membership attack; KL to a --reference (e.g. a retrain)");
  cmd->add_option("run_dir", a->run_dir, "run directory")->required();
  cmd->add_option("--reference", a->reference, "run directory of the reference (a retrain on D_r) to compare with");
  cmd->add_option("--generation", a->generation, "generation of RUN_DIR (default: the latest)")->check(CLI::Range(0, 9999));
  cmd->add_option("--reference-generation", a->reference_generation, "generation of the reference (default: its latest)")
      ->check(CLI::Range(0, 9999));
  cmd->add_option("--num-samples", a->options.num_samples, "draws from a Gaussian posterior for predictives (default 1000)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 30));
  cmd->add_option("--seed", a->options.seed, "seed of those draws (shared by run and reference)");
  cmd->add_flag("--json", a->json, "print the metrics as JSON on stdout instead of a table");
  cmd->callback([a] { run_evaluate(*a); });
}

}  // namespace unlearn::app
