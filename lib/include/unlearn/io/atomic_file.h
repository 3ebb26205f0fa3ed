#pragma once
// Files that are either the old version or the new one, never half of either (docs/architecture.md, "Run directories"; docs/architecture.md, "Idioms").
//
// The new content goes to a uniquely named temporary file in the target's own directory (a
// rename is only atomic within one file system), is flushed and fsync'ed, and is then renamed
// over the target; finally the directory is fsync'ed so that the rename itself survives a power
// cut. A crash at any point leaves the previous file untouched, plus at worst a stray
// "<name>.tmp-XXXXXX" file that readers ignore.
//
//   unlearn::io::AtomicFileWriter out(run_dir / "metrics.json");
//   out.write(text);
//   out.commit();             // without commit() the destructor deletes the temporary
//
// I/O failures (disk full, permissions, missing directory) are c10::Errors naming the path.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

/// Durable files: atomic writes (temporary, fsync, rename), the checksummed checkpoint format,
/// generator states, JSON tensors and strict config readers, run directories and the audit log.
namespace unlearn::io {

/// Writes a file so that it is either the old version or the complete new one: the bytes go to a
/// temporary next to the target, which commit() fsyncs and renames over it. Not copyable.
class AtomicFileWriter {
 public:
  /// Creates the temporary file next to `target`. The target's directory must exist.
  explicit AtomicFileWriter(std::filesystem::path target);
  /// Not committed: closes and deletes the temporary; the target is left as it was.
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  /// Appends bytes to the temporary file (short writes and EINTR are retried).
  void write(const void* data, std::size_t size);
  /// Appends the bytes of `text` (no terminator, no newline added).
  void write(std::string_view text) { write(text.data(), text.size()); }
  /// Bytes appended to the temporary so far.
  std::uint64_t bytes_written() const { return written_; }

  /// fsync()s the temporary file: its bytes are on disk, the target is still the old one.
  void sync();
  /// sync(), rename the temporary over the target, fsync the directory. Afterwards the new
  /// content is durable and the writer is finished.
  void commit();
  /// Closes the temporary without renaming or deleting it: exactly what a crash before the
  /// rename leaves behind. Used by crash-safety tests (SaveOptions::crash_before_rename).
  void abandon();

  /// The file that commit() replaces.
  const std::filesystem::path& target() const { return target_; }
  /// The uniquely named temporary in the target's directory (`<target name>.tmp-XXXXXX`).
  const std::filesystem::path& temporary_path() const { return temporary_; }

 private:
  void close_checked();

  std::filesystem::path target_;
  std::filesystem::path temporary_;
  int fd_ = -1;
  std::uint64_t written_ = 0;
  bool finished_ = false;
};

/// Replaces `path` with `text` atomically (for JSON and CSV files next to checkpoints).
void write_text_atomic(const std::filesystem::path& path, std::string_view text);

/// fsync()s a directory, making renames and file creations inside it durable.
void fsync_directory(const std::filesystem::path& dir);

/// True for the names AtomicFileWriter gives its temporaries ("<name>.tmp-XXXXXX"): what a
/// crash may leave behind, and what directory scans must skip.
bool is_temporary_file_name(const std::string& filename);

}  // namespace unlearn::io
