#pragma once
// One writer per run directory (docs/architecture.md, "Run directories: one writer at a time"):
// every command that writes RUN_DIR holds an exclusive flock(2) on RUN_DIR/lock for its whole
// run. The kernel drops the lock when the process dies, however it dies, so a crash never leaves
// a directory locked. The lock file holds the holder's PID and command, for the message a second
// writer gets. Readers take no lock: every generation is one file renamed into place whole.
//
//   auto lock = unlearn::io::RunLock::acquire(run_dir, "unlearn forget",
//                                             unlearn::io::RunLockOptions().wait_seconds(30));
//   ... write the next generation ...
//   // released by the destructor
#include <filesystem>
#include <string>

#include <torch/arg.h>

namespace unlearn::io {

/// How acquire() behaves when another process holds the lock.
struct RunLockOptions {
  /// 0: fail at once; > 0: retry (every 50 ms) for this long, then fail.
  TORCH_ARG(double, wait_seconds) = 0.0;
};

/// An exclusive lock on a run directory, held until destruction. Move-only.
class RunLock {
 public:
  /// Locks RUN_DIR/lock (created when missing) and writes "PID COMMAND" into it. When another
  /// process holds it after the wait, an io::ConfigError (exit 2): "run directory D is locked by
  /// PID N (COMMAND); ... --wait SECONDS". The directory must exist.
  static RunLock acquire(const std::filesystem::path& run_dir, const std::string& command,
                         const RunLockOptions& options = {});
  /// Takes over `other`'s lock; `other` holds none afterwards.
  RunLock(RunLock&& other) noexcept;
  /// Releases this lock (if any) and takes over `other`'s.
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();

  /// The lock file, RUN_DIR/lock.
  const std::filesystem::path& path() const { return path_; }

 private:
  RunLock(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::filesystem::path path_;
};

/// The name of the lock file inside a run directory.
inline constexpr const char* kRunLockFileName = "lock";

}  // namespace unlearn::io
