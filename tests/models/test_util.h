#pragma once
// Helpers shared by the model tests: finite differences and the reference data paths.
#include <functional>
#include <string>

#include <torch/torch.h>

namespace unlearn::models::test_util {

inline std::string data_path(const std::string& name) {
  return std::string(UNLEARN_SOURCE_DIR) + "/configs/data/" + name;
}

/// Central finite differences of a scalar function of `x` (float64, modified in place and
/// restored): returns a tensor shaped like x.
inline torch::Tensor central_differences(torch::Tensor x, const std::function<double()>& fn,
                                         double eps = 1e-6) {
  torch::NoGradGuard no_grad;
  auto flat = x.view({-1});
  auto out = torch::zeros({flat.size(0)}, torch::kFloat64);
  for (int64_t i = 0; i < flat.size(0); ++i) {
    const double orig = flat[i].item<double>();
    flat[i] = orig + eps;
    const double up = fn();
    flat[i] = orig - eps;
    const double down = fn();
    flat[i] = orig;
    out[i] = (up - down) / (2 * eps);
  }
  return out.view(x.sizes());
}

/// log σ(f) computed plainly in double, for the reference loops.
inline double plain_log_sigmoid(double f) {
  return f >= 0 ? -std::log1p(std::exp(-f)) : f - std::log1p(std::exp(f));
}

}  // namespace unlearn::models::test_util
