#pragma once
// The "model" section of a config for the Bayesian networks (called by models/registry.cpp):
//   {"kind": "bnn_mlp", "hidden": [512, 512], "prior_std": 0.15, "activation": "relu",
//    "dtype": "float32", "init_seed": 0}
//   {"kind": "bnn_lenet", "prior_std": 0.15}
// Input size and class count come from the data (x's trailing dimensions, the largest label + 1)
// unless "classes" is given.
#include <memory>
#include <string>

#include "unlearn/data/dataset.h"
#include "unlearn/io/json_config.h"
#include "unlearn/model.h"

namespace unlearn::models::bnn {

/// Builds a "bnn_mlp" or "bnn_lenet" (the section's kind, already read) for `data`.
std::shared_ptr<Model> make_bnn(const std::string& kind, const io::JsonObjectReader& section,
                                const data::Dataset& data);

}  // namespace unlearn::models::bnn
