#pragma once
// Step-size schedules as pure functions of the step counter (docs/architecture.md, "Tiers"), so that a resumed
// run continues with exactly the step sizes an uninterrupted one would have used:
//
//   η_t = a · (b + t)^(−γ),   t = steps already taken (0 for the first step).
//
// γ = 0 gives the constant step size a; 0.5 < γ ≤ 1 satisfies the Robbins–Monro conditions
// under which SGLD converges to the posterior (Welling & Teh 2011).
#include <cstdint>

namespace unlearn::inference {

/// η_t = a · (b + t)^(−γ). No checks (see check_polynomial_schedule): this is the hot path.
double polynomial_step_size(double a, double b, double gamma, int64_t t);

/// TORCH_CHECKs that name the offending value, prefixed by `who` ("SGLD", "SGHMC"):
/// a > 0 and finite, γ ≥ 0 and finite, b ≥ 0 and finite, and b > 0 when γ > 0 (η_0 finite).
void check_polynomial_schedule(const char* who, double a, double b, double gamma);

}  // namespace unlearn::inference
