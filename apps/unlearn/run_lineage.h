#pragma once
// What ties a generation to its run directory (docs/architecture.md, "Run directories: lineage"):
// every generation's metadata holds
//   "lineage": {"config_sha256": sha256 of RUN_DIR/config.json,
//               "data_sha256":   sha256 of the rows the config loads (x, y, ids; test rows too),
//               "parent_sha256": sha256 of the parent generation's file (null for generation 0)}
// and every erase request's generation holds its own record under "request" (ids, method,
// options, seconds, certificate, time, "previous_record_sha256": the parent's record's hash), so
// the checkpoint's rename is the request's commit. audit.jsonl repeats each record, plus
// "checkpoint_sha256", as the human-readable log; it is repaired from the checkpoints when a crash
// left it behind them (reconcile_audit_log).
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "run_config.h"

namespace unlearn::app {

/// The hashes of what a run directory's generations were computed from.
struct RunIdentity {
  std::string config_sha256;  ///< of RUN_DIR/config.json's bytes
  std::string data_sha256;    ///< of the data set the config loads (training and test rows)
};

/// Hashes config.json and the loaded data: about 270 MB/s here (0.7 s for Fashion-MNIST's 188 MB
/// of float32 pixels, measured on the 2-core development machine), once per command.
RunIdentity identify_run(const std::filesystem::path& run_dir, const RunConfig& config);

/// The "lineage" object of a new generation.
nlohmann::json lineage_json(const RunIdentity& identity, const std::optional<std::string>& parent_sha256);

/// sha256 of a record's canonical JSON (nlohmann's dump: keys sorted, no spaces).
std::string record_sha256(const nlohmann::json& record);
/// sha256 of an id list as int64 (dtype, shape and bytes: io::Sha256::update(tensor)).
std::string ids_sha256(const torch::Tensor& ids);

/// What check_lineage compares with the directory.
enum class LineageScope {
  kAll,                ///< the number the file claims, config.json, the data, the parent's file
  kSettingsMayChange,  ///< all but config.json: `train --resume` of an unfinished run may change train settings
};

/// Checks one generation's metadata against the directory (see LineageScope). Throws
/// io::ConfigError naming the first mismatch and what to do. Generations written before lineage
/// records existed carry none and pass (verify says so).
void check_lineage(const std::filesystem::path& run_dir, const RunIdentity& identity, int number,
                   const nlohmann::json& metadata, LineageScope scope = LineageScope::kAll);

/// The part of check_lineage that needs no config: the number the file claims is `number`, and
/// (number > 0) its recorded parent hash is that of gen-(number-1).ckpt, which must exist.
void check_place_in_chain(const std::filesystem::path& run_dir, int number, const nlohmann::json& metadata);

/// An io::ConfigError unless audit.jsonl's `audited` records fit the newest generation `latest`:
/// more records than generations means a rolled-back directory, which would bring erased ids back.
void require_not_rolled_back(const std::filesystem::path& run_dir, int audited, int latest);

/// The audit record of a generation as audit.jsonl holds it: its "request" plus
/// "checkpoint_sha256" (nullopt for a generation without a request record).
std::optional<nlohmann::json> audit_record_of(const nlohmann::json& metadata, const std::string& checkpoint_sha256);

/// audit_record_of generation `number`'s file (loaded and hashed here).
std::optional<nlohmann::json> expected_audit_record(const std::filesystem::path& run_dir, int number);

/// What a writer will repair in audit.jsonl when it commits (plan_audit_repair).
struct AuditRepair {
  std::vector<nlohmann::json> records;  ///< the whole log as it must be: the valid lines, then the restored ones
  std::vector<int> restored;            ///< generations whose missing record comes from their checkpoint
  bool dropped_torn_tail = false;       ///< the last line's write never finished: it is dropped
  bool needed() const { return dropped_torn_tail || !restored.empty(); }
};

/// Read-only, under the run's lock, before a writer reads anything else: a log that lags the
/// checkpoints (a crash between the rename and the append) or ends in a torn line (a crash or a
/// full disk mid-append) gets a repair plan, applied only when the writer commits, so that a
/// refused request changes nothing. A log that disagrees with the checkpoints (edited, damaged, or
/// ahead of them: a rolled-back directory), or a generation to restore from that is not its own,
/// is an io::ConfigError: nothing is repaired over evidence of tampering.
AuditRepair plan_audit_repair(const std::filesystem::path& run_dir, int latest_generation);

/// Rewrites audit.jsonl atomically as planned (nothing when no repair is needed).
void apply_audit_repair(const std::filesystem::path& run_dir, const AuditRepair& repair);

/// sha256 of a file of the run directory; one that is missing, not a regular file or unreadable
/// is an io::ConfigError naming it (the directory, not the program, is at fault).
std::string run_file_sha256(const std::filesystem::path& path);

/// The highest generation audit.jsonl records (0 when none), ignoring a torn last line.
int latest_audited_generation(const std::filesystem::path& run_dir);

/// Removes the temporaries ("<name>.tmp-XXXXXX") a crash left in the run directory; the caller
/// holds the lock, so none of them can belong to a live writer. Returns their names.
std::vector<std::string> remove_stale_temporaries(const std::filesystem::path& run_dir);

}  // namespace unlearn::app
