#include "unlearn/data/dataset.h"

#include <fmt/format.h>

namespace unlearn::data {
namespace {

// The values that occur more than once in a sorted 1-D tensor (each named once).
torch::Tensor repeated_values(const torch::Tensor& sorted) {
  if (sorted.numel() < 2) return sorted.narrow(0, 0, 0);
  auto same = sorted.narrow(0, 1, sorted.size(0) - 1) == sorted.narrow(0, 0, sorted.size(0) - 1);
  return std::get<0>(torch::unique_consecutive(sorted.narrow(0, 1, sorted.size(0) - 1).masked_select(same)));
}

torch::Tensor sorted_ascending(const torch::Tensor& ids, torch::Tensor* order) {
  auto [values, indices] = torch::sort(ids, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  if (order) *order = indices;
  return values;
}

}  // namespace

std::string describe_ids(const torch::Tensor& ids, int64_t max_shown) {
  auto flat = ids.reshape(-1).to(torch::kCPU, torch::kLong).contiguous();
  const int64_t n = flat.numel();
  const int64_t shown = std::min(n, std::max<int64_t>(max_shown, 0));
  const int64_t* p = flat.data_ptr<int64_t>();
  std::string out = "[";
  for (int64_t i = 0; i < shown; ++i) out += (i ? ", " : "") + std::to_string(p[i]);
  out += "]";
  if (n > shown) out += fmt::format(" and {} more", n - shown);
  return out;
}

Dataset::Dataset(torch::Tensor x, torch::Tensor y)
    : Dataset(x, y,
              x.defined() ? torch::arange(x.dim() > 0 ? x.size(0) : 0,
                                          torch::dtype(torch::kLong).device(x.device()))
                          : torch::Tensor()) {}

Dataset::Dataset(torch::Tensor x, torch::Tensor y, torch::Tensor ids) {
  TORCH_CHECK(x.defined() && y.defined() && ids.defined(), "Dataset: x, y and ids must all be defined");
  TORCH_CHECK(ids.dim() == 1, "Dataset: ids must be 1-D, got shape ", ids.sizes());
  TORCH_CHECK(torch::isIntegralType(ids.scalar_type(), /*includeBool=*/false),
              "Dataset: ids must be integers, got ", ids.scalar_type());
  const int64_t n = ids.size(0);
  TORCH_CHECK(x.dim() >= 1 && x.size(0) == n, "Dataset: x must have ", n, " rows (one per id), got shape ",
              x.sizes());
  TORCH_CHECK(y.dim() >= 1 && y.size(0) == n, "Dataset: y must have ", n, " rows (one per id), got shape ",
              y.sizes());
  TORCH_CHECK(x.device() == ids.device() && y.device() == ids.device(),
              "Dataset: x, y and ids must be on one device, got ", x.device(), ", ", y.device(), ", ",
              ids.device());
  ids = ids.to(torch::kLong);
  torch::Tensor order;
  auto sorted = sorted_ascending(ids, &order);
  auto repeated = repeated_values(sorted);
  TORCH_CHECK(repeated.numel() == 0, "Dataset: ids must be unique; repeated ids ", describe_ids(repeated),
              " (", n, " rows)");
  x_ = std::move(x);
  y_ = std::move(y);
  ids_ = std::move(ids);
  sorted_ids_ = std::move(sorted);
  order_ = std::move(order);
}

Dataset::Dataset(torch::Tensor x, torch::Tensor y, torch::Tensor ids, torch::Tensor sorted_ids,
                 torch::Tensor order)
    : x_(std::move(x)),
      y_(std::move(y)),
      ids_(std::move(ids)),
      sorted_ids_(std::move(sorted_ids)),
      order_(std::move(order)) {}

torch::Tensor Dataset::positions_checked(const torch::Tensor& request, const char* op) const {
  TORCH_CHECK(request.defined(), op, ": the id tensor is undefined");
  TORCH_CHECK(request.dim() <= 1, op, ": ids must be a 1-D tensor, got shape ", request.sizes());
  TORCH_CHECK(torch::isIntegralType(request.scalar_type(), /*includeBool=*/false), op,
              ": ids must be integers, got ", request.scalar_type());
  const int64_t n = size();
  auto want = request.reshape(-1).to(device(), torch::kLong);
  if (want.numel() == 0) return want;

  auto repeated = repeated_values(sorted_ascending(want, nullptr));
  TORCH_CHECK(repeated.numel() == 0, op, ": ids repeated in the request: ", describe_ids(repeated),
              " (dataset of ", n, " rows); nothing changed");

  // Binary search in the sorted ids; a hit must match exactly, anything else is unknown.
  torch::Tensor slot, found;
  if (n > 0) {
    slot = torch::searchsorted(sorted_ids_, want).clamp_max_(n - 1);
    found = sorted_ids_.index_select(0, slot) == want;
  } else {
    found = torch::zeros_like(want, torch::kBool);
  }
  if (!found.all().item<bool>()) {
    auto unknown = want.masked_select(found.logical_not());
    TORCH_CHECK(false, op, ": ", unknown.numel(), " unknown id", unknown.numel() == 1 ? " " : "s ",
                describe_ids(unknown), " (not among the ", n, " ids of the dataset); nothing changed");
  }
  return order_.index_select(0, slot);
}

torch::Tensor Dataset::positions_of(const torch::Tensor& ids) const {
  return positions_checked(ids, "Dataset::positions_of");
}

bool Dataset::contains(int64_t id) const {
  const int64_t n = size();
  if (n == 0) return false;
  auto slot = torch::searchsorted(sorted_ids_, c10::Scalar(id)).clamp_max_(n - 1);
  return sorted_ids_.index_select(0, slot.reshape(1)).item<int64_t>() == id;
}

Dataset Dataset::subset(const torch::Tensor& ids) const {
  auto pos = positions_checked(ids, "Dataset::subset");
  auto new_ids = ids_.index_select(0, pos);
  torch::Tensor order;
  auto sorted = sorted_ascending(new_ids, &order);
  return Dataset(x_.index_select(0, pos), y_.index_select(0, pos), std::move(new_ids), std::move(sorted),
                 std::move(order));
}

Dataset Dataset::erase(const torch::Tensor& ids) const {
  auto pos = positions_checked(ids, "Dataset::erase");
  if (pos.numel() == 0) return *this;
  auto keep = torch::ones({size()}, torch::dtype(torch::kBool).device(device()));
  keep.index_fill_(0, pos, false);
  auto rows = keep.nonzero().squeeze(1);
  // The index of the remaining rows without sorting again: drop the erased entries from the
  // sorted ids, and renumber the surviving positions (row p moves to cumsum(keep)[p] - 1).
  auto keep_sorted = keep.index_select(0, order_);
  auto new_position = keep.cumsum(0, torch::kLong) - 1;
  auto new_order = new_position.index_select(0, order_.masked_select(keep_sorted));
  return Dataset(x_.index_select(0, rows), y_.index_select(0, rows), ids_.index_select(0, rows),
                 sorted_ids_.masked_select(keep_sorted), std::move(new_order));
}

Dataset Dataset::to(torch::Device device, std::optional<torch::Dtype> x_dtype) const {
  if (!ids_.defined()) return *this;
  return Dataset(x_.to(device, x_dtype.value_or(x_.scalar_type())), y_.to(device), ids_.to(device),
                 sorted_ids_.to(device), order_.to(device));
}

}  // namespace unlearn::data
