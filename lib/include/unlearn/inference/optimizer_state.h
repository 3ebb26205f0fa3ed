#pragma once
// Optimizer state in a checkpoint, options included (docs/architecture.md, "Idioms").
//
// LibTorch 1.13's Optimizer::load() restores the per-parameter state but silently keeps the
// options the fresh optimizer was built with. save_optimizer therefore stores two things:
//   tensors[name]  = the optimizer's own archive (torch::serialize::OutputArchive) as uint8 bytes
//   metadata[name] = {"type", "groups": [options of every param group], "shapes": [[...]...]}
// and load_optimizer loads the archive, then re-applies every group's saved options.
//
//   save_optimizer(ckpt, "vi/optimizer", adam);        // ... later, into a fresh optimizer:
//   load_optimizer(ckpt, "vi/optimizer", fresh_adam);  // same param groups, same order
//
// Supported: torch::optim::Adam, torch::optim::SGD, SGLD, SGHMC (others: an error naming them).
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "unlearn/io/checkpoint.h"

namespace unlearn::inference {

/// The optimizer's archive as a 1-D uint8 CPU tensor.
torch::Tensor optimizer_state_bytes(const torch::optim::Optimizer& optimizer);
/// Loads an archive from optimizer_state_bytes into `optimizer` (options are NOT re-applied).
void load_optimizer_state_bytes(torch::optim::Optimizer& optimizer, const torch::Tensor& bytes);

/// {"type": "adam" | "sgd" | "sgld" | "sghmc", ...every field of the options}.
nlohmann::json optimizer_options_to_json(const torch::optim::OptimizerOptions& options);
/// Overwrites `options` with the fields of `json`; the types must match (an error names both).
void apply_optimizer_options(const nlohmann::json& json, torch::optim::OptimizerOptions& options);

/// Writes tensors[name] and metadata[name] as described above.
void save_optimizer(io::Checkpoint& checkpoint, const std::string& name, const torch::optim::Optimizer& optimizer);
/// Restores state and options into an optimizer with the same param groups (count, sizes and
/// parameter shapes are checked, with errors naming what differs).
void load_optimizer(const io::Checkpoint& checkpoint, const std::string& name, torch::optim::Optimizer& optimizer);

}  // namespace unlearn::inference
