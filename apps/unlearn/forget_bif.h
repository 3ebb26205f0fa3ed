#pragma once
// `unlearn forget --method bif`: Bayesian inference forgetting (DESIGN.md §4) through the app,
// for VI runs (γ = the Gaussian's parameters) and SG-MCMC runs (the chain state and every sample
// of its bank). The request's ids are forgotten in removal batches, one Newton step each, with a
// progress line per batch; the options and a per-request summary go to the audit log.
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "output.h"
#include "unlearn/data/dataset.h"
#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/bif/sgmcmc_bif.h"

namespace unlearn::app {

struct BifArgs {
  std::string solver = "cg";
  int64_t removal_batch = 0;    ///< ids per Newton step; 0: the whole request in one step
  int64_t mc_samples = 64;      ///< VI: Monte Carlo samples of the energy (common random numbers)
  int64_t sample_steps = 5;     ///< SG-MCMC: sampler steps per batch
  int64_t hessian_states = 0;   ///< SG-MCMC: H and ∇h average over the last K of them (0: all)
  bool refresh_bank = false;    ///< SG-MCMC: each batch's corrected chain state replaces the oldest sample
  int64_t hvp_batch = 0;        ///< LiSSA: rows per Hessian term (0: all)
  int64_t curvature_batch = 0;  ///< SG-MCMC: rows of the deterministic operator, per removal batch (0: all)
  int64_t lissa_terms = 32;
  double lissa_guard = 0.0;     ///< bif::LissaOptions::guard (0: off)
  std::string curvature = "hessian";  ///< SG-MCMC: bif::Curvature by name
  double lissa_c = 1.0;         ///< LiSSA scale s = c / n (the papers'); 0: use lissa_scale
  double lissa_scale = 1e-3;
  double damping = 0.0;
  double cg_tol = 1e-10;
  int64_t cg_max_iter = 1000;
  uint64_t seed = 0;
};

/// Adds the BIF options (--solver, --removal-batch, ...) to `forget`.
void add_bif_options(CLI::App& cmd, BifArgs& args);

/// What one request did: the options as given and a summary (the audit's "options" and
/// "certificate" fields).
struct BifOutcome {
  nlohmann::json options;
  nlohmann::json certificate;
};

/// VI runs: forgets `ids` from `current` (which still contains them), updating `posterior`.
/// Data parallel: `current` is the index set and `parallel` its hooks (distributed::
/// shard_for_training); every rank then takes the same steps.
BifOutcome bif_forget_gaussian(Model& model, GaussianPosteriorImpl& posterior, const data::Dataset& current,
                               const torch::Tensor& ids, const BifArgs& args, const OutputMode& output,
                               const inference::DataParallel& parallel = {});

/// SG-MCMC runs: forgets `ids`, updating the chain state and every sample [n, P] in place.
/// `chain_batch_size` is the chain's training minibatch (the forgetting steps use it too).
BifOutcome bif_forget_chain(Model& model, bif::SgmcmcChainState& chain, torch::Tensor& samples,
                            const data::Dataset& current, const torch::Tensor& ids, int64_t chain_batch_size,
                            const BifArgs& args, const OutputMode& output, const inference::DataParallel& parallel = {});

}  // namespace unlearn::app
