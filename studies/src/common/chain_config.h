#pragma once
// What the BIF studies (gmm_bif, fmnist_bif) share: the sampler settings of a config's
// "train": {"sgld": {...}, "sghmc": {...}, "bank": {...}}, the training recipe of a chain they
// become, and the list of inference methods ("bif": {"methods": [...]}), so that both studies read
// and run a chain the same way.
#include <cstdint>
#include <string>
#include <vector>

#include "unlearn/inference/sgmcmc.h"
#include "unlearn/io/json_config.h"
#include "unlearn/unlearning/training.h"

namespace unlearn::studies {

/// η_t = lr·(offset + t)^−decay; friction α (SGHMC only).
struct SamplerConfig {
  double lr = 0.0;
  double offset = 1.0;
  double decay = 0.15;
  double friction = 0.4;
};

/// Reads "lr", "schedule_offset", "schedule_decay" (and "friction" for SGHMC) over the defaults in `out`.
void read_sampler(io::JsonObjectReader s, SamplerConfig& out, bool with_friction);

/// A chain's sample bank: "burn_in", "thinning", "capacity" (>= min_capacity).
struct BankConfig {
  int64_t burn_in = 0, thinning = 1, capacity = 1;
};
void read_bank(io::JsonObjectReader b, BankConfig& out, int64_t min_capacity);

/// The inference methods a BIF study runs ("methods": a subset of vi, sgld, sghmc).
std::vector<std::string> read_methods(const io::JsonObjectReader& b, std::vector<std::string> defaults);

/// The training recipe of the chain `method` ("sgld" | "sghmc") from `init` with these settings.
TrainingRecipe chain_recipe(const std::string& method, const SamplerConfig& sampler, const BankConfig& bank,
                            int64_t steps, int64_t batch_size, uint64_t seed, const torch::Tensor& init);

}  // namespace unlearn::studies
