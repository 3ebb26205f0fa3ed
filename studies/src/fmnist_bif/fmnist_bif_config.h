#pragma once
// The settings of the Fashion-MNIST study (`"experiment": "fmnist_bif"`, issue 7) and their reader.
// Every key is optional; unknown keys and out-of-range values are ConfigErrors naming the field.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/chain_config.h"
#include "unlearn/inference/vi.h"
#include "unlearn/data/idx.h"

namespace unlearn::studies {

/// EUBO and reverse KL (the VBU paper's methods, with the adjusted likelihood) on the VI
/// posterior: each removal is forgotten by ONE call over all of D_e (the paper's setting; a call
/// per request of 64 would repeat the whole optimisation 94 times), every λ trained together.
struct FmnistVbuConfig {
  std::vector<std::string> methods;  ///< a subset of eubo, rkl; empty: none
  std::vector<double> lambdas{0.0};  ///< each in [0, 1]; one row per method and λ
  /// More thresholds as ln λ (each ≤ 0), runs after those of `lambdas`: in P dimensions the region
  /// holds samples only for ln λ ≈ −P/2 (LeNet: −30 853 keeps about half of q(θ|D)'s samples).
  std::vector<double> log_lambdas;
  int64_t steps = 1000;              ///< Adam steps
  int64_t mc_samples = 8;            ///< S per step (EUBO: samples of q_u; reverse KL: of q(θ|D))
  double lr = 1e-4;                  ///< Adam
  /// Erased points per step (their log-likelihood scaled by |D_e|/B); 0: all of D_e every step.
  /// Data-parallel runs need 0 (the erased sum is all-reduced over the ranks' shares).
  int64_t erased_batch_size = 256;
  int64_t chunk = 256;  ///< erased points per model call
};

struct FmnistBifConfig {
  int64_t seed = 0;
  // data
  std::string dir = data::kFashionMnistDir;
  bool pad_to_32 = true;
  int64_t train_subset = 0;    ///< 0: all 60 000
  int64_t test_subset = 0;     ///< 0: all 10 000
  int64_t eval_remaining = 0;  ///< S_r points evaluated (0: all)
  nlohmann::json model = {{"kind", "bnn_lenet"}};
  // erase
  int64_t erase_class = 0;
  /// One removal per entry: k random points of the class (nested: the first k of one permutation),
  /// 0 = every point. The origin is trained once; each removal has its own retrain and forgetting.
  std::vector<int64_t> erase_counts{0};
  int64_t request_size = 64;
  // train
  int64_t steps = 10000;
  int64_t batch_size = 128;
  SamplerConfig sgld{0.5 / 60000, 1.0, 0.5, 1.0};
  SamplerConfig sghmc{0.5 / 60000, 1.0, 0.5, 0.4};
  BankConfig bank{5000, 100, 20};
  inference::Optimizer vi_optimizer = inference::Optimizer::kAdam;
  double vi_lr = 1e-3;
  double vi_lr_decay = 1.0;       ///< lr ← lr·decay every vi_lr_decay_every steps
  int64_t vi_lr_decay_every = 0;  ///< 0: constant
  int64_t vi_train_samples = 1;
  bool vi_local_reparameterisation = false;
  double vi_init_scale = 0.005;
  // BIF
  std::vector<std::string> methods{"vi", "sgld", "sghmc"};
  /// Per method (a name sets all three): "lissa" or "cg" (CG needs a positive definite operator:
  /// for SG-MCMC the gauss_newton curvature).
  std::map<std::string, std::string> solver{{"vi", "lissa"}, {"sgld", "lissa"}, {"sghmc", "lissa"}};
  /// Per method (a number in the config sets all three): LiSSA's T and each term's minibatch.
  std::map<std::string, int64_t> lissa_terms{{"vi", 64}, {"sgld", 64}, {"sghmc", 64}};
  std::map<std::string, double> lissa_c{{"vi", 0.1}, {"sgld", 0.005}, {"sghmc", 0.05}};
  std::map<std::string, int64_t> hvp_batch_size{{"vi", 128}, {"sgld", 128}, {"sghmc", 128}};
  /// SG-MCMC sampler steps per request (a number sets both).
  std::map<std::string, int64_t> sample_steps{{"sgld", 5}, {"sghmc", 5}};
  int64_t hessian_states = 0;  ///< 0: all sample_steps states
  bool refresh_bank = true;    ///< the processed chain's predictive includes its forgetting-phase states
  int64_t vi_energy_samples = 5;
  double cg_tol = 1e-4;
  /// Per method: CG's iteration limit. Few iterations on the subsampled Gauss–Newton operator are
  /// a truncated Newton step (the iteration count regularises it; run to convergence it overshoots).
  std::map<std::string, int64_t> cg_max_iter{{"vi", 50}, {"sgld", 50}, {"sghmc", 50}};
  /// Per SG-MCMC method: rows of the deterministic operator CG uses, drawn once per request
  /// (bif::SgmcmcBifOptions::curvature_batch_size; 0: every remaining row).
  std::map<std::string, int64_t> curvature_batch_size{{"sgld", 0}, {"sghmc", 0}};
  double damping = 0.0;
  /// Per method: LiSSA's divergence guard κ (bif::LissaOptions::guard; 0: off, the papers' recursion).
  std::map<std::string, double> lissa_guard{{"vi", 0.0}, {"sgld", 0.0}, {"sghmc", 0.0}};
  /// Per SG-MCMC method: the curvature BIF inverts, "hessian" (the papers') or "gauss_newton"
  /// (bif::Curvature): one string for both, or {"sgld": .., "sghmc": ..}.
  std::map<std::string, std::string> curvature{{"sgld", "hessian"}, {"sghmc", "hessian"}};
  // variational unlearning of the VI posterior
  FmnistVbuConfig vbu;
  // evaluation
  int64_t eval_samples = 20;  ///< VI: posterior samples per predictive; SG-MCMC: the last ones of the bank
  int64_t eval_chunk = 256;

  bool runs(const std::string& method) const;
};

/// Reads a study config (the whole file); ConfigError naming the field on bad input.
FmnistBifConfig parse_fmnist_bif_config(const nlohmann::json& json);

}  // namespace unlearn::studies
