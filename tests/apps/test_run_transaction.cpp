// The run directory as a transaction (docs/architecture.md, "Run directories"): one writer at a
// time, one atomic commit per request with its record inside the checkpoint, a hash chain that
// every command checks and `unlearn verify` reports, and a directory that verifies after a kill
// or a full disk at every step of a commit.
#include <unistd.h>

#include "cli_support.h"
#include "unlearn/io/fault_injection.h"
#include "unlearn/io/run_lock.h"
#include "unlearn/io/sha256.h"

namespace {
using namespace cli_test;

class RunDirectory : public CliTest {
 protected:
  static nlohmann::json exact_config(int seed = 3) { return exact_regression_config(seed); }
  /// A trained exact run (generation 0) at dir_/NAME.
  fs::path trained(const std::string& name, int seed = 3) {
    auto run_dir = dir_ / name;
    auto r = run("train " + write_config(name + ".json", exact_config(seed)).string() + " --out " + run_dir.string());
    EXPECT_EQ(r.rc, 0) << r.out;
    return run_dir;
  }
  fs::path copy_of(const fs::path& run_dir, const std::string& name) {
    auto to = dir_ / name;
    fs::copy(run_dir, to, fs::copy_options::recursive);
    return to;
  }
  static nlohmann::json exported(const fs::path& run_dir) {
    auto r = run_stdout("export " + run_dir.string());
    EXPECT_EQ(r.rc, 0) << r.out;
    return r.rc == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }
};

std::vector<int64_t> erased_of(const nlohmann::json& exported) {
  std::vector<int64_t> ids;
  for (const auto& x : exported["erased_ids"]) ids.push_back(x.get<int64_t>());
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Two `forget`s started together on one directory, 20 trials: with --wait both commit one after
// the other; without it each either commits or is refused (exit 2, "locked by PID"). At the end
// the newest generation has every committed id erased, the audit has one record per commit with
// generations 1..K, and the directory verifies.
TEST_F(RunDirectory, TwoForgetsAtOnceNeverLoseARequest) {
  auto run_dir = trained("run");
  std::vector<int64_t> committed;
  int refused = 0;
  for (int trial = 0; trial < 20; ++trial) {
    const bool wait = trial % 2 == 0;
    const int64_t a = 2 * trial, b = 2 * trial + 1;
    auto out = [&](const std::string& tag) { return (dir_ / ("t" + std::to_string(trial) + tag)).string(); };
    const std::string flags = wait ? " --wait 60 --method exact" : " --method exact";
    const std::string script = "(" + std::string(UNLEARN_BINARY) + " forget " + run_dir.string() + " --ids " +
                               std::to_string(a) + flags + " >" + out("a.out") + " 2>&1; echo $? >" + out("a.rc") + ") & (" +
                               std::string(UNLEARN_BINARY) + " forget " + run_dir.string() + " --ids " +
                               std::to_string(b) + flags + " >" + out("b.out") + " 2>&1; echo $? >" + out("b.rc") +
                               ") & wait";
    ASSERT_EQ(std::system(("sh -c '" + script + "'").c_str()), 0);
    for (auto [tag, id] : {std::pair<std::string, int64_t>{"a", a}, {"b", b}}) {
      const int rc = std::stoi(slurp(out(tag + ".rc")));
      const auto text = slurp(out(tag + ".out"));
      if (rc == 0) {
        committed.push_back(id);
      } else {
        EXPECT_FALSE(wait) << "with --wait both must commit: " << text;
        EXPECT_EQ(rc, 2) << text;
        // "by PID N (unlearn forget)", or "by another process" when it asked before the holder
        // had written its PID into the lock file.
        EXPECT_NE(text.find("is locked by"), std::string::npos) << text;
        ++refused;
      }
    }
  }
  std::sort(committed.begin(), committed.end());
  EXPECT_GE(committed.size(), 20u);  // every --wait pair at least
  auto ex = exported(run_dir);
  EXPECT_EQ(erased_of(ex), committed);
  auto records = read_audit(run_dir);
  ASSERT_EQ(records.size(), committed.size());
  for (std::size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i]["generation"], static_cast<int>(i + 1));
  auto v = run("verify " + run_dir.string());
  EXPECT_EQ(v.rc, 0) << v.out;
  std::cout << "two writers: " << committed.size() << " committed, " << refused << " refused (locked)\n";
}

// A kill (UNLEARN_FAULT=POINT) or a full disk (POINT:enospc) at every step of forget's commit:
// the directory verifies afterwards; the request is either committed with its record (the
// checkpoint was renamed) or absent, and the next command completes what the crash left.
TEST_F(RunDirectory, KillOrFullDiskAtEachCommitStepLeavesAVerifiableDirectory) {
  auto base = trained("base");
  struct Fault {
    std::string spec;
    int rc;        // the killed or failing forget's exit status
    bool commits;  // whether the checkpoint's rename happened before the fault
    bool repairs;  // whether the audit line is missing or torn, for the next writer to restore
  };
  const int killed = unlearn::io::kInjectedKillStatus;
  const std::vector<Fault> faults = {
      {"atomic_file.write", killed, false, false},
      {"atomic_file.write:enospc", 1, false, false},
      {"atomic_file.sync", killed, false, false},
      {"atomic_file.sync:enospc", 1, false, false},
      {"atomic_file.rename", killed, false, false},
      {"atomic_file.rename:enospc", 1, false, false},
      {"atomic_file.directory_sync", killed, true, true},
      {"audit.write", killed, true, true},
      // committed: a full disk for the log line is a note (exit 0), the line restored later
      {"audit.write:enospc", 0, true, true},
      {"audit.sync", killed, true, false}};
  int i = 0;
  for (const auto& f : faults) {
    auto run_dir = copy_of(base, "fault" + std::to_string(i++));
    auto r = run("forget " + run_dir.string() + " --ids 3,4 --method exact", "2>&1", "UNLEARN_FAULT=" + f.spec);
    EXPECT_EQ(r.rc, f.rc) << f.spec << ": " << r.out;
    EXPECT_EQ(fs::exists(run_dir / "gen-0001.ckpt"), f.commits) << f.spec;
    auto v = run("verify " + run_dir.string());
    EXPECT_EQ(v.rc, 0) << f.spec << ": " << v.out;
    // The same request again: refused once committed ("already erased"), done otherwise.
    auto again = run("forget " + run_dir.string() + " --ids 3,4 --method exact");
    EXPECT_EQ(again.rc, f.commits ? 2 : 0) << f.spec << ": " << again.out;
    // A refused request changes nothing; the next committing writer repairs what the crash left.
    auto next = run("forget " + run_dir.string() + " --ids 5 --method exact");
    ASSERT_EQ(next.rc, 0) << f.spec << ": " << next.out;
    EXPECT_EQ(next.out.find("restored from gen-0001.ckpt") != std::string::npos, f.repairs) << f.spec << ": " << next.out;
    v = run("verify " + run_dir.string());
    EXPECT_EQ(v.rc, 0) << f.spec << ": " << v.out;
    EXPECT_EQ(v.out.find("note:"), std::string::npos) << f.spec << ": nothing left to repair: " << v.out;
    EXPECT_EQ(read_audit(run_dir).size(), 2u) << f.spec;
    EXPECT_EQ(erased_of(exported(run_dir)), (std::vector<int64_t>{3, 4, 5})) << f.spec;
  }
}

// Every way of bringing erased ids back or mixing runs is exit 2 naming what does not match.
TEST_F(RunDirectory, TamperedDirectoriesAreRefusedNamingWhatDoesNotMatch) {
  auto run_dir = trained("run");
  ASSERT_EQ(run("forget " + run_dir.string() + " --ids 1,2 --method exact").rc, 0);
  ASSERT_EQ(run("forget " + run_dir.string() + " --ids 7 --method exact").rc, 0);

  {  // the newest generation deleted: the audit remembers it
    auto d = copy_of(run_dir, "deleted");
    fs::remove(d / "gen-0002.ckpt");
    auto r = run("export " + d.string());
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_NE(r.out.find("rolled back"), std::string::npos) << r.out;
    EXPECT_EQ(run("forget " + d.string() + " --ids 7 --method exact").rc, 2);
    EXPECT_EQ(run("verify " + d.string()).rc, 2);
  }
  {  // an older generation copied in as the newest
    auto d = copy_of(run_dir, "swapped");
    fs::copy_file(d / "gen-0001.ckpt", d / "gen-0002.ckpt", fs::copy_options::overwrite_existing);
    auto r = run("export " + d.string());
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_NE(r.out.find("holds generation 1"), std::string::npos) << r.out;
  }
  {  // a generation from another run of the same config: the chain breaks at its child
    auto other = trained("other");
    ASSERT_EQ(run("forget " + other.string() + " --ids 9 --method exact").rc, 0);
    auto d = copy_of(run_dir, "foreign");
    fs::copy_file(other / "gen-0001.ckpt", d / "gen-0001.ckpt", fs::copy_options::overwrite_existing);
    auto r = run("export " + d.string());
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_NE(r.out.find("gen-0001.ckpt is not the generation gen-0002.ckpt was written after"), std::string::npos)
        << r.out;
    EXPECT_EQ(run("verify " + d.string()).rc, 2);
  }
  {  // config.json edited (another seed: other data)
    auto d = copy_of(run_dir, "edited");
    auto j = nlohmann::json::parse(slurp(d / "config.json"));
    j["seed"] = 4;
    std::ofstream(d / "config.json") << j.dump(2) << "\n";
    auto before = snapshot(d);
    expect_rejected_unchanged(d, before, "forget " + d.string() + " --ids 8 --method exact",
                              "config.json is not the config generation 2 was computed from");
    EXPECT_EQ(run("export " + d.string()).rc, 2);
  }
  {  // an audit record edited: writers refuse, verify names the line
    auto d = copy_of(run_dir, "audit");
    auto text = slurp(d / "audit.jsonl");
    const auto at = text.find("\"ids\":[7]");
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, 9, "\"ids\":[6]");
    std::ofstream(d / "audit.jsonl", std::ios::binary) << text;
    auto before = snapshot(d);
    expect_rejected_unchanged(d, before, "forget " + d.string() + " --ids 8 --method exact",
                              "does not match the record inside gen-0002.ckpt");
    auto v = run("verify " + d.string());
    EXPECT_EQ(v.rc, 2) << v.out;
    EXPECT_NE(v.out.find("audit.jsonl line 2 differs from the record inside gen-0002.ckpt"), std::string::npos) << v.out;
  }
}

