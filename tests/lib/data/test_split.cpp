#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <string>

#include "unlearn/data/csv.h"
#include "unlearn/data/split.h"

using unlearn::data::Dataset;

namespace {

Dataset gmm() {
  return unlearn::data::load_csv_dataset(std::string(UNLEARN_SOURCE_DIR) + "/configs/data/gmm_2d_2000.csv",
                                         {"x1", "x2"}, "label", "id");
}

// remaining and erased are disjoint, cover the data set, and each lists ids in row order.
void expect_partition(const Dataset& ds, const unlearn::data::IdSplit& split) {
  auto pos_r = ds.positions_of(split.remaining), pos_e = ds.positions_of(split.erased);
  EXPECT_TRUE(torch::equal(std::get<0>(torch::cat({pos_r, pos_e}).sort()), torch::arange(ds.size(), torch::kLong)));
  EXPECT_TRUE(torch::equal(pos_r, std::get<0>(pos_r.sort())));
  EXPECT_TRUE(torch::equal(pos_e, std::get<0>(pos_e.sort())));
}

}  // namespace

TEST(Split, RandomIsSeededAndAPartition) {
  auto ds = gmm();
  auto [remaining, erased] = unlearn::data::random_split_ids(ds, 100, at::detail::createCPUGenerator(0));
  EXPECT_EQ(erased.numel(), 100);
  EXPECT_EQ(remaining.numel(), 1900);
  expect_partition(ds, {remaining, erased});
  auto again = unlearn::data::random_split_ids(ds, 100, at::detail::createCPUGenerator(0));
  EXPECT_TRUE(torch::equal(again.erased, erased));
  auto other = unlearn::data::random_split_ids(ds, 100, at::detail::createCPUGenerator(1));
  EXPECT_FALSE(torch::equal(other.erased, erased));
  EXPECT_THROW(unlearn::data::random_split_ids(ds, 2001, std::nullopt), c10::Error);
}

TEST(Split, ByClass) {
  auto ds = gmm();
  auto split = unlearn::data::ids_of_class(ds, 2);
  EXPECT_EQ(split.erased.numel(), 536);
  expect_partition(ds, split);
  EXPECT_TRUE((ds.subset(split.erased).y() == 2).all().item<bool>());
  EXPECT_FALSE((ds.subset(split.remaining).y() == 2).any().item<bool>());
}

TEST(Split, TopKByFeatureWithinAClass) {
  // "The 400 cluster-0 points with the largest x1."
  auto ds = gmm();
  auto split = unlearn::data::ids_top_k_by_feature(ds, 0, 400, /*largest=*/true, /*only_label=*/0);
  EXPECT_EQ(split.erased.numel(), 400);
  expect_partition(ds, split);
  auto erased = ds.subset(split.erased);
  EXPECT_TRUE((erased.y() == 0).all().item<bool>());
  auto kept0 = ds.subset(split.remaining);
  auto kept0_x1 = kept0.x().select(1, 0).masked_select(kept0.y() == 0);
  EXPECT_EQ(kept0_x1.numel(), 71);
  EXPECT_GE(erased.x().select(1, 0).min().item<double>(), kept0_x1.max().item<double>());
}

TEST(Split, TopKByFeatureAcrossClassesAndSmallest) {
  auto ds = gmm();
  auto largest = unlearn::data::ids_top_k_by_feature(ds, 1, 20);
  expect_partition(ds, largest);
  EXPECT_GE(ds.subset(largest.erased).x().select(1, 1).min().item<double>(),
            ds.subset(largest.remaining).x().select(1, 1).max().item<double>());
  auto smallest = unlearn::data::ids_top_k_by_feature(ds, 1, 20, /*largest=*/false);
  EXPECT_LE(ds.subset(smallest.erased).x().select(1, 1).max().item<double>(),
            ds.subset(smallest.remaining).x().select(1, 1).min().item<double>());
  EXPECT_THROW(unlearn::data::ids_top_k_by_feature(ds, 2, 1), c10::Error);
  EXPECT_THROW(unlearn::data::ids_top_k_by_feature(ds, 0, 472, true, 0), c10::Error);
}

TEST(Split, TiesGoToTheEarlierRow) {
  Dataset ds(torch::tensor({1.0, 3.0, 3.0, 3.0, 2.0}, torch::kFloat64).unsqueeze(1), torch::zeros({5}, torch::kLong),
             torch::tensor({50, 40, 30, 20, 10}, torch::kLong));
  auto split = unlearn::data::ids_top_k_by_feature(ds, 0, 2);
  EXPECT_TRUE(torch::equal(split.erased, torch::tensor({40, 30}, torch::kLong)));
  EXPECT_TRUE(torch::equal(split.remaining, torch::tensor({50, 20, 10}, torch::kLong)));
}
