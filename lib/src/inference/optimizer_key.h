#pragma once
// The key of a parameter in torch::optim::Optimizer::state_. LibTorch 1.x keys the state by a
// string of the parameter's TensorImpl address (c10::guts::to_string, gone from LibTorch 2.x);
// LibTorch 2.x keys it by the address itself (void*). This picks whichever the build has, so
// that our optimizers' state stays interchangeable with torch's own serialisation on both.
#include <sstream>
#include <string>
#include <type_traits>

#include <torch/types.h>

namespace unlearn::inference::detail {

template <typename StateMap>
typename StateMap::key_type optimizer_state_key(const StateMap& /*state*/, const torch::Tensor& param) {
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;  // what c10::guts::to_string(TensorImpl*) wrote
    os << static_cast<const void*>(param.unsafeGetTensorImpl());
    return os.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

}  // namespace unlearn::inference::detail
