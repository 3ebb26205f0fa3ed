#pragma once
// The options of the iterative variational unlearners, EUBO and reverse KL (eubo.h, reverse_kl.h):
// one struct, because the two methods run the same optimisation loop (Adam over the unlearned
// posterior, every threshold λ a run of one batched computation, window-averaged reports and an
// optional convergence stop) and differ only in their objective.
//
//   auto o = unlearn::VbuOptions().lambdas({1e-5, 0.0}).max_steps(30000).num_samples(1000);
//   auto eubo = unlearn::eubo_unlearn(model, *q, erased, o);
//   auto rkl = unlearn::reverse_kl_unlearn(model, *q, erased, o);
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "unlearn/unlearning/data_parallel.h"
#include "unlearn/unlearning/vbu_result.h"

namespace unlearn {

/// The options EUBO and reverse-KL unlearning share (EuboOptions, ReverseKlOptions): the λ
/// thresholds (one run each, trained together), Monte Carlo samples, Adam and its budget, chunking
/// and minibatching of D_e, reporting, convergence, seed and data-parallel hooks.
struct VbuOptions {
  /// λ of the adjusted likelihood, one run each, trained together (each in [0, 1]; 0 = plain
  /// likelihood).
  TORCH_ARG(std::vector<double>, lambdas) = std::vector<double>{0.0};
  /// The thresholds as ln λ (each ≤ 0, −∞ for λ = 0), one run each; when not empty it replaces
  /// `lambdas`. For high-dimensional posteriors, whose useful λ (≈ e^{−P/2}) underflow a double
  /// (adjusted_likelihood.h). Runs report λ = e^{ln λ} (0 when that underflows) and ln λ.
  TORCH_ARG(std::vector<double>, log_lambdas) = std::vector<double>{};
  /// S, Monte Carlo samples per step, shared by all runs (EUBO: of q_u, common random numbers;
  /// reverse KL: of q(θ|D)).
  TORCH_ARG(int64_t, num_samples) = 1000;
  /// Adam steps (the paper: 30 000).
  TORCH_ARG(int64_t, max_steps) = 30000;
  /// Adam learning rate.
  TORCH_ARG(double, lr) = 1e-3;
  /// Adam β₁.
  TORCH_ARG(double, beta1) = 0.9;
  /// Adam β₂.
  TORCH_ARG(double, beta2) = 0.999;
  /// Adam ε.
  TORCH_ARG(double, eps) = 1e-8;
  /// Erased points per model call; the sum over D_e is exact whatever the chunking.
  TORCH_ARG(int64_t, chunk_size) = 1024;
  /// 0: every step uses all of D_e (exact). B > 0: a fresh random minibatch of B erased points
  /// per step, its log-likelihood scaled by |D_e| / B (unbiased, noisier). B ≥ |D_e|: exact.
  TORCH_ARG(int64_t, erased_batch_size) = 0;
  /// Steps per report window: the objective, the fraction inside and the convergence test are
  /// averaged over a window and read back to the host once per window (no sync per step).
  TORCH_ARG(int64_t, report_every) = 1000;
  /// > 0: stop when, for every run, the window-averaged objective changed by less than this
  /// (absolute, nats) from the previous window. 0: always run max_steps.
  TORCH_ARG(double, tolerance) = 0.0;
  /// Seed of the call's generator (noise and minibatches).
  TORCH_ARG(uint64_t, seed) = 0;
  /// Data-parallel runs (data_parallel.h): the erased log-likelihood summed over every rank's
  /// share of D_e; null: this process's D_e only. Needs erased_batch_size = 0.
  TORCH_ARG(ErasedLogLikelihoodFn, erased_log_likelihood) = nullptr;
  /// Progress (vbu_result.h): called every progress_every steps (>= 1); null: never.
  TORCH_ARG(VbuProgressFn, on_progress) = nullptr;
  /// Steps between on_progress calls (>= 1); the last step is always reported.
  TORCH_ARG(int64_t, progress_every) = 100;

 public:
  /// TORCH_CHECKs every field, naming `who` and the value.
  void validate(const char* who) const;
};

}  // namespace unlearn
