// Inverse-HVP solvers of BIF: LiSSA, conjugate gradient and the dense Cholesky solve agree on a
// small random SPD problem; autograd Hessians and HVPs equal the analytic ones; bad options are
// rejected naming the value.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include "unlearn/unlearning/bif/inverse_hvp.h"

namespace {
using namespace unlearn;
using namespace unlearn::bif;

// A = Q diag(λ) Qᵀ with λ evenly spaced in [lo, hi] and Q a seeded random orthogonal matrix.
torch::Tensor random_spd(int64_t p, double lo, double hi, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto q = std::get<0>(torch::linalg_qr(torch::randn({p, p}, gen, torch::kFloat64)));
  auto lambda = torch::linspace(lo, hi, p, torch::kFloat64);
  return torch::matmul(q * lambda.unsqueeze(0), q.t());
}

HessianVectorProduct matrix_hvp(const torch::Tensor& a) {
  return [a](const torch::Tensor& v, int64_t) { return torch::mv(a, v); };
}

double rel_err(const torch::Tensor& x, const torch::Tensor& ref) {
  return ((x - ref).norm() / ref.norm()).item<double>();
}

template <typename F>
void expect_error_containing(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << needle;
  }
}

// Seed 1, P = 10, eigenvalues of A in [1, 10] (condition number κ = 10).
class BifSolvers : public ::testing::Test {
 protected:
  void SetUp() override {
    a = random_spd(10, 1.0, 10.0, 1);
    auto gen = at::detail::createCPUGenerator(2);
    v = torch::randn({10}, gen, torch::kFloat64);
    exact = torch::linalg_solve(a, v);
  }
  torch::Tensor a, v, exact;
};

TEST_F(BifSolvers, DenseSolveMatchesLinalgSolve) {
  auto r = dense_solve(a, v);
  // Cholesky in float64 on κ = 10: backward error ~1e-16, forward error ≤ κ·that.
  EXPECT_LT(rel_err(r.solution, exact), 1e-12);
  EXPECT_LT(r.residual, 1e-13);
  EXPECT_EQ(r.iterations, 1);
  // Damping solves (A + δI) x = v.
  auto d = dense_solve(a, v, 0.5);
  auto exact_d = torch::linalg_solve(a + 0.5 * torch::eye(10, torch::kFloat64), v);
  EXPECT_LT(rel_err(d.solution, exact_d), 1e-12);
}

TEST_F(BifSolvers, ConjugateGradientAgreesWithDense) {
  auto r = conjugate_gradient(matrix_hvp(a), v, CgOptions().tol(1e-12));
  // Stopping at ‖r‖/‖v‖ ≤ 1e-12 bounds the relative error by κ·1e-12 = 1e-11.
  EXPECT_LE(r.residual, 1e-12);
  EXPECT_LT(rel_err(r.solution, dense_solve(a, v).solution), 1e-10);
  // Exact arithmetic needs at most P = 10 iterations; allow a few for round-off.
  EXPECT_LE(r.iterations, 15);
  EXPECT_GE(r.iterations, 1);
  // The reported residual is the true one (up to the recursion's drift).
  EXPECT_LT(((torch::mv(a, r.solution) - v).norm() / v.norm()).item<double>(), 1e-11);
  // Damping: (A + δI) x = v.
  auto d = conjugate_gradient(matrix_hvp(a), v, CgOptions().tol(1e-12).damping(2.0));
  EXPECT_LT(rel_err(d.solution, dense_solve(a, v, 2.0).solution), 1e-10);
  // max_iter bounds the work and the residual says how far it got.
  auto early = conjugate_gradient(matrix_hvp(a), v, CgOptions().tol(1e-12).max_iter(2));
  EXPECT_EQ(early.iterations, 2);
  EXPECT_GT(early.residual, 1e-6);
}

