#pragma once
// Seeded, resumable minibatches over a Dataset, without copying the data per batch.
//
//   MinibatchSampler sampler(ds, MinibatchSamplerOptions(64), /*seed=*/0);
//   for (int64_t step = 0; step < steps; ++step) {
//     Batch b = sampler.next();            // an endless stream, epoch after epoch
//     ...
//   }
//   SamplerState s = sampler.state();      // into the checkpoint; later:
//   sampler.load_state(s);                 // continues with exactly the same batches
//
// Cost: once per epoch a permutation and one gather of x, y and ids; every batch is then a
// `narrow` view of that epoch's permuted copy. Without shuffling, or when one batch holds the
// whole data set (batch_size >= N, also with drop_last), batches are views of the data
// itself and nothing is ever copied.
//
// The permutation is drawn on the generator's device and moved to the data's device, so a
// CPU generator gives the same batches for data on any device.
#include <optional>

#include <torch/torch.h>

#include "unlearn/data/batch.h"
#include "unlearn/data/dataset.h"

namespace unlearn::data {

/// How a MinibatchSampler cuts epochs into batches: batch size, shuffling, dropping the remainder.
struct MinibatchSamplerOptions {
  /// Options with this batch size, the rest at their defaults; implicit, so a plain number works.
  /* implicit */ MinibatchSamplerOptions(int64_t batch_size) : batch_size_(batch_size) {}
  /// Rows per batch (> 0). batch_size >= N means full-batch: every batch is the whole set.
  TORCH_ARG(int64_t, batch_size);
  /// Draw a fresh permutation at the start of every epoch; false serves rows in order.
  TORCH_ARG(bool, shuffle) = true;
  /// Skip the last, smaller batch of an epoch (N % batch_size rows) instead of serving it.
  TORCH_ARG(bool, drop_last) = false;
};

/// Everything needed to continue a sampler bit for bit. The current epoch's permutation is not
/// stored: it is drawn again from the generator state it was drawn from.
struct SamplerState {
  int64_t epoch = 0;     ///< epochs completed
  int64_t position = 0;  ///< rows of the current epoch already served (0: not started)
  int64_t num_rows = 0;  ///< size of the data set, checked on load
  /// Batch size of the sampler, checked on load.
  int64_t batch_size = 0;
  torch::Tensor generator_state;        ///< the generator now (Generator::get_state)
  torch::Tensor epoch_generator_state;  ///< the generator before this epoch's permutation

  /// Writes every field (undefined generator states as empty tensors).
  void save(torch::serialize::OutputArchive& archive) const;
  /// Reads what save() wrote (empty generator states become undefined).
  void load(torch::serialize::InputArchive& archive);
};

/// An endless, seeded stream of minibatches over a Dataset, epoch after epoch, that can be saved
/// (state()) and resumed (load_state()) bit for bit.
class MinibatchSampler {
 public:
  /// Draws permutations from `generator` (shared, not copied: give the sampler its own
  /// generator if other consumers would otherwise interleave with it).
  MinibatchSampler(Dataset data, MinibatchSamplerOptions options, torch::Generator generator);
  /// Owns a CPU generator seeded with `seed`.
  MinibatchSampler(Dataset data, MinibatchSamplerOptions options, uint64_t seed);

  /// The next batch; after the last batch of an epoch the next call starts a new one.
  Batch next();

  /// ⌈N / B⌉ batches, ⌊N / B⌋ with drop_last; 1 when full-batch (B >= N).
  int64_t batches_per_epoch() const;
  /// Epochs completed.
  int64_t epoch() const { return epoch_; }
  /// Rows of the current epoch already served (0 at the start of an epoch).
  int64_t position() const { return position_; }
  /// The data set batches are drawn from.
  const Dataset& dataset() const { return data_; }
  /// The options the sampler was built with.
  const MinibatchSamplerOptions& options() const { return options_; }
  /// The generator the permutations are drawn from (shared with the caller when passed in).
  torch::Generator& generator() { return generator_; }

  /// Everything needed to continue this stream later, bit for bit (see SamplerState).
  SamplerState state() const;
  /// Restores a state() of a sampler over the same data and batch size (checked), and sets
  /// the generator to the saved state.
  void load_state(const SamplerState& state);

 private:
  bool full_batch() const { return options_.batch_size() >= data_.size(); }
  int64_t rows_per_epoch() const;  // rows served per epoch (N, or less with drop_last)
  void start_epoch();              // draws the permutation (if shuffling) and gathers

  Dataset data_;
  MinibatchSamplerOptions options_;
  torch::Generator generator_;
  int64_t epoch_ = 0;
  int64_t position_ = 0;
  torch::Tensor epoch_generator_state_;
  Batch epoch_rows_;  // this epoch's rows in serving order (views of data_ without shuffling)
};

}  // namespace unlearn::data
