// Fuzz and fault suite for the command (docs/architecture.md, "Idioms": tests): mutated configs,
// id files and run directories — type changes, deletions, huge and non-finite numbers, deep
// nesting, truncation, byte flips, generation swaps — each run through the whole `unlearn`
// command, which must answer with exit 0, 1 (runtime failure) or 2 (bad input) and a message,
// never a signal or a hang; a refused writer leaves its directory byte-identical; and every
// success verifies (`unlearn verify`: intact, chained, finite — no NaN saved as a success).
//
// Each case runs unlearn::cli::run_cli in a fork()ed child (the parent never touches torch, so
// forking is safe), which costs milliseconds instead of a process start that loads libtorch
// (~1.5 s), and isolates crashes: a signal, or a child still running after kCaseTimeout, fails the
// case. Seed 20261204, std::mt19937_64; UNLEARN_FUZZ_CASES scales the three families (default
// 1100 cases in all, about a minute on one core).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "apps/cli_support.h"
#include "unlearn/cli.h"

namespace {
namespace fs = std::filesystem;
using cli_test::slurp;
using cli_test::snapshot;  // the run's lock file left out: every writer rewrites it
using nlohmann::json;

constexpr double kCaseTimeout = 120.0;  // seconds; the slowest valid mutant (2000 default VI steps) takes ~1 s

struct Outcome {
  int rc = -1;
  int signal = 0;
  bool hung = false;
  std::string output;
};

/// `unlearn ARGS` in a forked child, stdout and stderr into `log`.
Outcome run_cli(const std::vector<std::string>& args, const fs::path& log) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<std::string> argv_s = {"unlearn"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = 99;
    try {
      rc = unlearn::cli::run_cli(static_cast<int>(argv_s.size()), argv.data());
    } catch (...) {
      rc = 98;  // an exception escaping run_cli is itself a failure
    }
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(rc);
  }
  Outcome o;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(kCaseTimeout);
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      o.hung = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!o.hung) {
    if (WIFEXITED(status)) o.rc = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  }
  o.output = slurp(log);
  return o;
}

int cases_scale() {
  const char* s = std::getenv("UNLEARN_FUZZ_CASES");
  return s ? std::max(1, std::atoi(s)) : 1100;
}

class Fuzz : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("unlearn_fuzz_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::cout << "fuzz: " << cases_ << " cases; exit codes 0: " << rcs_[0] << ", 1: " << rcs_[1] << ", 2: " << rcs_[2]
              << "; signals " << signals_ << ", hangs " << hangs_ << ", silent failures " << silent_ << "\n";
    if (!HasFailure()) fs::remove_all(dir_);
  }

  /// Checks the invariants of one case; `writer_dir` (when set) must be unchanged on refusal.
  void judge(const std::string& what, const Outcome& o, const std::map<std::string, std::string>* before,
             const fs::path& writer_dir) {
    ++cases_;
    if (o.signal) ++signals_;
    if (o.hung) ++hangs_;
    ASSERT_EQ(o.signal, 0) << what << " died of signal " << o.signal << ":\n" << o.output.substr(0, 2000);
    ASSERT_FALSE(o.hung) << what << " did not finish within " << kCaseTimeout << " s";
    ASSERT_TRUE(o.rc == 0 || o.rc == 1 || o.rc == 2) << what << " exited " << o.rc << ":\n" << o.output.substr(0, 2000);
    ++rcs_[o.rc];
    if (o.rc == 1) std::cout << "fuzz: exit 1 (runtime failure) for " << what << ": " << o.output.substr(0, 300) << "\n";
    if (o.rc != 0) {
      EXPECT_NE(o.output.find("error: "), std::string::npos) << what << ": a failure without a message:\n" << o.output;
      EXPECT_LT(o.output.size(), 20000u) << what << ": an over-long message";
      if (before) EXPECT_EQ(snapshot(writer_dir), *before) << what << ": a refused command changed the directory";
    }
  }

  /// A success must leave a directory that verifies (intact, chained, finite).
  void expect_verifies(const std::string& what, const fs::path& run_dir) {
    auto v = run_cli({"verify", run_dir.string()}, dir_ / "verify.log");
    if (v.rc != 0) ++silent_;
    EXPECT_EQ(v.rc, 0) << what << " succeeded but its run directory does not verify:\n" << v.output.substr(0, 3000);
  }

  fs::path write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  fs::path train(const std::string& name, const json& config) {
    auto run_dir = dir_ / name;
    auto o = run_cli({"train", write(name + ".json", config.dump(2)).string(), "--out", run_dir.string(), "--quiet"},
                     dir_ / "seed.log");
    EXPECT_EQ(o.rc, 0) << o.output;
    return run_dir;
  }

  fs::path dir_;
  std::mt19937_64 rng_{20261204};
  int cases_ = 0, signals_ = 0, hangs_ = 0, silent_ = 0;
  int rcs_[3] = {0, 0, 0};
};

