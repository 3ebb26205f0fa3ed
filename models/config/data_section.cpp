#include "config/data_section.h"

#include "linear_regression/linear_regression.h"
#include "unlearn/data/csv.h"
#include "unlearn/data/idx.h"
#include "unlearn/data/split.h"
#include "unlearn/io/config_error.h"

namespace unlearn::models {
using io::Range;

std::string resolve_path(const std::string& path, const std::filesystem::path& base_dir,
                         const std::string& field) {
  namespace fs = std::filesystem;
  // Configs name data relative to the repository root ("configs/data/..."), which is the
  // working directory or the parent of the config's folder; a path next to the config works too.
  if (fs::exists(path)) return path;
  for (const auto& dir : {base_dir, base_dir.parent_path()}) {
    if (!dir.empty() && fs::exists(dir / path)) return (dir / path).string();
  }
  throw io::ConfigError(field + " = \"" + path + "\": no such file (looked in the working directory, in " +
                        (base_dir.empty() ? std::string(".") : base_dir.string()) + " and in its parent)");
}

namespace {
// {"kind": "fashion_mnist", "dir": "/usr/share/datasets/fashion-mnist", "split": "train",
//  "subset": 0, "dtype": "float64"}: x flattened to [N, 784] in [-0.5, 0.5], ids 0..N-1 of the
// split; "subset" > 0 keeps that many rows chosen at random (seeded), ids unchanged.
data::Dataset load_fashion_mnist_section(const io::JsonObjectReader& r, uint64_t seed) {
  auto dir = r.get<std::string>("dir", data::kFashionMnistDir);
  auto split = r.get_enum("split", "train", {"train", "test"});
  auto subset = r.get<int64_t>("subset", 0, Range::count(0));
  auto dtype = r.get_choice<torch::Dtype>("dtype", torch::kFloat64, {{"float64", torch::kFloat64}, {"float32", torch::kFloat32}});
  data::Dataset d;
  try {
    d = data::load_fashion_mnist(dir, split == "train", data::FashionMnistOptions().flatten(true));
  } catch (const c10::Error& e) {
    throw io::ConfigError(r.field("dir") + " = \"" + dir + "\": " + e.what_without_backtrace() +
                          " (Debian: apt-get install dataset-fashion-mnist)");
  }
  if (subset > 0 && subset < d.size()) {
    auto gen = at::detail::createCPUGenerator(seed + 0xf3);
    d = d.subset(data::random_split_ids(d, subset, gen).erased);
  }
  return d.to(d.device(), dtype);
}
}  // namespace

data::Dataset load_data(const io::JsonObjectReader& r, const std::filesystem::path& base_dir,
                        uint64_t seed) {
  auto kind = r.get_enum("kind", "synthetic_regression", {"synthetic_regression", "csv", "fashion_mnist"});
  if (kind == "fashion_mnist") return load_fashion_mnist_section(r, seed);
  if (kind == "synthetic_regression") {
    auto n = r.get<int64_t>("n", 200, Range::count(2));
    auto features = r.get<int64_t>("features", 3, Range::count(1));
    if (static_cast<double>(n) * static_cast<double>(features) > Range::kMaxCount)
      throw io::ConfigError(r.field("n") + " x " + r.field("features") + " = " + std::to_string(n) + " x " +
                            std::to_string(features) + " values is more than the " +
                            std::to_string(static_cast<int64_t>(Range::kMaxCount)) + " a synthetic data set may hold");
    auto noise = r.get<double>("noise_std", 0.5, Range::positive());
    auto data_seed = r.get<int64_t>("seed", static_cast<int64_t>(seed), Range::non_negative());
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(data_seed));
    auto pb = make_regression_problem(
        n, LinearRegressionOptions(features).noise_std(noise), gen);
    return data::Dataset(pb.x, pb.y, pb.ids);
  }
  auto path = resolve_path(r.require<std::string>("path"), base_dir, r.field("path"));
  auto features = r.get_vector<std::string>("features", {});
  if (features.empty()) throw io::ConfigError(r.field("features") + " must list at least one column");
  auto label = r.require<std::string>("label");
  auto id_column = r.get_optional<std::string>("id_column");
  auto label_type = r.get_enum("label_type", "int", {"int", "float"});
  try {
    return data::load_csv_dataset(path, features, label, id_column, torch::kFloat64,
                                  label_type == "int" ? torch::kLong : torch::kFloat64);
  } catch (const c10::Error& e) {
    throw io::ConfigError(r.path() + ": " + e.what_without_backtrace());
  }
}

}  // namespace unlearn::models
