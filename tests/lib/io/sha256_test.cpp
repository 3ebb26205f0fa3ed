// SHA-256 against the FIPS 180-4 / NIST example vectors, streaming in odd-sized pieces, the
// tensor encoding, and (when coreutils is on the machine, as on Debian) sha256sum itself.
#include <cstdio>

#include <torch/torch.h>

#include "lib/io/io_test_util.h"
#include "unlearn/io/sha256.h"

namespace unlearn::io {
namespace {

using testing::TempDir;
using testing::write_bytes;

TEST(Sha256, NistVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 million;
  const std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(a);
  EXPECT_EQ(million.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PiecesOfAnySizeGiveTheWholeMessagesHash) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text.push_back(static_cast<char>((i * 131) % 251));
  const auto whole = sha256_hex(text);
  for (std::size_t piece : {1, 3, 63, 64, 65, 200}) {
    Sha256 h;
    for (std::size_t at = 0; at < text.size(); at += piece) h.update(std::string_view(text).substr(at, piece));
    EXPECT_EQ(h.hex_digest(), whole) << "pieces of " << piece;
  }
}

TEST(Sha256, TensorsHashDtypeShapeAndBytes) {
  auto hash = [](const torch::Tensor& t) {
    Sha256 h;
    h.update(t);
    return h.hex_digest();
  };
  auto t = torch::arange(6, torch::kLong);
  EXPECT_EQ(hash(t), hash(torch::arange(6, torch::kLong)));
  EXPECT_NE(hash(t), hash(t.reshape({2, 3})));
  EXPECT_NE(hash(t), hash(t.to(torch::kInt)));
  EXPECT_EQ(hash(t.reshape({2, 3}).t()), hash(t.reshape({2, 3}).t().contiguous()));  // contiguous bytes
  auto u = t.clone();
  u[5] = 7;
  EXPECT_NE(hash(t), hash(u));
}

TEST(Sha256, FileHashIsWhatSha256sumPrints) {
  TempDir dir;
  std::string bytes;
  for (int i = 0; i < 300000; ++i) bytes.push_back(static_cast<char>(i * 7));
  write_bytes(dir / "f.bin", bytes);
  const auto ours = sha256_file(dir / "f.bin");
  EXPECT_EQ(ours, sha256_hex(bytes));
  FILE* pipe = ::popen(("sha256sum " + (dir / "f.bin").string() + " 2>/dev/null").c_str(), "r");
  char out[65] = {};
  if (pipe == nullptr || std::fread(out, 1, 64, pipe) != 64) {
    if (pipe) ::pclose(pipe);
    GTEST_SKIP() << "no sha256sum on this machine";
  }
  ::pclose(pipe);
  EXPECT_EQ(ours, std::string(out, 64));
  EXPECT_THROW(sha256_file(dir / "missing"), c10::Error);
}

}  // namespace
}  // namespace unlearn::io
