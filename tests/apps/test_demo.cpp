// `unlearn demo`, the README's first command: it runs, and its lines in words are the run's own
// numbers (read back from the results.json it wrote), not text that could drift from them.
#include "cli_support.h"

#include <fmt/format.h>

namespace {
using namespace cli_test;

// The "full" row's averaged KL on the erased points, formatted as the demo prints it (%.3g).
std::string full_row_kl(const fs::path& results_json) {
  const auto results = nlohmann::json::parse(slurp(results_json));  // kept alive for the loop
  for (const auto& r : results.at("rows"))
    if (r.at("method") == "full") return fmt::format("{:.3g}", r.at("kl_erased_mean").get<double>());
  return "(no full row)";
}

TEST_F(CliTest, DemoSaysWhatItShowsInItsOwnNumbers) {
  const auto out = dir_ / "demo";
  auto r = run("demo --out " + out.string());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("KL(unlearned ‖ retrained)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("In words"), std::string::npos) << r.out;
  const auto expected = "doing nothing leaves " + full_row_kl(out / "results.json") + ";";
  EXPECT_NE(r.out.find(expected), std::string::npos) << "expected \"" << expected << "\" in:\n" << r.out;
  EXPECT_NE(r.out.find("EUBO at λ = 0 gives"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reverse KL at λ = "), std::string::npos) << r.out;
}

}  // namespace
