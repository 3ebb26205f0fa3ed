#pragma once
// The samples an SG-MCMC chain keeps (docs/architecture.md, "Tiers"), and posterior predictives averaged over
// them.
//
//   SampleBank bank(SampleBankOptions().burn_in(500).thinning(10).capacity(200));
//   for (int64_t step = 1; step <= steps; ++step) { ...sampler step...; bank.offer(step, theta); }
//   auto log_p = bank.predictive_log_proba(model, x_test);   // [B, C], classifiers
//
// Capacity policy: a RING. Once `capacity` samples are kept, each new kept sample overwrites the
// oldest, so the bank always holds the latest `capacity` kept samples (the chain's most recent
// stretch, which is what the forgetting corrections of SG-MCMC unlearning act on). No randomness
// is involved, so the bank's contents are a pure function of the chain.
#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

#include "unlearn/data/batch.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/model.h"

namespace unlearn::inference {

/// Which chain states a SampleBank keeps: burn-in, thinning, and the ring's capacity.
struct SampleBankOptions {
  /// Chain steps discarded before the first sample is kept (>= 0).
  TORCH_ARG(int64_t, burn_in) = 0;
  /// Keep the state after every k-th step past burn-in (>= 1).
  TORCH_ARG(int64_t, thinning) = 1;
  /// The most samples held (>= 1); beyond it the oldest is overwritten (a ring).
  TORCH_ARG(int64_t, capacity) = 1000;

 public:
  /// TORCH_CHECKs every field, naming the value.
  void validate() const;
};

/// The parameter samples θ an SG-MCMC chain keeps (a ring of the latest `capacity` kept states),
/// with their moments and posterior predictives averaged over them; saved in and restored from
/// checkpoints.
class SampleBank {
 public:
  /// An empty bank; the options are validated (c10::Error naming a bad field).
  explicit SampleBank(SampleBankOptions options = {});

  /// The options the bank was built with.
  const SampleBankOptions& options() const { return options_; }

  /// Offers the chain state after `step` completed steps (the first step is 1). Kept iff
  /// step > burn_in and (step − burn_in) is a multiple of thinning. Returns whether it was kept.
  /// The bank copies θ (detached); every kept θ must have the first one's shape, dtype, device.
  bool offer(int64_t step, const torch::Tensor& theta);
  /// Keeps θ regardless of burn-in and thinning.
  void add(const torch::Tensor& theta);

  /// Samples held now (<= capacity).
  int64_t size() const { return size_; }
  /// Whether no sample is held (size() == 0).
  bool empty() const { return size_ == 0; }
  /// Samples ever kept (exceeds size() once the ring has wrapped).
  int64_t num_kept() const { return num_kept_; }

  /// The samples held, oldest first: [n, ...θ's shape]. A view while the ring has not wrapped,
  /// a copy after; an empty bank is an error.
  torch::Tensor samples() const;
  /// Mean over the samples held: θ's shape.
  torch::Tensor mean() const;
  /// Sample covariance (divisor n − 1) of flattened θ: [P, P]; needs n >= 2.
  torch::Tensor covariance() const;

  /// Posterior predictive density of each datum, averaged over the bank in probability space:
  /// log (1/n) Σ_s p(y_i | x_i, θ_s) -> [B]. See predictive_log_likelihood below.
  torch::Tensor predictive_log_likelihood(Model& model, const data::Batch& batch, int64_t chunk = 256) const;
  /// Classifiers: log (1/n) Σ_s p(y = c | x, θ_s) -> [B, C].
  torch::Tensor predictive_log_proba(Model& model, const torch::Tensor& x, int64_t chunk = 256) const;

  /// Overwrites the samples held with `samples` ([size(), ...θ's shape], oldest first), e.g. after
  /// a correction of every stored sample (SG-MCMC unlearning). Order and num_kept are kept.
  void replace_samples(const torch::Tensor& samples);

  /// Forgets every sample (options and the ring's storage stay).
  void clear();

  /// tensors[prefix + "samples"] (oldest first; absent when empty) and metadata[prefix + "bank"]
  /// = {burn_in, thinning, capacity, size, num_kept}.
  void save_state(io::Checkpoint& checkpoint, const std::string& prefix) const;
  /// Restores the contents saved by save_state, onto `device` (default: where this bank's samples
  /// already live, else the CPU). The saved options must equal this bank's (an error names the
  /// field that differs): a bank is not resized by loading.
  void load_state(const io::Checkpoint& checkpoint, const std::string& prefix,
                  std::optional<torch::Device> device = std::nullopt);

 private:
  void ensure_storage(const torch::Tensor& theta);

  SampleBankOptions options_;
  torch::Tensor storage_;  // [allocated, ...]: grows by doubling up to capacity
  int64_t size_ = 0;
  int64_t head_ = 0;  // next slot to write once full (the oldest sample)
  int64_t num_kept_ = 0;
};

/// log (1/n) Σ_s p(y_i | x_i, θ_s) for samples θ [n, P] -> [B]: a log-sum-exp over the samples
/// minus log n, evaluated `chunk` samples per model call (memory O(chunk · B)). No gradient.
torch::Tensor predictive_log_likelihood(Model& model, const torch::Tensor& samples, const data::Batch& batch,
                                        int64_t chunk = 256);

/// Classifiers: log (1/n) Σ_s p(y = c | x, θ_s) for samples θ [n, P] -> [B, C] (log-sum-exp of
/// predict_log_proba over the samples minus log n), `chunk` samples per model call. No gradient.
torch::Tensor predictive_log_proba(Model& model, const torch::Tensor& samples, const torch::Tensor& x,
                                   int64_t chunk = 256);

}  // namespace unlearn::inference
