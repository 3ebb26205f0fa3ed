#include "run_config.h"

#include "linear_regression/linear_regression.h"
#include "registry.h"
#include "unlearn/data/csv.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"

namespace unlearn::app {
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

data::Dataset load_data(const io::JsonObjectReader& r, const std::filesystem::path& base_dir,
                        uint64_t seed) {
  auto kind = r.get_enum("kind", "synthetic_regression", {"synthetic_regression", "csv"});
  if (kind == "synthetic_regression") {
    auto n = r.get<int64_t>("n", 200, Range::at_least(2));
    auto features = r.get<int64_t>("features", 3, Range::at_least(1));
    auto noise = r.get<double>("noise_std", 0.5, Range::positive());
    auto data_seed = r.get<int64_t>("seed", static_cast<int64_t>(seed), Range::non_negative());
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(data_seed));
    auto pb = models::make_regression_problem(
        n, models::LinearRegressionOptions(features).noise_std(noise), gen);
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

RunConfig load_run_config(const nlohmann::json& json, const std::filesystem::path& base_dir) {
  RunConfig c;
  c.json = json;
  io::JsonObjectReader root(json, "");
  c.seed = static_cast<uint64_t>(root.get<int64_t>("seed", 0, Range::non_negative()));
  c.dataset = load_data(root.object("data"), base_dir, c.seed);
  c.model = models::make_model(root.object("model"), c.dataset,
                                [&](const std::string& p, const std::string& field) {
                                  return resolve_path(p, base_dir, field);
                                });
  c.family = root.object("posterior").get_enum("family", c.family, {"full_rank", "mean_field"});
  auto t = root.object("train");
  c.method = t.get_enum("method", c.method, {"vi", "exact"});
  c.vi.seed(c.seed);
  c.vi.steps(t.get<int64_t>("steps", 2000, Range::at_least(1)));
  c.vi.num_samples(t.get<int64_t>("num_samples", 100, Range::at_least(1)));
  c.vi.lr(t.get<double>("lr", 1e-2, Range::positive()));
  c.vi.batch_size(t.get<int64_t>("batch_size", 0, Range::non_negative()));
  c.vi.analytic_kl(t.get<bool>("analytic_kl", false));
  c.checkpoint_every = t.get<int64_t>("checkpoint_every", 500, Range::non_negative());
  root.finish();
  return c;
}

std::shared_ptr<GaussianPosteriorImpl> make_posterior(const RunConfig& config) {
  auto opts = config.model->theta_options();
  return make_gaussian_posterior(config.family, GaussianOptions(config.model->num_params())
                                                    .dtype(opts.dtype().toScalarType())
                                                    .device(opts.device()));
}

}  // namespace unlearn::app
