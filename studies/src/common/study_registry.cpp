// The studies by name (studies.h): the command's dispatch, and the one place that lists them.
#include <fmt/format.h>

#include "unlearn/io/config_error.h"
#include "unlearn/studies/studies.h"

namespace unlearn::studies {

const std::vector<StudyInfo>& studies() {
  static const std::vector<StudyInfo> all{
      {"vbu", "variational Bayesian unlearning (EUBO, reverse KL) on moons / banknote", false, run_vbu_study},
      {"gmm_bif", "Bayesian inference forgetting on a Gaussian mixture, every solver", false, run_gmm_bif_study},
      {"fmnist_bif", "Bayesian inference forgetting for Bayesian networks on Fashion-MNIST", true,
       run_fmnist_bif_study},
  };
  return all;
}

const StudyInfo* find_study(const std::string& name) {
  for (const auto& s : studies())
    if (s.name == name) return &s;
  return nullptr;
}

const StudyInfo& study_of(const nlohmann::json& config, const std::string& where) {
  std::vector<std::string> quoted, names;
  for (const auto& s : studies()) {
    quoted.push_back("\"" + s.name + "\"");
    names.push_back(s.name);
  }
  if (!config.is_object() || !config.contains("experiment") || !config["experiment"].is_string()) {
    // "\"vbu\", \"gmm_bif\" or \"fmnist_bif\""
    std::string list = fmt::format("{}", fmt::join(quoted.begin(), quoted.end() - 1, ", ")) + " or " + quoted.back();
    throw io::ConfigError(where + ": \"experiment\" must name the study: " + list);
  }
  const auto kind = config["experiment"].get<std::string>();
  const auto* info = find_study(kind);
  if (!info)
    throw io::ConfigError(fmt::format("{}: experiment = \"{}\" is unknown: allowed are {}", where, kind,
                                      fmt::join(names, ", ")));
  return *info;
}

StudyResult run_study(const nlohmann::json& config, const StudyContext& ctx, const std::string& where) {
  return study_of(config, where).run(config, ctx);
}

}  // namespace unlearn::studies
