#include "unlearn/inference/noise.h"

#include <cmath>

namespace unlearn::inference {
namespace {

// Below this many numbers LibTorch's normal_ is cheaper than the ten vectorised ops below.
constexpr int64_t kBoxMullerMin = 1024;

// Box–Muller with vectorised ops, in place: z = √(−2 log(1 − u₁)) · (cos 2πu₂, sin 2πu₂).
// LibTorch 1.13's CPU normal_ transforms one pair at a time in scalar code (≈ 22 ns a double,
// docs/performance.md); this is about 2.5x faster for the S·P noise of a VI step. `out` has room for
// an even count 2h >= n, `u` for 2h uniforms; both are slices of the scratch buffer.
void box_muller(torch::Tensor out, torch::Tensor u, torch::Generator& generator) {
  const int64_t h = out.numel() / 2;
  u.uniform_(0.0, 1.0, generator);
  auto radius = u.narrow(0, 0, h);
  auto angle = u.narrow(0, h, h);
  radius.neg_().log1p_().mul_(-2.0).sqrt_();  // 1 − u ∈ (0, 1]: the log is finite
  angle.mul_(2.0 * M_PI);
  auto first = out.narrow(0, 0, h), second = out.narrow(0, h, h);
  at::cos_out(first, angle).mul_(radius);
  at::sin_out(second, angle).mul_(radius);
}

}  // namespace

torch::Tensor standard_normal(at::IntArrayRef sizes, const torch::TensorOptions& options, torch::Generator& generator,
                              torch::Tensor& scratch) {
  TORCH_CHECK(generator.defined(), "standard_normal: the generator is undefined");
  const auto opts = options.requires_grad(false);
  const int64_t n = c10::multiply_integers(sizes);
  const bool same_device = generator.device().type() == opts.device().type();
  const bool fast = same_device && opts.device().is_cpu() && n >= kBoxMullerMin &&
                    (opts.dtype() == torch::kFloat64 || opts.dtype() == torch::kFloat32);
  const int64_t even = n + (n % 2);
  const int64_t needed = fast ? 2 * even : n;  // Box–Muller also keeps its uniforms there
  if (!scratch.defined() || scratch.numel() < needed || scratch.scalar_type() != opts.dtype().toScalarType() ||
      scratch.device() != opts.device()) {
    scratch = torch::empty({needed}, opts);
  }
  auto out = scratch.narrow(0, 0, n).view(sizes);
  if (fast) {
    box_muller(scratch.narrow(0, 0, even), scratch.narrow(0, even, even), generator);
  } else if (same_device) {
    out.normal_(0.0, 1.0, generator);
  } else {
    out.copy_(torch::empty(sizes, opts.device(generator.device())).normal_(0.0, 1.0, generator));
  }
  return out;
}

}  // namespace unlearn::inference
