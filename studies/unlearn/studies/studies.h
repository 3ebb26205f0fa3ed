#pragma once
// The paper studies as a library (docs/architecture.md, "Tiers"): `unlearn experiment CONFIG --out
// DIR` reads the config's "experiment" key, finds the study here and runs it. A study reads its
// config strictly (io::ConfigError naming the field, before anything is written), trains its
// posteriors with train_posterior, forgets through forget_request and writes DIR/results.csv and
// DIR/results.json with the one results writer (results_table.h).
//
//   unlearn::studies::StudyContext ctx;
//   ctx.out_dir = "out/moons";
//   ctx.log = [](const std::string& s) { std::cout << s << std::flush; };
//   auto result = unlearn::studies::run_study(config_json, ctx);   // or find_study("vbu")->run
//
// Studies print nothing themselves (ctx.log, ctx.on_progress) and run no plotting script: the
// command does (StudyResult::plot_script), so that the library needs no Python.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "unlearn/distributed/cluster.h"
#include "unlearn/progress.h"

namespace unlearn::studies {

/// What a study may use besides its config (what the command's ExperimentContext was).
struct StudyContext {
  std::filesystem::path out_dir;     ///< created by the study once its config and data are read
  std::filesystem::path config_dir;  ///< relative data paths are also tried against this
  /// Progress lines and notes, each ending in '\n'; null: the study says nothing.
  std::function<void(const std::string& text)> log = nullptr;
  /// Progress of long work (training, EUBO / reverse KL steps); null: none. Only the vbu study
  /// reports through it (the others log plain lines), as the command's bars did before.
  ProgressFn on_progress = nullptr;
  /// The run's processes (`--world-size`; a local one for W = 1). Only fmnist_bif runs
  /// data-parallel; rank 0 writes.
  std::shared_ptr<distributed::Cluster> cluster = distributed::local_cluster();

  /// ctx.log(text) when set.
  void say(const std::string& text) const {
    if (log) log(text);
  }
};

/// What a study hands back to its caller.
struct StudyResult {
  /// The terminal table (empty: none), printed by the command unless --quiet.
  std::string summary;
  /// A script (relative to the repository root) that plots DIR, e.g. "scripts/plot.py"; empty: none.
  std::string plot_script;
  /// What the plots are, for the command's closing line ("kl_vs_lambda.png, maps.png").
  std::string plot_files;
  /// Whether this process wrote the outputs (data-parallel runs: rank 0 only).
  bool wrote = true;
};

/// A study by name.
struct StudyInfo {
  std::string name;     ///< the config's "experiment"
  std::string summary;  ///< one line
  bool data_parallel = false;  ///< runs on several processes (--world-size > 1)
  std::function<StudyResult(const nlohmann::json& config, const StudyContext& ctx)> run;
};

/// Variational Bayesian unlearning on moons / banknote (Nguyen, Low & Jaillet 2020; issue 5).
StudyResult run_vbu_study(const nlohmann::json& config, const StudyContext& ctx);
/// Bayesian inference forgetting on the GMM (Fu, He, Xu & Tao 2021; issue 6).
StudyResult run_gmm_bif_study(const nlohmann::json& config, const StudyContext& ctx);
/// Bayesian inference forgetting for Bayesian networks on Fashion-MNIST (issue 7).
StudyResult run_fmnist_bif_study(const nlohmann::json& config, const StudyContext& ctx);

/// Every study, in the order the command lists them (vbu, gmm_bif, fmnist_bif).
const std::vector<StudyInfo>& studies();
/// The study `name`; null when there is none.
const StudyInfo* find_study(const std::string& name);
/// The study that config["experiment"] names, run. A config without a string "experiment", or an
/// unknown one, is an io::ConfigError that starts with `where` (the config's path) and lists the
/// studies.
StudyResult run_study(const nlohmann::json& config, const StudyContext& ctx, const std::string& where = "config");
/// The study config["experiment"] names (the same errors as run_study).
const StudyInfo& study_of(const nlohmann::json& config, const std::string& where = "config");

}  // namespace unlearn::studies