json regression(const json& train) {
  return {{"seed", 1},
          {"data", {{"kind", "synthetic_regression"}, {"n", 40}, {"features", 3}, {"noise_std", 0.5}}},
          {"model", {{"kind", "linear_regression"}, {"noise_std", 0.5}, {"prior_std", 1.0}}},
          {"posterior", {{"family", "full_rank"}}},
          {"train", train}};
}

std::vector<json> base_configs() {
  json logistic = {{"seed", 0},
                   {"data",
                    {{"kind", "csv"},
                     {"path", std::string(UNLEARN_SOURCE_DIR) + "/configs/data/moons_100.csv"},
                     {"features", {"x1", "x2"}},
                     {"label", "label"},
                     {"id_column", "id"},
                     {"test_fraction", 0.2}}},
                   {"model", {{"kind", "logistic"}, {"prior_std", 10.0}}},
                   {"posterior", {{"family", "mean_field"}, {"init_scale", 0.5}}},
                   {"train", {{"method", "vi"}, {"steps", 40}, {"num_samples", 8}, {"lr", 0.05}, {"checkpoint_every", 10}}}};
  return {regression({{"method", "exact"}}),
          regression({{"method", "vi"}, {"steps", 40}, {"num_samples", 8}, {"lr", 0.02}, {"checkpoint_every", 20}}),
          regression({{"method", "sgld"}, {"steps", 60}, {"lr", 1e-3}, {"batch_size", 8},
                      {"bank", {{"burn_in", 20}, {"thinning", 4}, {"capacity", 10}}}}),
          regression({{"method", "sghmc"}, {"steps", 60}, {"lr", 1e-3}, {"batch_size", 8}, {"friction", 0.1},
                      {"bank", {{"burn_in", 20}, {"thinning", 4}, {"capacity", 10}}}}),
          logistic};
}

/// Every JSON pointer in a document (the root included).
void pointers(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it) pointers(it.value(), at / it.key(), out);
  else if (j.is_array())
    for (std::size_t i = 0; i < j.size(); ++i) pointers(j[i], at / i, out);
}

const std::vector<json>& replacements() {
  static const std::vector<json> values = {
      nullptr, true, false, "text", "", json::array(), json::object(), 0, -1, 3, 0.5, -0.0, 1e-300, 1e308, -1e308,
      std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), std::numeric_limits<uint64_t>::max(),
      int64_t{1} << 40, std::string(10000, 'z'), json::array({1, 2, 3}), json{{"unknown_key", 1}}};
  return values;
}

