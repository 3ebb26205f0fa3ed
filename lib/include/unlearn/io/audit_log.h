#pragma once
// The deletion audit log, RUN_DIR/audit.jsonl: one JSON object per line, appended and fsync'ed
// per record, never rewritten (docs/architecture.md, "Run directories": {generation, ids, method, options, seconds, ...}).
//
//   unlearn::io::append_audit_line(run_dir / "audit.jsonl",
//                                  {{"generation", 3}, {"ids", {3, 17, 42}}, {"method", "eubo"}});
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

namespace unlearn::io {

/// Appends `record` (a JSON object) as one line with O_APPEND + fsync, creating the file (and
/// making its directory entry durable) when needed. If a crash tore the previous line (no final
/// newline), the new record starts on a fresh line so it stays readable.
void append_audit_line(const std::filesystem::path& path, const nlohmann::json& record);

/// What a tolerant read of an audit log found (read_audit_log_lines): the records that parse,
/// whether the last line was cut short by a crash or a full disk, and any damaged line before it.
struct AuditLogContents {
  std::vector<nlohmann::json> records;  ///< the valid lines, in order
  bool torn_tail = false;               ///< the last line has no newline: its write never finished
  std::vector<int> damaged_lines;       ///< 1-based numbers of whole lines that are not JSON objects
};

/// Reads every line without throwing on damage: see AuditLogContents. A missing file is empty.
AuditLogContents read_audit_log_lines(const std::filesystem::path& path);

/// Replaces the whole log atomically (temporary, fsync, rename) with these records, one a line:
/// how a log that lags its checkpoints, or ends in a torn line, is repaired from them.
void rewrite_audit_log(const std::filesystem::path& path, const std::vector<nlohmann::json>& records);

/// Every record, in order. A line that is not a JSON object (a torn write, a hand edit) is a
/// c10::Error naming the file and the line number. A missing file is an empty log.
std::vector<nlohmann::json> read_audit_log(const std::filesystem::path& path);

}  // namespace unlearn::io
