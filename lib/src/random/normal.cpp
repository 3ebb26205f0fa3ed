#include "unlearn/random/normal.h"

#include <array>
#include <cmath>
#include <mutex>

#include <ATen/CPUGeneratorImpl.h>

namespace unlearn {
namespace {

// ---- xoshiro256++ (Blackman & Vigna), keyed per call by the torch::Generator -------------------

using XoshiroState = std::array<uint64_t, 4>;

inline uint64_t rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

inline uint64_t xoshiro_next(XoshiroState& s) {
  const uint64_t result = rotl(s[0] + s[3], 23) + s[0];
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

at::CPUGeneratorImpl* cpu_impl(torch::Generator& generator) {
  TORCH_CHECK(generator.defined(), "unlearn random: the generator is undefined");
  TORCH_CHECK(generator.device().is_cpu(), "unlearn random: expected a CPU generator, got one on ",
              generator.device());
  return at::check_generator<at::CPUGeneratorImpl>(generator);
}

// Four words of the Mersenne Twister, whitened by splitmix64 (a key that is never all zero in
// practice; the guard keeps xoshiro's one invalid state out).
XoshiroState key_from(torch::Generator& generator) {
  auto* impl = cpu_impl(generator);
  std::lock_guard<std::mutex> lock(generator.mutex());
  XoshiroState s;
  for (auto& word : s) word = splitmix64(impl->random64());
  if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;
  return s;
}

// ---- the ziggurat --------------------------------------------------------------------------

constexpr int kLayers = 256;
// Marsaglia & Tsang (2000), 256 layers: the right edge of the base layer and the common area.
constexpr double kR = 3.6541528853610088;
constexpr double kV = 0.00492867323399;

struct Tables {
  double x[kLayers + 1];  // x[i]: right edge of layer i (x[0]: the base's pseudo-width V/f(R))
  double f[kLayers + 1];  // f[i] = exp(−x[i]²/2)
  Tables() {
    auto pdf = [](double v) { return std::exp(-0.5 * v * v); };
    x[0] = kV / pdf(kR);
    x[1] = kR;
    for (int i = 1; i < kLayers - 1; ++i) x[i + 1] = std::sqrt(-2.0 * std::log(kV / x[i] + pdf(x[i])));
    x[kLayers] = 0.0;
    for (int i = 0; i <= kLayers; ++i) f[i] = pdf(x[i]);
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

constexpr double kTwoPowMinus53 = 1.0 / 9007199254740992.0;

inline double to_uniform(uint64_t bits) { return static_cast<double>(bits >> 11) * kTwoPowMinus53; }

// Bits 0–7: layer; bit 8: sign; bits 11–63: the 53-bit uniform (disjoint, Doornik 2005).
inline double ziggurat(XoshiroState& s, const Tables& t) {
  for (;;) {
    const uint64_t bits = xoshiro_next(s);
    const int i = static_cast<int>(bits & 0xFF);
    const bool negative = (bits >> 8) & 1;
    const double x = to_uniform(bits) * t.x[i];
    if (x < t.x[i + 1]) return negative ? -x : x;  // inside the layer's core rectangle (~99 %)
    if (i == 0) {
      // The tail beyond R (Marsaglia 1964): exact.
      double a, b;
      do {
        a = -std::log(1.0 - to_uniform(xoshiro_next(s))) / kR;
        b = -std::log(1.0 - to_uniform(xoshiro_next(s)));
      } while (b + b < a * a);
      return negative ? -(kR + a) : kR + a;
    }
    // The wedge between the rectangle and the curve.
    const double y = t.f[i] + to_uniform(xoshiro_next(s)) * (t.f[i + 1] - t.f[i]);
    if (y < std::exp(-0.5 * x * x)) return negative ? -x : x;
  }
}

template <typename T>
void fill_ziggurat(T* out, int64_t n, XoshiroState s) {
  const auto& t = tables();
  for (int64_t k = 0; k < n; ++k) out[k] = static_cast<T>(ziggurat(s, t));
}

bool ziggurat_dtype(const torch::TensorOptions& opts) {
  return opts.dtype() == torch::kFloat64 || opts.dtype() == torch::kFloat32;
}

// Fills a contiguous tensor on the generator's device.
void fill_on_generator_device(torch::Tensor& out, torch::Generator& generator) {
  if (out.device().is_cpu() && ziggurat_dtype(out.options())) {
    const auto key = key_from(generator);
    if (out.scalar_type() == torch::kFloat64) {
      fill_ziggurat(out.data_ptr<double>(), out.numel(), key);
    } else {
      fill_ziggurat(out.data_ptr<float>(), out.numel(), key);
    }
  } else {
    out.normal_(0.0, 1.0, generator);
  }
}

}  // namespace

torch::Generator make_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

torch::Tensor standard_normal(at::IntArrayRef sizes, const torch::TensorOptions& options, torch::Generator& generator,
                              torch::Tensor& scratch) {
  TORCH_CHECK(generator.defined(), "standard_normal: the generator is undefined");
  const auto opts = options.requires_grad(false);
  const int64_t n = c10::multiply_integers(sizes);
  if (!scratch.defined() || scratch.numel() < n || scratch.scalar_type() != opts.dtype().toScalarType() ||
      scratch.device() != opts.device()) {
    scratch = torch::empty({n}, opts);
  }
  auto out = scratch.narrow(0, 0, n);
  if (generator.device().type() == opts.device().type()) {
    fill_on_generator_device(out, generator);
  } else {
    auto there = torch::empty({n}, opts.device(generator.device()));
    fill_on_generator_device(there, generator);
    out.copy_(there);
  }
  return out.view(sizes);
}

torch::Tensor standard_normal(at::IntArrayRef sizes, const torch::TensorOptions& options, torch::Generator& generator) {
  torch::Tensor fresh;
  return standard_normal(sizes, options, generator, fresh);
}

int64_t uniform_index(torch::Generator& generator, int64_t n) {
  TORCH_CHECK(n >= 1, "uniform_index: n = ", n, " must be >= 1");
  auto* impl = cpu_impl(generator);
  std::lock_guard<std::mutex> lock(generator.mutex());
  const auto range = static_cast<uint64_t>(n);
  // Lemire's multiply-and-reject: the high word of bits·n is uniform on [0, n) once the low word
  // clears the threshold.
  unsigned __int128 m = static_cast<unsigned __int128>(impl->random64()) * range;
  auto low = static_cast<uint64_t>(m);
  if (low < range) {
    const uint64_t threshold = (0 - range) % range;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(impl->random64()) * range;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<int64_t>(m >> 64);
}

}  // namespace unlearn
