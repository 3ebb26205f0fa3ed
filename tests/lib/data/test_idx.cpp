#include <gtest/gtest.h>

#include "data_test_util.h"

#include <zlib.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "unlearn/data/idx.h"

using unlearn::data::read_idx;

namespace {

using unlearn::test::error_of;

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("unlearn_test_idx_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// An IDX byte stream: magic 00 00 type ndim, big-endian dims, then `data`.
std::vector<unsigned char> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<unsigned char>& data,
                                     unsigned char type = 0x08) {
  std::vector<unsigned char> out{0, 0, type, static_cast<unsigned char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<unsigned char>(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::string write_gz(const std::string& name, const std::vector<unsigned char>& bytes) {
  const auto path = temp_path(name);
  gzFile f = gzopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
  return path;
}

std::string write_plain(const std::string& name, const std::vector<unsigned char>& bytes) {
  const auto path = temp_path(name);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::vector<unsigned char> counting(size_t n) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>((i * 7) % 256);
  return v;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(Idx, ReadsAGzipFileTheTestWrote) {
  const auto path = write_gz("small.idx3.gz", idx_bytes({3, 4, 300}, counting(3 * 4 * 300)));
  auto t = read_idx(path);
  EXPECT_EQ(t.scalar_type(), torch::kUInt8);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 4, 300}));
  auto want = (torch::arange(3 * 4 * 300, torch::kLong) * 7).remainder(256).to(torch::kUInt8).reshape({3, 4, 300});
  EXPECT_TRUE(torch::equal(t, want));
}

TEST(Idx, ReadsAnUncompressedFile) {
  const auto path = write_plain("labels.idx1", idx_bytes({5}, {9, 0, 3, 255, 1}));
  EXPECT_TRUE(torch::equal(read_idx(path), torch::tensor({9, 0, 3, 255, 1}, torch::kUInt8)));
}

TEST(Idx, BadMagicNamesThePath) {
  auto bytes = idx_bytes({2}, {1, 2});
  bytes[0] = 0x1f;
  const auto path = write_gz("bad_magic.gz", bytes);
  auto msg = error_of([&] { read_idx(path); });
  EXPECT_TRUE(has(msg, path)) << msg;
  EXPECT_TRUE(has(msg, "bad magic")) << msg;
  const auto float_path = write_gz("floats.gz", idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  EXPECT_TRUE(has(error_of([&] { read_idx(float_path); }), "only unsigned bytes")) << float_path;
}

TEST(Idx, TruncationNamesThePath) {
  const auto data = write_gz("short_data.gz", idx_bytes({10, 10}, counting(57)));
  auto msg = error_of([&] { read_idx(data); });
  EXPECT_TRUE(has(msg, data + "' is truncated")) << msg;
  EXPECT_TRUE(has(msg, "needs 100 bytes of data, found 57")) << msg;

  auto header_only = idx_bytes({10, 10}, {});
  header_only.resize(6);  // cut inside the first dimension
  const auto header = write_gz("short_header.gz", header_only);
  msg = error_of([&] { read_idx(header); });
  EXPECT_TRUE(has(msg, header + "' is truncated in its header")) << msg;

  const auto empty = write_plain("empty.idx", {});
  EXPECT_TRUE(has(error_of([&] { read_idx(empty); }), empty + "' is truncated"));

  const auto longer = write_gz("trailing.gz", idx_bytes({2}, {1, 2, 3}));
  EXPECT_TRUE(has(error_of([&] { read_idx(longer); }), "trailing bytes"));
}

TEST(Idx, MissingFileNamesThePath) {
  const std::string path = "/nonexistent/unlearn/images.idx3.gz";
  EXPECT_TRUE(has(error_of([&] { read_idx(path); }), "cannot open '" + path + "'"));
}

TEST(FashionMnist, DebianPackage) {
  const std::string dir = unlearn::data::kFashionMnistDir;
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << dir << " is absent: install Debian's dataset-fashion-mnist package to run this test";

  auto raw = read_idx(dir + "/train-images-idx3-ubyte.gz");
  EXPECT_EQ(raw.sizes(), (std::vector<int64_t>{60000, 28, 28}));

  auto train = unlearn::data::load_fashion_mnist(dir, /*train=*/true);
  EXPECT_EQ(train.x().sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_EQ(train.x().scalar_type(), torch::kFloat32);
  EXPECT_EQ(train.y().scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(train.ids(), torch::arange(60000, torch::kLong)));
  EXPECT_TRUE(torch::equal(train.y().bincount(), torch::full({10}, 6000, torch::kLong)));
  EXPECT_FLOAT_EQ(train.x().min().item<float>(), -0.5f);
  EXPECT_FLOAT_EQ(train.x().max().item<float>(), 0.5f);
  EXPECT_TRUE(torch::allclose(train.x()[123][0], raw[123].to(torch::kFloat32) / 255.0 - 0.5));

  auto test = unlearn::data::load_fashion_mnist(
      dir, /*train=*/false, unlearn::data::FashionMnistOptions().pad_to_32(true).flatten(true));
  EXPECT_EQ(test.x().sizes(), (std::vector<int64_t>{10000, 32 * 32}));
  EXPECT_TRUE(torch::equal(test.ids(), torch::arange(10000, torch::kLong)));
  EXPECT_EQ(test.y().min().item<int64_t>(), 0);
  EXPECT_EQ(test.y().max().item<int64_t>(), 9);
  auto image = test.x().reshape({10000, 32, 32});
  EXPECT_TRUE((image.narrow(1, 0, 2) == -0.5f).all().item<bool>());  // the padding is background
  EXPECT_TRUE((image.narrow(2, 30, 2) == -0.5f).all().item<bool>());
}
