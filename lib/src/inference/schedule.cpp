#include "unlearn/inference/schedule.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace unlearn::inference {

double polynomial_step_size(double a, double b, double gamma, int64_t t) {
  if (gamma == 0.0) return a;
  return a * std::pow(b + static_cast<double>(t), -gamma);
}

void check_polynomial_schedule(const char* who, double a, double b, double gamma) {
  TORCH_CHECK(std::isfinite(a) && a > 0, who, ": lr (step size a) = ", a, " must be > 0 and finite");
  TORCH_CHECK(std::isfinite(gamma) && gamma >= 0, who, ": schedule decay gamma = ", gamma, " must be >= 0 and finite");
  TORCH_CHECK(std::isfinite(b) && b >= 0, who, ": schedule offset b = ", b, " must be >= 0 and finite");
  TORCH_CHECK(gamma == 0 || b > 0, who, ": schedule offset b = ", b, " must be > 0 when decay gamma = ", gamma,
              " > 0 (otherwise the first step size a*b^-gamma is infinite)");
}

}  // namespace unlearn::inference
