#include "run_store.h"

#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"
#include "unlearn/io/run_dir.h"

namespace unlearn::app {
namespace fs = std::filesystem;

RunConfig load_run(const fs::path& run_dir) {
  if (!fs::is_directory(run_dir))
    throw io::ConfigError("run directory '" + run_dir.string() + "' does not exist");
  auto config_path = run_dir / "config.json";
  if (!fs::exists(config_path))
    throw io::ConfigError("'" + run_dir.string() + "' is not a run directory: no config.json");
  return load_run_config(io::parse_json_file(config_path), config_path.parent_path());
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
  if (sampler != config.method)
    throw io::ConfigError(gen_name(g.number) + " holds " + (sampler.empty() ? std::string("no SG-MCMC chain") : "a " + sampler + " chain") +
                          ", the config asks for " + config.method);
  const int64_t P = config.model->num_params();
  auto opts = config.model->theta_options();
  g.samples = tensor_of(g.checkpoint, "bank/samples", g.number).to(opts);
  if (g.samples.dim() != 2 || g.samples.size(1) != P || g.samples.size(0) < 1)
    throw io::ConfigError("bank/samples has shape " + c10::str(g.samples.sizes()) + ", the model needs [n >= 1, " +
                          std::to_string(P) + "]");
  g.chain.theta = tensor_of(g.checkpoint, "chain/theta", g.number).to(opts);
  if (g.chain.theta.sizes() != torch::IntArrayRef{P})
    throw io::ConfigError("chain/theta has shape " + c10::str(g.chain.theta.sizes()) + ", the model needs [" +
                          std::to_string(P) + "]");
  g.chain.sghmc = sampler == "sghmc";
  if (g.chain.sghmc) g.chain.velocity = tensor_of(g.checkpoint, "chain/velocity", g.number).to(opts);
  const auto& c = meta["chain"];
  g.chain.step_size = c.value("step_size", 0.0);
  g.chain.friction = c.value("friction", 1.0);
  g.chain.temperature = c.value("temperature", 1.0);
}

void load_gaussian(const RunConfig& config, Generation& g) {
  auto family = g.metadata.value("family", std::string());
  g.posterior = make_posterior(config);
  if (family != g.posterior->family())
    throw io::ConfigError(gen_name(g.number) + " holds " + (family.empty() ? std::string("no Gaussian posterior") : "a " + family + " posterior") +
                          ", the config asks for " + (config.is_sgmcmc() ? config.method + " samples" : g.posterior->family()));
  torch::NoGradGuard no_grad;
  for (auto& p : g.posterior->named_parameters()) {
    const auto& t = tensor_of(g.checkpoint, "posterior/" + p.key(), g.number);
    if (t.sizes() != p.value().sizes())
      throw io::ConfigError("posterior/" + p.key() + " has shape " + c10::str(t.sizes()) + ", the model needs " +
                            c10::str(p.value().sizes()));
    p.value().copy_(t);
  }
}

}  // namespace

io::Checkpoint generation_checkpoint(const RunConfig& config, const GaussianPosteriorImpl& posterior,
                                     const torch::Tensor& trained_ids, const torch::Tensor& erased_ids,
                                     int number, nlohmann::json metadata) {
  metadata["family"] = posterior.family();
  auto ckpt = base_generation_checkpoint(config, trained_ids, erased_ids, number, std::move(metadata));
  for (const auto& p : posterior.named_parameters()) {
    ckpt.tensors["posterior/" + p.key()] = p.value().detach().cpu();
  }
  return ckpt;
}

io::Checkpoint chain_generation_checkpoint(const RunConfig& config, const bif::SgmcmcChainState& chain,
                                           const torch::Tensor& samples, const torch::Tensor& trained_ids,
                                           const torch::Tensor& erased_ids, int number, nlohmann::json metadata) {
  metadata["chain"] = {{"sampler", chain.sghmc ? "sghmc" : "sgld"},
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

std::string describe_posterior(const Generation& g) {
  if (g.posterior) return g.posterior->family() + " Gaussian";
  return std::string(g.chain.sghmc ? "SGHMC" : "SGLD") + " bank of " + std::to_string(g.samples.size(0)) + " samples";
}

Generation load_generation(const RunConfig& config, const fs::path& run_dir,
                           std::optional<int> number) {
  if (!number) number = io::latest_generation(run_dir);
  if (!number) throw io::ConfigError("run directory '" + run_dir.string() + "' holds no checkpoint");
  Generation g;
  g.number = *number;
  g.checkpoint = io::load_checkpoint(
      io::generation_path(run_dir, *number),
      io::LoadExpectations().architecture(config.model->architecture()));
  g.metadata = g.checkpoint.metadata;
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
