// The SG-MCMC chains of the Fashion-MNIST study (fmnist_study.h): SGLD or SGHMC on D (origin) and
// on D_r (target, the next seed), the origin forgotten by BIF in requests; a chain's predictive
// is the average over the last eval_samples samples of its bank.
#include <algorithm>
#include <chrono>

#include "fmnist_bif/fmnist_study.h"
#include "unlearn/unlearning/methods.h"

namespace unlearn::studies {

void FmnistStudy::run_chain(const std::string& method) {
  const uint64_t seed = static_cast<uint64_t>(c_.seed) + 31;
  const auto recipe = chain_recipe(method, method == "sgld" ? c_.sgld : c_.sghmc, c_.bank, c_.steps, c_.batch_size,
                                   seed, init_);
  auto t0 = std::chrono::steady_clock::now();
  const auto origin = train_posterior(*model_, recipe, sharded_train_.index,
                                      train_start(sharded_train_, seed, method + " origin"));
  const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto last = [&](const torch::Tensor& s) {
    return s.narrow(0, std::max<int64_t>(0, s.size(0) - c_.eval_samples), std::min(c_.eval_samples, s.size(0)));
  };
  // The network has no closed-form Hessians: double backward, or the Gauss-Newton curvature.
  auto forgetter = bif_unlearner(BifOptions()
                               .sgmcmc(bif::SgmcmcBifOptions()
                                           .solver(solver_options(method))
                                           .sample_steps(c_.sample_steps.at(method))
                                           .hessian_states(c_.hessian_states)
                                           .refresh_samples(c_.refresh_bank)
                                           .minibatch_size(c_.batch_size)
                                           .hvp_batch_size(c_.hvp_batch_size.at(method))
                                           .curvature(bif::curvature_from_string(c_.curvature.at(method)))
                                           .curvature_batch_size(c_.curvature_batch_size.at(method))
                                           .lissa_c(c_.solver.at(method) == "lissa" ? c_.lissa_c.at(method) : 0.0))
                               .hessian(HessianSource::kAutograd)
                               .stop_on_divergence(false));
  for (auto count : c_.erase_counts) {
    const auto r = make_removal(count);
    t0 = std::chrono::steady_clock::now();
    const auto target = train_posterior(*model_, recipe, r.sharded.index,
                                        train_start(r.sharded, seed + 1, method + " target"));
    const double retrain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Every removal starts from the trained chain (forget_request leaves `origin` as it is).
    const auto processed = forget_in_requests(method, *forgetter, origin, r, static_cast<uint64_t>(c_.seed) + 41);
    record_timing(method, train_s, r, retrain_s, processed.seconds);
    if (!root_) continue;
    add_rows(method, r,
             {predict(*model_, last(origin.samples()), r.sets, c_.eval_chunk),
              predict(*model_, last(processed.state.samples()), r.sets, c_.eval_chunk),
              predict(*model_, last(target.samples()), r.sets, c_.eval_chunk), processed.seconds, retrain_s});
  }
}

}  // namespace unlearn::studies
