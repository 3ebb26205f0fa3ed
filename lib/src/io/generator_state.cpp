#include "unlearn/io/generator_state.h"

#include <mutex>

namespace unlearn::io {

torch::Tensor generator_state(const torch::Generator& generator) {
  TORCH_CHECK(generator.defined(), "generator_state: the generator is undefined");
  torch::Generator handle = generator;  // shares the implementation; mutex() is non-const
  // Another thread may be drawing: its lock is the generator's own (as in PyTorch's bindings).
  std::lock_guard<std::mutex> lock(handle.mutex());
  return handle.get_state().clone();
}

void set_generator_state(torch::Generator& generator, const torch::Tensor& state) {
  TORCH_CHECK(generator.defined(), "set_generator_state: the generator is undefined");
  TORCH_CHECK(state.defined(), "set_generator_state: the state tensor is undefined");
  TORCH_CHECK(state.scalar_type() == torch::kUInt8 && state.dim() == 1,
              "set_generator_state: expected a 1-D uint8 tensor from generator_state, got ", state.scalar_type(),
              " of shape ", state.sizes());
  std::lock_guard<std::mutex> lock(generator.mutex());
  try {
    generator.set_state(state.to(torch::kCPU).contiguous());
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "set_generator_state: a state of ", state.numel(), " bytes does not fit this ",
                generator.device(), " generator: ", e.what_without_backtrace());
  }
}

}  // namespace unlearn::io
