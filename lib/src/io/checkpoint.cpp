#include "unlearn/io/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "unlearn/io/atomic_file.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "checkpoint files store tensor bytes little-endian; add byte swapping for this platform");

namespace unlearn::io {
namespace {

constexpr char kMagic[12] = {'U', 'N', 'L', 'E', 'A', 'R', 'N', 'C', 'K', 'P', 'T', '\0'};
constexpr std::uint64_t kVersionEnd = 16;   // magic + version: stable across all versions
constexpr std::uint64_t kPreludeSize = 36;  // + total size, header length, prelude CRC
constexpr std::uint64_t kAlignment = 64;    // tensor data offsets (room for mmap later)
constexpr std::uint64_t kCrcSize = 4;

struct DtypeName {
  torch::ScalarType type;
  const char* name;
};
// Our own names, not c10's, so that the file format does not change when c10 renames a type.
constexpr DtypeName kDtypes[] = {
    {torch::kFloat32, "float32"},      {torch::kFloat64, "float64"},       {torch::kFloat16, "float16"},
    {torch::kBFloat16, "bfloat16"},    {torch::kComplexFloat, "complex64"}, {torch::kComplexDouble, "complex128"},
    {torch::kUInt8, "uint8"},          {torch::kInt8, "int8"},              {torch::kInt16, "int16"},
    {torch::kInt32, "int32"},          {torch::kInt64, "int64"},            {torch::kBool, "bool"},
};

const char* dtype_name(torch::ScalarType type) {
  for (const auto& d : kDtypes)
    if (d.type == type) return d.name;
  return nullptr;
}

std::optional<torch::ScalarType> dtype_from_name(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  return std::nullopt;
}

std::uint64_t align_up(std::uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint32_t get_u32(const unsigned char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t get_u64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// zlib's crc32 takes 32-bit lengths: feed it in chunks.
std::uint32_t crc_update(std::uint32_t crc, const void* data, std::uint64_t size) {
  auto p = static_cast<const Bytef*>(data);
  while (size > 0) {
    const uInt n = static_cast<uInt>(std::min<std::uint64_t>(size, 1u << 30));
    crc = static_cast<std::uint32_t>(::crc32(crc, p, n));
    p += n;
    size -= n;
  }
  return crc;
}

[[noreturn]] void fail(CheckpointErrorKind kind, const std::filesystem::path& path, const std::string& what) {
  throw CheckpointError(kind, fmt::format("load_checkpoint: {} {}", path.string(), what));
}

// The CPU, contiguous, plain (no conj/neg bit) version of a tensor: the bytes we write.
torch::Tensor storable(const std::string& name, const torch::Tensor& t) {
  TORCH_CHECK(!name.empty(), "save_checkpoint: tensor names must not be empty");
  TORCH_CHECK(t.defined(), "save_checkpoint: tensor \"", name, "\" is undefined");
  TORCH_CHECK(t.layout() == torch::kStrided && !t.is_quantized(), "save_checkpoint: tensor \"", name,
              "\" must be dense (strided), got layout ", t.layout());
  TORCH_CHECK(dtype_name(t.scalar_type()) != nullptr, "save_checkpoint: tensor \"", name, "\" has dtype ",
              t.scalar_type(), ", which checkpoints do not support");
  return t.detach().to(torch::kCPU).resolve_conj().resolve_neg().contiguous();
}

// Positioned reads of one open file; keeps the inode fixed even if the path is renamed over.
class InputFile {
 public:
  explicit InputFile(const std::filesystem::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail(CheckpointErrorKind::kUnreadable, path, fmt::format("cannot be opened: {}", std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
      fail(CheckpointErrorKind::kUnreadable, path, fmt::format("cannot be read: {}", std::strerror(errno)));
    if (!S_ISREG(st.st_mode)) fail(CheckpointErrorKind::kUnreadable, path, "is not a regular file");
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  std::uint64_t size() const { return size_; }

  void read(std::uint64_t offset, void* out, std::uint64_t n) const {
    auto p = static_cast<char*>(out);
    while (n > 0) {
      const ssize_t got = ::pread(fd_, p, std::min<std::uint64_t>(n, 1u << 30), static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail(CheckpointErrorKind::kUnreadable, path_, fmt::format("cannot be read: {}", std::strerror(errno)));
      if (got == 0) fail(CheckpointErrorKind::kTruncated, path_, "is truncated (shrank while being read)");
      p += got;
      offset += static_cast<std::uint64_t>(got);
      n -= static_cast<std::uint64_t>(got);
    }
  }

  std::uint32_t crc_of_range(std::uint64_t begin, std::uint64_t end) const {
    std::vector<char> buffer(std::size_t{4} << 20);
    std::uint32_t crc = static_cast<std::uint32_t>(::crc32(0L, Z_NULL, 0));
    for (std::uint64_t pos = begin; pos < end;) {
      const std::uint64_t n = std::min<std::uint64_t>(buffer.size(), end - pos);
      read(pos, buffer.data(), n);
      crc = crc_update(crc, buffer.data(), n);
      pos += n;
    }
    return crc;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

std::string truncated(std::uint64_t have, std::uint64_t want) {
  return fmt::format("is truncated: {} of {} bytes (an interrupted copy or write)", have, want);
}

}  // namespace

CheckpointError::CheckpointError(CheckpointErrorKind kind, std::string message)
    // No backtrace: `{}` is an empty string in LibTorch 1.x and a null lazy backtrace in 2.x.
    : c10::Error(std::move(message), /*backtrace=*/{}), kind_(kind) {}

const torch::Tensor& Checkpoint::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) {
    std::string present;
    for (const auto& kv : tensors) present += (present.empty() ? "\"" : ", \"") + kv.first + "\"";
    TORCH_CHECK(false, "checkpoint (architecture \"", architecture, "\") has no tensor \"", name,
                "\"; it has: ", present.empty() ? "none" : present);
  }
  return it->second;
}

void save_checkpoint(const Checkpoint& checkpoint, const std::filesystem::path& path, const SaveOptions& options) {
  TORCH_CHECK(!checkpoint.architecture.empty(), "save_checkpoint: Checkpoint::architecture must name the model (",
              path.string(), ")");
  TORCH_CHECK(checkpoint.metadata.is_object(), "save_checkpoint: metadata must be a JSON object, got ",
              checkpoint.metadata.type_name());

  std::vector<torch::Tensor> data;
  std::vector<std::uint64_t> offsets;
  auto table = nlohmann::json::array();
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : checkpoint.tensors) {
    auto t = storable(name, tensor);
    offset = align_up(offset);
    const auto nbytes = static_cast<std::uint64_t>(t.numel()) * t.element_size();
    table.push_back({{"name", name},
                     {"dtype", dtype_name(t.scalar_type())},
                     {"shape", t.sizes().vec()},
                     {"offset", offset},
                     {"nbytes", nbytes}});
    offsets.push_back(offset);
    offset += nbytes;
    data.push_back(std::move(t));
  }
  const std::uint64_t data_bytes = offset;

  std::string header;
  try {
    header = nlohmann::json{{"architecture", checkpoint.architecture},
                            {"metadata", checkpoint.metadata},
                            {"tensors", std::move(table)},
                            {"data_bytes", data_bytes}}
                 .dump();
  } catch (const nlohmann::json::exception& e) {  // e.g. a metadata string that is not UTF-8
    TORCH_CHECK(false, "save_checkpoint: cannot encode the metadata of ", path.string(), " as JSON: ", e.what());
  }
  const std::uint64_t data_start = align_up(kPreludeSize + header.size());
  const std::uint64_t total = data_start + data_bytes + kCrcSize;

  std::string prelude(kMagic, sizeof(kMagic));
  put_u32(prelude, kCheckpointFormatVersion);
  put_u64(prelude, total);
  put_u64(prelude, header.size());
  put_u32(prelude, crc_update(static_cast<std::uint32_t>(::crc32(0L, Z_NULL, 0)), prelude.data(), prelude.size()));

  AtomicFileWriter out(path);
  std::uint32_t crc = static_cast<std::uint32_t>(::crc32(0L, Z_NULL, 0));
  auto emit = [&](const void* p, std::uint64_t n) {
    out.write(p, n);
    crc = crc_update(crc, p, n);
  };
  const std::string zeros(kAlignment, '\0');
  auto pad_to = [&](std::uint64_t position) { emit(zeros.data(), position - out.bytes_written()); };

  emit(prelude.data(), prelude.size());
  emit(header.data(), header.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    pad_to(data_start + offsets[i]);
    emit(data[i].data_ptr(), static_cast<std::uint64_t>(data[i].numel()) * data[i].element_size());
  }
  pad_to(data_start + data_bytes);  // only needed when there are no tensors: header padding
  std::string trailer;
  put_u32(trailer, crc);
  out.write(trailer);
  TORCH_INTERNAL_ASSERT(out.bytes_written() == total, "checkpoint layout: wrote ", out.bytes_written(),
                        " bytes, planned ", total);

  if (options.crash_before_rename()) {
    out.sync();
    out.abandon();
    TORCH_CHECK(false, "save_checkpoint: simulated crash before renaming ", out.temporary_path().string(), " to ",
                path.string(), " (SaveOptions::crash_before_rename)");
  }
  out.commit();
}

Checkpoint load_checkpoint(const std::filesystem::path& path, const LoadExpectations& expect) {
  InputFile file(path);
  const std::uint64_t size = file.size();
  unsigned char prelude[kPreludeSize];

  // 1. Magic. A strict prefix of it is a checkpoint cut short (an empty file included).
  const std::uint64_t head = std::min<std::uint64_t>(size, sizeof(kMagic));
  file.read(0, prelude, head);
  if (std::memcmp(prelude, kMagic, head) != 0)
    fail(CheckpointErrorKind::kNotACheckpoint, path, "is not an unlearn checkpoint (it does not start with \"UNLEARNCKPT\")");
  if (size < kVersionEnd) fail(CheckpointErrorKind::kTruncated, path, truncated(size, kPreludeSize));

  // 2. Version, before anything else: a newer format may lay out the rest differently.
  file.read(head, prelude + head, kVersionEnd - head);
  const std::uint32_t version = get_u32(prelude + 12);
  if (version > kCheckpointFormatVersion)
    fail(CheckpointErrorKind::kFutureVersion, path,
         fmt::format("was written by format version {}, this build reads up to {} (use a newer unlearn)", version,
                     kCheckpointFormatVersion));
  if (version == 0) fail(CheckpointErrorKind::kCorrupted, path, "is corrupted: format version 0 does not exist");

  // 3. The rest of the prelude, which has its own CRC so that a damaged length field is
  // reported as corruption, not as truncation.
  if (size < kPreludeSize) fail(CheckpointErrorKind::kTruncated, path, truncated(size, kPreludeSize));
  file.read(kVersionEnd, prelude + kVersionEnd, kPreludeSize - kVersionEnd);
  const std::uint32_t prelude_crc =
      crc_update(static_cast<std::uint32_t>(::crc32(0L, Z_NULL, 0)), prelude, kPreludeSize - kCrcSize);
  if (prelude_crc != get_u32(prelude + 32))
    fail(CheckpointErrorKind::kCorrupted, path, "is corrupted: checksum mismatch in the file prelude");
  const std::uint64_t total = get_u64(prelude + 16);
  const std::uint64_t header_size = get_u64(prelude + 24);
  if (size < total) fail(CheckpointErrorKind::kTruncated, path, truncated(size, total));
  if (size > total)
    fail(CheckpointErrorKind::kCorrupted, path,
         fmt::format("is corrupted: {} bytes, but its prelude says {}", size, total));
  if (header_size > total || kPreludeSize + header_size + kCrcSize > total)
    fail(CheckpointErrorKind::kCorrupted, path, "is corrupted: header length exceeds the file");

  // 4. The checksum over everything, before any byte of the body is trusted.
  unsigned char stored[kCrcSize];
  file.read(total - kCrcSize, stored, kCrcSize);
  const std::uint32_t computed = file.crc_of_range(0, total - kCrcSize);
  if (computed != get_u32(stored))
    fail(CheckpointErrorKind::kCorrupted, path,
         fmt::format("is corrupted: checksum mismatch (stored {:08x}, computed {:08x})", get_u32(stored), computed));

  // 5. Header. With a good checksum, a bad header means a writer bug or a forged file.
  std::string header_text(header_size, '\0');
  file.read(kPreludeSize, header_text.data(), header_size);
  Checkpoint out;
  struct Entry {
    std::string name;
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
    std::uint64_t offset, nbytes;
  };
  std::vector<Entry> entries;
  const std::uint64_t data_start = align_up(kPreludeSize + header_size);
  try {
    const auto header = nlohmann::json::parse(header_text);
    out.architecture = header.at("architecture").get<std::string>();
    out.metadata = header.at("metadata");
    const auto data_bytes = header.at("data_bytes").get<std::uint64_t>();
    if (data_start + data_bytes + kCrcSize != total)
      fail(CheckpointErrorKind::kCorrupted, path, "is corrupted: header and file size disagree");
    std::set<std::string> names;
    for (const auto& t : header.at("tensors")) {
      Entry e;
      e.name = t.at("name").get<std::string>();
      const auto dtype_text = t.at("dtype").get<std::string>();
      const auto dtype = dtype_from_name(dtype_text);
      if (!dtype)
        fail(CheckpointErrorKind::kCorrupted, path,
             fmt::format("holds tensor \"{}\" of unknown dtype \"{}\"", e.name, dtype_text));
      e.dtype = *dtype;
      e.shape = t.at("shape").get<std::vector<int64_t>>();
      e.offset = t.at("offset").get<std::uint64_t>();
      e.nbytes = t.at("nbytes").get<std::uint64_t>();
      std::uint64_t numel = 1;
      for (auto d : e.shape) {
        if (d < 0) fail(CheckpointErrorKind::kCorrupted, path, fmt::format("is corrupted: tensor \"{}\" has a negative size", e.name));
        numel *= static_cast<std::uint64_t>(d);
      }
      if (numel * c10::elementSize(e.dtype) != e.nbytes || e.offset > data_bytes || e.nbytes > data_bytes - e.offset ||
          !names.insert(e.name).second)
        fail(CheckpointErrorKind::kCorrupted, path, fmt::format("is corrupted: inconsistent entry for tensor \"{}\"", e.name));
      entries.push_back(std::move(e));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(CheckpointErrorKind::kCorrupted, path, fmt::format("is corrupted: invalid header ({})", e.what()));
  }

  // 6. Architecture, before the (possibly large) tensor bytes are read.
  if (expect.architecture() && *expect.architecture() != out.architecture)
    fail(CheckpointErrorKind::kArchitectureMismatch, path,
         fmt::format("was written for architecture \"{}\", expected \"{}\"", out.architecture, *expect.architecture()));

  // 7. Tensors, read straight into their storage.
  for (const auto& e : entries) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
    if (e.nbytes > 0) file.read(data_start + e.offset, t.data_ptr(), e.nbytes);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

}  // namespace unlearn::io
