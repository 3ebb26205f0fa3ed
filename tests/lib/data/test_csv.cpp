#include <gtest/gtest.h>

#include "data_test_util.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "unlearn/data/csv.h"

using unlearn::data::CsvOptions;
using unlearn::data::load_csv_dataset;
using unlearn::data::read_csv;

namespace {

using unlearn::test::error_of;

std::string data_file(const std::string& name) { return std::string(UNLEARN_SOURCE_DIR) + "/configs/data/" + name; }

// A file with this text in the test's temporary directory.
std::string write_temp(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() / ("unlearn_test_csv_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(Csv, MoonsFile) {
  auto table = read_csv(data_file("moons_100.csv"));
  EXPECT_EQ(table.columns, (std::vector<std::string>{"id", "x1", "x2", "label"}));
  ASSERT_EQ(table.rows(), 100);
  EXPECT_EQ(table.lines.front(), 2);
  // The first data line, to the last digit.
  EXPECT_EQ(table.values[0][1].item<double>(), -0.010944346213751538);
  EXPECT_EQ(table.values[0][2].item<double>(), 0.9897848762552421);

  auto ds = load_csv_dataset(data_file("moons_100.csv"), {"x1", "x2"}, "label", "id");
  EXPECT_EQ(ds.x().sizes(), (std::vector<int64_t>{100, 2}));
  EXPECT_EQ(ds.x().scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::equal(ds.ids(), torch::arange(100, torch::kLong)));
  EXPECT_TRUE(torch::equal(ds.y().bincount(), torch::tensor({50, 50}, torch::kLong)));

  auto inducing = read_csv(data_file("moons_inducing_20.csv"));
  EXPECT_EQ(inducing.values.sizes(), (std::vector<int64_t>{20, 2}));
}

TEST(Csv, GmmFileCountsAndMeans) {
  auto ds = load_csv_dataset(data_file("gmm_2d_2000.csv"), {"x1", "x2"}, "label", "id");
  ASSERT_EQ(ds.size(), 2000);
  EXPECT_TRUE(torch::equal(ds.y().bincount(), torch::tensor({471, 509, 536, 484}, torch::kLong)));
  const double means[4][2] = {{-1.995, -2.202}, {-1.499, 2.114}, {2.116, 2.898}, {1.239, -0.994}};
  for (int k = 0; k < 4; ++k) {
    auto mean = ds.x().index_select(0, (ds.y() == k).nonzero().squeeze(1)).mean(0);
    EXPECT_NEAR(mean[0].item<double>(), means[k][0], 1e-3) << "class " << k;
    EXPECT_NEAR(mean[1].item<double>(), means[k][1], 1e-3) << "class " << k;
  }
}

TEST(Csv, BanknoteAndItsErasedIds) {
  auto ds = load_csv_dataset(data_file("banknote_authentication.csv"),
                             {"variance", "skewness", "curtosis", "entropy"}, "label");
  ASSERT_EQ(ds.size(), 1372);
  EXPECT_TRUE(torch::equal(ds.y().bincount(), torch::tensor({762, 610}, torch::kLong)));
  auto erased = unlearn::data::read_id_list(data_file("banknote_erased_ids.txt"));
  ASSERT_EQ(erased.numel(), 412);
  EXPECT_TRUE(torch::equal(ds.subset(erased).y().bincount(), torch::tensor({214, 198}, torch::kLong)));
  EXPECT_EQ(ds.erase(erased).size(), 960);
}

TEST(Csv, OptionsDelimiterCommentsNoHeaderCrlf) {
  auto path = write_temp("semi.csv", "# a comment\r\n1; 2.5\r\n\r\n  -3 ;+4e2\r\n");
  auto table = read_csv(path, CsvOptions().delimiter(';').header(false));
  EXPECT_EQ(table.columns, (std::vector<std::string>{"0", "1"}));
  EXPECT_TRUE(torch::equal(table.values, torch::tensor({1.0, 2.5, -3.0, 400.0}, torch::kFloat64).reshape({2, 2})));
  EXPECT_EQ(table.lines, (std::vector<int64_t>{2, 4}));
  EXPECT_TRUE(torch::equal(table.column("1"), torch::tensor({2.5, 400.0}, torch::kFloat64)));
}

TEST(Csv, BadNumberNamesFileLineAndField) {
  auto path = write_temp("bad_number.csv", "id,x,label\n0,1.5,0\n1,1.5x,1\n");
  auto msg = error_of([&] { read_csv(path); });
  EXPECT_TRUE(has(msg, path + ":3:")) << msg;
  EXPECT_TRUE(has(msg, "column 'x'")) << msg;
  EXPECT_TRUE(has(msg, "'1.5x'")) << msg;
}

TEST(Csv, RaggedRowNamesFileAndLine) {
  auto path = write_temp("ragged.csv", "id,x,label\n0,1.5,0\n\n1,2.5\n");
  auto msg = error_of([&] { read_csv(path); });
  EXPECT_TRUE(has(msg, path + ":4: 2 fields, expected 3")) << msg;
}

TEST(Csv, MissingFileNamesThePath) {
  const std::string path = "/nonexistent/unlearn/no_such.csv";
  auto msg = error_of([&] { read_csv(path); });
  EXPECT_TRUE(has(msg, "cannot open '" + path + "'")) << msg;
  EXPECT_TRUE(has(error_of([&] { unlearn::data::read_id_list(path); }), path));
}

TEST(Csv, DatasetErrors) {
  auto path = write_temp("labels.csv", "id,x,label\n0,1.5,0\n7,2.5,0.5\n7,3.5,1\n");
  auto msg = error_of([&] { load_csv_dataset(path, {"x", "y"}, "label"); });
  EXPECT_TRUE(has(msg, "no column 'y'")) << msg;
  EXPECT_TRUE(has(msg, "id, x, label")) << msg;
  msg = error_of([&] { load_csv_dataset(path, {"x"}, "label", "id"); });
  EXPECT_TRUE(has(msg, path + ":3: label column 'label' must hold whole numbers")) << msg;
  // Float labels are fine when asked for; then the repeated id is caught.
  msg = error_of([&] { load_csv_dataset(path, {"x"}, "label", "id", torch::kFloat64, torch::kFloat64); });
  EXPECT_TRUE(has(msg, path)) << msg;
  EXPECT_TRUE(has(msg, "repeated ids [7]")) << msg;
  auto ds = load_csv_dataset(path, {"x"}, "label", std::nullopt, torch::kFloat32, torch::kFloat64);
  EXPECT_EQ(ds.x().scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(ds.y(), torch::tensor({0.0, 0.5, 1.0}, torch::kFloat64)));
}
