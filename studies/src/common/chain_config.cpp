#include "common/chain_config.h"

#include "unlearn/io/config_error.h"

namespace unlearn::studies {
using io::Range;

void read_sampler(io::JsonObjectReader s, SamplerConfig& out, bool with_friction) {
  out.lr = s.get<double>("lr", out.lr, Range::positive());
  out.offset = s.get<double>("schedule_offset", out.offset, Range::positive());
  out.decay = s.get<double>("schedule_decay", out.decay, Range::non_negative());
  if (with_friction) out.friction = s.get<double>("friction", out.friction, Range::left_open(0, 1));
}

void read_bank(io::JsonObjectReader b, BankConfig& out, int64_t min_capacity) {
  out.burn_in = b.get<int64_t>("burn_in", out.burn_in, Range::non_negative());
  out.thinning = b.get<int64_t>("thinning", out.thinning, Range::at_least(1));
  out.capacity = b.get<int64_t>("capacity", out.capacity, Range::at_least(static_cast<double>(min_capacity)));
}

std::vector<std::string> read_methods(const io::JsonObjectReader& b, std::vector<std::string> defaults) {
  auto methods = b.get_vector<std::string>("methods", std::move(defaults));
  for (const auto& m : methods)
    if (m != "vi" && m != "sgld" && m != "sghmc")
      throw io::ConfigError(b.field("methods") + ": \"" + m + "\" is unknown: allowed are vi, sgld, sghmc");
  return methods;
}

TrainingRecipe chain_recipe(const std::string& method, const SamplerConfig& sampler, const BankConfig& bank,
                            int64_t steps, int64_t batch_size, uint64_t seed, const torch::Tensor& init) {
  auto options = inference::SGMCMCOptions()
                     .sampler(inference::sampler_from_string(method))
                     .steps(steps)
                     .batch_size(batch_size)
                     .lr(sampler.lr)
                     .schedule_offset(sampler.offset)
                     .schedule_decay(sampler.decay)
                     .friction(method == "sghmc" ? sampler.friction : 0.1)  // unused by SGLD
                     .seed(seed)
                     .bank(inference::SampleBankOptions()
                               .burn_in(bank.burn_in)
                               .thinning(bank.thinning)
                               .capacity(bank.capacity));
  return TrainingRecipe()
      .method(training_method_from_string(method))
      .sgmcmc(options)
      .init_theta(init);
}

}  // namespace unlearn::studies
