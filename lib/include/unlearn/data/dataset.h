#pragma once
// A data set whose rows carry stable int64 ids. Erase requests name ids, never positions
// (docs/architecture.md, "Run directories"): positions shift after every erasure, ids do not.
//
//   auto ds = unlearn::data::load_csv_dataset(".../moons_100.csv", {"x1", "x2"}, "label", "id");
//   auto erased = torch::tensor({3, 17, 42}, torch::kLong);
//   Dataset remaining = ds.erase(erased);   // ds itself is unchanged
//   Dataset forgotten = ds.subset(erased);  // the rows in the order asked for
//
// A Dataset is immutable: every method returns a new Dataset (sharing storage where it can).
// Lookups go through a sorted copy of the ids, so a request for k ids costs O(k log N).
#include <optional>
#include <string>

#include <torch/torch.h>

#include "unlearn/data/batch.h"

namespace unlearn::data {

/// An immutable data set of N rows (x, y) keyed by unique int64 ids; subset() and erase() take
/// ids, never positions, and return new Datasets (sharing storage where they can).
class Dataset {
 public:
  Dataset() = default;
  /// x [N, ...] (any dtype), y [N] or [N, ...], ids [N] unique integers (stored as int64),
  /// all on one device. Duplicate ids are an error naming them.
  Dataset(torch::Tensor x, torch::Tensor y, torch::Tensor ids);
  /// As above with ids 0..N-1.
  Dataset(torch::Tensor x, torch::Tensor y);

  /// N, the number of rows (0 for a default-constructed Dataset).
  int64_t size() const { return ids_.defined() ? ids_.size(0) : 0; }
  /// Inputs [N, ...].
  const torch::Tensor& x() const { return x_; }
  /// Targets [N] or [N, ...].
  const torch::Tensor& y() const { return y_; }
  /// Row ids [N] int64, unique, in row order (not necessarily sorted).
  const torch::Tensor& ids() const { return ids_; }
  /// The device every tensor of the data set lives on.
  torch::Device device() const { return ids_.device(); }

  /// The whole data set as one batch of views (no copy).
  Batch batch() const { return {x_, y_, ids_}; }

  /// The rows with these ids, in the order given. Unknown or repeated ids: c10::Error naming
  /// them.
  Dataset subset(const torch::Tensor& ids) const;
  /// Every row except those with these ids, in the original order. Unknown or repeated ids:
  /// c10::Error naming them, and nothing is erased.
  Dataset erase(const torch::Tensor& ids) const;

  /// Whether a row has this id (a binary search of the sorted ids, O(log N)).
  bool contains(int64_t id) const;
  /// Row positions of these ids ([k] int64 on the data's device), same errors as subset.
  torch::Tensor positions_of(const torch::Tensor& ids) const;

  /// The same rows on another device; x optionally cast (y and ids keep their dtypes).
  Dataset to(torch::Device device, std::optional<torch::Dtype> x_dtype = std::nullopt) const;

 private:
  // Trusted constructor: the caller guarantees unique ids and hands over the sorted index.
  Dataset(torch::Tensor x, torch::Tensor y, torch::Tensor ids, torch::Tensor sorted_ids,
          torch::Tensor order);
  torch::Tensor positions_checked(const torch::Tensor& ids, const char* op) const;

  torch::Tensor x_, y_, ids_;
  torch::Tensor sorted_ids_;  ///< ids_ sorted ascending
  torch::Tensor order_;       ///< positions such that ids_[order_] == sorted_ids_
};

/// "[3, 7, 9]", or the first `max_shown` ids followed by "and N more": for error messages
/// that name ids without printing a million of them.
std::string describe_ids(const torch::Tensor& ids, int64_t max_shown = 10);

}  // namespace unlearn::data
