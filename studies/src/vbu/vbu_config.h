#pragma once
// The settings of the variational Bayesian unlearning study (`"experiment": "vbu"`, issue 5) and
// their reader: the data, the model, the erased points, the VI training and the three methods.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "unlearn/data/dataset.h"
#include "unlearn/inference/vi.h"
#include "unlearn/model.h"

namespace unlearn::studies {

struct VbuConfig {
  uint64_t seed = 0;
  data::Dataset dataset;
  std::shared_ptr<Model> model;
  std::string family;
  torch::Tensor erased_ids;
  std::string erase_rule;  ///< in words, for the log and results.json
  inference::VIOptions train;
  std::vector<double> lambdas;
  /// Thresholds given as ln λ (after `lambdas`), for posteriors whose useful λ ≈ e^{−P/2}
  /// underflow a double (the 7 065-weight logistic model on Fashion-MNIST: ln λ ≈ −3 532).
  std::vector<double> log_lambdas;
  int64_t unlearn_steps = 30000, unlearn_samples = 1000, closed_form_samples = 100000;
  double closed_form_jitter = 0.0;  ///< ReverseKlClosedFormOptions::jitter
  double unlearn_lr = 1e-3;
  int64_t erased_batch_size = 0;
  std::vector<std::string> methods;  ///< a subset of eubo, rkl, rkl_closed, in the config's order
  int64_t predictive_samples = 100;
  std::vector<double> map_lambdas;
  bool concurrent = true;  ///< the retrain runs on a second thread while the methods run
};

/// Reads the whole config; data paths relative to `base_dir` are tried too. io::ConfigError
/// naming the field on bad input.
VbuConfig parse_vbu_config(const nlohmann::json& json, const std::filesystem::path& base_dir);

/// Every threshold of the study as ln λ: `lambdas` (−∞ for 0), then `log_lambdas`; each method
/// trains them all in one batch.
std::vector<double> all_log_lambdas(const VbuConfig& c);

}  // namespace unlearn::studies
