#include "run_store.h"

#include <algorithm>

#include "plugins.h"
#include "registry.h"

#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"
#include "unlearn/io/run_dir.h"

namespace unlearn::app {
namespace fs = std::filesystem;

void require_run_directory(const fs::path& run_dir) {
  std::error_code ec;  // a name the file system cannot even look up (too long, ...) is bad input too
  if (!fs::is_directory(run_dir, ec))
    throw io::ConfigError("run directory '" + run_dir.string() + "' does not exist" +
                          (ec && ec != std::errc::no_such_file_or_directory ? " (" + ec.message() + ")" : std::string()));
}

RunConfig load_run(const fs::path& run_dir) {
  require_run_directory(run_dir);
  auto config_path = run_dir / "config.json";
  if (!fs::exists(config_path))
    throw io::ConfigError("'" + run_dir.string() + "' is not a run directory: no config.json");
  auto json = io::parse_json_file(config_path);
  // A run trained with a plugin's model kind names the plugin when it is not loaded.
  if (json.is_object() && json.contains("model") && json["model"].is_object()) {
    const auto& kind = json["model"].value("kind", nlohmann::json("linear_regression"));
    if (kind.is_string() && !has_model_kind(kind.get<std::string>()))
      require_recorded_plugin(run_dir, kind.get<std::string>());
  }
  return load_run_config(json, config_path.parent_path());
}

io::Checkpoint base_generation_checkpoint(const RunConfig& config, const torch::Tensor& trained_ids,
                               const torch::Tensor& erased_ids, int number, nlohmann::json metadata) {
  io::Checkpoint ckpt;
  ckpt.architecture = config.model->architecture();
  metadata["generation"] = number;
  ckpt.metadata = std::move(metadata);
  ckpt.tensors["ids/trained"] = trained_ids.cpu();
  ckpt.tensors["ids/erased"] = erased_ids.cpu();
  return ckpt;
}

namespace {

std::string gen_name(int number) { return "generation " + std::to_string(number); }

const torch::Tensor& tensor_of(const io::Checkpoint& ckpt, const std::string& key, int number) {
  if (!ckpt.has(key)) throw io::ConfigError(gen_name(number) + " lacks tensor " + key);
  return ckpt.at(key);
}

void load_chain(const RunConfig& config, Generation& g) {
  const auto& meta = g.metadata;
  const auto sampler = meta.contains("chain") ? meta["chain"].value("sampler", std::string()) : std::string();
  if (sampler != config.method_name())
    throw io::ConfigError(gen_name(g.number) + " holds " + (sampler.empty() ? std::string("no SG-MCMC chain") : "a " + sampler + " chain") +
                          ", the config asks for " + config.method_name());
  const int64_t P = config.model->num_params();
  auto opts = config.model->theta_options();
  auto samples = tensor_of(g.checkpoint, "bank/samples", g.number).to(opts);
  if (samples.dim() != 2 || samples.size(1) != P || samples.size(0) < 1)
    throw io::ConfigError("bank/samples has shape " + c10::str(samples.sizes()) + ", the model needs [n >= 1, " +
                          std::to_string(P) + "]");
  inference::ChainState chain;
  chain.theta = tensor_of(g.checkpoint, "chain/theta", g.number).to(opts);
  if (chain.theta.sizes() != torch::IntArrayRef{P})
    throw io::ConfigError("chain/theta has shape " + c10::str(chain.theta.sizes()) + ", the model needs [" +
                          std::to_string(P) + "]");
  chain.sampler = inference::sampler_from_string(sampler);
  if (chain.sghmc()) chain.velocity = tensor_of(g.checkpoint, "chain/velocity", g.number).to(opts);
  const auto& c = meta["chain"];
  chain.step_size = c.value("step_size", 0.0);
  chain.friction = c.value("friction", 1.0);
  chain.temperature = c.value("temperature", 1.0);
  g.state = PosteriorState::chain(std::move(chain), samples);
}

void load_gaussian(const RunConfig& config, Generation& g) {
  auto family = g.metadata.value("family", std::string());
  auto posterior = make_posterior(config);
  if (family != posterior->family())
    throw io::ConfigError(gen_name(g.number) + " holds " + (family.empty() ? std::string("no Gaussian posterior") : "a " + family + " posterior") +
                          ", the config asks for " + (config.is_sgmcmc() ? config.method_name() + " samples" : posterior->family()));
  torch::NoGradGuard no_grad;
  for (auto& p : posterior->named_parameters()) {
    const auto& t = tensor_of(g.checkpoint, "posterior/" + p.key(), g.number);
    if (t.sizes() != p.value().sizes())
      throw io::ConfigError("posterior/" + p.key() + " has shape " + c10::str(t.sizes()) + ", the model needs " +
                            c10::str(p.value().sizes()));
    p.value().copy_(t);
  }
  // Generations before this field existed: an exact run's generations are exact as long as every
  // request was exact (the only method that keeps a posterior exact).
  const bool exact = g.metadata.value("exact", g.metadata.value("method", std::string()) == "exact");
  g.state = PosteriorState::gaussian(posterior, exact);
}

}  // namespace

io::Checkpoint generation_checkpoint(const RunConfig& config, const PosteriorState& state,
                                     const torch::Tensor& trained_ids, const torch::Tensor& erased_ids, int number,
                                     nlohmann::json metadata) {
  if (state.is_gaussian()) {
    const auto& q = state.gaussian();
    metadata["family"] = q.family();
    metadata["exact"] = state.exact();
    auto ckpt = base_generation_checkpoint(config, trained_ids, erased_ids, number, std::move(metadata));
    for (const auto& p : q.named_parameters()) ckpt.tensors["posterior/" + p.key()] = p.value().detach().cpu();
    return ckpt;
  }
  const auto& chain = state.chain();
  const auto& samples = state.samples();
  metadata["chain"] = {{"sampler", inference::to_string(chain.sampler)},
                       {"step_size", chain.step_size},
                       {"friction", chain.friction},
                       {"temperature", chain.temperature},
                       {"bank_size", samples.size(0)}};
  auto ckpt = base_generation_checkpoint(config, trained_ids, erased_ids, number, std::move(metadata));
  ckpt.tensors["bank/samples"] = samples.detach().cpu().contiguous();
  ckpt.tensors["chain/theta"] = chain.theta.detach().cpu();
  if (chain.velocity.defined()) ckpt.tensors["chain/velocity"] = chain.velocity.detach().cpu();
  return ckpt;
}

std::optional<std::string> first_non_finite(const io::Checkpoint& checkpoint, const std::vector<std::string>& prefixes) {
  for (const auto& [name, t] : checkpoint.tensors) {
    const bool chosen = prefixes.empty() || std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) {
                          return name.rfind(p, 0) == 0;
                        });
    if (!chosen || !t.defined() || !t.is_floating_point() || t.numel() == 0) continue;
    if (!torch::isfinite(t).all().item<bool>()) return name;
  }
  return std::nullopt;
}

