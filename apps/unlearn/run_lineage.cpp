#include "run_lineage.h"

#include <fmt/format.h>

#include "unlearn/io/atomic_file.h"
#include "unlearn/io/audit_log.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/run_dir.h"
#include "unlearn/io/sha256.h"

namespace unlearn::app {
namespace fs = std::filesystem;

RunIdentity identify_run(const fs::path& run_dir, const RunConfig& config) {
  RunIdentity id;
  id.config_sha256 = run_file_sha256(run_dir / "config.json");
  io::Sha256 h;
  for (const auto* d : {&config.dataset, &config.test}) {
    h.update(d->size() > 0 ? "rows;" : "none;");
    if (d->size() == 0) continue;
    h.update(d->x());
    h.update(d->y());
    h.update(d->ids());
  }
  id.data_sha256 = h.hex_digest();
  return id;
}

nlohmann::json lineage_json(const RunIdentity& identity, const std::optional<std::string>& parent_sha256) {
  return {{"config_sha256", identity.config_sha256},
          {"data_sha256", identity.data_sha256},
          {"parent_sha256", parent_sha256 ? nlohmann::json(*parent_sha256) : nlohmann::json(nullptr)}};
}

std::string record_sha256(const nlohmann::json& record) { return io::sha256_hex(record.dump()); }

std::string ids_sha256(const torch::Tensor& ids) {
  io::Sha256 h;
  h.update(ids.to(torch::kLong));
  return h.hex_digest();
}

namespace {

std::string short_hash(const std::string& hex) { return hex.substr(0, 12); }

std::string file_name(int number) { return io::generation_path("", number).filename().string(); }

}  // namespace

void check_place_in_chain(const fs::path& run_dir, int number, const nlohmann::json& metadata) {
  const auto name = file_name(number);
  const int64_t claimed = metadata.contains("generation") && metadata["generation"].is_number_integer()
                              ? metadata["generation"].get<int64_t>()
                              : number;  // generations before the field existed
  if (claimed != number)
    throw io::ConfigError(fmt::format(
        "{} of {} holds generation {}: a generation was copied or renamed over another; restore the original file",
        name, run_dir.string(), claimed));
  if (number == 0 || !metadata.contains("lineage") || !metadata["lineage"].is_object()) return;
  const auto parent_path = io::generation_path(run_dir, number - 1);
  std::error_code ec;
  if (!fs::exists(parent_path, ec))
    throw io::ConfigError(fmt::format("{}: generation {}'s parent {} is missing; a run directory keeps every generation",
                                      run_dir.string(), number, parent_path.filename().string()));
  const auto parent = metadata["lineage"].value("parent_sha256", std::string());
  const auto actual = run_file_sha256(parent_path);
  if (parent != actual)
    throw io::ConfigError(fmt::format(
        "{}: {} is not the generation {} was written after (sha256 {}..., {} recorded {}...): generations were "
        "replaced, or mixed with another run's",
        run_dir.string(), parent_path.filename().string(), name, short_hash(actual), name, short_hash(parent)));
}

void check_lineage(const fs::path& run_dir, const RunIdentity& identity, int number, const nlohmann::json& metadata,
                   LineageScope scope) {
  const auto name = file_name(number);
  if (metadata.contains("lineage") && metadata["lineage"].is_object()) {
    const auto& lineage = metadata["lineage"];
    const auto config = lineage.value("config_sha256", std::string());
    if (scope == LineageScope::kAll && config != identity.config_sha256)
      throw io::ConfigError(fmt::format(
          "{}/config.json is not the config generation {} was computed from (its sha256 is {}..., {} recorded "
          "{}...): it was edited or replaced; restore the original config.json",
          run_dir.string(), number, short_hash(identity.config_sha256), name, short_hash(config)));
    const auto data = lineage.value("data_sha256", std::string());
    if (data != identity.data_sha256)
      throw io::ConfigError(fmt::format(
          "the data {}/config.json loads is not the data generation {} was computed from (sha256 {}..., {} recorded "
          "{}...): the data file, or what the config generates, changed; restore it",
          run_dir.string(), number, short_hash(identity.data_sha256), name, short_hash(data)));
  }
  check_place_in_chain(run_dir, number, metadata);
}

void require_not_rolled_back(const fs::path& run_dir, int audited, int latest) {
  if (audited > latest)
    throw io::ConfigError(fmt::format(
        "{}/audit.jsonl records generation {}, but the newest checkpoint is generation {}: the directory was rolled "
        "back or a generation deleted, which would bring erased ids back; restore {}",
        run_dir.string(), audited, latest, io::generation_path(run_dir, audited).filename().string()));
}

std::optional<nlohmann::json> audit_record_of(const nlohmann::json& metadata, const std::string& checkpoint_sha256) {
  if (!metadata.contains("request") || !metadata["request"].is_object()) return std::nullopt;
  auto record = metadata["request"];
  record["checkpoint_sha256"] = checkpoint_sha256;
  return record;
}

std::optional<nlohmann::json> expected_audit_record(const fs::path& run_dir, int number) {
  const auto path = io::generation_path(run_dir, number);
  return audit_record_of(io::load_checkpoint(path).metadata, run_file_sha256(path));
}

namespace {

io::AuditLogContents read_log(const fs::path& path) {
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec)) throw io::ConfigError(path.string() + " is not a regular file");
  try {
    return io::read_audit_log_lines(path);
  } catch (const std::exception& e) {
    throw io::ConfigError(path.string() + ": " + e.what());
  }
}

}  // namespace

