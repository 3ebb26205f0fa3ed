// One removal forgotten by BIF in requests of request_size (fmnist_study.h), and what each
// request's inverse-HVP solve did.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "fmnist_bif/fmnist_study.h"

namespace unlearn::studies {

bif::InverseHvpOptions FmnistStudy::solver_options(const std::string& method) const {
  return bif::InverseHvpOptions()
      .kind(bif::solver_kind_from_string(c_.solver.at(method)))
      .lissa(bif::LissaOptions()
                 .terms(c_.lissa_terms.at(method))
                 .damping(c_.damping)
                 .guard(c_.lissa_guard.at(method))
                 .compute_residual(false))
      .cg(bif::CgOptions().tol(c_.cg_tol).max_iter(c_.cg_max_iter.at(method)).damping(c_.damping));
}

// Forgets r.erased from the whole training set (the index set when data parallel), in order, in
// requests of request_size: the request loop's sequential batches. A diverged step is kept (the
// study records it) rather than refused. `seed` seeds the one generator all requests share.
RequestResult FmnistStudy::forget_in_requests(const std::string& method, Unlearner& unlearner,
                                              const PosteriorState& origin, const Removal& r, uint64_t seed) {
  ForgetContext ctx;
  ctx.seed = seed;
  ctx.parallel = parallel_;
  auto request = forget_request(unlearner, *model_, origin, sharded_train_.index, r.erased, ctx,
                                RequestOptions().batch_size(c_.request_size).allow_non_finite(true));
  note_divergence(method, request);
  record_solves(method, r, request);
  return request;
}

// What each request's inverse-HVP took (LiSSA terms kept or CG iterations), and how often the
// LiSSA guard cut a series (fewer than `terms` kept).
void FmnistStudy::record_solves(const std::string& method, const Removal& r, const RequestResult& request) {
  const bool guarded = c_.solver.at(method) == "lissa" && c_.lissa_guard.at(method) > 0;
  const int64_t terms = c_.lissa_terms.at(method);
  int64_t cut = 0, iterations = 0, least = std::numeric_limits<int64_t>::max(), most = 0;
  for (const auto& b : request.batches) {
    const auto it = b.certificate.at("iterations").get<int64_t>();
    iterations += it;
    least = std::min(least, it);
    most = std::max(most, it);
    if (guarded && it < terms) ++cut;
  }
  solves_[method].push_back({{"removed", r.removed},
                             {"solver", c_.solver.at(method)},
                             {"mean_iterations", static_cast<double>(iterations) / static_cast<double>(r.requests)},
                             {"fewest_iterations", least},
                             {"most_iterations", most}});
  if (!guarded) return;
  guard_[method].push_back({{"removed", r.removed}, {"requests", r.requests}, {"requests_cut", cut},
                            {"fewest_terms_kept", least}, {"terms", terms}});
  if (cut > 0)
    log(fmt::format("  {}: the LiSSA guard (bif.lissa_guard: {:g}) cut the series of {} of {} requests (fewest "
                    "terms kept: {} of {})\n",
                    method, c_.lissa_guard.at(method), cut, r.requests, least, terms));
}

// LiSSA diverges when s·λ_max(H) > 2 (s = c/n): the step then holds inf/NaN and so does the
// posterior. Say so (once per method) instead of leaving it to the reader of a NaN column. A step
// is not finite exactly when its certificate's step_norm is null.
void FmnistStudy::note_divergence(const std::string& method, const RequestResult& request) {
  if (diverged_.contains(method)) return;
  for (const auto& b : request.batches) {
    if (b.certificate.at("step_norm").is_number()) continue;
    diverged_[method] = b.index;
    if (c_.solver.at(method) == "lissa")
      log(fmt::format("  {}: the BIF step of request {} is not finite (LiSSA diverged: lower bif.lissa_c.{}, or for "
                      "SG-MCMC use bif.curvature \"gauss_newton\" with bif.solver \"cg\")\n",
                      method, b.index, method));
    else
      log(fmt::format("  {}: the BIF step of request {} is not finite (CG overshot: lower bif.cg_max_iter.{} or raise "
                      "bif.curvature_batch_size.{})\n",
                      method, b.index, method, method));
    return;
  }
}

}  // namespace unlearn::studies
