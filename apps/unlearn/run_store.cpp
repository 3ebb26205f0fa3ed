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

io::Checkpoint generation_checkpoint(const RunConfig& config, const GaussianPosteriorImpl& posterior,
                                     const torch::Tensor& trained_ids, const torch::Tensor& erased_ids,
                                     int number, nlohmann::json metadata) {
  io::Checkpoint ckpt;
  ckpt.architecture = config.model->architecture();
  metadata["generation"] = number;
  metadata["family"] = posterior.family();
  ckpt.metadata = std::move(metadata);
  for (const auto& p : posterior.named_parameters()) {
    ckpt.tensors["posterior/" + p.key()] = p.value().detach().cpu();
  }
  ckpt.tensors["ids/trained"] = trained_ids.cpu();
  ckpt.tensors["ids/erased"] = erased_ids.cpu();
  return ckpt;
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
  auto family = g.metadata.value("family", std::string());
  g.posterior = make_posterior(config);
  if (family != g.posterior->family())
    throw io::ConfigError("generation " + std::to_string(*number) + " holds a " + family +
                          " posterior, the config asks for " + g.posterior->family());
  torch::NoGradGuard no_grad;
  for (auto& p : g.posterior->named_parameters()) {
    auto key = "posterior/" + p.key();
    if (!g.checkpoint.has(key))
      throw io::ConfigError("generation " + std::to_string(*number) + " lacks tensor " + key);
    const auto& t = g.checkpoint.at(key);
    if (t.sizes() != p.value().sizes())
      throw io::ConfigError(key + " has shape " + c10::str(t.sizes()) + ", the model needs " +
                            c10::str(p.value().sizes()));
    p.value().copy_(t);
  }
  g.trained_ids = g.checkpoint.at("ids/trained");
  g.erased_ids = g.checkpoint.at("ids/erased");
  return g;
}

}  // namespace unlearn::app
