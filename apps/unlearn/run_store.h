#pragma once
// A run directory on disk (DESIGN.md §3):
//   RUN_DIR/config.json        the config as given
//   RUN_DIR/gen-0000.ckpt      the trained posterior (+ trainer state while training)
//   RUN_DIR/gen-000N.ckpt      the posterior after the N-th erase request
//   RUN_DIR/audit.jsonl        one line per erase request
// Every generation holds the posterior's tensors under "posterior/", the ids it was trained on
// ("ids/trained") and the ids erased since ("ids/erased"); the previous generation stays.
#include <filesystem>
#include <memory>
#include <optional>

#include "run_config.h"
#include "unlearn/io/checkpoint.h"

namespace unlearn::app {

struct Generation {
  int number = 0;
  std::shared_ptr<GaussianPosteriorImpl> posterior;
  torch::Tensor trained_ids;  ///< ids of the data the posterior is conditioned on
  torch::Tensor erased_ids;   ///< ids erased since training, in request order
  nlohmann::json metadata;
  io::Checkpoint checkpoint;  ///< everything the file held
};

/// The config of a run directory (RUN_DIR/config.json), rebuilt.
RunConfig load_run(const std::filesystem::path& run_dir);

/// A checkpoint holding one generation.
io::Checkpoint generation_checkpoint(const RunConfig& config, const GaussianPosteriorImpl& posterior,
                                     const torch::Tensor& trained_ids, const torch::Tensor& erased_ids,
                                     int number, nlohmann::json metadata);

/// Loads generation `number` (default: the latest) and checks it against the config's model.
Generation load_generation(const RunConfig& config, const std::filesystem::path& run_dir,
                           std::optional<int> number = std::nullopt);

}  // namespace unlearn::app