/// One mutation of a config, as text (some mutations only exist as text: 1e400, NaN, nesting).
std::string mutate_config(const json& base, std::mt19937_64& rng, std::string& what) {
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::vector<json::json_pointer> ptrs;
  pointers(base, json::json_pointer(), ptrs);
  const auto& ptr = ptrs[pick(ptrs.size())];
  json j = base;
  const int op = static_cast<int>(pick(12));
  what = "op " + std::to_string(op) + " at '" + ptr.to_string() + "'";
  switch (op) {
    case 0: {  // delete
      if (ptr.empty()) return "";
      j[ptr.parent_pointer()].erase(ptr.back());
      return j.dump(2);
    }
    case 1: case 2: case 3: {  // type change / huge / odd values
      j[ptr] = replacements()[pick(replacements().size())];
      what += " = " + j[ptr].dump().substr(0, 40);
      return j.dump(2);
    }
    case 4: {  // wrap
      j[ptr] = pick(2) ? json::array({j[ptr]}) : json{{"x", j[ptr]}};
      return j.dump(2);
    }
    case 5: {  // an unknown key at an object
      if (j[ptr].is_object()) j[ptr]["no_such_option"] = 1;
      else j[ptr] = json{{"no_such_option", 1}};
      return j.dump(2);
    }
    case 6: {  // numbers JSON has no value for, or no exact integer for
      static const std::vector<std::string> tokens = {"1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1e-400",
                                                      "99999999999999999999999", "00", "-", "1.", ".5", "0x10"};
      const std::string token = tokens[pick(tokens.size())];
      j[ptr] = "@@TOKEN@@";
      auto text = j.dump(2);
      text.replace(text.find("\"@@TOKEN@@\""), 11, token);
      what += " = " + token;
      return text;
    }
    case 7: {  // deep nesting
      const std::size_t depth = pick(2) ? 300 : 100000;
      j[ptr] = "@@NEST@@";
      auto text = j.dump(2);
      text.replace(text.find("\"@@NEST@@\""), 10, std::string(depth, '[') + std::string(depth, ']'));
      what += " nested " + std::to_string(depth);
      return text;
    }
    case 8: {  // truncation
      auto text = base.dump(2);
      return text.substr(0, pick(text.size()));
    }
    case 9: {  // byte flips
      auto text = base.dump(2);
      for (int k = 0, n = 1 + static_cast<int>(pick(4)); k < n; ++k) text[pick(text.size())] ^= static_cast<char>(1 << pick(8));
      return text;
    }
    case 10: {  // a random byte inserted
      auto text = base.dump(2);
      text.insert(text.begin() + static_cast<std::ptrdiff_t>(pick(text.size())), static_cast<char>(rng() & 0xff));
      return text;
    }
    default: {  // whole-file oddities
      static const std::vector<std::string> files = {"", " ", "null", "[]", "0", "\xef\xbb\xbf{}", "{}", "{\"seed\": 1}",
                                                     std::string("{\"a\":\0}", 8)};
      return files[pick(files.size())];
    }
  }
}

// ~650 mutated configs through `unlearn train`: a refusal leaves no directory behind, a success
// verifies.
TEST_F(Fuzz, MutatedConfigsNeverCrashOrSucceedSilently) {
  const auto bases = base_configs();
  const int n = cases_scale() * 650 / 1100;
  for (int i = 0; i < n; ++i) {
    const auto& base = bases[static_cast<std::size_t>(i) % bases.size()];
    std::string what;
    const auto text = mutate_config(base, rng_, what);
    const auto cfg = write("c.json", text);
    const auto out = dir_ / "run";
    fs::remove_all(out);
    what = "config case " + std::to_string(i) + " (" + what + ")";
    auto o = run_cli({"train", cfg.string(), "--out", out.string(), "--quiet"}, dir_ / "case.log");
    judge(what, o, nullptr, {});
    if (HasFatalFailure()) return;
    if (o.rc != 0) EXPECT_FALSE(fs::exists(out) && !fs::is_empty(out)) << what << ": a failed train left files";
    else expect_verifies(what, out);
  }
}

