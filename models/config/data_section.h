#pragma once
// The "data" section of a config, read strictly (shared by run configs and the paper studies):
//   {"kind": "synthetic_regression", "n": 200, "features": 3, "noise_std": 0.5, "seed": 0}
//   {"kind": "csv", "path": "configs/data/moons_100.csv", "features": ["x1", "x2"], "label": "label",
//    "id_column": "id", "label_type": "int"}
//   {"kind": "fashion_mnist", "dir": "/usr/share/datasets/fashion-mnist", "split": "train",
//    "subset": 0, "dtype": "float64"}
// docs/config.md lists every key with its type, default and range.
#include <cstdint>
#include <filesystem>
#include <string>

#include "unlearn/data/dataset.h"
#include "unlearn/io/json_config.h"

namespace unlearn::models {

/// The data set a "data" section describes; `seed` is the config's seed (synthetic data and
/// subsets draw from it unless the section has its own). Relative paths go through resolve_path.
data::Dataset load_data(const io::JsonObjectReader& section, const std::filesystem::path& base_dir, uint64_t seed);

/// A path from a config: the working directory first, then `base_dir` (the config's folder), then
/// its parent (configs name data relative to the repository root); io::ConfigError naming `field`
/// when none has it.
std::string resolve_path(const std::string& path, const std::filesystem::path& base_dir, const std::string& field);

}  // namespace unlearn::models
