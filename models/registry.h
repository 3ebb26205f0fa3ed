#pragma once
// The model kinds the project ships, registered in the open registry (unlearn/model_registry.h):
//   {"kind": "linear_regression", "noise_std": 0.5, "prior_std": 1.0}
//   {"kind": "logistic", "prior_std": 100, "standardize": false}          (classes from the labels)
//   {"kind": "sparse_gp", "inducing": "configs/data/moons_inducing_20.csv",
//    "kernel_variance": 4.7432, "inverse_sq_length_scales": [2.4232, 1.8230]}
//   {"kind": "gmm", "components": 4, "prior_std": 1.0}                     (labels unused)
//   {"kind": "bnn_mlp", ...}, {"kind": "bnn_lenet", ...}                    (models/bnn/bnn_config.h)
// Every factory reads its section strictly: unknown keys, wrong types and out-of-range values are
// io::ConfigErrors naming the field. docs/config.md lists every key.
#include <memory>
#include <string>
#include <vector>

#include "unlearn/model_registry.h"

namespace unlearn::models {

/// Registers the shipped kinds (once; later calls do nothing). The command calls it at start-up;
/// a library user who wants them calls it before unlearn::make_model.
void register_builtin_model_kinds();

/// The shipped kinds' names.
std::vector<std::string> builtin_model_kinds();

/// unlearn::make_model with the shipped kinds registered first.
std::shared_ptr<Model> make_model(const io::JsonObjectReader& section, const data::Dataset& data,
                                  const ModelContext& context = {});

}  // namespace unlearn::models
