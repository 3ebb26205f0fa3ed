#pragma once
// One checkpoint = named tensors + a JSON metadata object + the architecture that wrote them,
// in a small framed, checksummed file (docs/architecture.md, "Run directories"; docs/architecture.md, "Idioms": one file per generation, written
// atomically, format version and architecture checked before loading).
//
//   unlearn::io::Checkpoint ckpt;
//   ckpt.architecture = "bnn/mlp-2x50";
//   ckpt.metadata["step"] = step;
//   ckpt.tensors["theta"] = theta;                       // any device; saved from the CPU
//   ckpt.tensors["rng"] = unlearn::io::generator_state(gen);
//   unlearn::io::save_checkpoint(ckpt, unlearn::io::generation_path(run_dir, 3));
//
//   auto back = unlearn::io::load_checkpoint(path, unlearn::io::LoadExpectations().architecture("bnn/mlp-2x50"));
//   theta = back.at("theta").to(device);
//
// File format, version 1 (all integers little-endian; tensor bytes in the host's order, which
// must be little-endian too — every platform we build on is):
//
//   offset  size  field
//   0       12    magic "UNLEARNCKPT\0"
//   12      4     uint32 format version                  (every future version keeps 0..16)
//   16      8     uint64 total file size in bytes, trailing CRC included
//   24      8     uint64 header length H
//   32      4     uint32 CRC32 of bytes [0, 32)          (so a damaged length reads as "corrupted")
//   36      H     header, UTF-8 JSON: {"architecture", "metadata", "data_bytes",
//                 "tensors": [{"name", "dtype", "shape", "offset", "nbytes"}, ...]}
//   ...           zero padding to a multiple of 64 = data start D
//   D       ...   tensor bytes, C-contiguous; tensor i at D + offset_i (offsets multiples of 64)
//   end-4   4     uint32 CRC32 (zlib) of every byte before it
//
// The file content is a pure function of the Checkpoint (no timestamps), so equal states give
// byte-identical files.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace unlearn::io {

/// The newest file format this build writes and reads.
inline constexpr std::uint32_t kCheckpointFormatVersion = 1;

/// The in-memory content of one checkpoint file: named tensors, a JSON metadata object, and the
/// architecture string of the model that wrote them (save_checkpoint / load_checkpoint).
struct Checkpoint {
  /// Names the model that wrote the tensors (e.g. "sparse_gp/m=20,d=2"); load_checkpoint can
  /// insist on it. Must not be empty when saving.
  std::string architecture;
  /// Anything JSON: step counter, resolved config, ids trained on / erased, optimizer options.
  nlohmann::json metadata = nlohmann::json::object();
  /// θ, posterior parameters, optimizer state, sample bank, RNG state (a uint8 tensor)...
  /// Saved from the CPU, contiguous; loaded on the CPU.
  std::map<std::string, torch::Tensor> tensors;

  /// Whether a tensor called `name` is present.
  bool has(const std::string& name) const { return tensors.count(name) > 0; }
  /// The tensor called `name`; a c10::Error naming it and the tensors present otherwise.
  const torch::Tensor& at(const std::string& name) const;
};

/// What went wrong with a checkpoint file, for callers that react differently (the app maps
/// every kind to exit code 2: the user's run directory, not the program, is at fault).
enum class CheckpointErrorKind {
  kUnreadable,            ///< missing, a directory, no permission
  kNotACheckpoint,        ///< no "UNLEARNCKPT" magic
  kTruncated,             ///< shorter than the file says it is (a cut-short copy or write)
  kCorrupted,             ///< checksum mismatch or an inconsistent header
  kFutureVersion,         ///< written by a newer format than this build reads
  kArchitectureMismatch,  ///< written by another model than LoadExpectations asked for
};

/// A c10::Error with a kind. The message names the file and what is wrong; what() carries no
/// C++ backtrace, so it can be shown to users as it is.
class CheckpointError : public c10::Error {
 public:
  /// `message` becomes what() as it is (no backtrace appended).
  CheckpointError(CheckpointErrorKind kind, std::string message);
  /// What went wrong (unreadable, not a checkpoint, truncated, corrupted, future version, other
  /// architecture).
  CheckpointErrorKind kind() const { return kind_; }

 private:
  CheckpointErrorKind kind_;
};

/// Options of save_checkpoint (only a crash hook for tests so far).
struct SaveOptions {
  /// Testing only: write and fsync the temporary file, then throw (a c10::Error) instead of
  /// renaming it, leaving the temporary behind exactly as a crash at that point would.
  TORCH_ARG(bool, crash_before_rename) = false;
};

/// What load_checkpoint checks before reading any tensor (so far: the architecture).
struct LoadExpectations {
  /// When set, the checkpoint must have been written for this architecture; a mismatch is a
  /// CheckpointError naming both.
  TORCH_ARG(std::optional<std::string>, architecture) = std::nullopt;
};

/// Writes `checkpoint` to `path` atomically (temporary file, fsync, rename, fsync of the
/// directory): a crash leaves either the old file or the new one. The directory must exist.
/// Supported dtypes: float16/32/64, bfloat16, complex64/128, uint8, int8/16/32/64, bool; dense
/// (strided) tensors only.
void save_checkpoint(const Checkpoint& checkpoint, const std::filesystem::path& path,
                     const SaveOptions& options = {});

/// Reads and verifies a checkpoint: magic, version, size, checksum, then the architecture,
/// before any tensor is read. Tensors come back on the CPU; the caller moves them. Every
/// failure is a CheckpointError naming the path.
Checkpoint load_checkpoint(const std::filesystem::path& path, const LoadExpectations& expect = {});

}  // namespace unlearn::io
