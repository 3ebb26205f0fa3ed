#pragma once
// How the Fashion-MNIST study judges a model: errors on S_f (removed), S_r (remaining) and test,
// a membership-inference attack on S_f and the predictive L1 distance to the retrained model.
#include <string>

#include <torch/torch.h>

#include "unlearn/data/dataset.h"
#include "unlearn/model.h"

namespace unlearn::studies {

/// The three sets every model is judged on.
struct EvalSets {
  data::Dataset forget, remain, test;
};

/// A model's predictive probabilities [n, C] on each set.
struct Predictive {
  torch::Tensor forget, remain, test;
};

/// One row of the study's table: a method at one stage (origin, processed, target) of one removal.
struct FmnistRow {
  std::string method, stage;
  int64_t removed = 0;
  double err_forget = 0, err_remain = 0, err_test = 0, mia = 0, l1 = 0;
  double l1_forget = 0, l1_remain = 0, l1_test = 0;
  double forget_seconds = 0, retrain_seconds = 0;
};

/// The predictive of θ draws [S, P] (the Monte Carlo average), `chunk` rows per model call.
Predictive predict(Model& model, const torch::Tensor& theta, const EvalSets& sets, int64_t chunk);

/// The row of predictive `p` judged against the target's.
FmnistRow judge(const std::string& method, const std::string& stage, int64_t removed, const Predictive& p,
                const Predictive& target, const EvalSets& sets);

}  // namespace unlearn::studies