int latest_audited_generation(const fs::path& run_dir) {
  int latest = 0;
  for (const auto& r : read_log(run_dir / "audit.jsonl").records) {
    if (r.contains("generation") && r["generation"].is_number_integer())
      latest = std::max<int>(latest, static_cast<int>(r["generation"].get<int64_t>()));
  }
  return latest;
}

std::string run_file_sha256(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw io::ConfigError(path.string() + (fs::exists(path, ec) ? " is not a regular file" : " is missing"));
  try {
    return io::sha256_file(path);
  } catch (const c10::Error& e) {
    throw io::ConfigError(e.what_without_backtrace());
  }
}

AuditRepair plan_audit_repair(const fs::path& run_dir, int latest_generation) {
  const auto path = run_dir / "audit.jsonl";
  auto log = read_log(path);
  if (!log.damaged_lines.empty())
    throw io::ConfigError(fmt::format(
        "{} line {} is not a JSON record (edited or damaged): nothing was written; `unlearn verify {}` lists what "
        "the checkpoints hold",
        path.string(), log.damaged_lines.front(), run_dir.string()));
  const int audited = static_cast<int>(log.records.size());
  for (int i = 0; i < audited; ++i) {
    const auto& r = log.records[static_cast<std::size_t>(i)];
    const int64_t gen = r.contains("generation") && r["generation"].is_number_integer() ? r["generation"].get<int64_t>() : -1;
    if (gen != i + 1)
      throw io::ConfigError(fmt::format("{} line {} records generation {}, expected {}: the log was edited", path.string(),
                                        i + 1, gen, i + 1));
  }
  require_not_rolled_back(run_dir, audited, latest_generation);
  // The newest record the log has must be the one its checkpoint holds (an edit shows here; verify
  // compares every line).
  if (audited > 0) {
    auto expected = expected_audit_record(run_dir, audited);
    if (expected && *expected != log.records.back())
      throw io::ConfigError(fmt::format(
          "{} line {} does not match the record inside {} (edited?): nothing was written; `unlearn verify {}` "
          "shows both",
          path.string(), audited, io::generation_path(run_dir, audited).filename().string(), run_dir.string()));
  }
  AuditRepair done;
  done.dropped_torn_tail = log.torn_tail;
  auto& records = done.records;
  records = log.records;
  for (int g = audited + 1; g <= latest_generation; ++g) {
    const auto path = io::generation_path(run_dir, g);
    const auto ckpt = io::load_checkpoint(path);
    auto expected = audit_record_of(ckpt.metadata, run_file_sha256(path));
    if (!expected) break;  // a generation written before records lived in checkpoints: nothing to restore from
    // Restore only a record that is this generation's and follows its parent: a file copied or
    // renamed into place is evidence, not a lag.
    check_place_in_chain(run_dir, g, ckpt.metadata);
    if (expected->value("generation", int64_t{-1}) != g)
      throw io::ConfigError(fmt::format("{} holds the record of generation {}: restore the original file", path.string(),
                                        expected->value("generation", int64_t{-1})));
    records.push_back(*expected);
    done.restored.push_back(g);
  }
  return done;
}

void apply_audit_repair(const fs::path& run_dir, const AuditRepair& repair) {
  if (repair.needed()) io::rewrite_audit_log(run_dir / "audit.jsonl", repair.records);
}

std::vector<std::string> remove_stale_temporaries(const fs::path& run_dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir, ec)) {
    const auto name = e.path().filename().string();
    if (!io::is_temporary_file_name(name)) continue;
    if (fs::remove(e.path(), ec)) removed.push_back(name);
  }
  return removed;
}

}  // namespace unlearn::app
