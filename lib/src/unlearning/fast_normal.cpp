#include "unlearn/unlearning/fast_normal.h"

#include <cmath>

namespace unlearn {
namespace {

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

inline uint64_t rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

inline uint64_t xoshiro_next(std::array<uint64_t, 4>& s) {
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

constexpr double kTwoPowMinus53 = 1.0 / 9007199254740992.0;

inline double to_uniform(uint64_t bits) { return static_cast<double>(bits >> 11) * kTwoPowMinus53; }

// The ziggurat. Bits 0–7: layer; bit 8: sign; bits 11–63: the 53-bit uniform (disjoint).
inline double ziggurat(std::array<uint64_t, 4>& s, const Tables& t) {
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

}  // namespace

FastNormalGenerator::FastNormalGenerator(uint64_t seed) {
  uint64_t z = seed;
  for (auto& word : s_) {  // splitmix64
    z += 0x9e3779b97f4a7c15ULL;
    uint64_t v = z;
    v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
    v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
    word = v ^ (v >> 31);
  }
}

void FastNormalGenerator::set_state(const std::array<uint64_t, 4>& state) {
  TORCH_CHECK(state[0] | state[1] | state[2] | state[3],
              "FastNormalGenerator: the all-zero state is not a valid xoshiro256++ state");
  s_ = state;
}

uint64_t FastNormalGenerator::next_u64() { return xoshiro_next(s_); }

uint64_t FastNormalGenerator::below(uint64_t n) {
  TORCH_CHECK(n >= 1, "FastNormalGenerator::below: n = ", n, " must be >= 1");
  // Lemire's multiply-and-reject.
  unsigned __int128 m = static_cast<unsigned __int128>(xoshiro_next(s_)) * n;
  auto low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(xoshiro_next(s_)) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double FastNormalGenerator::uniform() { return to_uniform(xoshiro_next(s_)); }

double FastNormalGenerator::normal() { return ziggurat(s_, tables()); }

void FastNormalGenerator::fill_normal(const torch::Tensor& out) {
  TORCH_CHECK(out.device().is_cpu(), "fill_normal: the tensor must be on the CPU, got ",
              out.device());
  TORCH_CHECK(out.is_contiguous(), "fill_normal: the tensor must be contiguous");
  const auto& t = tables();
  auto s = s_;  // local copy: the state stays in registers
  const int64_t n = out.numel();
  if (out.scalar_type() == torch::kFloat64) {
    double* p = out.data_ptr<double>();
    for (int64_t k = 0; k < n; ++k) p[k] = ziggurat(s, t);
  } else if (out.scalar_type() == torch::kFloat32) {
    float* p = out.data_ptr<float>();
    for (int64_t k = 0; k < n; ++k) p[k] = static_cast<float>(ziggurat(s, t));
  } else {
    TORCH_CHECK(false, "fill_normal: dtype ", out.scalar_type(), " is not float64 or float32");
  }
  s_ = s;
}

torch::Tensor FastNormalGenerator::randn(at::IntArrayRef shape, const torch::TensorOptions& options) {
  auto opts = options.requires_grad(false);
  auto cpu = torch::empty(shape, opts.device(torch::kCPU));
  fill_normal(cpu);
  return opts.device().is_cpu() ? cpu : cpu.to(opts.device());
}

}  // namespace unlearn
