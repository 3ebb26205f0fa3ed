#pragma once
/// @file
/// The library's one source of random numbers for its algorithms: every normal draw (VI and
/// SG-MCMC noise, EUBO / reverse-KL samples, BIF's sampler steps, a posterior's samples, a BNN's
/// local reparameterisation) and every random index of a hot loop comes from a `torch::Generator`
/// through these functions. A run is therefore reproduced, resumed and checkpointed through one
/// kind of state (`io::generator_state`), on any device (docs/architecture.md, "Random streams").
///
///   auto gen = unlearn::make_generator(42);
///   torch::Tensor scratch;                         // reused between steps: no allocation
///   auto eps = unlearn::standard_normal({1000, 20}, torch::kFloat64, gen, scratch);
///   int64_t j = unlearn::uniform_index(gen, 300);  // uniform in [0, 300)
#include <cstdint>

#include <torch/torch.h>

namespace unlearn {

/// A CPU `torch::Generator` seeded with `seed` (LibTorch's Mersenne Twister).
torch::Generator make_generator(uint64_t seed);

/// Fills (and returns) a tensor of shape `sizes` (dtype and device from `options`) with
/// independent N(0, 1) draws from `generator`.
///
/// CPU float64/float32 draws from a CPU generator use a 256-layer ziggurat (Marsaglia & Tsang
/// 2000, with Doornik's 2005 disjoint-bits fix and Marsaglia's exact tail) over a xoshiro256++
/// stream keyed by four 64-bit words taken from `generator`: about 3 ns a double, against
/// ≈ 22 ns for LibTorch 1.13's scalar CPU `normal_` (docs/performance.md). Each call advances
/// `generator` by exactly four words, so the numbers depend only on the generator's state and
/// the count. Other dtypes, and a generator on the tensor's (non-CPU) device, use `normal_`
/// (on CUDA: Philox). A generator on another device than the tensor draws there and copies over
/// (the same numbers on every device for a given generator state).
///
/// `scratch` is reused when it is large enough and of the same dtype and device, and replaced
/// otherwise; the result is a view of it, valid until the next call with the same scratch.
torch::Tensor standard_normal(at::IntArrayRef sizes, const torch::TensorOptions& options, torch::Generator& generator,
                              torch::Tensor& scratch);

/// standard_normal into a fresh tensor (for draws outside a hot loop).
torch::Tensor standard_normal(at::IntArrayRef sizes, const torch::TensorOptions& options, torch::Generator& generator);

/// standard_normal shaped like `like` (its dtype and device), into `scratch`.
inline torch::Tensor standard_normal_like(const torch::Tensor& like, torch::Generator& generator,
                                          torch::Tensor& scratch) {
  return standard_normal(like.sizes(), like.options(), generator, scratch);
}

/// A uniform integer in [0, n) without modulo bias (Lemire's multiply-and-reject on the CPU
/// generator's 64-bit words); n ≥ 1. A host-side draw: no tensor, no device sync.
int64_t uniform_index(torch::Generator& generator, int64_t n);

}  // namespace unlearn