std::string mutate_ids(std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  switch (pick(16)) {
    case 0: return "";
    case 1: return "# only a comment\n";
    case 2: return "\n\n  \n";
    case 3: return std::to_string(1000 + pick(1000)) + "\n";            // unknown id
    case 4: return "-1\n";
    case 5: return "9223372036854775807\n";
    case 6: return "99999999999999999999\n";                            // overflows int64
    case 7: return "3.5\n";
    case 8: return "abc\n";
    case 9: return "3\n3\n";                                            // duplicate
    case 10: {                                                         // every id: nothing would remain
      std::string s;
      for (int i = 0; i < 40; ++i) s += std::to_string(i) + "\n";
      return s;
    }
    case 11: {  // random bytes
      std::string s;
      for (int i = 0, n = 1 + static_cast<int>(pick(64)); i < n; ++i) s.push_back(static_cast<char>(rng() & 0xff));
      return s;
    }
    case 12: return std::string(100000, '7');                           // one enormous number
    case 13: return "\xef\xbb\xbf" "3\n";
    case 14: return "+3\n0x10\n";
    default: {  // a valid request of 1-4 ids
      std::string s;
      std::vector<int> ids(40);
      for (int i = 0; i < 40; ++i) ids[static_cast<std::size_t>(i)] = i;
      std::shuffle(ids.begin(), ids.end(), rng);
      for (std::size_t i = 0, n = 1 + pick(4); i < n; ++i) s += std::to_string(ids[i]) + "\n";
      return s;
    }
  }
}

// ~250 mutated erase requests through `unlearn forget` on exact, VI and SGLD runs: a refusal
// changes nothing, a success verifies.
TEST_F(Fuzz, MutatedRequestsNeverCrashOrChangeARefusedDirectory) {
  const auto bases = base_configs();
  struct Seed {
    fs::path dir;
    std::vector<std::vector<std::string>> methods;
  };
  std::vector<Seed> seeds = {
      {train("exact", bases[0]), {{"--method", "exact"}, {"--method", "retrain"}}},
      {train("vi", bases[1]),
       {{"--method", "rkl_closed", "--num-samples", "200"},
        {"--method", "rkl", "--steps", "20", "--num-samples", "16"},
        {"--method", "eubo", "--steps", "20", "--num-samples", "16"},
        {"--method", "bif"},
        {"--method", "retrain"},
        {"--method", "exact"}}},
      {train("sgld", bases[2]), {{"--method", "bif"}, {"--method", "retrain"}, {"--method", "rkl"}}}};
  if (HasFailure()) return;
  const int n = cases_scale() * 250 / 1100;
  for (int i = 0; i < n; ++i) {
    auto& seed = seeds[static_cast<std::size_t>(i) % seeds.size()];
    const auto run_dir = dir_ / "case";
    fs::remove_all(run_dir);
    fs::copy(seed.dir, run_dir, fs::copy_options::recursive);
    const auto ids = write("ids.txt", mutate_ids(rng_));
    std::vector<std::string> args = {"forget", run_dir.string(), "--ids-file", ids.string(), "--quiet"};
    const auto& method = seed.methods[static_cast<std::size_t>(rng_() % seed.methods.size())];
    args.insert(args.end(), method.begin(), method.end());
    const auto before = snapshot(run_dir);
    const std::string what = "request case " + std::to_string(i) + " (" + method[1] + " on " +
                             seed.dir.filename().string() + ", ids " + json(slurp(ids).substr(0, 40)).dump(-1, ' ', true, json::error_handler_t::replace) + ")";
    auto o = run_cli(args, dir_ / "case.log");
    judge(what, o, &before, run_dir);
    if (HasFatalFailure()) return;
    if (o.rc == 0) expect_verifies(what, run_dir);
  }
}