// verify's receipts name each request's ids, method and hashes, and the hashes are the files'
// own (what sha256sum prints), so a third party can re-check them.
TEST_F(RunDirectory, VerifyPrintsAReceiptPerRequest) {
  auto run_dir = trained("run");
  ASSERT_EQ(run("forget " + run_dir.string() + " --ids 1,2 --method exact").rc, 0);
  ASSERT_EQ(run("forget " + run_dir.string() + " --ids 7 --method retrain").rc, 0);
  auto r = run_stdout("verify " + run_dir.string() + " --json");
  ASSERT_EQ(r.rc, 0) << r.out;
  auto v = nlohmann::json::parse(r.out);
  EXPECT_TRUE(v["verified"].get<bool>());
  ASSERT_EQ(v["receipts"].size(), 2u);
  const auto& first = v["receipts"][0];
  const auto& second = v["receipts"][1];
  EXPECT_EQ(first["ids"], nlohmann::json({1, 2}));
  EXPECT_EQ(first["method"], "exact");
  EXPECT_EQ(second["ids"], nlohmann::json({7}));
  EXPECT_EQ(second["method"], "retrain");
  EXPECT_EQ(first["checkpoint_sha256"], unlearn::io::sha256_file(run_dir / "gen-0001.ckpt"));
  EXPECT_EQ(first["parent_sha256"], unlearn::io::sha256_file(run_dir / "gen-0000.ckpt"));
  EXPECT_EQ(second["parent_sha256"], first["checkpoint_sha256"]);
  EXPECT_EQ(second["previous_record_sha256"], first["record_sha256"]);
  EXPECT_EQ(v["config_sha256"], unlearn::io::sha256_file(run_dir / "config.json"));
  EXPECT_LT(first["certificate"]["kl_to_exact_retrain"].get<double>(), 1e-9);
  auto human = run("verify " + run_dir.string());
  EXPECT_NE(human.out.find("receipt: generation 1"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("verified:"), std::string::npos) << human.out;
}

// The lock: a second writer is refused naming the holder's PID (here this test process), waits
// with --wait, and a refused command changes nothing. Readers take no lock.
TEST_F(RunDirectory, LockedDirectoryRefusesASecondWriter) {
  auto run_dir = trained("run");
  auto before = snapshot(run_dir);
  {
    auto lock = unlearn::io::RunLock::acquire(run_dir, "test holder");
    expect_rejected_unchanged(run_dir, before, "forget " + run_dir.string() + " --ids 1 --method exact",
                              "is locked by PID " + std::to_string(::getpid()) + " (test holder)");
    expect_rejected_unchanged(run_dir, before, "forget " + run_dir.string() + " --ids 1 --method exact --wait 0.3",
                              "after waiting 0.3 s");
    expect_rejected_unchanged(run_dir, before, "train --resume " + run_dir.string(), "is locked by PID");
    EXPECT_EQ(run("export " + run_dir.string()).rc, 0);
    EXPECT_EQ(run("verify " + run_dir.string()).rc, 0);
  }
  EXPECT_EQ(run("forget " + run_dir.string() + " --ids 1 --method exact").rc, 0);
}

// Temporaries a crash left are noted by verify and removed by the next writer.
TEST_F(RunDirectory, StaleTemporariesAreRemovedByTheNextWriter) {
  auto run_dir = trained("run");
  std::ofstream(run_dir / "gen-0001.ckpt.tmp-AbC123") << "half a checkpoint";
  auto v = run("verify " + run_dir.string());
  EXPECT_EQ(v.rc, 0) << v.out;
  EXPECT_NE(v.out.find("gen-0001.ckpt.tmp-AbC123 is a temporary"), std::string::npos) << v.out;
  auto r = run("forget " + run_dir.string() + " --ids 1 --method exact");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("removed 1 temporary file"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(run_dir / "gen-0001.ckpt.tmp-AbC123"));
}

// The same config trained twice writes the same generation 0, byte for byte (no addresses, no
// times in a checkpoint), for the exact, VI and SG-MCMC trainers.
TEST_F(RunDirectory, IdenticalTrainsWriteIdenticalCheckpoints) {
  std::vector<nlohmann::json> configs = {exact_config()};
  auto vi = exact_config();
  vi["train"] = {{"method", "vi"}, {"steps", 30}, {"num_samples", 8}, {"checkpoint_every", 10}};
  configs.push_back(vi);
  auto sgld = exact_config();
  sgld["train"] = {{"method", "sgld"}, {"steps", 60}, {"lr", 1e-3}, {"batch_size", 16},
                   {"bank", {{"burn_in", 20}, {"thinning", 5}, {"capacity", 10}}}};
  configs.push_back(sgld);
  int i = 0;
  for (const auto& c : configs) {
    auto cfg = write_config("c" + std::to_string(i) + ".json", c);
    auto a = dir_ / ("a" + std::to_string(i)), b = dir_ / ("b" + std::to_string(i));
    ASSERT_EQ(run("train " + cfg.string() + " --out " + a.string()).rc, 0) << c.dump();
    ASSERT_EQ(run("train " + cfg.string() + " --out " + b.string()).rc, 0) << c.dump();
    EXPECT_EQ(slurp(a / "gen-0000.ckpt"), slurp(b / "gen-0000.ckpt")) << c.dump();
    ++i;
  }
}

// Counts beyond what a run could finish or allocate are config errors naming the field, and an
// over-long argument does not come back as an over-long message.
TEST_F(RunDirectory, HugeCountsAndLongArgumentsGetShortClearErrors) {
  const int64_t huge = std::numeric_limits<int64_t>::max();
  auto steps = exact_config();
  steps["train"] = {{"method", "vi"}, {"steps", huge}};
  auto n = exact_config();
  n["data"]["n"] = huge;
  for (const auto& [config, field] : {std::pair{steps, "train.steps"}, std::pair{n, "data.n"}}) {
    auto r = run("train " + write_config("huge.json", config).string() + " --out " + (dir_ / "run").string());
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_NE(r.out.find(field), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(dir_ / "run"));
  }
  auto r = run("export " + std::string(100000, 'x'));
  EXPECT_EQ(r.rc, 2);
  EXPECT_LT(r.out.size(), 2200u) << r.out.size();
  EXPECT_NE(r.out.find("more characters"), std::string::npos);
}

}  // namespace
