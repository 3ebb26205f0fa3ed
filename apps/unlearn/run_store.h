#pragma once
// A run directory on disk (docs/architecture.md, "Run directories"):
//   RUN_DIR/config.json        the config as given
//   RUN_DIR/gen-0000.ckpt      the trained posterior (+ trainer state while training)
//   RUN_DIR/gen-000N.ckpt      the posterior after the N-th erase request
//   RUN_DIR/audit.jsonl        one line per erase request
// Every generation holds the posterior, the ids it was trained on ("ids/trained") and the ids
// erased since ("ids/erased"); the previous generation stays. The posterior is either
//   - a Gaussian (VI, exact runs): its parameters under "posterior/", or
//   - an SG-MCMC sample bank: "bank/samples" [n, P] (oldest first), the chain's state
//     "chain/theta" (+ "chain/velocity" for SGHMC) and metadata "chain" {sampler, step_size,
//     friction, temperature}: what BIF needs to keep correcting the chain.
// Generation 0 also carries the trainer's full state ("vi/" or "sgmcmc/") for `train --resume`;
// its metadata "finished" is false until training has run all its steps.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "run_config.h"
#include "run_lineage.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/unlearning/posterior_state.h"

namespace unlearn::app {

struct Generation {
  int number = 0;
  /// The posterior: a Gaussian (VI, exact) or an SG-MCMC chain and its bank.
  PosteriorState state;
  torch::Tensor trained_ids;  ///< ids of the data the posterior is conditioned on
  torch::Tensor erased_ids;   ///< ids erased since training, in request order
  nlohmann::json metadata;
  io::Checkpoint checkpoint;  ///< everything the file held
  RunIdentity identity;       ///< the hashes of config.json and of the data, as they are now
};

/// An io::ConfigError unless `run_dir` names an existing directory (also for names the file
/// system cannot look up, e.g. too long).
void require_run_directory(const std::filesystem::path& run_dir);

/// The config of a run directory (RUN_DIR/config.json), rebuilt.
RunConfig load_run(const std::filesystem::path& run_dir);

/// A generation's checkpoint without a posterior yet: architecture, metadata, ids.
io::Checkpoint base_generation_checkpoint(const RunConfig& config, const torch::Tensor& trained_ids,
                                          const torch::Tensor& erased_ids, int number, nlohmann::json metadata);

/// A checkpoint holding one generation: a Gaussian's parameters, or the bank's samples and the
/// chain's state. The metadata records whether a Gaussian is the exact posterior ("exact").
io::Checkpoint generation_checkpoint(const RunConfig& config, const PosteriorState& state,
                                     const torch::Tensor& trained_ids, const torch::Tensor& erased_ids, int number,
                                     nlohmann::json metadata);

/// The name of the first floating tensor of `checkpoint` (among those whose names start with one
/// of `prefixes`; all when empty) holding a NaN or an infinity. One host read per tensor.
std::optional<std::string> first_non_finite(const io::Checkpoint& checkpoint,
                                            const std::vector<std::string>& prefixes = {});

/// Loads generation `number` (default: the latest) and checks it against the config's model and
/// against the directory (run_lineage.h: config.json, the data, its parent's file; for the latest,
/// that audit.jsonl records no later generation: a rolled-back directory). A generation 0 whose
/// training has not finished is an io::ConfigError that says how to resume.
Generation load_generation(const RunConfig& config, const std::filesystem::path& run_dir,
                           std::optional<int> number = std::nullopt);

}  // namespace unlearn::app
