#pragma once
// Paper studies run by `unlearn experiment CONFIG --out DIR`. The config's "experiment" key picks
// one; each writes DIR/results.csv, DIR/results.json (+ the config) and prints a table.
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "unlearn/distributed/cluster.h"

namespace unlearn::app {

struct ExperimentContext {
  std::filesystem::path out_dir;     ///< created by the study once its config and data are read
  std::filesystem::path config_dir;  ///< relative data paths are also tried against this
  bool quiet = false;
  /// The run's processes (`--world-size`; a local one for W = 1). Only fmnist_bif runs
  /// data-parallel; rank 0 prints and writes.
  std::shared_ptr<distributed::Cluster> cluster = distributed::local_cluster();
};

/// Variational Bayesian unlearning on moons / banknote (issue 5).
void run_vbu_experiment(const nlohmann::json& config, const ExperimentContext& ctx);
/// Bayesian inference forgetting on the GMM (issue 6).
void run_gmm_bif_experiment(const nlohmann::json& config, const ExperimentContext& ctx);
/// Bayesian inference forgetting for Bayesian networks on Fashion-MNIST (issue 7).
void run_fmnist_bif_experiment(const nlohmann::json& config, const ExperimentContext& ctx);

}  // namespace unlearn::app

namespace unlearn::app {
/// The Python that has Debian's matplotlib: /usr/bin/python3 when present (a pyenv or venv
/// python3 earlier on PATH usually lacks it), else python3 from PATH.
inline const char* plotting_python() {
  return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}
}  // namespace unlearn::app
