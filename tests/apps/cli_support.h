#pragma once
// Helpers for the end-to-end tests of the real `unlearn` binary: run it, capture its output,
// snapshot a directory byte for byte, and a per-test scratch directory.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace cli_test {
namespace fs = std::filesystem;

struct Result {
  int rc;
  std::string out;
};

/// Runs `unlearn ARGS` through the shell; `redirect` decides what is captured ("2>&1": both
/// streams, "2>/dev/null": stdout alone); `env` prefixes variables ("UNLEARN_FAULT=...").
inline Result run(const std::string& args, const std::string& redirect = "2>&1", const std::string& env = "") {
  std::string cmd = (env.empty() ? "" : env + " ") + std::string(UNLEARN_BINARY) + " " + args + " " + redirect;
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// stdout alone, which --json promises is one JSON document.
inline Result run_stdout(const std::string& args) { return run(args, "2>/dev/null"); }

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// Every file of a directory with its bytes: "byte-identical before and after". The run's lock
/// file is left out: every writer rewrites it with its PID before it reads anything, refused or not.
inline std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "lock") files[fs::relative(e.path(), dir).string()] = slurp(e.path());
  return files;
}

/// A request the command must refuse: exit code 2, `needle` in its output, and `dir` byte-identical
/// to `before` (a snapshot taken earlier).
inline void expect_rejected_unchanged(const fs::path& dir, const std::map<std::string, std::string>& before,
                                      const std::string& args, const std::string& needle) {
  auto r = run(args);
  EXPECT_EQ(r.rc, 2) << args << ": " << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << args << ": " << r.out;
  EXPECT_EQ(snapshot(dir), before) << args << ": the run directory changed";
}

inline std::vector<nlohmann::json> read_audit(const fs::path& run_dir) {
  std::ifstream audit(run_dir / "audit.jsonl");
  std::string line;
  std::vector<nlohmann::json> records;
  while (std::getline(audit, line)) records.push_back(nlohmann::json::parse(line));
  return records;
}

/// The tiny conjugate problem most command tests start from: exact linear regression, 60 rows.
inline nlohmann::json exact_regression_config(int seed = 3) {
  return {{"seed", seed},
          {"data", {{"kind", "synthetic_regression"}, {"n", 60}, {"features", 3}}},
          {"model", {{"kind", "linear_regression"}, {"noise_std", 0.5}}},
          {"train", {{"method", "exact"}}}};
}

/// A scratch directory per test, removed afterwards.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("unlearn_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write_config(const std::string& name, const nlohmann::json& j) {
    auto p = dir_ / name;
    std::ofstream(p) << j.dump(2);
    return p;
  }
  fs::path dir_;
};

}  // namespace cli_test
