// `unlearn experiment CONFIG --out DIR`: reproduce a paper study from one JSON config.
#include <fmt/format.h>

#include "commands.h"
#include "experiments/experiments.h"
#include "unlearn/io/atomic_file.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;

struct ExperimentArgs {
  std::string config;
  std::string out;
  bool quiet = false;
};

void run_experiment(const ExperimentArgs& a) {
  fs::path config_path(a.config);
  auto json = io::parse_json_file(config_path);
  if (!json.is_object() || !json.contains("experiment") || !json["experiment"].is_string())
    throw io::ConfigError(a.config + ": \"experiment\" must name the study: \"vbu\" or \"gmm_bif\"");
  auto kind = json["experiment"].get<std::string>();
  if (kind != "vbu" && kind != "gmm_bif" && kind != "fmnist_bif")
    throw io::ConfigError(a.config + ": experiment = \"" + kind + "\" is unknown: allowed are vbu, gmm_bif, fmnist_bif");
  ExperimentContext ctx{fs::path(a.out), config_path.parent_path(), a.quiet};
  if (kind == "vbu") run_vbu_experiment(json, ctx);
  else if (kind == "fmnist_bif") run_fmnist_bif_experiment(json, ctx);
  else run_gmm_bif_experiment(json, ctx);
}

}  // namespace

void add_experiment_command(CLI::App& app) {
  auto a = std::make_shared<ExperimentArgs>();
  auto* cmd = app.add_subcommand("experiment", "Run a paper study from a JSON config (configs/*.json)");
  cmd->add_option("config", a->config, "experiment config")->required();
  cmd->add_option("--out", a->out, "output directory (results.csv, results.json, plots)")->required();
  cmd->add_flag("--quiet", a->quiet, "print nothing but errors");
  cmd->callback([a] { run_experiment(*a); });
}

}  // namespace unlearn::app
