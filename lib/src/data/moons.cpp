#include "unlearn/data/moons.h"

#include <cmath>

namespace unlearn::data {

Dataset make_moons(int64_t n_samples, double noise, std::optional<torch::Generator> generator, bool shuffle) {
  TORCH_CHECK(n_samples >= 0, "make_moons: n_samples must be non-negative, got ", n_samples);
  TORCH_CHECK(noise >= 0.0, "make_moons: noise must be non-negative, got ", noise);
  // Torch 1.13's factories take c10::optional, which std::optional does not convert to.
  const auto gen = generator ? c10::optional<torch::Generator>(*generator) : c10::optional<torch::Generator>();
  const auto f64 = torch::kFloat64;
  const int64_t n_out = n_samples / 2;
  const int64_t n_in = n_samples - n_out;
  const auto t_out = torch::linspace(0.0, M_PI, n_out, f64);
  const auto t_in = torch::linspace(0.0, M_PI, n_in, f64);
  auto outer = torch::stack({torch::cos(t_out), torch::sin(t_out)}, 1);
  auto inner = torch::stack({1.0 - torch::cos(t_in), 1.0 - torch::sin(t_in) - 0.5}, 1);
  auto x = torch::cat({outer, inner}, 0);
  auto y = torch::cat({torch::zeros({n_out}, torch::kLong), torch::ones({n_in}, torch::kLong)});
  if (shuffle) {
    const auto perm = torch::randperm(n_samples, gen, torch::kLong);
    x = x.index_select(0, perm);
    y = y.index_select(0, perm);
  }
  if (noise > 0.0) x = x + torch::normal(0.0, noise, {n_samples, 2}, gen, torch::dtype(f64));
  return Dataset(x.contiguous(), y);
}

}  // namespace unlearn::data
