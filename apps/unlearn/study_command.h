#pragma once
// Running a paper study (unlearn::studies, studies/unlearn/studies/studies.h) the way the command
// shows it: progress bars and log lines on stdout unless quiet, the terminal table, then the
// study's plotting script. Used by `unlearn experiment` and `unlearn demo`.
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "unlearn/distributed/cluster.h"

namespace unlearn::app {

struct StudyRun {
  std::filesystem::path out_dir;
  std::filesystem::path config_dir;
  std::string config_name = "config";  ///< the config's path, for error messages
  bool quiet = false;
  std::shared_ptr<distributed::Cluster> cluster = distributed::local_cluster();
};

/// Runs the study that config["experiment"] names (io::ConfigError when none does).
void run_study_command(const nlohmann::json& config, const StudyRun& run);

}  // namespace unlearn::app