TEST_F(BifSolvers, LissaAgreesWithDenseAtTheGeometricRate) {
  // s = 1/11: the eigenvalues of sA lie in [1/11, 10/11] ⊂ (0, 2), so LiSSA converges. Its
  // result is s·h_T = A⁻¹ (I − (I − sA)^{T+1}) v, so the relative error is at most
  // κ (1 − s λ_min)^{T+1} = 10 (10/11)^{T+1}: for T = 300 about 3e-12.
  const double s = 1.0 / 11.0;
  auto r = lissa(matrix_hvp(a), v, LissaOptions().scale(s).terms(300));
  EXPECT_LT(rel_err(r.solution, dense_solve(a, v).solution), 1e-10);
  EXPECT_EQ(r.iterations, 300);
  EXPECT_LT(r.residual, 1e-10);

  // Few terms: the result is exactly the truncated Neumann series (the papers' recursion, result
  // s·h_T, T HVPs), and its error respects the stated bound but is far from 0.
  for (int64_t t : {1, 5, 20}) {
    auto few = lissa(matrix_hvp(a), v, LissaOptions().scale(s).terms(t));
    auto m = torch::eye(10, torch::kFloat64) - s * a;
    auto series = torch::linalg_solve(a, v - torch::mv(torch::linalg_matrix_power(m, t + 1), v));
    EXPECT_LT(rel_err(few.solution, series), 1e-12) << "T = " << t;
    const double bound = 10.0 * std::pow(10.0 / 11.0, static_cast<double>(t + 1));
    EXPECT_LE(rel_err(few.solution, exact), bound * (1 + 1e-9)) << "T = " << t;
    EXPECT_GT(rel_err(few.solution, exact), 1e-3) << "T = " << t;
  }
}

TEST_F(BifSolvers, LissaPassesTermIndicesAndUsesFullOperatorForResidual) {
  std::vector<int64_t> seen;
  HessianVectorProduct hvp = [&](const torch::Tensor& x, int64_t term) {
    seen.push_back(term);
    return torch::mv(a, x);
  };
  lissa(hvp, v, LissaOptions().scale(0.05).terms(4));
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, kFullHessian}));
  seen.clear();
  auto r = lissa(hvp, v, LissaOptions().scale(0.05).terms(4).compute_residual(false));
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(std::isnan(r.residual));
}

TEST_F(BifSolvers, LissaDivergesWhenScaleIsTooLarge) {
  // s = 0.25: s·λ_max = 2.5 > 2, the top mode grows like 1.5^T: a documented failure mode.
  auto r = lissa(matrix_hvp(a), v, LissaOptions().scale(0.25).terms(60));
  EXPECT_GT(r.residual, 1e3);
}

