// `unlearn experiment configs/fmnist_bif_tiny.json`: the Fashion-MNIST BIF study end to end on a
// 2000-point subset with a small MLP (issue 7). Checks the CSV the issue fixes: its header, one
// row per inference method and stage, finite numbers, and that forgetting moved the model.
#include <gtest/gtest.h>

#include "cli_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {
namespace fs = std::filesystem;

std::vector<std::vector<std::string>> read_csv(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(f, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

TEST(CliExperiment, FmnistBifTinyConfigWritesResults) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  auto out = fs::temp_directory_path() / ("unlearn_fmnist_" + std::to_string(::getpid()));
  fs::remove_all(out);
  const std::string src = UNLEARN_SOURCE_DIR;
  auto [rc, text] = cli_test::run("experiment " + src + "/configs/fmnist_bif_tiny.json --out " + out.string() +
                                " --quiet");
  ASSERT_EQ(rc, 0) << text;
  auto rows = read_csv(out / "results.csv");
  ASSERT_EQ(rows.size(), 1u + 3 * 3) << "header + origin/processed/target for vi, sgld, sghmc";
  std::string header;
  for (const auto& c : rows[0]) header += (header.empty() ? "" : ",") + c;
  EXPECT_EQ(header,
            "method,removed,err_forget,err_remain,err_test,mia_forget_nonmember,pred_l1_to_retrain,forget_seconds,"
            "retrain_seconds");
  const std::vector<std::string> stages{"origin", "processed", "target"};
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 9u);
    EXPECT_EQ(rows[i][0].substr(rows[i][0].find('/') + 1), stages[(i - 1) % 3]);
    EXPECT_EQ(rows[i][1], "128");
    for (size_t j = 2; j < 9; ++j) {
      const double v = std::stod(rows[i][j]);
      EXPECT_TRUE(std::isfinite(v) && v >= 0) << rows[i][0] << " column " << rows[0][j] << " = " << rows[i][j];
      if (j <= 6) {
        EXPECT_LE(v, j == 6 ? 2.0 : 1.0);
      }
    }
    // The processed model differs from the origin's predictions: BIF took a step.
    if ((i - 1) % 3 == 1) {
      EXPECT_NE(rows[i][6], rows[i - 1][6]) << rows[i][0];
    }
    // The target is the reference of the L1 distance: 0 to itself.
    if ((i - 1) % 3 == 2) {
      EXPECT_EQ(std::stod(rows[i][6]), 0.0);
    }
  }
  EXPECT_TRUE(fs::exists(out / "results.json"));
  fs::remove_all(out);
}

}  // namespace
