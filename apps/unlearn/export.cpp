// `unlearn export RUN_DIR [--generation N] [--samples]`: a generation as JSON on stdout — the
// posterior (Gaussian: mean, covariance or scales; SG-MCMC: the bank's summary, the samples with
// --samples), the model's hyper-parameters, the ids trained on and erased.
#include <iostream>

#include "commands.h"
#include "run_store.h"
#include "unlearn/io/json_tensor.h"

namespace unlearn::app {
namespace {

struct ExportArgs {
  std::string run_dir;
  int generation = -1;
  bool samples = false;
  bool json = true;  // export always prints JSON; --json is accepted like on the other commands
};

void run_export(const ExportArgs& a) {
  auto c = load_run(a.run_dir);
  auto g = load_generation(c, a.run_dir, a.generation >= 0 ? std::optional<int>(a.generation) : std::nullopt);
  torch::NoGradGuard no_grad;
  nlohmann::json out;
  out["generation"] = g.number;
  out["architecture"] = c.model->architecture();
  out["metadata"] = g.metadata;
  if (g.state.is_gaussian()) {
    const auto& q = g.state.gaussian();
    out["family"] = q.family();
    out["mean"] = io::tensor_to_json(q.mean());
    if (q.family() == "full_rank") out["covariance"] = io::tensor_to_json(q.covariance());
    out["stddev"] = io::tensor_to_json(q.stddev());
  } else {
    const auto& chain = g.state.chain();
    const auto& samples = g.state.samples();
    out["family"] = "samples";
    const auto n = samples.size(0);
    out["bank"] = {{"sampler", inference::to_string(chain.sampler)},
                   {"size", n},
                   {"step_size", chain.step_size},
                   {"temperature", chain.temperature},
                   {"chain_theta", io::tensor_to_json(chain.theta)}};
    if (chain.sghmc()) out["bank"]["friction"] = chain.friction;
    out["mean"] = io::tensor_to_json(samples.mean(0));
    if (n >= 2) {
      // Sample covariance (divisor n − 1), as SampleBank::covariance.
      auto centred = samples - samples.mean(0, true);
      auto cov = torch::matmul(centred.t(), centred) / static_cast<double>(n - 1);
      out["covariance"] = io::tensor_to_json(cov);
      out["stddev"] = io::tensor_to_json(cov.diagonal().sqrt());
    }
    if (a.samples) out["samples"] = io::tensor_to_json(samples);
  }
  nlohmann::json hypers = nlohmann::json::object();
  for (const auto& p : c.model->named_parameters()) hypers[p.key()] = io::tensor_to_json(p.value().detach().cpu());
  out["hyperparameters"] = hypers;
  out["trained_ids"] = io::tensor_to_json(g.trained_ids);
  out["erased_ids"] = io::tensor_to_json(g.erased_ids);
  std::cout << out.dump(2) << std::endl;
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand("export", "Print a generation's posterior, hyper-parameters and ids as JSON");
  cmd->add_option("run_dir", a->run_dir, "run directory")->required();
  cmd->add_option("--generation", a->generation, "generation (default: the latest)")->check(CLI::Range(0, 9999));
  cmd->add_flag("--samples", a->samples, "SG-MCMC runs: include every sample of the bank");
  cmd->add_flag("--json", a->json, "JSON on stdout (the default; accepted for symmetry with the other commands)");
  cmd->callback([a] { run_export(*a); });
}

}  // namespace unlearn::app
