#pragma once
// Choosing what to erase. Each split names ids (never positions) and returns both sides, each
// in the dataset's row order:
//
//   auto [remaining, erased] = random_split_ids(ds, 412, gen);
//   auto [r, e] = ids_top_k_by_feature(ds, /*column=*/0, /*k=*/400, /*largest=*/true,
//                                      /*only_label=*/0);  // the 400 class-0 points with largest x1
//   Dataset d_r = ds.erase(erased);
#include <optional>

#include <torch/torch.h>

#include "unlearn/data/dataset.h"

namespace unlearn::data {

/// Both sides of a split: ids [N - k] and [k], int64. Binds as `auto [remaining, erased]`.
struct IdSplit {
  /// Ids that stay, [N - k] int64, in the data set's row order.
  torch::Tensor remaining;
  /// Ids to erase, [k] int64, in the data set's row order.
  torch::Tensor erased;
};

/// n_erase ids chosen uniformly at random without replacement.
IdSplit random_split_ids(const Dataset& ds, int64_t n_erase, std::optional<torch::Generator> generator);

/// Every row whose label equals `label` (y must be [N]).
IdSplit ids_of_class(const Dataset& ds, int64_t label);

/// The k rows with the largest (or smallest) x[:, column] (x must be [N, D]); with only_label,
/// the k chosen among the rows of that class (the other classes all remain). Ties go to the
/// earlier row, so the choice is deterministic.
IdSplit ids_top_k_by_feature(const Dataset& ds, int64_t column, int64_t k, bool largest = true,
                             std::optional<int64_t> only_label = std::nullopt);

}  // namespace unlearn::data
