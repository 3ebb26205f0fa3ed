#include "run_writer.h"

#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "run_lineage.h"
#include "run_store.h"
#include "unlearn/io/run_dir.h"

namespace unlearn::app {
namespace fs = std::filesystem;

RunWriter open_run_for_writing(const fs::path& run_dir, const std::string& command, double wait_seconds) {
  require_run_directory(run_dir);
  RunWriter w{io::RunLock::acquire(run_dir, command, io::RunLockOptions().wait_seconds(wait_seconds)), run_dir, {}};
  if (auto latest = io::latest_generation(run_dir)) w.audit_repair = plan_audit_repair(run_dir, *latest);
  return w;
}

void RunWriter::prepare_commit(const OutputMode& output) {
  auto stale = remove_stale_temporaries(run_dir);
  if (!stale.empty() && !output.quiet)
    fmt::print(stderr, "note: removed {} temporary file(s) an interrupted command left in {}: {}\n", stale.size(),
               run_dir.string(), fmt::join(stale, ", "));
  apply_audit_repair(run_dir, audit_repair);
  if (!output.quiet) {
    if (audit_repair.dropped_torn_tail)
      fmt::print(stderr, "note: {}/audit.jsonl ended in an incomplete line (a crash or a full disk mid-append): "
                         "removed\n", run_dir.string());
    for (int g : audit_repair.restored)
      fmt::print(stderr, "note: {}/audit.jsonl lacked the record of generation {} (a crash after its commit): "
                         "restored from {}\n", run_dir.string(), g, io::generation_path(run_dir, g).filename().string());
  }
  audit_repair = {};
}

void add_wait_option(CLI::App& cmd, double& wait_seconds) {
  cmd.add_option("--wait", wait_seconds,
                 "when another command is writing the run directory, wait up to SECONDS for it (default 0: refuse at once)")
      ->check(CLI::Range(0.0, 7.0 * 24 * 3600));
}

}  // namespace unlearn::app
