// `unlearn launch` and the data-parallel options of train / forget, end to end on loopback:
// W = 2 processes give the posterior of one process (float64, summation order only: 1e-9), and a
// rank that dies makes the others exit non-zero within the timeout while the run directory keeps
// its last good checkpoint.
#include <signal.h>

#include <chrono>
#include <functional>
#include <thread>

#include "cli_support.h"
#include "unlearn/distributed/cluster.h"
#include "unlearn/io/checkpoint.h"

namespace {
using namespace cli_test;

class CliDistributed : public CliTest {
 protected:
  static nlohmann::json config(const nlohmann::json& train) {
    return {{"seed", 3},
            {"data", {{"kind", "synthetic_regression"}, {"n", 61}, {"features", 3}}},
            {"model", {{"kind", "linear_regression"}, {"noise_std", 0.5}}},
            {"train", train}};
  }
  static nlohmann::json vi(int steps, int batch = 0, int checkpoint_every = 100) {
    return {{"method", "vi"}, {"steps", steps}, {"num_samples", 32}, {"lr", 0.02}, {"batch_size", batch},
            {"checkpoint_every", checkpoint_every}};
  }
  static nlohmann::json sgld(int steps) {
    return {{"method", "sgld"}, {"steps", steps}, {"lr", 1e-3}, {"batch_size", 16}, {"checkpoint_every", 100},
            {"bank", {{"burn_in", 50}, {"thinning", 5}}}};
  }
  /// gen-0000.ckpt loads (format, checksum) and holds a periodic trainer state; resuming it with
  /// one process (after shortening the run in config.json) finishes it.
  static void expect_good_checkpoint(const fs::path& run_dir) {
    auto ckpt = unlearn::io::load_checkpoint(run_dir / "gen-0000.ckpt");
    const auto step = ckpt.metadata.at("step").get<int64_t>();
    EXPECT_GT(step, 0);
    EXPECT_EQ(step % 50, 0);
    EXPECT_FALSE(ckpt.metadata.at("finished").get<bool>());
    auto cfg = nlohmann::json::parse(slurp(run_dir / "config.json"));
    cfg["train"]["steps"] = step + 10;
    std::ofstream(run_dir / "config.json") << cfg.dump(2);
    auto r = run("train --resume " + run_dir.string());
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("resuming at step " + std::to_string(step)), std::string::npos) << r.out;
    EXPECT_EQ(run_stdout("export " + run_dir.string()).rc, 0);
  }
  static void flatten(const nlohmann::json& j, std::vector<double>& out) {
    if (j.is_number()) out.push_back(j.get<double>());
    else if (j.is_array() || j.is_object())
      for (const auto& v : j) flatten(v, out);
  }
  /// The largest difference between the numbers of two exports (same structure required).
  static double max_difference(const fs::path& a, const fs::path& b) {
    auto ea = run_stdout("export " + a.string()), eb = run_stdout("export " + b.string());
    EXPECT_EQ(ea.rc, 0) << ea.out;
    EXPECT_EQ(eb.rc, 0) << eb.out;
    std::vector<double> va, vb;
    auto ja = nlohmann::json::parse(ea.out), jb = nlohmann::json::parse(eb.out);
    for (auto* j : {&ja, &jb}) (*j)["metadata"].erase("request");  // its time and seconds differ by design
    flatten(ja, va);
    flatten(jb, vb);
    EXPECT_EQ(va.size(), vb.size());
    double diff = 0;
    for (size_t i = 0; i < std::min(va.size(), vb.size()); ++i) diff = std::max(diff, std::abs(va[i] - vb[i]));
    return diff;
  }
};

TEST_F(CliDistributed, TwoRanksTrainAndForgetLikeOneProcess) {
  for (const auto& [name, train] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"vi_full", vi(300)}, {"vi_minibatch", vi(300, 16)}, {"sgld", sgld(300)}}) {
    auto cfg = write_config(name + ".json", config(train));
    auto one = dir_ / (name + "_w1"), two = dir_ / (name + "_w2");
    auto r = run("train " + cfg.string() + " --out " + one.string() + " --quiet");
    ASSERT_EQ(r.rc, 0) << r.out;
    r = run("launch -n 2 -- train " + cfg.string() + " --out " + two.string());
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("[launch] 2 ranks, rendezvous 127.0.0.1:"), std::string::npos) << r.out;
    EXPECT_LE(max_difference(one, two), 1e-9) << name;
  }
  // One forget request of each distributed method on the VI run: W = 2 equals W = 1. Ids 3, 17,
  // 42 are odd/odd/even: both ranks hold some; 8, 10 then lie on rank 0 alone.
  auto one = dir_ / "vi_full_w1", two = dir_ / "vi_full_w2";
  for (const std::string request : {"--ids 3,17,42 --method eubo --steps 200 --num-samples 100",
                                    "--ids 8,10 --method rkl --steps 200 --num-samples 100",
                                    "--ids 5,6 --method rkl_closed --num-samples 2000",
                                    "--ids 11,12,14 --method bif --solver cg --removal-batch 2",
                                    "--ids 7 --method retrain"}) {
    auto r = run("forget " + one.string() + " " + request + " --quiet");
    ASSERT_EQ(r.rc, 0) << request << ": " << r.out;
    r = run("launch -n 2 -- forget " + two.string() + " " + request);
    ASSERT_EQ(r.rc, 0) << request << ": " << r.out;
    EXPECT_LE(max_difference(one, two), 1e-9) << request;
  }
  EXPECT_EQ(read_audit(two).size(), 5u);  // rank 0 alone appended
  // BIF on the SGLD chain: sampler steps, minibatch LiSSA terms and the corrected bank.
  one = dir_ / "sgld_w1", two = dir_ / "sgld_w2";
  const std::string request =
      "--ids 3,17,42,8 --method bif --solver lissa --lissa-c 0.1 --hvp-batch 16 --removal-batch 2 --sample-steps 4 "
      "--hessian-states 2 --refresh-bank";
  auto r = run("forget " + one.string() + " " + request + " --quiet");
  ASSERT_EQ(r.rc, 0) << r.out;
  r = run("launch -n 2 -- forget " + two.string() + " " + request);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_LE(max_difference(one, two), 1e-9) << request;
}

