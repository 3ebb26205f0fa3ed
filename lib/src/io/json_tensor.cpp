#include "unlearn/io/json_tensor.h"

#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"

namespace unlearn::io {
namespace {

using nlohmann::json;

json float_to_json(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  return x;
}

// Walks a contiguous buffer in row-major order, one nesting level per dimension.
template <typename T, typename Leaf>
json nest(const T* data, const std::vector<int64_t>& sizes, std::size_t dim, int64_t& cursor, Leaf leaf) {
  if (dim == sizes.size()) return leaf(data[cursor++]);
  json out = json::array();
  for (int64_t i = 0; i < sizes[dim]; ++i) out.push_back(nest(data, sizes, dim + 1, cursor, leaf));
  return out;
}

// Shape of nested lists, read along the first elements; checked against every element later.
std::vector<int64_t> shape_of(const json& value) {
  std::vector<int64_t> shape;
  const json* v = &value;
  while (v->is_array()) {
    shape.push_back(static_cast<int64_t>(v->size()));
    if (v->empty()) break;
    v = &(*v)[0];
  }
  return shape;
}

struct Flattener {
  const std::vector<int64_t>& shape;
  bool integral, boolean;
  std::vector<double> reals;
  std::vector<int64_t> integers;

  void visit(const json& v, std::size_t dim, const std::string& where) {
    if (dim < shape.size()) {
      if (!v.is_array() || static_cast<int64_t>(v.size()) != shape[dim])
        throw ConfigError(fmt::format("{} = {} does not fit the shape: expected a list of {} elements (all rows of "
                                      "a tensor have equal length)",
                                      where, json_excerpt(v), shape[dim]));
      for (std::size_t i = 0; i < v.size(); ++i) visit(v[i], dim + 1, fmt::format("{}[{}]", where, i));
      return;
    }
    if (boolean) {
      if (!v.is_boolean()) throw ConfigError(fmt::format("{} = {} should be true or false", where, json_excerpt(v)));
      integers.push_back(v.get<bool>() ? 1 : 0);
    } else if (integral) {
      if (!v.is_number_integer()) throw ConfigError(fmt::format("{} = {} should be an integer", where, json_excerpt(v)));
      integers.push_back(v.get<int64_t>());
    } else if (v.is_number()) {
      reals.push_back(v.get<double>());
    } else if (v.is_string() && (v == "NaN" || v == "Infinity" || v == "-Infinity")) {
      const double inf = std::numeric_limits<double>::infinity();
      reals.push_back(v == "NaN" ? std::numeric_limits<double>::quiet_NaN() : v == "Infinity" ? inf : -inf);
    } else {
      throw ConfigError(fmt::format("{} = {} should be a number", where, json_excerpt(v)));
    }
  }
};

}  // namespace

json tensor_to_json(const torch::Tensor& tensor) {
  TORCH_CHECK(tensor.defined(), "tensor_to_json: the tensor is undefined");
  TORCH_CHECK(!tensor.is_complex(), "tensor_to_json: complex tensors have no JSON form, got ", tensor.scalar_type());
  const auto t = tensor.detach().to(torch::kCPU);
  const std::vector<int64_t> sizes = t.sizes().vec();
  int64_t cursor = 0;
  if (t.scalar_type() == torch::kBool) {
    const auto c = t.contiguous();
    return nest(c.data_ptr<bool>(), sizes, 0, cursor, [](bool b) { return json(b); });
  }
  if (t.is_floating_point()) {
    const auto c = t.to(torch::kFloat64).contiguous();
    return nest(c.data_ptr<double>(), sizes, 0, cursor, float_to_json);
  }
  const auto c = t.to(torch::kInt64).contiguous();
  return nest(c.data_ptr<int64_t>(), sizes, 0, cursor, [](int64_t x) { return json(x); });
}

torch::Tensor json_to_tensor(const json& value, torch::Dtype dtype, const std::string& what) {
  TORCH_CHECK(!c10::isComplexType(dtype), "json_to_tensor: complex dtypes have no JSON form, got ", dtype);
  const auto shape = shape_of(value);
  const bool boolean = dtype == torch::kBool;
  Flattener flat{shape, !boolean && c10::isIntegralType(dtype, /*includeBool=*/false), boolean, {}, {}};
  flat.visit(value, 0, what);
  auto cpu = torch::TensorOptions().device(torch::kCPU);
  torch::Tensor out = flat.integral || flat.boolean
                          ? torch::tensor(flat.integers, cpu.dtype(torch::kInt64))
                          : torch::tensor(flat.reals, cpu.dtype(torch::kFloat64));
  return out.reshape(shape).to(dtype);
}

}  // namespace unlearn::io
