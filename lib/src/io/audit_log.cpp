#include "unlearn/io/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include <c10/util/Exception.h>

#include "unlearn/io/atomic_file.h"
#include "unlearn/io/fault_injection.h"

namespace unlearn::io {

void append_audit_line(const std::filesystem::path& path, const nlohmann::json& record) {
  TORCH_CHECK(record.is_object(), "append_audit_line: a record must be a JSON object, got ", record.type_name());
  std::string line;
  try {
    line = record.dump() + "\n";  // dump() escapes newlines inside strings: one record, one line
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, "append_audit_line: cannot encode the record for ", path.string(), " as JSON: ", e.what());
  }
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  // Read access too: the last byte tells whether a crash tore the previous line.
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  TORCH_CHECK(fd >= 0, "cannot open audit log ", path.string(), ": ", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat st {};
  TORCH_CHECK(::fstat(fd, &st) == 0, "cannot stat audit log ", path.string(), ": ", std::strerror(errno));
  if (st.st_size > 0) {
    char last = '\n';
    TORCH_CHECK(::pread(fd, &last, 1, st.st_size - 1) == 1, "cannot read audit log ", path.string(), ": ",
                std::strerror(errno));
    if (last != '\n') line.insert(line.begin(), '\n');
  }
  // One write() call: with O_APPEND, concurrent appenders cannot interleave inside a record.
  const char* p = line.data();
  std::size_t left = line.size();
  if (fault_point("audit.write") == InjectedFault::kFullDisk) {
    [[maybe_unused]] auto n = ::write(fd, p, left / 2);  // a torn line, as a full disk leaves
    TORCH_CHECK(false, "cannot append to audit log ", path.string(), ": No space left on device (injected: UNLEARN_FAULT)");
  }
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    TORCH_CHECK(n > 0, "cannot append to audit log ", path.string(), ": ", std::strerror(errno));
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  fault_point("audit.sync");
  TORCH_CHECK(::fsync(fd) == 0, "cannot flush audit log ", path.string(), ": ", std::strerror(errno));
  if (!existed) fsync_directory(path.has_parent_path() ? path.parent_path() : std::filesystem::path("."));
}

std::vector<nlohmann::json> read_audit_log(const std::filesystem::path& path) {
  std::vector<nlohmann::json> out;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return out;
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "cannot open audit log ", path.string());
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      TORCH_CHECK(false, "audit log ", path.string(), " line ", number, " is not valid JSON (torn write?): ", e.what());
    }
    TORCH_CHECK(record.is_object(), "audit log ", path.string(), " line ", number, " is not a JSON object");
    out.push_back(std::move(record));
  }
  return out;
}

AuditLogContents read_audit_log_lines(const std::filesystem::path& path) {
  AuditLogContents out;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return out;
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "cannot open audit log ", path.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t start = 0;
  for (int number = 1; start < text.size(); ++number) {
    const auto end = text.find('\n', start);
    const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    if (line.empty()) continue;
    nlohmann::json record;
    bool ok = true;
    try {
      record = nlohmann::json::parse(line);
      ok = record.is_object();
    } catch (const nlohmann::json::exception&) {
      ok = false;
    }
    if (end == std::string::npos) {
      // No newline: the one write() of "record\n" did not finish (a crash, a full disk), however
      // much of the record it holds.
      out.torn_tail = true;
    } else if (ok) {
      out.records.push_back(std::move(record));
    } else {
      out.damaged_lines.push_back(number);  // a whole line that is not a record: edited or damaged
    }
  }
  return out;
}

void rewrite_audit_log(const std::filesystem::path& path, const std::vector<nlohmann::json>& records) {
  std::string text;
  for (const auto& r : records) {
    TORCH_CHECK(r.is_object(), "rewrite_audit_log: a record must be a JSON object, got ", r.type_name());
    text += r.dump() + "\n";
  }
  write_text_atomic(path, text);
}

}  // namespace unlearn::io
