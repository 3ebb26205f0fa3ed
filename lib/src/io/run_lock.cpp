#include "unlearn/io/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "unlearn/io/config_error.h"

namespace unlearn::io {
namespace {

/// "PID COMMAND" as the holder wrote it, or "" when unreadable (it may be mid-write).
std::string holder_of(int fd) {
  char buf[256] = {};
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  std::string s(buf, static_cast<std::size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

RunLock RunLock::acquire(const std::filesystem::path& run_dir, const std::string& command,
                         const RunLockOptions& options) {
  TORCH_CHECK(options.wait_seconds() >= 0, "RunLockOptions::wait_seconds must be >= 0, got ", options.wait_seconds());
  auto path = run_dir / kRunLockFileName;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw ConfigError(fmt::format("cannot open the lock file {}: {}", path.string(), std::strerror(errno)));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(options.wait_seconds());
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      const int err = errno;
      ::close(fd);
      throw ConfigError(fmt::format("cannot lock {}: {}", path.string(), std::strerror(err)));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      auto holder = holder_of(fd);
      ::close(fd);
      std::string who = "another process";
      if (!holder.empty()) {
        const auto space = holder.find(' ');
        who = "PID " + holder.substr(0, space) + (space == std::string::npos ? "" : " (" + holder.substr(space + 1) + ")");
      }
      throw ConfigError(fmt::format(
          "run directory {} is locked by {}{}: one command writes a run directory at a time; retry when it "
          "has finished, or pass --wait SECONDS to queue",
          run_dir.string(), who, options.wait_seconds() > 0 ? fmt::format(" after waiting {} s", options.wait_seconds()) : ""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Ours now: say who holds it. Best effort — the lock, not the text, is what excludes.
  const std::string text = fmt::format("{} {}\n", ::getpid(), command);
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] auto n = ::pwrite(fd, text.data(), text.size(), 0);
  }
  return RunLock(fd, std::move(path));
}

RunLock::RunLock(RunLock&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace unlearn::io
