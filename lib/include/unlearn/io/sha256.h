#pragma once
// SHA-256 (FIPS 180-4) of bytes, files and tensors: the hashes that chain a run directory's
// generations, its config and its data (docs/architecture.md, "Run directories: lineage").
// The hex digests are exactly what coreutils' `sha256sum FILE` prints, so a third party can
// re-check a deletion receipt with standard tools.
//
//   unlearn::io::Sha256 h;
//   h.update(text);
//   h.update(tensor);                          // dtype, shape and bytes
//   std::string hex = h.hex_digest();          // 64 lowercase hex digits
//   auto file_hex = unlearn::io::sha256_file(run_dir / "gen-0001.ckpt");
//
// Written here rather than taken from OpenSSL: the build must also work on a GPU host that has a
// LibTorch but none of Debian's -dev packages (cmake/CarriedDeps.cmake), and 100 lines checked
// against the NIST vectors (tests/lib/io/test_sha256.cpp) are cheaper than carrying OpenSSL.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <torch/types.h>

namespace unlearn::io {

/// An incremental SHA-256. update() any number of times, then hex_digest() once.
class Sha256 {
 public:
  Sha256();
  /// Appends bytes to the message.
  void update(const void* data, std::size_t size);
  /// Appends the bytes of `text`.
  void update(std::string_view text) { update(text.data(), text.size()); }
  /// Appends a tensor as "dtype;shape;" then its C-contiguous CPU bytes, so two tensors with the
  /// same bytes but another dtype or shape hash differently.
  void update(const torch::Tensor& tensor);
  /// The digest as 64 lowercase hex digits. Finishes the hash: no update() afterwards.
  std::string hex_digest();

 private:
  void compress(const unsigned char* block);
  std::array<std::uint32_t, 8> state_;
  std::array<unsigned char, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t length_ = 0;  // bytes so far
  bool finished_ = false;
};

/// SHA-256 of a string's bytes, hex.
std::string sha256_hex(std::string_view text);
/// SHA-256 of a file's bytes, hex (what `sha256sum` prints). A c10::Error naming an unreadable file.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace unlearn::io