Generation load_generation(const RunConfig& config, const fs::path& run_dir,
                           std::optional<int> number) {
  const bool latest = !number;
  if (!number) number = io::latest_generation(run_dir);
  if (!number) throw io::ConfigError("run directory '" + run_dir.string() + "' holds no checkpoint");
  if (latest) require_not_rolled_back(run_dir, latest_audited_generation(run_dir), *number);
  Generation g;
  g.number = *number;
  const auto path = io::generation_path(run_dir, *number);
  g.checkpoint = io::load_checkpoint(path, io::LoadExpectations().architecture(config.model->architecture()));
  g.metadata = g.checkpoint.metadata;
  g.identity = identify_run(run_dir, config);
  check_lineage(run_dir, g.identity, *number, g.metadata);
  if (!g.metadata.value("finished", true))
    throw io::ConfigError(gen_name(*number) + " of " + run_dir.string() + " has not finished training (step " +
                          std::to_string(g.metadata.value("step", int64_t{0})) + "): continue it with `unlearn train --resume " +
                          run_dir.string() + "`");
  if (config.is_sgmcmc()) load_chain(config, g);
  else load_gaussian(config, g);
  g.trained_ids = tensor_of(g.checkpoint, "ids/trained", *number);
  g.erased_ids = tensor_of(g.checkpoint, "ids/erased", *number);
  return g;
}

}  // namespace unlearn::app
