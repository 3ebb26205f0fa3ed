#pragma once
// What the BIF studies (gmm_bif, fmnist_bif) share: the sampler settings of a config's
// "train": {"sgld": {...}, "sghmc": {...}} and the SGMCMCOptions they become, so that both
// studies read and run a chain the same way; timing and writing their output files.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "unlearn/inference/sgmcmc.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"

namespace unlearn::app::study {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Writes `text` to `path` (replacing it); an error naming the study and the path if that fails.
inline void write_text(const std::filesystem::path& path, const std::string& text, const char* study) {
  std::ofstream f(path);
  f << text;
  f.close();
  TORCH_CHECK(f.good(), study, ": could not write ", path.string());
}

/// η_t = lr·(offset + t)^−decay; friction α (SGHMC only).
struct SamplerConfig {
  double lr = 0.0;
  double offset = 1.0;
  double decay = 0.15;
  double friction = 0.4;
};

/// Reads "lr", "schedule_offset", "schedule_decay" (and "friction" for SGHMC) over the defaults in `out`.
inline void read_sampler(io::JsonObjectReader s, SamplerConfig& out, bool with_friction) {
  using io::Range;
  out.lr = s.get<double>("lr", out.lr, Range::positive());
  out.offset = s.get<double>("schedule_offset", out.offset, Range::positive());
  out.decay = s.get<double>("schedule_decay", out.decay, Range::non_negative());
  if (with_friction) out.friction = s.get<double>("friction", out.friction, Range::left_open(0, 1));
}

/// Reads a chain's sample bank settings "burn_in", "thinning", "capacity" (>= min_capacity).
inline void read_bank(io::JsonObjectReader b, int64_t& burn_in, int64_t& thinning, int64_t& capacity,
                      int64_t min_capacity) {
  using io::Range;
  burn_in = b.get<int64_t>("burn_in", burn_in, Range::non_negative());
  thinning = b.get<int64_t>("thinning", thinning, Range::at_least(1));
  capacity = b.get<int64_t>("capacity", capacity, Range::at_least(static_cast<double>(min_capacity)));
}

/// The inference methods a BIF study runs ("methods": a subset of vi, sgld, sghmc).
inline std::vector<std::string> read_methods(const io::JsonObjectReader& b, std::vector<std::string> defaults) {
  auto methods = b.get_vector<std::string>("methods", std::move(defaults));
  for (const auto& m : methods)
    if (m != "vi" && m != "sgld" && m != "sghmc")
      throw io::ConfigError(b.field("methods") + ": \"" + m + "\" is unknown: allowed are vi, sgld, sghmc");
  return methods;
}

/// The chain of `method` ("sgld" | "sghmc") with these settings.
inline inference::SGMCMCOptions sgmcmc_options(const std::string& method, const SamplerConfig& sc, int64_t steps,
                                               int64_t batch_size, uint64_t seed,
                                               const inference::SampleBankOptions& bank) {
  return inference::SGMCMCOptions()
      .sampler(inference::sampler_from_string(method))
      .steps(steps)
      .batch_size(batch_size)
      .lr(sc.lr)
      .schedule_offset(sc.offset)
      .schedule_decay(sc.decay)
      .friction(method == "sghmc" ? sc.friction : 0.1)  // unused by SGLD
      .seed(seed)
      .bank(bank);
}

}  // namespace unlearn::app::study
