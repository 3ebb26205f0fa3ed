#include <gtest/gtest.h>

#include "data_test_util.h"

#include <string>
#include <vector>

#include "unlearn/data/dataset.h"

using unlearn::data::Dataset;

namespace {

using unlearn::test::error_of;

torch::Tensor ids_of(std::vector<int64_t> ids) { return torch::tensor(ids, torch::kLong); }

// Ten rows whose content encodes their id: x = [id, -id], y = id % 3, ids 10, 20, ..., 100 in a
// scrambled order so that positions and ids differ.
Dataset tens() {
  auto ids = ids_of({70, 10, 100, 40, 20, 90, 30, 60, 50, 80});
  auto x = torch::stack({ids.to(torch::kFloat64), -ids.to(torch::kFloat64)}, 1);
  return Dataset(x, ids.remainder(3), ids);
}

void expect_rows_match_ids(const Dataset& ds) {
  auto id = ds.ids().to(torch::kFloat64);
  EXPECT_TRUE(torch::equal(ds.x().select(1, 0), id));
  EXPECT_TRUE(torch::equal(ds.x().select(1, 1), -id));
  EXPECT_TRUE(torch::equal(ds.y(), ds.ids().remainder(3)));
}

}  // namespace

TEST(Dataset, DefaultIdsAreRowNumbers) {
  Dataset ds(torch::zeros({5, 3}), torch::zeros({5}, torch::kLong));
  EXPECT_EQ(ds.size(), 5);
  EXPECT_TRUE(torch::equal(ds.ids(), torch::arange(5, torch::kLong)));
  EXPECT_EQ(ds.ids().scalar_type(), torch::kLong);
}

TEST(Dataset, RepeatedIdsAtConstructionAreNamed) {
  auto msg = error_of([] { Dataset(torch::zeros({4, 1}), torch::zeros({4}), ids_of({1, 7, 3, 7})); });
  EXPECT_NE(msg.find("[7]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unique"), std::string::npos) << msg;
}

TEST(Dataset, MismatchedShapesAreRejected) {
  EXPECT_NE(error_of([] { Dataset(torch::zeros({4, 1}), torch::zeros({3})); }).find("y must have 4 rows"),
            std::string::npos);
  EXPECT_NE(error_of([] { Dataset(torch::zeros({4, 1}), torch::zeros({4}), ids_of({1, 2, 3})); })
                .find("x must have 3 rows"),
            std::string::npos);
}

TEST(Dataset, SubsetKeepsTheRequestedOrderAndContent) {
  const auto ds = tens();
  const auto sub = ds.subset(ids_of({50, 10, 90}));
  ASSERT_EQ(sub.size(), 3);
  EXPECT_TRUE(torch::equal(sub.ids(), ids_of({50, 10, 90})));
  expect_rows_match_ids(sub);
  // The subset's own index works: positions follow the new order.
  EXPECT_TRUE(torch::equal(sub.positions_of(ids_of({90, 50})), ids_of({2, 0})));
}

TEST(Dataset, EraseRemovesExactlyThoseRowsAndLeavesTheOriginal) {
  const auto ds = tens();
  const auto before_x = ds.x().clone();
  const auto rest = ds.erase(ids_of({20, 70, 80}));
  EXPECT_TRUE(torch::equal(rest.ids(), ids_of({10, 100, 40, 90, 30, 60, 50})));
  expect_rows_match_ids(rest);
  EXPECT_FALSE(rest.contains(20));
  EXPECT_TRUE(rest.contains(100));
  // The original is untouched.
  EXPECT_EQ(ds.size(), 10);
  EXPECT_TRUE(ds.contains(20));
  EXPECT_TRUE(torch::equal(ds.x(), before_x));
  // The erased set's index was rebuilt without sorting: every id maps to its new position.
  EXPECT_TRUE(torch::equal(rest.positions_of(rest.ids()), torch::arange(7, torch::kLong)));
  // Erasing again composes, and an already-erased id is unknown.
  EXPECT_TRUE(torch::equal(rest.erase(ids_of({100, 10})).ids(), ids_of({40, 90, 30, 60, 50})));
  EXPECT_NE(error_of([&] { rest.erase(ids_of({20})); }).find("unknown id [20]"), std::string::npos);
}

