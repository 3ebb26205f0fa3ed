#pragma once
// A torch::Generator's state as a tensor, so that it rides in a checkpoint and an interrupted
// run resumes to the same bits (docs/architecture.md, "Conventions", random streams).
//
//   ckpt.tensors["rng"] = unlearn::io::generator_state(gen);          // save
//   unlearn::io::set_generator_state(gen, ckpt.at("rng"));            // resume: same draws
//
// Works for any generator LibTorch has (CPU: the Mersenne Twister and the cached normal;
// CUDA: seed and Philox offset). The state is always a CPU uint8 tensor; it only fits a
// generator of the same device type.
#include <torch/torch.h>

namespace unlearn::io {

/// A copy of the generator's full state: a 1-D uint8 CPU tensor.
torch::Tensor generator_state(const torch::Generator& generator);

/// Puts a state from generator_state back. A tensor that is not uint8, or that belongs to
/// another kind of generator, is a c10::Error; the generator is then unchanged.
void set_generator_state(torch::Generator& generator, const torch::Tensor& state);

}  // namespace unlearn::io
