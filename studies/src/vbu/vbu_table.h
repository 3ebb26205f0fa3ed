#pragma once
// The vbu study's results: KL[q(y|x,D_r) ‖ q̃(y|x)] on D_e and D_r and the KL between the
// posteriors, per method and threshold, as the one results table and the terminal table.
#include <string>

#include <nlohmann/json.hpp>

#include "unlearn/studies/results_table.h"
#include "vbu/vbu_runs.h"

namespace unlearn::studies {

/// The rows full, retrain, then every unlearned posterior, evaluated with predictive draws from
/// `gen`; `summary` gets the terminal table.
ResultsTable vbu_table(const VbuConfig& c, const VbuRuns& runs, torch::Generator& gen, std::string& summary);

/// results.json besides its rows: the config, the erase rule and ids, the timings, the reports.
nlohmann::json vbu_document(const nlohmann::json& config, const VbuConfig& c, const VbuRuns& runs);

}  // namespace unlearn::studies