TEST(Dataset, EmptyRequestChangesNothing) {
  const auto ds = tens();
  EXPECT_EQ(ds.erase(torch::empty({0}, torch::kLong)).size(), 10);
  EXPECT_EQ(ds.subset(torch::empty({0}, torch::kLong)).size(), 0);
}

TEST(Dataset, UnknownIdsAreNamedWithTheDatasetSize) {
  const auto ds = tens();
  for (auto op : {0, 1, 2}) {
    auto msg = error_of([&] {
      const auto request = ids_of({10, 999, 20, -1});
      if (op == 0) ds.erase(request);
      if (op == 1) ds.subset(request);
      if (op == 2) ds.positions_of(request);
    });
    EXPECT_NE(msg.find("2 unknown ids [999, -1]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("10 ids"), std::string::npos) << msg;
  }
  EXPECT_EQ(ds.size(), 10);
  expect_rows_match_ids(ds);
}

TEST(Dataset, RepeatedIdsInARequestAreNamed) {
  const auto ds = tens();
  auto msg = error_of([&] { ds.erase(ids_of({30, 10, 30, 50, 10})); });
  EXPECT_NE(msg.find("repeated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[10, 30]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("10 rows"), std::string::npos) << msg;
  EXPECT_EQ(ds.size(), 10);
}

TEST(Dataset, LongListsOfBadIdsAreAbbreviated) {
  const auto ds = tens();
  auto msg = error_of([&] { ds.erase(torch::arange(1000, 1025, torch::kLong)); });
  EXPECT_NE(msg.find("25 unknown ids [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009] and 15 more"),
            std::string::npos)
      << msg;
}

TEST(Dataset, BatchIsAViewAndToCasts) {
  const auto ds = tens();
  const auto b = ds.batch();
  EXPECT_EQ(b.x.data_ptr(), ds.x().data_ptr());
  EXPECT_EQ(b.ids.data_ptr(), ds.ids().data_ptr());
  EXPECT_EQ(b.size(), 10);
  const auto f = ds.to(torch::kCPU, torch::kFloat32);
  EXPECT_EQ(f.x().scalar_type(), torch::kFloat32);
  EXPECT_EQ(f.y().scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(f.erase(ids_of({10})).ids(), ds.erase(ids_of({10})).ids()));
}

TEST(Dataset, ImagesAndLargeSetsWork) {
  const int64_t n = 200000;
  auto ids = torch::randperm(n, torch::kLong) * 3 + 5;  // sparse, scrambled ids
  Dataset ds(torch::arange(n * 4, torch::kFloat32).reshape({n, 1, 2, 2}), torch::zeros({n}, torch::kLong), ids);
  auto want = ids.narrow(0, 1000, 5000);
  auto pos = ds.positions_of(want);
  EXPECT_TRUE(torch::equal(pos, torch::arange(1000, 6000, torch::kLong)));
  auto rest = ds.erase(want);
  EXPECT_EQ(rest.size(), n - 5000);
  EXPECT_EQ(rest.x().sizes(), (std::vector<int64_t>{n - 5000, 1, 2, 2}));
  EXPECT_FALSE(rest.contains(ids[1000].item<int64_t>()));
  EXPECT_TRUE(rest.contains(ids[999].item<int64_t>()));
}

TEST(Dataset, DescribeIds) {
  EXPECT_EQ(unlearn::data::describe_ids(ids_of({4, 2})), "[4, 2]");
  EXPECT_EQ(unlearn::data::describe_ids(ids_of({1, 2, 3}), 2), "[1, 2] and 1 more");
  EXPECT_EQ(unlearn::data::describe_ids(torch::empty({0}, torch::kLong)), "[]");
}
