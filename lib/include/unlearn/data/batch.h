#pragma once
// A batch of data as the model contract sees it: inputs, targets and the stable ids of the
// rows. Tensors may be views into a Dataset (no copy); every method treats them as read-only.
#include <torch/torch.h>

/// Data sets with stable row ids, and everything that reads, splits and batches them: CSV and IDX
/// loaders, the two-moons generator, erase splits and the seeded, resumable minibatch sampler.
namespace unlearn::data {

/// Rows handed to a Model: inputs, targets and the rows' stable ids, all with leading dimension B.
/// Usually views into a Dataset; treated as read-only everywhere.
struct Batch {
  torch::Tensor x;    ///< [B, ...] inputs
  torch::Tensor y;    ///< [B] or [B, ...] targets (int64 labels for classifiers)
  torch::Tensor ids;  ///< [B] int64 stable ids

  /// B, the number of rows (0 for a default-constructed, empty batch).
  int64_t size() const { return ids.defined() ? ids.size(0) : 0; }
};

}  // namespace unlearn::data
