// `unlearn export RUN_DIR [--generation N]`: the posterior and the ids as JSON on stdout.
#include <iostream>

#include "commands.h"
#include "run_store.h"
#include "unlearn/io/json_tensor.h"

namespace unlearn::app {
namespace {

struct ExportArgs {
  std::string run_dir;
  int generation = -1;
};

void run_export(const ExportArgs& a) {
  auto c = load_run(a.run_dir);
  auto g = load_generation(c, a.run_dir, a.generation >= 0 ? std::optional<int>(a.generation) : std::nullopt);
  torch::NoGradGuard no_grad;
  nlohmann::json out;
  out["generation"] = g.number;
  out["architecture"] = c.model->architecture();
  out["family"] = g.posterior->family();
  out["metadata"] = g.metadata;
  out["mean"] = io::tensor_to_json(g.posterior->mean());
  if (g.posterior->family() == "full_rank") out["covariance"] = io::tensor_to_json(g.posterior->covariance());
  out["stddev"] = io::tensor_to_json(g.posterior->stddev());
  out["trained_ids"] = io::tensor_to_json(g.trained_ids);
  out["erased_ids"] = io::tensor_to_json(g.erased_ids);
  std::cout << out.dump(2) << std::endl;
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand("export", "Print a generation's posterior and ids as JSON");
  cmd->add_option("run_dir", a->run_dir, "run directory")->required();
  cmd->add_option("--generation", a->generation, "generation (default: the latest)")->check(CLI::Range(0, 9999));
  cmd->callback([a] { run_export(*a); });
}

}  // namespace unlearn::app
