// `unlearn verify RUN_DIR [--json]`: checks a whole run directory from its files alone — every
// generation present and intact, each one computed from this config.json and this data after its
// parent (the hash chain of run_lineage.h), the ids of each request erased exactly once, no
// non-finite posterior, audit.jsonl equal to the checkpoints' records — and prints one deletion
// receipt per request. Read-only: it takes no lock and repairs nothing (the next writer repairs
// what a crash left; verify only notes it). Exit 0 when verified, 2 when anything does not match.
#include <ctime>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "commands.h"
#include "output.h"
#include "run_lineage.h"
#include "run_store.h"
#include "unlearn/io/atomic_file.h"
#include "unlearn/io/audit_log.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_tensor.h"
#include "unlearn/io/run_dir.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;

struct VerifyArgs {
  std::string run_dir;
  bool json = false;
};

struct Findings {
  std::vector<std::string> problems;  // any: not verified
  std::vector<std::string> notes;     // what a crash left that the next writer repairs
  std::vector<nlohmann::json> receipts;
  std::map<int, nlohmann::json> audit_records;  // generation -> the audit line its checkpoint implies
};

std::string utc(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// What the previous generation left for the next one to be checked against.
struct Parent {
  torch::Tensor trained, erased;
  std::optional<std::string> record_sha256;
};

void verify_generations(const fs::path& run_dir, const RunConfig& c, const RunIdentity& identity, Findings& f) {
  const auto gens = io::list_generations(run_dir);
  if (gens.empty()) {
    f.problems.push_back("no generation: gen-0000.ckpt is missing");
    return;
  }
  std::optional<Parent> parent;
  for (int n = 0; n <= gens.back(); ++n) {
    const auto path = io::generation_path(run_dir, n);
    const auto name = path.filename().string();
    if (!fs::is_regular_file(path)) {
      f.problems.push_back(name + (fs::exists(path) ? " is not a regular file" : " is missing: a run directory keeps every generation"));
      parent.reset();
      continue;
    }
    io::Checkpoint ckpt;
    try {
      ckpt = io::load_checkpoint(path, io::LoadExpectations().architecture(c.model->architecture()));
    } catch (const io::CheckpointError& e) {
      f.problems.push_back(e.what_without_backtrace());
      parent.reset();
      continue;
    }
    const auto& meta = ckpt.metadata;
    try {
      check_lineage(run_dir, identity, n, meta);
    } catch (const io::ConfigError& e) {
      f.problems.push_back(e.what());
    }
    if (!meta.contains("lineage"))
      f.problems.push_back(name + " carries no lineage record (written before unlearn recorded one): it cannot be verified");
    if (!ckpt.has("ids/trained") || !ckpt.has("ids/erased")) {
      f.problems.push_back(name + " lacks its id lists (ids/trained, ids/erased)");
      parent.reset();
      continue;
    }
    auto trained = ckpt.at("ids/trained");
    auto erased = ckpt.at("ids/erased");
    if (auto bad = first_non_finite(ckpt, {"posterior/", "bank/", "chain/"}))
      f.problems.push_back(name + ": '" + *bad + "' is not finite: the posterior diverged");
    const auto file_sha256 = run_file_sha256(path);
    if (auto record = audit_record_of(meta, file_sha256)) f.audit_records[n] = *record;
    std::optional<std::string> record_hash;
    if (n == 0) {
      if (!meta.value("finished", true)) f.problems.push_back(name + " has not finished training");
      if (erased.numel() != 0) f.problems.push_back(name + " (the trained posterior) lists erased ids");
      if (!torch::equal(trained, c.dataset.ids().cpu()))
        f.problems.push_back(name + " was not trained on the rows this config loads");
    } else if (!meta.contains("request") || !meta["request"].is_object()) {
      f.problems.push_back(name + " holds no request record (written before records lived in checkpoints)");
    } else {
      const auto& rec = meta["request"];
      record_hash = record_sha256(rec);
      auto ids = io::json_to_tensor(rec.value("ids", nlohmann::json::array()), torch::kLong, name + " request.ids");
      if (rec.value("generation", int64_t{-1}) != n)
        f.problems.push_back(fmt::format("{}'s record says generation {}", name, rec.value("generation", int64_t{-1})));
      if (rec.value("ids_sha256", std::string()) != ids_sha256(ids))
        f.problems.push_back(name + "'s record: ids_sha256 does not match its ids");
      if (parent) {
        if (!torch::equal(erased, torch::cat({parent->erased, ids})))
          f.problems.push_back(name + ": its erased ids are not its parent's plus this request's");
        auto keep = torch::isin(parent->trained, ids).logical_not();
        if (!torch::equal(trained, parent->trained.masked_select(keep)))
          f.problems.push_back(name + ": its trained ids are not its parent's minus this request's");
        const auto prev = rec.value("previous_record_sha256", nlohmann::json(nullptr));
        const auto want = parent->record_sha256 ? nlohmann::json(*parent->record_sha256) : nlohmann::json(nullptr);
        if (prev != want) f.problems.push_back(name + "'s record does not chain to its parent's record");
      }
      const auto& lineage = meta.value("lineage", nlohmann::json::object());
      f.receipts.push_back({{"generation", n},
                            {"time", rec.value("time", int64_t{0})},
                            {"time_utc", utc(rec.value("time", int64_t{0}))},
                            {"method", rec.value("method", std::string())},
                            {"ids", rec.value("ids", nlohmann::json::array())},
                            {"ids_sha256", rec.value("ids_sha256", std::string())},
                            {"options", rec.value("options", nlohmann::json::object())},
                            {"seconds", rec.value("seconds", nlohmann::json(nullptr))},
                            {"certificate", rec.value("certificate", nlohmann::json::object())},
                            {"checkpoint", name},
                            {"checkpoint_sha256", file_sha256},
                            {"parent_sha256", lineage.value("parent_sha256", nlohmann::json(nullptr))},
                            {"config_sha256", lineage.value("config_sha256", nlohmann::json(nullptr))},
                            {"data_sha256", lineage.value("data_sha256", nlohmann::json(nullptr))},
                            {"record_sha256", *record_hash},
                            {"previous_record_sha256", rec.value("previous_record_sha256", nlohmann::json(nullptr))}});
    }
    parent = Parent{trained, erased, record_hash};
  }
}

void verify_audit(const fs::path& run_dir, int latest, Findings& f) {  // after verify_generations
  const auto path = run_dir / "audit.jsonl";
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec)) {
    f.problems.push_back("audit.jsonl is not a regular file");
    return;
  }
  auto log = io::read_audit_log_lines(path);
  for (int line : log.damaged_lines) f.problems.push_back(fmt::format("audit.jsonl line {} is not a JSON record", line));
  if (log.torn_tail)
    f.notes.push_back("audit.jsonl ends in an incomplete line (a crash or a full disk mid-append); the next writer removes it");
  const int audited = static_cast<int>(log.records.size());
  try {
    require_not_rolled_back(run_dir, audited, latest);
  } catch (const io::ConfigError& e) {
    f.problems.push_back(e.what());
  }
  for (int i = 0; i < std::min(audited, latest); ++i) {
    auto expected = f.audit_records.find(i + 1);  // absent: the generation's own problem is already listed
    if (expected != f.audit_records.end() && expected->second != log.records[static_cast<std::size_t>(i)])
      f.problems.push_back(fmt::format("audit.jsonl line {} differs from the record inside {}", i + 1,
                                       io::generation_path(run_dir, i + 1).filename().string()));
  }
  if (audited < latest)
    f.notes.push_back(fmt::format("audit.jsonl lacks the records of generations {}..{} (a crash after their commit); "
                                  "the next writer restores them from the checkpoints", audited + 1, latest));
}