// The divergence guard: silent on a stable series (‖h_t‖ <= (t + 1)‖v‖ there, so κ = 1 must keep
// all T terms, bit-identically), and on a diverging one (s·λ_max = 2.5) it keeps exactly the terms
// before the first iterate above κ(t + 1)‖v‖: the result is the unguarded series of that many
// terms, finite and within the bound the option promises.
TEST_F(BifSolvers, LissaGuardKeepsStableSeriesAndCutsADivergingOne) {
  const double s = 1.0 / 11.0;
  auto plain = lissa(matrix_hvp(a), v, LissaOptions().scale(s).terms(40));
  auto guarded = lissa(matrix_hvp(a), v, LissaOptions().scale(s).terms(40).guard(1.0));
  EXPECT_EQ(guarded.iterations, 40);
  EXPECT_TRUE(torch::equal(guarded.solution, plain.solution));
  // Random minibatch-like terms, each with its spectrum inside [0, 2/s]: still never cut.
  std::vector<torch::Tensor> terms;
  for (int i = 0; i < 40; ++i) terms.push_back(random_spd(10, 0.0, 2.0 / s, 100 + i));
  HessianVectorProduct noisy = [&](const torch::Tensor& x, int64_t t) { return torch::mv(terms.at(t), x); };
  EXPECT_EQ(lissa(noisy, v, LissaOptions().scale(s).terms(40).guard(1.0).compute_residual(false)).iterations, 40);

  const double vnorm = v.norm().item<double>();
  for (double kappa : {1.0, 3.0}) {
    auto cut = lissa(matrix_hvp(a), v, LissaOptions().scale(0.25).terms(60).guard(kappa));
    // h_t = v + (I − sA) h_{t−1}; its top mode grows like 1.5^t, so the first iterate above
    // κ(t + 1)‖v‖ comes after a few terms and long before 60.
    auto m = torch::eye(10, torch::kFloat64) - 0.25 * a;
    int64_t expect_kept = 0;
    auto h = v.clone();
    for (int64_t t = 1; t <= 60; ++t) {
      h = v + torch::mv(m, h);
      if (h.norm().item<double>() > kappa * static_cast<double>(t + 1) * vnorm) break;
      expect_kept = t;
    }
    EXPECT_GT(expect_kept, 0) << "κ = " << kappa;
    EXPECT_LT(expect_kept, 30) << "κ = " << kappa;
    EXPECT_EQ(cut.iterations, expect_kept) << "κ = " << kappa;
    auto prefix = lissa(matrix_hvp(a), v, LissaOptions().scale(0.25).terms(expect_kept));
    EXPECT_LT(rel_err(cut.solution, prefix.solution), 1e-14) << "κ = " << kappa;
    EXPECT_LE(cut.solution.norm().item<double>(), 0.25 * kappa * (expect_kept + 1) * vnorm * (1 + 1e-12));
  }
  // A NaN iterate trips it too: the terms before it are kept.
  int64_t calls = 0;
  HessianVectorProduct nan_at_3 = [&](const torch::Tensor& x, int64_t term) {
    ++calls;
    return term == 3 ? torch::full_like(x, std::nan("")) : torch::mv(a, x);
  };
  auto r = lissa(nan_at_3, v, LissaOptions().scale(s).terms(40).guard(2.0).compute_residual(false));
  EXPECT_EQ(r.iterations, 3);
  EXPECT_TRUE(torch::isfinite(r.solution).all().item<bool>());
  EXPECT_LE(calls, 8) << "the guard looks every 8 terms and stops once tripped";
}

TEST(BifDense, HessianOfQuadraticEqualsMatrixAndHvpEqualsMatrixTimesV) {
  // γ = (x [4], the lower triangle of Y [3, 3]) = 10 coordinates; F = ½ γᵀAγ + bᵀγ with A SPD
  // (seed 3). The upper entries of Y are not coordinates of γ.
  auto a = random_spd(10, 0.5, 4.0, 3);
  auto gen = at::detail::createCPUGenerator(4);
  auto b = torch::randn({10}, gen, torch::kFloat64);
  auto x = torch::randn({4}, gen, torch::kFloat64).requires_grad_(true);
  auto y = torch::randn({3, 3}, gen, torch::kFloat64).requires_grad_(true);
  auto mask = torch::ones({3, 3}, torch::kBool).tril();
  FlatParameters gamma({x, y}, {torch::Tensor(), mask});
  ASSERT_EQ(gamma.numel(), 10);
  EnergyFn energy = [&](int64_t) {
    auto g = torch::cat({x, y.masked_select(mask)});
    return 0.5 * g.dot(torch::mv(a, g)) + b.dot(g);
  };
  auto h = dense_hessian(energy, gamma);
  EXPECT_LT((h - a).abs().max().item<double>(), 1e-12);

  auto v = torch::randn({10}, gen, torch::kFloat64);
  auto hvp = hvp_of(energy, gamma);
  EXPECT_LT((hvp(v, kFullHessian) - torch::mv(a, v)).abs().max().item<double>(), 1e-12);
  EXPECT_LT((hvp(v, 7) - torch::mv(a, v)).abs().max().item<double>(), 1e-12);

  // The gradient is A γ + b, and add_ moves only the masked entries.
  auto g0 = gamma.values();
  EXPECT_LT((gamma.gradient(energy(kFullHessian)) - (torch::mv(a, g0) + b)).abs().max().item<double>(),
            1e-12);
  auto upper_before = y.detach().triu(1).clone();
  gamma.add_(torch::ones({10}, torch::kFloat64));
  EXPECT_LT((gamma.values() - (g0 + 1)).abs().max().item<double>(), 1e-15);
  EXPECT_TRUE(torch::equal(y.detach().triu(1), upper_before));

  // Newton through solve_inverse_hvp from any point lands on the minimiser −A⁻¹b, for each solver.
  auto minimiser = -torch::linalg_solve(a, b);
  for (auto kind : {SolverKind::kDense, SolverKind::kConjugateGradient, SolverKind::kLissa}) {
    auto opts = InverseHvpOptions().kind(kind);
    opts.cg().tol(1e-13);
    opts.lissa().scale(0.4).terms(400);  // s·λ ∈ [0.2, 1.6]; (0.8)^401 ≈ 1e-39
    auto grad = gamma.gradient(energy(kFullHessian));
    auto step = solve_inverse_hvp(energy, gamma, grad, opts);
    EXPECT_LT(rel_err(gamma.values() - step.solution, minimiser), 1e-10) << to_string(kind);
  }
}

