#pragma once
// The metrics `unlearn evaluate` reports for one generation of a run, chosen by what the run is:
//   every run        mean negative log predictive density on D_r, D_e (and the test rows)
//   classifiers      error on D_r, D_e, test; a membership-inference attack (members D_r,
//                    non-members the held-out test rows, target D_e) when the config holds a test
//                    split; with a reference: averaged predictive KL[p_ref(y|x) ‖ p(y|x)] and the
//                    mean L1 distance of the predictives on D_e and D_r (the VBU paper's figures)
//   Gaussian         KL(q ‖ exact posterior on D_r) for conjugate models; with a Gaussian
//                    reference: the closed-form parameter KL(q ‖ q_ref)
//   sample banks     with a reference: the 1-NN KL estimate between the sample sets (the BIF
//                    paper's certificate; a Gaussian side is sampled)
//   with a reference the distance between the posterior means, too.
// Predictives of a Gaussian use `num_samples` draws; the run and its reference draw with the same
// seed (common random numbers), so their difference is not swamped by Monte Carlo noise.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run_store.h"

namespace unlearn::app {

struct Metric {
  std::string name;           ///< JSON key, e.g. "kl_erased"
  double value = 0;           ///< the value (a mean over points where `std` is set)
  std::optional<double> std;  ///< population std over the points, where the paper reports one
  std::string what;           ///< one line for the table
};

struct Evaluation {
  nlohmann::json header;           ///< run, generation, model, posterior, data sizes, reference
  std::vector<Metric> metrics;
  std::vector<std::string> notes;  ///< what was skipped and why, caveats

  /// {header..., "metrics": {name: value | {"mean", "std"}}, "notes": [...]}
  nlohmann::json to_json() const;
  /// A table for the terminal.
  std::string to_table() const;
};

/// Whether the model predicts classes for these labels: Model::is_classifier and integer labels.
bool is_classifier(const Model& model, const data::Dataset& d);

struct EvaluateOptions {
  int64_t num_samples = 1000;  ///< draws from a Gaussian posterior for predictives and 1-NN KL
  uint64_t seed = 0;
};

/// A generation of a run, with the config it belongs to and where it came from.
struct EvaluatedRun {
  std::string run_dir;
  RunConfig config;
  Generation generation;
};

/// Every metric that applies to `run` (and to `reference`, when given). A reference of another
/// model (architecture) is an io::ConfigError.
Evaluation evaluate_run(const EvaluatedRun& run, const std::optional<EvaluatedRun>& reference,
                        const EvaluateOptions& options);

}  // namespace unlearn::app
