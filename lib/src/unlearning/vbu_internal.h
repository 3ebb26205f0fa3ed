#pragma once
// Shared machinery of the EUBO and reverse-KL unlearners (private to lib/src/unlearning).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "unlearn/data/batch.h"
#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/adjusted_likelihood.h"
#include "unlearn/random/normal.h"
#include "unlearn/unlearning/vbu_options.h"
#include "unlearn/unlearning/vbu_result.h"

namespace unlearn::detail {

inline constexpr double kLog2Pi = 1.8378770664093454835606594728112;

/// True for a mean-field posterior, false for full-rank; any other family is an error.
bool is_diagonal(const GaussianPosteriorImpl& q, const char* who);

/// q(θ|D), held constant: its parameters evaluated once, detached, with the inverse factor
/// precomputed.
struct FixedGaussian {
  explicit FixedGaussian(const GaussianPosteriorImpl& q);

  bool diagonal;
  int64_t dim;
  torch::Tensor loc;            ///< [P]
  torch::Tensor scale;          ///< σ [P] (mean-field) or L [P, P]
  torch::Tensor scale_t;        ///< Lᵀ [P, P] (full-rank only)
  torch::Tensor inv_scale;      ///< 1/σ [P] or L⁻ᵀ [P, P]: whitened row z = (θ − loc) · inv_scale
  torch::Tensor inv_tril;       ///< L⁻¹ [P, P] (full-rank only)
  torch::Tensor log_prob_mode;  ///< [] log q(loc)

  /// L ε for standard-normal ε [..., P] (the sample minus the mean).
  torch::Tensor offset(const torch::Tensor& noise) const;
};

/// A trainable posterior's (loc, σ or L) evaluated once per step, with autograd.
struct GaussianFactor {
  static GaussianFactor of(const GaussianPosteriorImpl& q);
  bool diagonal;
  torch::Tensor loc;    ///< [R, P]
  torch::Tensor scale;  ///< σ [R, P] or L [R, P, P]
  /// log|det L| per run [R].
  torch::Tensor half_log_det() const;
};

/// [R, P, P] -> [P, R·P] whose column block r is M_rᵀ, so that x [S, P] · result = [S, R·P]
/// holds (M_r x_s) for every run in one matrix product.
torch::Tensor blocks_transposed(const torch::Tensor& m);

/// loc_r + M_r x_s for shared x [S, P], loc [R, P] and M [R, P, P] (or a diagonal [R, P]):
/// one product, laid out sample-major: [S, R·P] (row s holds every run's vector).
torch::Tensor affine_all_runs(const torch::Tensor& x, const torch::Tensor& loc,
                              const torch::Tensor& m, bool diagonal);

/// Σ_s w_rs d_s d_sᵀ for shared d [S, P] and weights w [R, S]: [R, P, P] (one product).
torch::Tensor weighted_outer_sum(const torch::Tensor& d, const torch::Tensor& w);

/// The erased data a step sees: all of D_e in fixed chunks, or a fresh random minibatch scaled
/// by |D_e| / B.
class ErasedSource {
 public:
  ErasedSource(const data::Batch& erased, int64_t chunk_size, int64_t minibatch);
  /// The chunks of this step and the factor on their log-likelihood.
  std::pair<const std::vector<data::Batch>*, double> next(torch::Generator& gen);
  const std::vector<data::Batch>& all_chunks() const { return chunks_; }

 private:
  data::Batch erased_;
  int64_t chunk_size_, minibatch_;
  std::vector<data::Batch> chunks_, minibatch_chunks_;
  std::vector<int64_t> permutation_;
};

/// What one step hands back to the loop.
struct StepOutput {
  torch::Tensor loss;       ///< [] the sum over runs of what Adam minimises (with gradient)
  torch::Tensor objective;  ///< [R] reported objective (detached)
  torch::Tensor inside;     ///< [R, S] bool
  torch::Tensor ess;        ///< [R] or undefined
};

/// noise [S, P], erased chunks, their factor -> StepOutput.
using StepFunction =
    std::function<StepOutput(const torch::Tensor&, const std::vector<data::Batch>&, double)>;

/// Adam over q's parameters (q has R runs, one per threshold of `options`) with per-window
/// reporting and the optional convergence stop. Fills everything in the result but `method`.
VbuResult run_adam(const std::shared_ptr<GaussianPosteriorImpl>& q, const VbuOptions& options,
                   const data::Batch& erased, const StepFunction& step);

/// Standard-normal noise [S, P] drawn with gen into a reused buffer, on the given device.
class NoiseSource {
 public:
  NoiseSource(int64_t num_samples, int64_t dim, const torch::TensorOptions& options);
  const torch::Tensor& next(torch::Generator& gen);

 private:
  std::vector<int64_t> shape_;
  torch::TensorOptions options_;
  torch::Tensor scratch_, out_;
};

/// Checks the common preconditions: q_full without runs, of the model's dimension and dtype,
/// a non-empty erased batch.
void check_inputs(const char* who, Model& model, const GaussianPosteriorImpl& q_full,
                  const data::Batch& erased);

}  // namespace unlearn::detail
