// The inference benchmark (not part of CI: run with --gtest_also_run_disabled_tests
// --gtest_filter='*Bench*'; `unlearn bench` calls the same function).
#include <gtest/gtest.h>

#include <iostream>

#include "unlearn/bench/inference_bench.h"

namespace {

TEST(Bench, DISABLED_Inference) {
  auto report = unlearn::inference::bench_inference();
  std::cout << report.dump(2) << std::endl;
  EXPECT_GT(report.at("vi").at("min_ms").get<double>(), 0);
  EXPECT_GT(report.at("sgld").at("min_ms").get<double>(), 0);
}

// A smoke test of the benchmark itself, tiny enough for CI.
TEST(Bench, RunsAndReports) {
  auto report = unlearn::inference::bench_inference(
      unlearn::inference::InferenceBenchOptions().vi_steps(2).sgld_steps(5).warmup(1).repeats(1));
  EXPECT_EQ(report.at("vi").at("S").get<int64_t>(), 1000);
  EXPECT_EQ(report.at("sgld").at("batch_size").get<int64_t>(), 64);
  EXPECT_EQ(report.at("vi").at("ms_per_step").size(), 1u);
}

}  // namespace