TEST(BifDense, NotPositiveDefiniteIsAnErrorNamingDampingAndSize) {
  auto a = random_spd(10, 1.0, 10.0, 1);
  a = a - 3.0 * torch::eye(10, torch::kFloat64);  // eigenvalues in [−2, 7]
  auto v = torch::ones({10}, torch::kFloat64);
  expect_error_containing([&] { dense_solve(a, v, 0.0); }, "P = 10, damping δ = 0)");
  // Enough damping makes it positive definite again.
  EXPECT_NO_THROW(dense_solve(a, v, 2.5));
  // CG started on the eigenvector of eigenvalue −2 meets negative curvature at once.
  auto neg = std::get<1>(torch::linalg_eigh(a)).select(1, 0).contiguous();
  expect_error_containing([&] { conjugate_gradient(matrix_hvp(a), neg); }, "non-positive curvature");
  expect_error_containing([&] { conjugate_gradient(matrix_hvp(a), neg, CgOptions().damping(0.25)); },
                          "damping δ = 0.25");
}

TEST(BifOptions, BadOptionsAreRejectedNamingTheValue) {
  auto a = random_spd(5, 1.0, 2.0, 5);
  auto v = torch::ones({5}, torch::kFloat64);
  auto hvp = matrix_hvp(a);
  expect_error_containing([&] { lissa(hvp, v, LissaOptions().terms(0)); }, "terms T = 0");
  expect_error_containing([&] { lissa(hvp, v, LissaOptions().scale(0)); }, "scale s = 0");
  expect_error_containing([&] { lissa(hvp, v, LissaOptions().scale(-1.5)); }, "scale s = -1.5");
  expect_error_containing([&] { lissa(hvp, v, LissaOptions().damping(-1)); }, "damping = -1");
  expect_error_containing([&] { lissa(hvp, v, LissaOptions().guard(0.5)); }, "guard = 0.5");
  expect_error_containing([&] { conjugate_gradient(hvp, v, CgOptions().damping(-0.5)); },
                          "damping = -0.5");
  expect_error_containing([&] { conjugate_gradient(hvp, v, CgOptions().tol(0)); }, "tol = 0");
  expect_error_containing([&] { conjugate_gradient(hvp, v, CgOptions().max_iter(0)); },
                          "max_iter = 0");
  expect_error_containing([&] { dense_solve(a, v, -2.0); }, "damping = -2");
  expect_error_containing([&] { dense_solve(a, torch::ones({4}, torch::kFloat64)); }, "[5, 5]");
  expect_error_containing([&] { solver_kind_from_string("newton"); }, "'newton' (allowed: lissa, cg, dense)");
  EXPECT_EQ(solver_kind_from_string("cg"), SolverKind::kConjugateGradient);

  auto big = torch::zeros({2049}, torch::kFloat64).requires_grad_(true);
  FlatParameters gamma({big});
  EnergyFn energy = [&](int64_t) { return big.square().sum(); };
  expect_error_containing([&] { dense_hessian(energy, gamma); }, "P = 2049");
}

}  // namespace
