// Reading the GMM study's config (gmm_bif_config.h).
#include "gmm_bif/gmm_bif_config.h"

#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"

namespace unlearn::studies {
using io::Range;

GmmBifConfig parse_gmm_bif_config(const nlohmann::json& json) {
  GmmBifConfig c;
  io::JsonObjectReader r(json, "");
  r.get_enum("experiment", "gmm_bif", {"gmm_bif"});
  c.seed = r.get<int64_t>("seed", c.seed, Range::non_negative());
  {
    auto d = r.object("data");
    c.data_path = d.get<std::string>("path", c.data_path);
    c.features = d.get_vector<std::string>("features", c.features);
    c.label = d.get<std::string>("label", c.label);
    c.id = d.get<std::string>("id", c.id);
  }
  {
    auto m = r.object("model");
    c.components = m.get<int64_t>("components", c.components, Range::closed(1, 8));
    c.prior_std = m.get<double>("prior_std", c.prior_std, Range::positive());
  }
  {
    auto e = r.object("erase");
    for (auto& rule : e.objects("rules")) {
      EraseRule er;
      er.label = rule.require<int64_t>("label", Range::non_negative());
      er.feature = rule.require<std::string>("feature");
      er.largest = rule.get<bool>("largest", true);
      er.count = rule.require<int64_t>("count", Range::at_least(1));
      c.rules.push_back(er);
    }
    c.request_size = e.get<int64_t>("request_size", c.request_size, Range::at_least(1));
  }
  {
    auto t = r.object("train");
    c.init = t.get_enum("init", c.init, {"class_means", "model"});
    c.steps = t.get<int64_t>("steps", c.steps, Range::at_least(1));
    c.batch_size = t.get<int64_t>("batch_size", c.batch_size, Range::non_negative());
    read_sampler(t.object("sgld"), c.sgld, false);
    read_sampler(t.object("sghmc"), c.sghmc, true);
    read_bank(t.object("bank"), c.bank, 2);
    auto v = t.object("vi");
    c.vi_optimizer = inference::optimizer_from_string(v.get_enum("optimizer", "sgd", {"sgd", "adam"}));
    c.vi_lr = v.get<double>("lr", c.vi_lr, Range::positive());
    c.vi_train_samples = v.get<int64_t>("mc_samples", c.vi_train_samples, Range::at_least(1));
    c.vi_init_scale = v.get<double>("init_scale", c.vi_init_scale, Range::positive());
    c.vi_polish = v.get<bool>("polish", c.vi_polish);
  }
  {
    auto b = r.object("bif");
    c.methods = read_methods(b, c.methods);
    c.solvers = b.get_vector<std::string>("solvers", c.solvers);
    for (const auto& s : c.solvers)
      if (s != "lissa" && s != "cg" && s != "dense")
        throw io::ConfigError(b.field("solvers") + ": \"" + s + "\" is unknown: allowed are lissa, cg, dense");
    c.sample_steps = b.get<int64_t>("sample_steps", c.sample_steps, Range::at_least(1));
    c.vi_energy_samples = b.get<int64_t>("vi_mc_samples", c.vi_energy_samples, Range::at_least(1));
    c.vi_energy = b.get_enum("vi_energy", c.vi_energy, {"closed_form", "monte_carlo"});
    c.closed_form_hessian = b.get<bool>("closed_form_hessian", c.closed_form_hessian);
    c.lissa_terms = b.get<int64_t>("lissa_terms", c.lissa_terms, Range::at_least(1));
    c.lissa_c = b.get<double>("lissa_c", c.lissa_c, Range::positive());
    c.hvp_batch_size = b.get<int64_t>("hvp_batch_size", c.hvp_batch_size, Range::non_negative());
    c.cg_tol = b.get<double>("cg_tol", c.cg_tol, Range::positive());
    c.cg_max_iter = b.get<int64_t>("cg_max_iter", c.cg_max_iter, Range::at_least(1));
    c.damping = b.get<double>("damping", c.damping, Range::non_negative());
  }
  c.plot = r.get<bool>("plot", c.plot);
  r.finish();
  if (c.rules.empty()) throw io::ConfigError("erase.rules: at least one rule is required");
  return c;
}

}  // namespace unlearn::studies
