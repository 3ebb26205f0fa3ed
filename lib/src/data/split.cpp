#include "unlearn/data/split.h"

namespace unlearn::data {
namespace {

// Both sides of a boolean row mask, as ids in row order.
IdSplit split_by_mask(const Dataset& ds, const torch::Tensor& erase) {
  return {ds.ids().masked_select(erase.logical_not()), ds.ids().masked_select(erase)};
}

torch::Tensor mask_of_positions(const Dataset& ds, const torch::Tensor& positions) {
  auto mask = torch::zeros({ds.size()}, torch::dtype(torch::kBool).device(ds.device()));
  return mask.index_fill_(0, positions, true);
}

void check_labels(const Dataset& ds, const char* op) {
  TORCH_CHECK(ds.y().dim() == 1, op, ": needs one label per row (y of shape [N]), got y of shape ",
              ds.y().sizes());
}

}  // namespace

IdSplit random_split_ids(const Dataset& ds, int64_t n_erase, std::optional<torch::Generator> generator) {
  TORCH_CHECK(n_erase >= 0 && n_erase <= ds.size(), "random_split_ids: cannot erase ", n_erase, " of ",
              ds.size(), " rows");
  const auto device = generator ? generator->device() : torch::Device(torch::kCPU);
  const auto gen = generator ? c10::optional<torch::Generator>(*generator) : c10::optional<torch::Generator>();
  auto chosen = torch::randperm(ds.size(), gen, torch::dtype(torch::kLong).device(device))
                    .narrow(0, 0, n_erase)
                    .to(ds.device());
  return split_by_mask(ds, mask_of_positions(ds, chosen));
}

IdSplit ids_of_class(const Dataset& ds, int64_t label) {
  check_labels(ds, "ids_of_class");
  return split_by_mask(ds, ds.y() == label);
}

IdSplit ids_top_k_by_feature(const Dataset& ds, int64_t column, int64_t k, bool largest,
                             std::optional<int64_t> only_label) {
  const auto& x = ds.x();
  TORCH_CHECK(x.dim() == 2, "ids_top_k_by_feature: needs x of shape [N, D], got ", x.sizes());
  TORCH_CHECK(column >= 0 && column < x.size(1), "ids_top_k_by_feature: column ", column, " outside [0, ",
              x.size(1), ")");
  auto candidates = torch::arange(ds.size(), torch::dtype(torch::kLong).device(ds.device()));
  if (only_label) {
    check_labels(ds, "ids_top_k_by_feature");
    candidates = candidates.masked_select(ds.y() == *only_label);
  }
  TORCH_CHECK(k >= 0 && k <= candidates.numel(), "ids_top_k_by_feature: cannot choose ", k, " of ",
              candidates.numel(), " candidate rows",
              only_label ? " of label " + std::to_string(*only_label) : std::string());
  // A stable sort rather than topk: equal values keep row order, so ties are reproducible.
  const auto values = x.select(1, column).index_select(0, candidates);
  const auto order = std::get<1>(torch::sort(values, /*stable=*/true, /*dim=*/0, /*descending=*/largest));
  const auto chosen = candidates.index_select(0, order.narrow(0, 0, k));
  return split_by_mask(ds, mask_of_positions(ds, chosen));
}

}  // namespace unlearn::data
