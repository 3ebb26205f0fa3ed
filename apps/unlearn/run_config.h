#pragma once
// The run config of `unlearn train` (JSON), read strictly into the library's Options:
//   {
//     "seed": 0,
//     "data": {"kind": "synthetic_regression", "n": 200, "features": 3, "noise_std": 0.5},
//         or {"kind": "csv", "path": "configs/data/moons_100.csv", "features": ["x1", "x2"],
//             "label": "label", "id_column": "id", "label_type": "int"},
//     "model": {"kind": "linear_regression", "noise_std": 0.5, "prior_std": 1.0},
//     "posterior": {"family": "full_rank"},
//     "train": {"method": "vi", "steps": 2000, "num_samples": 100, "lr": 0.01,
//               "batch_size": 0, "analytic_kl": false, "checkpoint_every": 500}
//         or {"method": "sgld" | "sghmc", "steps": 2000, "batch_size": 32, "lr": 1e-4,
//             "schedule_offset": 1, "schedule_decay": 0, "friction": 0.1, "temperature": 1,
//             "bank": {"burn_in": 500, "thinning": 10, "capacity": 100}, "checkpoint_every": 500}
//   }
// "posterior" may also hold "init_scale" (> 0): the standard deviation VI starts from.
// "data" may also hold "test_fraction": f in [0, 1): that share of the rows (seeded by "seed") is
// held out, never trained on, and used by `unlearn evaluate` (test error, membership attack).
// Every error is an io::ConfigError naming the field; nothing is written before the whole
// config has been read.
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "unlearn/data/dataset.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/inference/vi.h"
#include "unlearn/io/json_config.h"
#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/training.h"

namespace unlearn::app {

struct RunConfig {
  nlohmann::json json;  ///< the config as given (written to RUN_DIR/config.json)
  uint64_t seed = 0;
  data::Dataset dataset;
  std::shared_ptr<Model> model;
  std::string family = "full_rank";  ///< posterior.family of VI and exact runs
  double init_scale = 1.0;           ///< posterior.init_scale: the fresh posterior's standard deviation
  TrainingMethod method = TrainingMethod::kVI;
  inference::VIOptions vi;
  inference::SGMCMCOptions sgmcmc;  ///< method "sgld" / "sghmc"
  int64_t checkpoint_every = 0;
  data::Dataset test;  ///< rows held out by data.test_fraction (empty without)

  /// The posterior is a sample bank of an SG-MCMC chain, not a Gaussian.
  bool is_sgmcmc() const { return unlearn::is_sgmcmc(method); }
  /// "vi", "exact", "sgld", "sghmc".
  std::string method_name() const { return to_string(method); }
  /// How the run trains: what `forget --method retrain` replays.
  TrainingRecipe recipe() const;
};

/// Reads and validates a config; relative data paths are resolved by models::resolve_path.
RunConfig load_run_config(const nlohmann::json& json, const std::filesystem::path& base_dir);

/// A fresh posterior of the configured family and initial scale, mean 0, on the model's device
/// and dtype.
std::shared_ptr<GaussianPosteriorImpl> make_posterior(const RunConfig& config);

}  // namespace unlearn::app
