// Damaged, foreign and future checkpoint files: each a CheckpointError of the right kind whose
// message names the file and the problem.
#include <torch/torch.h>

#include "lib/io/io_test_util.h"
#include "unlearn/io/checkpoint.h"

namespace unlearn::io {
namespace {

using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

struct Failure {
  CheckpointErrorKind kind;
  std::string message;
};

Failure load_failure(const std::filesystem::path& path, const LoadExpectations& expect = {}) {
  try {
    load_checkpoint(path, expect);
  } catch (const CheckpointError& e) {
    // what() itself must be fit for users: no C++ backtrace appended.
    EXPECT_EQ(std::string(e.what()).find("Exception raised from"), std::string::npos) << e.what();
    return {e.kind(), e.what_without_backtrace()};
  }
  ADD_FAILURE() << "load_checkpoint(" << path << ") did not throw";
  return {CheckpointErrorKind::kUnreadable, ""};
}

class CheckpointErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    Checkpoint c;
    c.architecture = "sparse_gp/m=20";
    c.metadata = {{"step", 10}};
    c.tensors["theta"] = torch::arange(1000, torch::kFloat64);
    c.tensors["ids"] = torch::arange(50, torch::kInt64);
    path_ = dir_ / "gen-0001.ckpt";
    save_checkpoint(c, path_);
    bytes_ = read_bytes(path_);
    ASSERT_GT(bytes_.size(), 8000u);
  }

  std::filesystem::path write_variant(const std::string& name, const std::string& bytes) {
    auto p = dir_ / name;
    write_bytes(p, bytes);
    return p;
  }

  TempDir dir_;
  std::filesystem::path path_;
  std::string bytes_;
};

TEST_F(CheckpointErrors, TruncatedAtManyPoints) {
  const std::size_t n = bytes_.size();
  // Inside the magic, the version, the prelude, the header, the tensor data, the last CRC byte.
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{14}, std::size_t{20}, std::size_t{35},
                          std::size_t{60}, n / 2, n - 4, n - 1}) {
    SCOPED_TRACE(cut);
    const auto p = write_variant("cut.ckpt", bytes_.substr(0, cut));
    const auto f = load_failure(p);
    EXPECT_EQ(f.kind, CheckpointErrorKind::kTruncated);
    EXPECT_NE(f.message.find("is truncated"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find(p.string()), std::string::npos) << f.message;
  }
  const auto f = load_failure(write_variant("cut.ckpt", bytes_.substr(0, n / 2)));
  EXPECT_NE(f.message.find(fmt::format("{} of {} bytes", n / 2, n)), std::string::npos) << f.message;
}

TEST_F(CheckpointErrors, FlippedByteIsCorruption) {
  // One flipped byte in the tensor data, in the JSON header, in the length fields, in the final
  // CRC: all must be caught; none may come back as a silently different tensor.
  for (std::size_t at : {bytes_.size() / 2, std::size_t{40}, std::size_t{17}, std::size_t{26}, bytes_.size() - 2}) {
    SCOPED_TRACE(at);
    std::string damaged = bytes_;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x10);
    const auto p = write_variant("flip.ckpt", damaged);
    const auto f = load_failure(p);
    EXPECT_EQ(f.kind, CheckpointErrorKind::kCorrupted) << f.message;
    EXPECT_NE(f.message.find("is corrupted"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find(p.string()), std::string::npos) << f.message;
  }
  std::string damaged = bytes_;
  damaged[bytes_.size() / 2] ^= 0x01;
  const auto f = load_failure(write_variant("flip.ckpt", damaged));
  EXPECT_NE(f.message.find("checksum mismatch"), std::string::npos) << f.message;
}

TEST_F(CheckpointErrors, TrailingGarbageIsCorruption) {
  const auto f = load_failure(write_variant("long.ckpt", bytes_ + "x"));
  EXPECT_EQ(f.kind, CheckpointErrorKind::kCorrupted);
  EXPECT_NE(f.message.find("is corrupted"), std::string::npos) << f.message;
}

TEST_F(CheckpointErrors, FutureVersion) {
  std::string future = bytes_;
  future[12] = 7;  // the little-endian uint32 version field at offset 12
  future[13] = future[14] = future[15] = 0;
  const auto p = write_variant("future.ckpt", future);
  const auto f = load_failure(p);
  EXPECT_EQ(f.kind, CheckpointErrorKind::kFutureVersion);
  EXPECT_NE(f.message.find("written by format version 7, this build reads up to 1"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find(p.string()), std::string::npos) << f.message;
  EXPECT_EQ(kCheckpointFormatVersion, 1u);
}

TEST_F(CheckpointErrors, NotACheckpoint) {
  for (const std::string& content : {std::string("{\"step\": 3}\n"), std::string("PK\x03\x04 a zip archive"),
                                    std::string("UNLEARNCKPX") + std::string(100, '\0')}) {
    const auto p = write_variant("other.ckpt", content);
    const auto f = load_failure(p);
    EXPECT_EQ(f.kind, CheckpointErrorKind::kNotACheckpoint) << f.message;
    EXPECT_NE(f.message.find("is not an unlearn checkpoint"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find(p.string()), std::string::npos) << f.message;
  }
}

TEST_F(CheckpointErrors, ArchitectureMismatchNamesBoth) {
  const auto f = load_failure(path_, LoadExpectations().architecture("bnn/mlp-2x50"));
  EXPECT_EQ(f.kind, CheckpointErrorKind::kArchitectureMismatch);
  EXPECT_NE(f.message.find("\"sparse_gp/m=20\""), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("expected \"bnn/mlp-2x50\""), std::string::npos) << f.message;
  EXPECT_NE(f.message.find(path_.string()), std::string::npos) << f.message;
}

TEST_F(CheckpointErrors, MissingFileAndDirectory) {
  auto f = load_failure(dir_ / "gen-0002.ckpt");
  EXPECT_EQ(f.kind, CheckpointErrorKind::kUnreadable);
  EXPECT_NE(f.message.find("gen-0002.ckpt"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("No such file"), std::string::npos) << f.message;

  f = load_failure(dir_.path());
  EXPECT_EQ(f.kind, CheckpointErrorKind::kUnreadable);
  EXPECT_NE(f.message.find("not a regular file"), std::string::npos) << f.message;
}

TEST_F(CheckpointErrors, CheckpointErrorIsAC10Error) {
  // Callers that only know c10::Error (TORCH_CHECK's type) still catch it.
  EXPECT_THROW(load_checkpoint(dir_ / "missing.ckpt"), c10::Error);
}

}  // namespace
}  // namespace unlearn::io