TEST_F(CliDistributed, ADeadRankStopsTheOthersWithinTheTimeoutAndKeepsTheLastCheckpoint) {
  auto cfg = write_config("long.json", config(vi(1000000, 0, 50)));
  auto run_dir = dir_ / "run";
  const auto port = unlearn::distributed::find_free_port();
  auto rank_cmd = [&](int r) {
    return std::string(UNLEARN_BINARY) + " train " + cfg.string() + " --out " + run_dir.string() +
           " --quiet --world-size 2 --rank " + std::to_string(r) + " --rendezvous 127.0.0.1:" + std::to_string(port) +
           " --dist-timeout 5";
  };
  // Both ranks in the background; once a checkpoint is on disk, kill -9 rank 1 and time rank 0.
  auto log = dir_ / "rank0.log";
  std::string script = "(" + rank_cmd(0) + " >" + log.string() + " 2>&1 & p0=$!; " + rank_cmd(1) +
                       " >/dev/null 2>&1 & p1=$!; while [ ! -f " + (run_dir / "gen-0000.ckpt").string() +
                       " ] && kill -0 $p0; do sleep 0.05; done; sleep 0.3; kill -9 $p1; s=$(date +%s%N); wait $p0; "
                       "rc=$?; e=$(date +%s%N); echo \"$rc $(( (e - s) / 1000000 ))\")";
  FILE* pipe = popen(script.c_str(), "r");
  std::array<char, 256> buf{};
  std::string out;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  pclose(pipe);
  int rc = -1;
  double milliseconds = 1e9;
  std::istringstream(out) >> rc >> milliseconds;
  const double seconds = milliseconds / 1000.0;
  const std::string rank0 = slurp(log);
  EXPECT_EQ(rc, 1) << out << rank0;
  EXPECT_LT(seconds, 5.0 + 2.0) << out;
  // Which collective rank 0 is in when its peer dies depends on timing (the gradient's sum or the
  // per-step interrupt check's max; seen both when other tests load the cores): either must stop it.
  const bool sum = rank0.find("rank 0 of 2: all_reduce_sum failed: another rank died or stalled") != std::string::npos;
  const bool max = rank0.find("rank 0 of 2: all_reduce_max failed: another rank died or stalled") != std::string::npos;
  EXPECT_TRUE(sum || max) << rank0;
  // The last periodic checkpoint is whole (checksummed load) and resumable with one process.
  expect_good_checkpoint(run_dir);

  // Through launch: the launcher reports the dead rank and exits non-zero.
  auto run_dir2 = dir_ / "run2";
  std::string launch = "(" + std::string(UNLEARN_BINARY) + " launch -n 2 --dist-timeout 5 -- train " + cfg.string() +
                       " --out " + run_dir2.string() + " >" + (dir_ / "launch.log").string() +
                       " 2>&1 & l=$!; while [ ! -f " + (run_dir2 / "gen-0000.ckpt").string() +
                       " ] && kill -0 $l; do sleep 0.05; done; sleep 0.3; kill -9 $(pgrep -P $l -f -- '--rank 1'); "
                       "wait $l; echo $?)";
  pipe = popen(launch.c_str(), "r");
  out.clear();
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  pclose(pipe);
  const std::string launch_log = slurp(dir_ / "launch.log");
  EXPECT_EQ(std::atoi(out.c_str()), 1) << out << launch_log;
  EXPECT_NE(launch_log.find("[launch] rank 1 was killed by signal 9"), std::string::npos) << launch_log;
  EXPECT_NE(launch_log.find("[launch] rank 0 exited with code 1"), std::string::npos) << launch_log;
  expect_good_checkpoint(run_dir2);
}

TEST_F(CliDistributed, BadOptionsExitTwo) {
  auto cfg = write_config("vi.json", config(vi(10)));
  auto r = run("train " + cfg.string() + " --out " + (dir_ / "a").string() + " --world-size 2 --rank 0");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("needs --rendezvous"), std::string::npos) << r.out;
  r = run("train " + cfg.string() + " --out " + (dir_ / "b").string() +
          " --world-size 2 --rank 2 --rendezvous 127.0.0.1:1234");
  EXPECT_EQ(r.rc, 2) << r.out;
  r = run("launch -n 2 -- export " + (dir_ / "a").string());
  EXPECT_EQ(r.rc, 2) << r.out;
}

}  // namespace
