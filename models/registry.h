#pragma once
// Builds the shipped models from the "model" section of a run config, strictly: unknown keys,
// wrong types and out-of-range values are io::ConfigErrors naming the field.
//   {"kind": "linear_regression", "noise_std": 0.5, "prior_std": 1.0}
//   {"kind": "logistic", "prior_std": 100, "standardize": false}          (classes from the labels)
//   {"kind": "sparse_gp", "inducing": "configs/data/moons_inducing_20.csv",
//    "kernel_variance": 4.7432, "inverse_sq_length_scales": [2.4232, 1.8230]}
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "unlearn/data/dataset.h"
#include "unlearn/io/json_config.h"
#include "unlearn/model.h"

namespace unlearn::models {

/// The model kinds make_model knows.
std::vector<std::string> model_kinds();

/// Turns a path from a config into an existing file (or throws io::ConfigError naming `field`).
using PathResolver = std::function<std::string(const std::string& path, const std::string& field)>;

/// A model for `data` (its feature count and labels fix the shapes) from a config section.
std::shared_ptr<Model> make_model(const io::JsonObjectReader& section, const data::Dataset& data,
                                  const PathResolver& resolve = nullptr);

}  // namespace unlearn::models
