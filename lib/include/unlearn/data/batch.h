#pragma once
// A batch of data as the model contract sees it: inputs, targets and the stable ids of the
// rows. Tensors may be views into a Dataset (no copy); every method treats them as read-only.
#include <torch/torch.h>

namespace unlearn::data {

struct Batch {
  torch::Tensor x;    ///< [B, ...] inputs
  torch::Tensor y;    ///< [B] or [B, ...] targets (int64 labels for classifiers)
  torch::Tensor ids;  ///< [B] int64 stable ids

  int64_t size() const { return ids.defined() ? ids.size(0) : 0; }
};

}  // namespace unlearn::data