// ~200 damaged run directories (byte flips, truncation, deleted or swapped generations, edited
// configs and audit logs) through every command: no signal, no hang, a message on failure, and a
// refused writer leaves the damage as it found it.
TEST_F(Fuzz, DamagedRunDirectoriesAreRefusedNotCrashedOn) {
  const auto bases = base_configs();
  auto exact = train("exact", bases[0]);
  auto vi = train("vi", bases[1]);
  if (HasFailure()) return;
  for (const auto& ids : {"1,2", "5"}) {
    auto o = run_cli({"forget", exact.string(), "--ids", ids, "--method", "exact", "--quiet"}, dir_ / "seed.log");
    ASSERT_EQ(o.rc, 0) << o.output;
  }
  ASSERT_EQ(run_cli({"forget", vi.string(), "--ids", "4", "--method", "rkl_closed", "--num-samples", "200", "--quiet"},
                    dir_ / "seed.log").rc, 0);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng_() % n); };
  const int n = cases_scale() * 200 / 1100;
  for (int i = 0; i < n; ++i) {
    const auto& seed = i % 2 ? vi : exact;
    const auto run_dir = dir_ / "case";
    fs::remove_all(run_dir);
    fs::copy(seed, run_dir, fs::copy_options::recursive);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(run_dir))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    const auto victim = files[pick(files.size())];
    std::string what = "directory case " + std::to_string(i) + " (" + seed.filename().string() + ", ";
    std::string bytes = slurp(victim);
    switch (pick(8)) {
      case 0:
        for (int k = 0, m = 1 + static_cast<int>(pick(3)); k < m && !bytes.empty(); ++k)
          bytes[pick(bytes.size())] ^= static_cast<char>(1 << pick(8));
        std::ofstream(victim, std::ios::binary) << bytes;
        what += "byte flips in ";
        break;
      case 1:
        std::ofstream(victim, std::ios::binary) << bytes.substr(0, bytes.empty() ? 0 : pick(bytes.size()));
        what += "truncated ";
        break;
      case 2:
        fs::remove(victim);
        what += "deleted ";
        break;
      case 3: {
        const auto other = files[pick(files.size())];
        if (other == victim) {
          std::ofstream(victim, std::ios::binary) << bytes << "appended";
          what += "bytes appended to ";
          break;
        }
        fs::copy_file(other, victim, fs::copy_options::overwrite_existing);
        what += other.filename().string() + " copied over ";
        break;
      }
      case 4:
        fs::remove(victim);
        fs::create_directory(victim);
        what += "a directory instead of ";
        break;
      case 5: {
        auto lines = bytes;
        std::ofstream(victim, std::ios::binary) << lines << lines.substr(0, lines.size() / 2);
        what += "half repeated at the end of ";
        break;
      }
      case 6: {
        std::string discard;
        const auto text = mutate_config(json::parse(slurp(run_dir / "config.json")), rng_, discard);
        std::ofstream(run_dir / "config.json", std::ios::binary) << text;
        what += "mutated config.json (" + discard + "), not ";
        break;
      }
      default:
        fs::copy_file(run_dir / "gen-0001.ckpt", run_dir / "gen-0003.ckpt");
        what += "gen-0001 copied in as gen-0003, not ";
        break;
    }
    what += victim.filename().string() + ")";
    static const std::vector<std::vector<std::string>> commands = {
        {"export"}, {"evaluate", "--num-samples", "50"}, {"verify"}, {"forget", "--ids", "9", "--method", "exact"},
        {"forget", "--ids", "9", "--method", "retrain"}, {"train", "--resume"}};
    const auto& command = commands[pick(commands.size())];
    std::vector<std::string> args = {command[0]};
    if (command[0] == "train") args.push_back("--resume");
    args.push_back(run_dir.string());
    args.insert(args.end(), command.begin() + (command[0] == "train" ? 2 : 1), command.end());
    args.push_back("--quiet");
    if (command[0] == "export" || command[0] == "verify" || command[0] == "evaluate") args.pop_back();
    const bool writer = command[0] == "forget" || command[0] == "train";
    const auto before = snapshot(run_dir);
    what += " then " + command[0];
    auto o = run_cli(args, dir_ / "case.log");
    judge(what, o, writer ? &before : nullptr, run_dir);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
