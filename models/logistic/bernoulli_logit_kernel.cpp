#include "logistic/bernoulli_logit_kernel.h"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__) && defined(UNLEARN_HAVE_LIBMVEC)
#include <immintrin.h>
// glibc's vector math library (libmvec, glibc >= 2.35 for log1p): 4 doubles per call.
extern "C" __m256d _ZGVdN4v_exp(__m256d);
extern "C" __m256d _ZGVdN4v_log1p(__m256d);
#define UNLEARN_FUSED_BERNOULLI 1
#endif

namespace unlearn::models::kernels {
namespace {

// The scalar form, for the tail of a row (and the reference the vector form follows):
//   e = exp(−|f|) ∈ (0, 1],  log p = y·f − max(f, 0) − log1p(e),
//   σ(f) = 1/(1+e) for f ≥ 0 and e/(1+e) otherwise (no overflow, no cancellation).
inline void scalar_term(double f, double y, double* ll, double* g) {
  const double e = std::exp(-std::abs(f));
  *ll = y * f - std::max(f, 0.0) - std::log1p(e);
  const double r = 1.0 / (1.0 + e);
  *g = y - (f >= 0 ? r : e * r);
}

#ifdef UNLEARN_FUSED_BERNOULLI
__attribute__((target("avx2,fma"))) void fused_rows(const double* f, const double* y, bool scalar_y, int64_t rows,
                                                     int64_t cols, double* ll, double* g) {
  const __m256d sign = _mm256_set1_pd(-0.0), one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
  for (int64_t r = 0; r < rows; ++r) {
    const double* fr = f + r * cols;
    double* lr = ll + r * cols;
    double* gr = g + r * cols;
    int64_t b = 0;
    for (; b + 4 <= cols; b += 4) {
      const __m256d fv = _mm256_loadu_pd(fr + b);
      const __m256d yv = scalar_y ? _mm256_set1_pd(y[0]) : _mm256_loadu_pd(y + b);
      const __m256d e = _ZGVdN4v_exp(_mm256_or_pd(fv, sign));  // exp(−|f|)
      const __m256d log_lik = _mm256_sub_pd(_mm256_fmsub_pd(yv, fv, _mm256_max_pd(fv, zero)), _ZGVdN4v_log1p(e));
      const __m256d inv = _mm256_div_pd(one, _mm256_add_pd(one, e));
      const __m256d sigma = _mm256_blendv_pd(_mm256_mul_pd(e, inv), inv, _mm256_cmp_pd(fv, zero, _CMP_GE_OQ));
      _mm256_storeu_pd(lr + b, log_lik);
      _mm256_storeu_pd(gr + b, _mm256_sub_pd(yv, sigma));
    }
    for (; b < cols; ++b) scalar_term(fr[b], scalar_y ? y[0] : y[b], lr + b, gr + b);
  }
}

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
#endif

}  // namespace

bool bernoulli_logit_fused_available(const torch::Tensor& f) {
#ifdef UNLEARN_FUSED_BERNOULLI
  return f.defined() && f.device().is_cpu() && f.scalar_type() == torch::kFloat64 && f.dim() >= 1 &&
         cpu_has_avx2_fma();
#else
  (void)f;
  return false;
#endif
}

bool bernoulli_logit_fused(const torch::Tensor& f, const torch::Tensor& y, torch::Tensor& log_lik,
                           torch::Tensor& dlog_lik_df) {
#ifdef UNLEARN_FUSED_BERNOULLI
  if (!bernoulli_logit_fused_available(f) || !y.device().is_cpu()) return false;
  const int64_t cols = f.size(-1);
  const bool scalar_y = y.numel() == 1;
  if (!scalar_y && !(y.dim() == 1 && y.size(0) == cols)) return false;  // other broadcasts: torch path
  auto fc = f.contiguous();
  auto yc = y.to(torch::kFloat64).contiguous();
  log_lik = torch::empty_like(fc, torch::MemoryFormat::Contiguous);
  dlog_lik_df = torch::empty_like(fc, torch::MemoryFormat::Contiguous);
  const int64_t rows = cols == 0 ? 0 : fc.numel() / cols;
  fused_rows(fc.data_ptr<double>(), yc.data_ptr<double>(), scalar_y, rows, cols, log_lik.data_ptr<double>(),
             dlog_lik_df.data_ptr<double>());
  return true;
#else
  (void)f, (void)y, (void)log_lik, (void)dlog_lik_df;
  return false;
#endif
}

}  // namespace unlearn::models::kernels
