#include "run_config.h"

#include <cmath>

#include "linear_regression/linear_regression.h"
#include "registry.h"
#include "unlearn/data/csv.h"
#include "unlearn/data/idx.h"
#include "unlearn/data/split.h"
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

namespace {
// {"kind": "fashion_mnist", "dir": "/usr/share/datasets/fashion-mnist", "split": "train",
//  "subset": 0, "dtype": "float64"}: x flattened to [N, 784] in [-0.5, 0.5], ids 0..N-1 of the
// split; "subset" > 0 keeps that many rows chosen at random (seeded), ids unchanged.
data::Dataset load_fashion_mnist_section(const io::JsonObjectReader& r, uint64_t seed) {
  auto dir = r.get<std::string>("dir", data::kFashionMnistDir);
  auto split = r.get_enum("split", "train", {"train", "test"});
  auto subset = r.get<int64_t>("subset", 0, Range::non_negative());
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

namespace {

// The held-out rows are a seeded random choice of ids, taken before the model is built so that
// nothing (standardisation included) is fitted on them.
void hold_out_test(RunConfig& c, double fraction, const std::string& field) {
  auto n = c.dataset.size();
  auto n_test = static_cast<int64_t>(std::llround(fraction * static_cast<double>(n)));
  if (n_test < 1 || n_test >= n)
    throw io::ConfigError(field + " = " + std::to_string(fraction) + " holds out " + std::to_string(n_test) +
                          " of " + std::to_string(n) + " rows: at least one row must be on each side");
  auto gen = at::detail::createCPUGenerator(c.seed + 0x7e57);
  auto split = data::random_split_ids(c.dataset, n_test, gen);
  c.test = c.dataset.subset(split.erased);
  c.dataset = c.dataset.subset(split.remaining);
}

// SG-MCMC's keys (the VI ones are unknown keys here, so a config cannot silently mix them).
void read_sgmcmc(const io::JsonObjectReader& t, RunConfig& c) {
  auto& o = c.sgmcmc;
  o.sampler(c.method).seed(c.seed);
  o.steps(t.get<int64_t>("steps", 2000, Range::at_least(1)));
  o.batch_size(t.get<int64_t>("batch_size", o.batch_size(), Range::non_negative()));
  o.lr(t.get<double>("lr", o.lr(), Range::positive()));
  o.schedule_offset(t.get<double>("schedule_offset", o.schedule_offset(), Range::positive()));
  o.schedule_decay(t.get<double>("schedule_decay", o.schedule_decay(), Range::non_negative()));
  if (c.method == "sghmc") o.friction(t.get<double>("friction", o.friction(), Range::left_open(0, 1)));
  o.temperature(t.get<double>("temperature", o.temperature(), Range::non_negative()));
  auto b = t.object("bank");
  auto bank = inference::SampleBankOptions();
  bank.burn_in(b.get<int64_t>("burn_in", std::min<int64_t>(500, o.steps() / 2), Range::non_negative()));
  bank.thinning(b.get<int64_t>("thinning", 10, Range::at_least(1)));
  bank.capacity(b.get<int64_t>("capacity", 100, Range::at_least(2)));
  if (bank.burn_in() >= o.steps())
    throw io::ConfigError(b.field("burn_in") + " = " + std::to_string(bank.burn_in()) + " leaves no sample: it must be < train.steps = " +
                          std::to_string(o.steps()));
  o.bank(bank);
  c.checkpoint_every = t.get<int64_t>("checkpoint_every", 500, Range::non_negative());
}

}  // namespace

RunConfig load_run_config(const nlohmann::json& json, const std::filesystem::path& base_dir) {
  RunConfig c;
  c.json = json;
  io::JsonObjectReader root(json, "");
  c.seed = static_cast<uint64_t>(root.get<int64_t>("seed", 0, Range::non_negative()));
  auto data_section = root.object("data");
  auto test_fraction = data_section.get<double>("test_fraction", 0.0, Range::right_open(0, 1));
  c.dataset = load_data(data_section, base_dir, c.seed);
  if (test_fraction > 0) hold_out_test(c, test_fraction, data_section.field("test_fraction"));
  c.model = models::make_model(root.object("model"), c.dataset,
                                [&](const std::string& p, const std::string& field) {
                                  return resolve_path(p, base_dir, field);
                                });
  c.family = root.object("posterior").get_enum("family", c.family, {"full_rank", "mean_field"});
  auto t = root.object("train");
  c.method = t.get_enum("method", c.method, {"vi", "exact", "sgld", "sghmc"});
  if (c.is_sgmcmc()) {
    read_sgmcmc(t, c);
    root.finish();
    return c;
  }
  c.vi.seed(c.seed);
  c.vi.steps(t.get<int64_t>("steps", 2000, Range::at_least(1)));
  c.vi.num_samples(t.get<int64_t>("num_samples", 100, Range::at_least(1)));
  c.vi.lr(t.get<double>("lr", 1e-2, Range::positive()));
  c.vi.batch_size(t.get<int64_t>("batch_size", 0, Range::non_negative()));
  c.vi.analytic_kl(t.get<bool>("analytic_kl", false));
  c.vi.local_reparameterisation(t.get<bool>("local_reparameterisation", false));
  if (c.vi.local_reparameterisation() &&
      (!c.model->has_local_reparameterisation() || c.family != "mean_field" || !c.vi.analytic_kl()))
    throw io::ConfigError(t.field("local_reparameterisation") +
                          " = true needs a model that has it (bnn_mlp, bnn_lenet; this run's is " +
                          c.model->architecture() + "), posterior.family = \"mean_field\" and analytic_kl = true");
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
