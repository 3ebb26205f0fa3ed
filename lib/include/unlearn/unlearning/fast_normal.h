#pragma once
// Standard-normal draws for the unlearning hot loops (docs/performance.md: torch::randn of 20k doubles
// costs ~0.45–0.65 ms in this build, more than the rest of a reverse-KL step).
//
// xoshiro256++ (Blackman & Vigna) supplies 64 random bits per draw; a 256-layer ziggurat
// (Marsaglia & Tsang 2000, with Doornik's 2005 fix: the layer index, the sign and the 53-bit
// uniform come from disjoint bits of the word) turns them into exact standard-normal doubles;
// the tail beyond R = 3.6541528853610088 uses Marsaglia's exact exponential method. About 3 ns a
// draw, scalar. Deterministic: the same seed gives the same numbers on every platform, and
// filling [n, P] in one call or in several consecutive blocks gives the same numbers.
//
//   unlearn::FastNormalGenerator gen(42);
//   auto eps = torch::empty({1000, 20}, torch::kFloat64);
//   gen.fill_normal(eps);
#include <array>
#include <cstdint>

#include <torch/torch.h>

namespace unlearn {

class FastNormalGenerator {
 public:
  /// The state is expanded from the seed by splitmix64 (so that nearby seeds give unrelated
  /// streams).
  explicit FastNormalGenerator(uint64_t seed = 0);

  /// 64 uniformly random bits.
  uint64_t next_u64();
  /// A uniform integer in [0, n) without modulo bias; n ≥ 1.
  uint64_t below(uint64_t n);
  /// A uniform double in [0, 1) with 53 random bits.
  double uniform();
  /// One standard-normal draw.
  double normal();

  /// Fills a contiguous CPU tensor of float64 or float32 with independent N(0, 1) draws.
  void fill_normal(const torch::Tensor& out);
  /// A new tensor of N(0, 1) draws with these options (drawn on the CPU, moved to the device).
  torch::Tensor randn(at::IntArrayRef shape, const torch::TensorOptions& options);

  /// The generator's state, for checkpoints; set_state resumes the same stream.
  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& state);

 private:
  std::array<uint64_t, 4> s_;
};

}  // namespace unlearn
