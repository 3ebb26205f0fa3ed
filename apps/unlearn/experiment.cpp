// `unlearn experiment CONFIG --out DIR`: reproduce a paper study from one JSON config. The studies
// are their own tier (studies/, docs/architecture.md "Tiers"); this file parses the arguments,
// dispatches by the config's "experiment", prints and plots.
#include <fmt/format.h>

#include <cstdlib>
#include <cstdio>
#include <mutex>

#include "commands.h"
#include "distributed_args.h"
#include "progress.h"
#include "study_command.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"
#include "unlearn/studies/studies.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;

struct ExperimentArgs {
  std::string config;
  std::string out;
  bool quiet = false;
  DistributedArgs dist;
};

// The Python that has Debian's matplotlib: /usr/bin/python3 when present (a pyenv or venv
// python3 earlier on PATH usually lacks it), else python3 from PATH.
const char* plotting_python() { return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3"; }

// The study's plotting script on DIR, from the repository root or next to the configs.
void plot(const studies::StudyResult& result, const StudyRun& run, const studies::StudyContext& ctx) {
  if (result.plot_script.empty() || !result.wrote) return;
  fs::path script = result.plot_script;
  if (!fs::exists(script)) script = run.config_dir / ".." / script;
  const bool python =
      std::system((std::string(plotting_python()) + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) == 0;
  const auto cmd = fmt::format("{} '{}' '{}' >/dev/null 2>&1", plotting_python(), script.string(), run.out_dir.string());
  if (python && fs::exists(script) && std::system(cmd.c_str()) == 0) {
    ctx.say(fmt::format("\nwrote {}/results.csv, results.json and plots ({})\n", run.out_dir.string(),
                        result.plot_files));
  } else {
    ctx.say(fmt::format("\nwrote {}/results.csv and results.json; for plots install python3-matplotlib "
                        "(apt-get install python3-matplotlib) and run `python3 {} {}` from the repository root\n",
                        run.out_dir.string(), result.plot_script, run.out_dir.string()));
  }
}

void run_experiment(const ExperimentArgs& a) {
  fs::path config_path(a.config);
  auto json = io::parse_json_file(config_path);
  const auto& study = studies::study_of(json, a.config);
  // The small studies (seconds to minutes on one core) stay single-process; refuse before any rank
  // connects, so that every rank exits 2 with the same message.
  if (a.dist.world_size > 1 && !study.data_parallel)
    throw io::ConfigError("--world-size " + std::to_string(a.dist.world_size) + ": experiment \"" + study.name +
                          "\" runs in one process; only fmnist_bif runs data-parallel");
  StudyRun run{fs::path(a.out), config_path.parent_path(), a.config, a.quiet, connect_cluster(a.dist)};
  if (!run.cluster->is_root()) run.quiet = true;  // rank 0 speaks for the run
  run_study_command(json, run);
}

}  // namespace

void run_study_command(const nlohmann::json& config, const StudyRun& run) {
  const auto& study = studies::study_of(config, run.config_name);
  studies::StudyContext ctx;
  ctx.out_dir = run.out_dir;
  ctx.config_dir = run.config_dir;
  ctx.cluster = run.cluster;
  // Progress: a bar on a terminal, a line every k steps otherwise (progress.h); reading the
  // objective for it never changes a result.
  StagedProgress progress([quiet = run.quiet](const std::string& stage, int64_t total, const std::string& value) {
    return ProgressOptions().label(stage).total(total).objective_name(value).quiet(quiet);
  });
  // The vbu study logs from its concurrent retrain's thread too: one lock for the terminal.
  std::mutex terminal;
  if (!run.quiet) {
    ctx.log = [&progress, &terminal](const std::string& text) {
      std::lock_guard<std::mutex> lock(terminal);
      progress.finish();  // a log line never lands inside a bar
      std::fputs(text.c_str(), stdout);
      std::fflush(stdout);
    };
    ctx.on_progress = [&terminal, show = progress.callback()](const ProgressEvent& e) {
      std::lock_guard<std::mutex> lock(terminal);
      show(e);
    };
  }
  const auto result = study.run(config, ctx);
  progress.finish();
  ctx.say(result.summary);
  plot(result, run, ctx);
}

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
