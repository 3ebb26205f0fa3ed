#pragma once
// The settings of the GMM study of the BIF papers (`"experiment": "gmm_bif"`, issue 6) and their
// reader. Every key is optional but erase.rules; unknown keys and out-of-range values are
// io::ConfigErrors naming the field.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/chain_config.h"
#include "unlearn/inference/vi.h"

namespace unlearn::studies {

struct EraseRule {
  int64_t label = 0;
  std::string feature;
  bool largest = true;
  int64_t count = 0;
};

struct GmmBifConfig {
  int64_t seed = 0;
  std::string data_path = "configs/data/gmm_2d_2000.csv";
  std::vector<std::string> features{"x1", "x2"};
  std::string label = "label";
  std::string id = "id";
  int64_t components = 4;
  double prior_std = 1.0;
  std::vector<EraseRule> rules;
  int64_t request_size = 4;
  std::string init = "class_means";
  int64_t steps = 2000;
  int64_t batch_size = 64;
  SamplerConfig sgld{4.0 / 2000, 1.0, 0.15, 1.0};
  SamplerConfig sghmc{2.0 / 2000, 1.0, 0.15, 0.4};
  BankConfig bank{1000, 10, 100};
  // VI
  inference::Optimizer vi_optimizer = inference::Optimizer::kSGD;
  double vi_lr = 1e-3;
  int64_t vi_train_samples = 100;
  double vi_init_scale = 0.1;
  bool vi_polish = true;
  int64_t vi_energy_samples = 64;
  /// "closed_form": the papers' mean-field family with closed-form responsibilities (the
  /// deterministic collapsed ELBO of models/gmm); "monte_carlo": E_q on common random numbers.
  std::string vi_energy = "closed_form";
  // BIF
  std::vector<std::string> methods{"vi", "sgld", "sghmc"};
  std::vector<std::string> solvers{"lissa", "cg", "dense"};
  int64_t sample_steps = 5;
  int64_t lissa_terms = 32;
  double lissa_c = 1.0;
  int64_t hvp_batch_size = 64;
  double cg_tol = 1e-10;
  int64_t cg_max_iter = 100;
  double damping = 0.0;
  /// SG-MCMC: the GMM's closed-form likelihood Hessians instead of double backward.
  bool closed_form_hessian = true;
  bool plot = true;
};

GmmBifConfig parse_gmm_bif_config(const nlohmann::json& json);

}  // namespace unlearn::studies
