// The bench the app runs (`unlearn bench`): a smoke test with a handful of steps.
#include <gtest/gtest.h>

#include "unlearn/bench/unlearning_bench.h"

namespace unlearn {
namespace {

TEST(UnlearningBench, ReportsEveryConfiguration) {
  auto j = bench_unlearning(
      UnlearningBenchOptions().steps(3).warmup(1).repeats(1).closed_form_samples(2000));
  EXPECT_EQ(j["config"]["dim"], 20);
  EXPECT_EQ(j["config"]["num_samples"], 1000);
  const auto& results = j["results"];
  ASSERT_EQ(results.size(), 5u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_GT(results[i]["ms_per_step"].get<double>(), 0.0);
    EXPECT_GT(results[i]["cpu_ms_per_step"].get<double>(), 0.0);
  }
  EXPECT_EQ(results[0]["method"], "eubo");
  EXPECT_EQ(results[1]["runs"], 6);
  EXPECT_EQ(results[2]["method"], "rkl");
  EXPECT_EQ(results[4]["method"], "rkl_closed");
  EXPECT_THROW(bench_unlearning(UnlearningBenchOptions().steps(0)), c10::Error);
}

}  // namespace
}  // namespace unlearn
