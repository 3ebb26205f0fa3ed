#pragma once
// How a command opens a run directory for writing (docs/architecture.md, "Run directories"):
// take the run's lock (--wait SECONDS to queue behind another writer) before reading anything,
// check audit.jsonl against the checkpoints, and just before committing remove the temporaries a
// crash left and repair a lagging or torn audit log (notes on stderr). `train --resume` and
// `forget` use it; a fresh `train` locks the directory it creates.
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "output.h"
#include "run_lineage.h"
#include "unlearn/io/run_lock.h"

namespace unlearn::app {

/// A run directory opened for writing: its lock, and what to tidy when the writer commits.
struct RunWriter {
  io::RunLock lock;
  std::filesystem::path run_dir;
  AuditRepair audit_repair;  ///< planned under the lock, applied by prepare_commit

  /// Right before the writer's own commit: removes the temporaries a crash left and applies the
  /// audit repair, with a note on stderr for each. Not before: a refused command changes nothing.
  void prepare_commit(const OutputMode& output);
};

/// Locks `run_dir` for `command` (waiting up to `wait_seconds`) and checks audit.jsonl against the
/// checkpoints (plan_audit_repair: tampering is an io::ConfigError).
RunWriter open_run_for_writing(const std::filesystem::path& run_dir, const std::string& command, double wait_seconds);

/// `--wait SECONDS` on a writing command.
void add_wait_option(CLI::App& cmd, double& wait_seconds);

}  // namespace unlearn::app
