// Reading the vbu study's config (vbu_config.h).
#include "vbu/vbu_config.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "config/data_section.h"
#include "registry.h"
#include "unlearn/data/csv.h"
#include "unlearn/data/split.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"
#include "unlearn/unlearning/adjusted_likelihood.h"

namespace unlearn::studies {
namespace {
namespace fs = std::filesystem;
using io::Range;

// The erased ids by "rule" (top_k_feature, random, ids_file); `rule` becomes the rule in words.
torch::Tensor select_erased(const io::JsonObjectReader& r, const data::Dataset& d, uint64_t seed,
                            const fs::path& base_dir, std::string& rule) {
  rule = r.get_enum("rule", "top_k_feature", {"top_k_feature", "random", "ids_file"});
  if (rule == "top_k_feature") {
    auto column = r.get<int64_t>("feature", 0, Range::at_least(0));
    auto k = r.get<int64_t>("k", 20, Range::at_least(1));
    auto largest = r.get<bool>("largest", true);
    auto label = r.get_optional<int64_t>("label", Range::at_least(0));
    if (column >= d.x().size(1))
      throw io::ConfigError(r.field("feature") + " = " + std::to_string(column) + " is out of range: the data has " +
                            std::to_string(d.x().size(1)) + " features");
    rule = fmt::format("the {} points{} with the {} feature {}", k,
                       label ? fmt::format(" of class {}", *label) : "", largest ? "largest" : "smallest", column);
    return data::ids_top_k_by_feature(d, column, k, largest, label).erased;
  }
  if (rule == "random") {
    auto k = r.get<int64_t>("count", 20, Range::at_least(1));
    auto s = r.get<int64_t>("seed", static_cast<int64_t>(seed), Range::non_negative());
    rule = fmt::format("{} points at random (seed {})", k, s);
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(s));
    return data::random_split_ids(d, k, gen).erased;
  }
  auto path = models::resolve_path(r.require<std::string>("path"), base_dir, r.field("path"));
  rule = "the ids in " + path;
  return data::read_id_list(path);
}

void read_unlearn(const io::JsonObjectReader& u, VbuConfig& c) {
  c.log_lambdas = u.get_vector<double>("log_lambdas", {}, Range::at_most(0));
  // lambdas defaults to the paper's six only when no ln λ is given.
  c.lambdas = u.get_vector<double>("lambdas",
                                   c.log_lambdas.empty() ? std::vector<double>{0.5, 0.1, 1e-3, 1e-5, 1e-9, 0.0}
                                                         : std::vector<double>{},
                                   Range::closed(0, 1));
  if (c.lambdas.empty() && c.log_lambdas.empty())
    throw io::ConfigError(u.field("lambdas") + " and " + u.field("log_lambdas") +
                          " are both empty: list at least one threshold");
  c.unlearn_steps = u.get<int64_t>("steps", 30000, Range::at_least(1));
  c.unlearn_samples = u.get<int64_t>("num_samples", 1000, Range::at_least(1));
  c.unlearn_lr = u.get<double>("lr", 1e-3, Range::positive());
  c.erased_batch_size = u.get<int64_t>("erased_batch_size", 0, Range::non_negative());  // 0: all of D_e
  c.closed_form_samples = u.get<int64_t>("closed_form_samples", 100000, Range::at_least(100));
  c.closed_form_jitter = u.get<double>("closed_form_jitter", 0.0, Range::non_negative());
  c.methods = u.get_vector<std::string>("methods", {"eubo", "rkl", "rkl_closed"});
  for (size_t i = 0; i < c.methods.size(); ++i)
    if (c.methods[i] != "eubo" && c.methods[i] != "rkl" && c.methods[i] != "rkl_closed")
      throw io::ConfigError(fmt::format("{}[{}] = \"{}\" is unknown: allowed are eubo, rkl, rkl_closed",
                                        u.field("methods"), i, c.methods[i]));
}

}  // namespace

VbuConfig parse_vbu_config(const nlohmann::json& json, const fs::path& base_dir) {
  VbuConfig c;
  io::JsonObjectReader root(json, "");
  root.get_enum("experiment", "vbu", {"vbu"});
  c.seed = static_cast<uint64_t>(root.get<int64_t>("seed", 0, Range::non_negative()));
  c.dataset = models::load_data(root.object("data"), base_dir, c.seed);
  c.model = models::make_model(root.object("model"), c.dataset,
                               ModelContext{[&](const std::string& p, const std::string& f) {
                                 return models::resolve_path(p, base_dir, f);
                               }});
  c.family = root.object("posterior").get_enum("family", "full_rank", {"full_rank", "mean_field"});
  c.erased_ids = select_erased(root.object("erase"), c.dataset, c.seed, base_dir, c.erase_rule);
  auto t = root.object("train");
  c.train.steps(t.get<int64_t>("steps", 30000, Range::at_least(1)))
      .num_samples(t.get<int64_t>("num_samples", 1000, Range::at_least(1)))
      .lr(t.get<double>("lr", 1e-3, Range::positive()))
      .batch_size(t.get<int64_t>("batch_size", 0, Range::non_negative()))  // 0: full batch (the paper)
      .seed(c.seed);
  read_unlearn(root.object("unlearn"), c);
  auto m = root.object("metric");
  c.predictive_samples = m.get<int64_t>("predictive_samples", 100, Range::at_least(1));
  c.map_lambdas = m.get_vector<double>("map_lambdas", {1e-5, 1e-9, 0.0}, Range::closed(0, 1));
  c.concurrent = root.get<bool>("concurrent", true);
  root.finish();
  return c;
}

std::vector<double> all_log_lambdas(const VbuConfig& c) {
  std::vector<double> all;
  if (!c.lambdas.empty()) all = functional::resolve_log_lambdas(c.lambdas, {});
  all.insert(all.end(), c.log_lambdas.begin(), c.log_lambdas.end());
  return all;
}

}  // namespace unlearn::studies
