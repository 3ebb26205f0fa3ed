// `unlearn demo`, the README's first command: it runs, and its lines in words are the run's own
// numbers (read back from the results.csv it wrote), not text that could drift from them.
#include "cli_support.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace {
using namespace cli_test;

// The "full" row's averaged KL on the erased points, formatted as the demo prints it (%.3g).
std::string full_row_kl(const fs::path& csv) {
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // header: method,lambda,kl_erased_mean,...
  while (std::getline(in, line)) {
    if (line.rfind("full,", 0) != 0) continue;
    std::stringstream ss(line);
    std::string method, lambda, kl;
    std::getline(ss, method, ',');
    std::getline(ss, lambda, ',');
    std::getline(ss, kl, ',');
    return fmt::format("{:.3g}", std::stod(kl));
  }
  return "(no full row)";
}

TEST_F(CliTest, DemoSaysWhatItShowsInItsOwnNumbers) {
  const auto out = dir_ / "demo";
  auto r = run("demo --out " + out.string());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("KL(unlearned ‖ retrained)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("In words"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("doing nothing leaves " + full_row_kl(out / "results.csv") + ";"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("EUBO at λ = 0 gives"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reverse KL at λ = "), std::string::npos) << r.out;
}

}  // namespace
