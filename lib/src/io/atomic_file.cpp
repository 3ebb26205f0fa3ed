#include "unlearn/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <c10/util/Exception.h>

#include "unlearn/io/fault_injection.h"

namespace unlearn::io {
namespace {

constexpr const char* kTemporaryMarker = ".tmp-";

std::filesystem::path directory_of(const std::filesystem::path& path) {
  return path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::filesystem::path target) : target_(std::move(target)) {
  TORCH_CHECK(!target_.empty() && target_.has_filename(), "AtomicFileWriter: not a file path: \"",
              target_.string(), "\"");
  const auto dir = directory_of(target_);
  TORCH_CHECK(std::filesystem::is_directory(dir), "cannot write ", target_.string(), ": directory ",
              dir.string(), " does not exist");
  // mkstemp gives a name no other writer (thread, process, earlier crash) can hold.
  std::string pattern = (dir / (target_.filename().string() + kTemporaryMarker + "XXXXXX")).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  fd_ = ::mkstemp(name.data());
  TORCH_CHECK(fd_ >= 0, "cannot create a temporary file next to ", target_.string(), ": ", errno_text());
  temporary_ = std::filesystem::path(name.data());
  // mkstemp creates 0600; checkpoints and configs are ordinary readable files.
  ::fchmod(fd_, 0644);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(temporary_.c_str());
}

void AtomicFileWriter::write(const void* data, std::size_t size) {
  TORCH_CHECK(fd_ >= 0 && !finished_, "AtomicFileWriter: write after commit/abandon for ", target_.string());
  const char* p = static_cast<const char*>(data);
  // An injected fault (fault_injection.h) lets half of the bytes reach the file, as a full disk or
  // a death mid-write would, then fails.
  const auto fault = size > 1 ? injected_fault("atomic_file.write") : InjectedFault::kNone;
  if (fault != InjectedFault::kNone) size /= 2;
  while (size > 0) {
    // Linux writes at most ~2 GiB per call; larger tensors take several.
    const ssize_t n = ::write(fd_, p, std::min<std::size_t>(size, std::size_t{1} << 30));
    if (n < 0 && errno == EINTR) continue;
    TORCH_CHECK(n > 0, "cannot write ", temporary_.string(), " (for ", target_.string(), "): ", errno_text());
    p += n;
    size -= static_cast<std::size_t>(n);
    written_ += static_cast<std::uint64_t>(n);
  }
  if (fault == InjectedFault::kKill) die_at_fault_point("atomic_file.write");
  TORCH_CHECK(fault == InjectedFault::kNone, "cannot write ", temporary_.string(), " (for ", target_.string(),
              "): No space left on device (injected: UNLEARN_FAULT)");
}

void AtomicFileWriter::sync() {
  TORCH_CHECK(fd_ >= 0, "AtomicFileWriter: sync after close for ", target_.string());
  TORCH_CHECK(fault_point("atomic_file.sync") == InjectedFault::kNone, "cannot flush ", temporary_.string(),
              " to disk: No space left on device (injected: UNLEARN_FAULT)");
  TORCH_CHECK(::fsync(fd_) == 0, "cannot flush ", temporary_.string(), " to disk: ", errno_text());
}

void AtomicFileWriter::close_checked() {
  const int fd = fd_;
  fd_ = -1;
  // close() can report a deferred write error (NFS, quota): treat it like a failed write.
  TORCH_CHECK(::close(fd) == 0, "cannot close ", temporary_.string(), ": ", errno_text());
}

void AtomicFileWriter::commit() {
  TORCH_CHECK(!finished_, "AtomicFileWriter: commit twice for ", target_.string());
  sync();
  close_checked();
  TORCH_CHECK(fault_point("atomic_file.rename") == InjectedFault::kNone, "cannot rename ", temporary_.string(),
              " to ", target_.string(), ": No space left on device (injected: UNLEARN_FAULT)");
  TORCH_CHECK(::rename(temporary_.c_str(), target_.c_str()) == 0, "cannot rename ", temporary_.string(),
              " to ", target_.string(), ": ", errno_text());
  finished_ = true;
  fault_point("atomic_file.directory_sync");  // renamed: only a kill means anything here
  fsync_directory(directory_of(target_));
}

void AtomicFileWriter::abandon() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  finished_ = true;  // the destructor must not delete the temporary: a crash would not
}

void write_text_atomic(const std::filesystem::path& path, std::string_view text) {
  AtomicFileWriter out(path);
  out.write(text);
  out.commit();
}

void fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  TORCH_CHECK(fd >= 0, "cannot open directory ", dir.string(), " to flush it: ", errno_text());
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  // Some file systems cannot fsync a directory (EINVAL); the rename is as durable as they allow.
  TORCH_CHECK(rc == 0 || saved == EINVAL, "cannot flush directory ", dir.string(), ": ", std::strerror(saved));
}

bool is_temporary_file_name(const std::string& filename) {
  const auto pos = filename.rfind(kTemporaryMarker);
  return pos != std::string::npos && pos > 0 && filename.size() == pos + std::strlen(kTemporaryMarker) + 6;
}

}  // namespace unlearn::io
