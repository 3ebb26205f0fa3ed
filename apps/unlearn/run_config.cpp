#include "run_config.h"

#include <fmt/format.h>

#include <cmath>

#include "config/data_section.h"
#include "registry.h"
#include "unlearn/data/split.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"
#include "unlearn/model_check.h"

namespace unlearn::app {
using io::Range;

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
  const auto steps = t.get<int64_t>("steps", 2000, Range::steps());
  auto defaults = inference::SGMCMCOptions()
                      .sampler(c.method == TrainingMethod::kSGLD ? inference::Sampler::kSGLD : inference::Sampler::kSGHMC)
                      .seed(c.seed)
                      .steps(steps)
                      .bank(inference::SampleBankOptions().burn_in(std::min<int64_t>(500, steps / 2)).thinning(10).capacity(100));
  c.sgmcmc = inference::read_sgmcmc_options(t, defaults);
  c.checkpoint_every = t.get<int64_t>("checkpoint_every", 500, Range::steps(0));
}

}  // namespace

RunConfig load_run_config(const nlohmann::json& json, const std::filesystem::path& base_dir) {
  RunConfig c;
  c.json = json;
  io::JsonObjectReader root(json, "");
  c.seed = static_cast<uint64_t>(root.get<int64_t>("seed", 0, Range::non_negative()));
  auto data_section = root.object("data");
  auto test_fraction = data_section.get<double>("test_fraction", 0.0, Range::right_open(0, 1));
  c.dataset = models::load_data(data_section, base_dir, c.seed);
  if (test_fraction > 0) hold_out_test(c, test_fraction, data_section.field("test_fraction"));
  ModelContext model_context{[&](const std::string& p, const std::string& field) {
    return models::resolve_path(p, base_dir, field);
  }};
  auto model_section = root.object("model");
  const auto kind = model_section.get<std::string>("kind", "linear_regression");
  try {
    c.model = models::make_model(model_section, c.dataset, model_context);
    check_model_contract(*c.model, c.dataset.batch(), model_section.path() + " (kind \"" + kind + "\")");
  } catch (const c10::Error& e) {
    // A model that cannot be built on, or evaluated on, the data the config names (e.g. a
    // classifier on the default synthetic regression set when "data" is missing) is the config's
    // fault: exit 2 with both sections named, not a tensor-indexing message.
    throw io::ConfigError(fmt::format("model (kind \"{}\") does not fit the data ({}): {}", kind,
                                      root.has("data") ? "the \"data\" section" : "no \"data\" section: the default synthetic regression set",
                                      e.what_without_backtrace()));
  }
  auto posterior = root.object("posterior");
  c.family = posterior.get_enum("family", c.family, {"full_rank", "mean_field"});
  c.init_scale = posterior.get<double>("init_scale", c.init_scale, Range::positive());
  auto t = root.object("train");
  c.method = training_method_from_string(t.get_enum("method", "vi", {"vi", "exact", "sgld", "sghmc"}));
  if (c.is_sgmcmc()) {
    read_sgmcmc(t, c);
    root.finish();
    return c;
  }
  c.vi.seed(c.seed);
  c.vi.steps(t.get<int64_t>("steps", 2000, Range::steps()));
  c.vi.num_samples(t.get<int64_t>("num_samples", 100, Range::count()));
  c.vi.lr(t.get<double>("lr", 1e-2, Range::positive()));
  c.vi.batch_size(t.get<int64_t>("batch_size", 0, Range::count(0)));
  c.vi.analytic_kl(t.get<bool>("analytic_kl", false));
  c.vi.local_reparameterisation(t.get<bool>("local_reparameterisation", false));
  if (c.vi.local_reparameterisation() &&
      (!c.model->has_local_reparameterisation() || c.family != "mean_field" || !c.vi.analytic_kl()))
    throw io::ConfigError(t.field("local_reparameterisation") +
                          " = true needs a model that has it (bnn_mlp, bnn_lenet; this run's is " +
                          c.model->architecture() + "), posterior.family = \"mean_field\" and analytic_kl = true");
  c.checkpoint_every = t.get<int64_t>("checkpoint_every", 500, Range::steps(0));
  root.finish();
  return c;
}

TrainingRecipe RunConfig::recipe() const {
  auto recipe = TrainingRecipe().method(method).vi(vi).sgmcmc(sgmcmc);
  RunConfig shape;  // what make_posterior reads, by value: the recipe may outlive this config
  shape.model = model;
  shape.family = family;
  shape.init_scale = init_scale;
  recipe.fresh_posterior([shape] { return make_posterior(shape); });
  return recipe;
}

std::shared_ptr<GaussianPosteriorImpl> make_posterior(const RunConfig& config) {
  auto opts = config.model->theta_options();
  return make_gaussian_posterior(config.family, GaussianOptions(config.model->num_params())
                                                    .init_scale(config.init_scale)
                                                    .dtype(opts.dtype().toScalarType())
                                                    .device(opts.device()));
}

}  // namespace unlearn::app
