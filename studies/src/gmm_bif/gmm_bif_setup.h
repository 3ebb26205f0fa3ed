#pragma once
// What every part of the GMM study works on: the data, the model, the erased ids in request
// order, the chains' and VI's starting point, and the points file for scripts/plot_gmm.py.
#include <string>

#include <torch/torch.h>

#include "gmm/gmm.h"
#include "gmm_bif/gmm_bif_config.h"
#include "unlearn/data/dataset.h"

namespace unlearn::studies {

/// Points for the plot: kind,method,solver,x1,x2.
struct GmmPlotRows {
  std::string text = "kind,method,solver,x1,x2\n";
  void add(const std::string& kind, const std::string& method, const std::string& solver, const torch::Tensor& xy);
};

struct GmmSetup {
  data::Dataset ds, remaining;
  models::Gmm model{nullptr};
  torch::Tensor erased;  ///< each rule's extreme points, then a seeded random order
  torch::Tensor init;    ///< θ where VI and the chains start
  int64_t requests = 0;
  GmmPlotRows plot;

  /// The K centres [K, d] of θ [P].
  torch::Tensor centres(const torch::Tensor& theta) const;
};

/// Reads the data (relative to `config_dir` too) and draws the erased ids' order.
GmmSetup gmm_setup(const GmmBifConfig& c, const std::filesystem::path& config_dir);

}  // namespace unlearn::studies
