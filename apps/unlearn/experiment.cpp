// `unlearn experiment CONFIG --out DIR`: reproduce a paper study from one JSON config.
#include <fmt/format.h>

#include "commands.h"
#include "distributed_args.h"
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
  DistributedArgs dist;
};

void run_experiment(const ExperimentArgs& a) {
  fs::path config_path(a.config);
  auto json = io::parse_json_file(config_path);
  if (!json.is_object() || !json.contains("experiment") || !json["experiment"].is_string())
    throw io::ConfigError(a.config + ": \"experiment\" must name the study: \"vbu\", \"gmm_bif\" or \"fmnist_bif\"");
  auto kind = json["experiment"].get<std::string>();
  if (kind != "vbu" && kind != "gmm_bif" && kind != "fmnist_bif")
    throw io::ConfigError(a.config + ": experiment = \"" + kind + "\" is unknown: allowed are vbu, gmm_bif, fmnist_bif");
  // The small studies (seconds to minutes on one core) stay single-process; refuse before any rank
  // connects, so that every rank exits 2 with the same message.
  if (a.dist.world_size > 1 && kind != "fmnist_bif")
    throw io::ConfigError("--world-size " + std::to_string(a.dist.world_size) + ": experiment \"" + kind +
                          "\" runs in one process; only fmnist_bif runs data-parallel");
  ExperimentContext ctx{fs::path(a.out), config_path.parent_path(), a.quiet};
  ctx.cluster = connect_cluster(a.dist);
  if (!ctx.cluster->is_root()) ctx.quiet = true;  // rank 0 speaks for the run
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
  add_distributed_options(cmd, a->dist);
  cmd->callback([a] { run_experiment(*a); });
}

}  // namespace unlearn::app
