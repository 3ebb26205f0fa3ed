#pragma once
// The posteriors of the vbu study, as its evaluation and maps read them: q(θ|D), the retrained
// q(θ|D_r), and one unlearned posterior per method and threshold.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "unlearn/posterior/gaussian.h"
#include "vbu/vbu_config.h"

namespace unlearn::studies {

/// One threshold's posterior of one method (a variant of its batched call).
struct VbuUnlearned {
  std::string method;  ///< eubo, rkl, rkl_closed
  double lambda = 0;
  double log_lambda = 0;  ///< ln λ, −∞ for λ = 0
  std::optional<double> fraction_inside, ess;
  double seconds = 0;  ///< the whole batched call's
  std::shared_ptr<GaussianPosteriorImpl> posterior;
};

struct VbuRuns {
  std::shared_ptr<GaussianPosteriorImpl> full, retrain;
  double train_seconds = 0, retrain_seconds = 0, study_seconds = 0;
  std::vector<VbuUnlearned> unlearned;  ///< methods in the config's order, each in threshold order
  nlohmann::json reports = nlohmann::json::array();  ///< each method's call report (VbuResult JSON)
};

/// Writes DIR/points.csv and DIR/maps.csv (predictive maps over [−1.5, 2.5]² of q(θ|D), the
/// retrain and each method at metric.map_lambdas) for 2-D inputs, for scripts/plot.py. Draws its
/// predictive samples from `gen`, after the evaluation's.
void write_vbu_maps(const VbuConfig& c, const VbuRuns& runs, torch::Generator& gen, const std::filesystem::path& dir);

}  // namespace unlearn::studies
