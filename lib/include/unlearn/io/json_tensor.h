#pragma once
// Tensors as plain JSON, for `unlearn export` and for small tensors in configs: a 0-D tensor is
// a number, a 1-D tensor a list, a 2-D tensor a list of rows, and so on.
//
//   json["mean"] = unlearn::io::tensor_to_json(q->mean());                 // [0.12, -3.4, ...]
//   auto m = unlearn::io::json_to_tensor(json["mean"], torch::kFloat64, "mean");
//
// Floating values are written as the nearest double in its shortest exact decimal form, so a
// float64 tensor survives tensor_to_json -> dump -> parse -> json_to_tensor bit for bit. JSON
// has no NaN or infinity: those are written as the strings "NaN", "Infinity", "-Infinity"
// (Python's spelling) and read back as such.
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace unlearn::io {

/// Nested lists of numbers (floating and integer dtypes) or booleans. Any device; complex
/// tensors are a c10::Error.
nlohmann::json tensor_to_json(const torch::Tensor& tensor);

/// The inverse: a number / boolean or rectangular nested lists, converted to `dtype` on the
/// CPU. Ragged lists, wrong element types (a fraction for an integer dtype) are ConfigErrors
/// naming `what` and the element ("mean[1][2]").
torch::Tensor json_to_tensor(const nlohmann::json& value, torch::Dtype dtype = torch::kFloat64,
                             const std::string& what = "tensor");

}  // namespace unlearn::io
