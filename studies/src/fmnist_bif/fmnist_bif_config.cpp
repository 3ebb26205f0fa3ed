// Reading the Fashion-MNIST study's config (fmnist_bif_config.h).
#include "fmnist_bif/fmnist_bif_config.h"

#include <fmt/format.h>

#include <algorithm>

#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"

namespace unlearn::studies {
namespace {
using io::Range;

// `key`: one number for every method, or {"vi": .., "sgld": .., "sghmc": ..} (absent ones keep
// their defaults).
template <class T>
void read_per_method(const io::JsonObjectReader& r, const std::string& key, std::map<std::string, T>& values,
                     const Range& range) {
  if (r.raw(key).is_object()) {
    auto o = r.object(key);
    for (auto& [m, v] : values) v = o.get<T>(m, v, range);
  } else if (r.has(key)) {
    const auto all = r.get<T>(key, T{}, range);
    for (auto& [m, v] : values) v = all;
  }
}

// `key`: one name for every method in `values`, or a per-method object; each must be in `allowed`.
void read_per_method_enum(const io::JsonObjectReader& r, const std::string& key, std::map<std::string, std::string>& values,
                          const std::vector<std::string>& allowed) {
  if (r.raw(key).is_object()) {
    auto o = r.object(key);
    for (auto& [m, v] : values) v = o.get_enum(m, v, allowed);
  } else if (r.has(key)) {
    const auto all = r.get_enum(key, allowed.front(), allowed);
    for (auto& [m, v] : values) v = all;
  }
}

void read_vbu(const io::JsonObjectReader& v, FmnistVbuConfig& out) {
  out.methods = v.get_vector<std::string>("methods", out.methods);
  for (const auto& m : out.methods)
    if (m != "eubo" && m != "rkl")
      throw io::ConfigError(v.field("methods") + ": \"" + m + "\" is unknown: allowed are eubo, rkl");
  out.lambdas = v.get_vector<double>("lambdas", out.lambdas, Range::closed(0, 1));
  out.log_lambdas = v.get_vector<double>("log_lambdas", out.log_lambdas, Range::at_most(0));
  if (out.lambdas.empty() && out.log_lambdas.empty())
    throw io::ConfigError(v.field("lambdas") + " = [] and no log_lambdas: give at least one λ (0: plain likelihood)");
  out.steps = v.get<int64_t>("steps", out.steps, Range::at_least(1));
  out.mc_samples = v.get<int64_t>("mc_samples", out.mc_samples, Range::at_least(1));
  out.lr = v.get<double>("lr", out.lr, Range::positive());
  out.erased_batch_size = v.get<int64_t>("erased_batch_size", out.erased_batch_size, Range::non_negative());
  out.chunk = v.get<int64_t>("chunk", out.chunk, Range::at_least(1));
}

}  // namespace

bool FmnistBifConfig::runs(const std::string& method) const {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

FmnistBifConfig parse_fmnist_bif_config(const nlohmann::json& json) {
  FmnistBifConfig c;
  io::JsonObjectReader r(json, "");
  r.get_enum("experiment", "fmnist_bif", {"fmnist_bif"});
  c.seed = r.get<int64_t>("seed", c.seed, Range::non_negative());
  {
    auto d = r.object("data");
    c.dir = d.get<std::string>("dir", c.dir);
    c.pad_to_32 = d.get<bool>("pad_to_32", c.pad_to_32);
    c.train_subset = d.get<int64_t>("train_subset", c.train_subset, Range::non_negative());
    c.test_subset = d.get<int64_t>("test_subset", c.test_subset, Range::non_negative());
    c.eval_remaining = d.get<int64_t>("eval_remaining", c.eval_remaining, Range::non_negative());
  }
  c.model = r.raw("model", c.model);  // read strictly by the model registry
  {
    auto e = r.object("erase");
    c.erase_class = e.get<int64_t>("class", c.erase_class, Range::closed(0, 9));
    // "count": 6000 or "count": [1000, 2000, 3000, 4000, 5000, 0]
    if (e.raw("count").is_array()) {
      c.erase_counts = e.get_vector<int64_t>("count", c.erase_counts, Range::non_negative());
      if (c.erase_counts.empty()) throw io::ConfigError(e.field("count") + " = []: give at least one count");
    } else {
      c.erase_counts = {e.get<int64_t>("count", 0, Range::non_negative())};
    }
    c.request_size = e.get<int64_t>("request_size", c.request_size, Range::at_least(1));
  }
  {
    auto t = r.object("train");
    c.steps = t.get<int64_t>("steps", c.steps, Range::at_least(1));
    c.batch_size = t.get<int64_t>("batch_size", c.batch_size, Range::at_least(1));
    read_sampler(t.object("sgld"), c.sgld, false);
    read_sampler(t.object("sghmc"), c.sghmc, true);
    read_bank(t.object("bank"), c.bank, 1);
    auto v = t.object("vi");
    c.vi_optimizer = inference::optimizer_from_string(v.get_enum("optimizer", "adam", {"sgd", "adam"}));
    c.vi_lr = v.get<double>("lr", c.vi_lr, Range::positive());
    c.vi_lr_decay = v.get<double>("lr_decay", c.vi_lr_decay, Range::left_open(0, 1));
    c.vi_lr_decay_every = v.get<int64_t>("lr_decay_every", c.vi_lr_decay_every, Range::non_negative());
    c.vi_train_samples = v.get<int64_t>("mc_samples", c.vi_train_samples, Range::at_least(1));
    c.vi_local_reparameterisation = v.get<bool>("local_reparameterisation", c.vi_local_reparameterisation);
    c.vi_init_scale = v.get<double>("init_scale", c.vi_init_scale, Range::positive());
  }
  {
    auto b = r.object("bif");
    c.methods = read_methods(b, c.methods);
    read_per_method_enum(b, "solver", c.solver, {"lissa", "cg"});
    read_per_method(b, "lissa_terms", c.lissa_terms, Range::at_least(1));
    auto lc = b.object("lissa_c");
    for (auto& [m, v] : c.lissa_c) v = lc.get<double>(m, v, Range::positive());
    read_per_method(b, "hvp_batch_size", c.hvp_batch_size, Range::non_negative());
    read_per_method(b, "sample_steps", c.sample_steps, Range::at_least(1));
    c.hessian_states = b.get<int64_t>("hessian_states", c.hessian_states, Range::non_negative());
    c.refresh_bank = b.get<bool>("refresh_bank", c.refresh_bank);
    c.vi_energy_samples = b.get<int64_t>("vi_mc_samples", c.vi_energy_samples, Range::at_least(1));
    c.cg_tol = b.get<double>("cg_tol", c.cg_tol, Range::positive());
    read_per_method(b, "cg_max_iter", c.cg_max_iter, Range::at_least(1));
    read_per_method(b, "curvature_batch_size", c.curvature_batch_size, Range::non_negative());
    c.damping = b.get<double>("damping", c.damping, Range::non_negative());
    read_per_method_enum(b, "curvature", c.curvature, {"hessian", "gauss_newton"});
    for (const auto& [m, curvature] : c.curvature)
      if (c.runs(m) && c.solver.at(m) == "cg" && curvature != "gauss_newton")
        throw io::ConfigError(fmt::format("{}{} = \"cg\" needs {} \"gauss_newton\" for {}: CG needs a positive definite "
                                          "operator, and a network's Hessian at SG-MCMC states is indefinite",
                                          b.field("solver"), b.raw("solver").is_object() ? "." + m : "",
                                          b.field("curvature"), m));
    read_per_method(b, "lissa_guard", c.lissa_guard, Range::non_negative());
    for (const auto& [m, g] : c.lissa_guard)
      if (g > 0 && g < 1)
        throw io::ConfigError(fmt::format("{}{} = {}: must be 0 (off) or >= 1 (a stable LiSSA series keeps its "
                                          "iterates within ||h_t|| <= (t + 1) ||v||)",
                                          b.field("lissa_guard"), b.raw("lissa_guard").is_object() ? "." + m : "", g));
  }
  {
    auto v = r.object("vbu");
    read_vbu(v, c.vbu);
    if (!c.vbu.methods.empty() && !c.runs("vi"))
      throw io::ConfigError(v.field("methods") +
                            ": EUBO and reverse KL unlearn the VI posterior: add \"vi\" to bif.methods");
  }
  {
    auto e = r.object("eval");
    c.eval_samples = e.get<int64_t>("samples", c.eval_samples, Range::at_least(1));
    c.eval_chunk = e.get<int64_t>("chunk", c.eval_chunk, Range::at_least(1));
  }
  r.finish();
  return c;
}

}  // namespace unlearn::studies