void run_verify(const VerifyArgs& a) {
  fs::path run_dir(a.run_dir);
  auto c = load_run(run_dir);
  const auto identity = identify_run(run_dir, c);
  Findings f;
  verify_generations(run_dir, c, identity, f);
  const auto gens = io::list_generations(run_dir);
  verify_audit(run_dir, gens.empty() ? 0 : gens.back(), f);
  for (const auto& e : fs::directory_iterator(run_dir))
    if (io::is_temporary_file_name(e.path().filename().string()))
      f.notes.push_back(e.path().filename().string() + " is a temporary an interrupted write left; the next writer removes it");

  const bool ok = f.problems.empty();
  if (a.json) {
    std::cout << nlohmann::json{{"run_dir", run_dir.string()},
                                {"verified", ok},
                                {"generations", gens.size()},
                                {"config_sha256", identity.config_sha256},
                                {"data_sha256", identity.data_sha256},
                                {"problems", f.problems},
                                {"notes", f.notes},
                                {"receipts", f.receipts}}
                     .dump(2)
              << std::endl;
  } else {
    fmt::print("{}: {} generation(s); config.json sha256 {}; data sha256 {}\n", run_dir.string(), gens.size(),
               identity.config_sha256, identity.data_sha256);
    for (const auto& r : f.receipts) {
      const auto& ids = r["ids"];
      std::string shown;
      for (std::size_t i = 0; i < ids.size() && i < 10; ++i) shown += (i ? ", " : "") + ids[i].dump();
      if (ids.size() > 10) shown += fmt::format(", ... ({} more)", ids.size() - 10);
      fmt::print("receipt: generation {} at {} by {}: {} id(s) [{}] (ids sha256 {})\n", r["generation"].get<int>(),
                 r["time_utc"].get<std::string>(), r["method"].get<std::string>(), ids.size(), shown,
                 r["ids_sha256"].get<std::string>());
      fmt::print("  {} sha256 {}; parent sha256 {}; record sha256 {}\n", r["checkpoint"].get<std::string>(),
                 r["checkpoint_sha256"].get<std::string>(), r["parent_sha256"].is_string() ? r["parent_sha256"].get<std::string>() : std::string("none"), r["record_sha256"].get<std::string>());
      fmt::print("  certificate {}\n", r["certificate"].dump());
    }
    for (const auto& n : f.notes) fmt::print("note: {}\n", n);
    for (const auto& p : f.problems) fmt::print("problem: {}\n", p);
    fmt::print("{}\n", ok ? "verified: every generation follows from its parent, this config and this data"
                          : fmt::format("NOT verified: {} problem(s)", f.problems.size()));
  }
  if (!ok)
    throw io::ConfigError(fmt::format("{} did not verify: {}", run_dir.string(), f.problems.front()));
}

}  // namespace

void add_verify_command(CLI::App& app) {
  auto a = std::make_shared<VerifyArgs>();
  auto* cmd = app.add_subcommand(
      "verify", "Check a run directory's hash chain and records from its files alone; print a receipt per erase request");
  cmd->add_option("run_dir", a->run_dir, "run directory")->required();
  cmd->add_flag("--json", a->json, "print the findings and receipts as JSON on stdout");
  cmd->callback([a] { run_verify(*a); });
}

}  // namespace unlearn::app
