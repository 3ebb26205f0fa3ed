// Checkpoint round trips: every byte of every tensor and the metadata come back.
#include <torch/torch.h>

#include "lib/io/io_test_util.h"
#include "unlearn/io/checkpoint.h"

namespace unlearn::io {
namespace {

using testing::read_bytes;
using testing::TempDir;

// Bit-for-bit: same dtype, shape, and bytes (NaN payloads included), not just "close".
void expect_identical(const torch::Tensor& a, const torch::Tensor& b, const std::string& name) {
  SCOPED_TRACE(name);
  ASSERT_EQ(a.scalar_type(), b.scalar_type());
  ASSERT_EQ(a.sizes(), b.sizes());
  auto ca = a.contiguous(), cb = b.contiguous();
  ASSERT_EQ(0, std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.numel() * ca.element_size()));
}

Checkpoint sample_checkpoint() {
  auto gen = at::detail::createCPUGenerator(1234);
  Checkpoint c;
  c.architecture = "test/linear-regression,p=7";
  c.metadata = {{"step", 1234567890123LL},
                {"config", {{"lr", 0.001}, {"method", "eubo"}, {"lambdas", {0.0, 0.05, 1e-300}}}},
                {"ids_trained", {3, 17, 42}},
                {"ids_erased", nlohmann::json::array()},
                {"note", "unicode: θ σ ∇"}};
  c.tensors["theta"] = torch::randn({7}, gen, torch::kFloat64);
  // Non-contiguous: a transposed view must be saved as its logical values.
  c.tensors["cov_t"] = torch::randn({5, 3}, gen, torch::kFloat64).t();
  c.tensors["strided"] = torch::randn({10}, gen, torch::kFloat64).slice(0, 1, 10, 3);
  c.tensors["bank"] = torch::randn({4, 2, 3}, gen, torch::kFloat32);
  c.tensors["ids"] = torch::tensor(std::vector<int64_t>{3, 17, 42, -9000000000000}, torch::kInt64);
  c.tensors["counts"] = torch::tensor({1, -2, 2147483647}, torch::kInt32);
  c.tensors["mask"] = torch::tensor({true, false, true});
  c.tensors["rng_bytes"] = torch::randint(0, 256, {37}, gen, torch::kUInt8);
  c.tensors["empty"] = torch::empty({0, 3}, torch::kFloat64);
  c.tensors["scalar"] = torch::tensor(3.25, torch::kFloat64);
  c.tensors["special"] = torch::tensor({std::nan(""), -0.0, std::numeric_limits<double>::infinity(),
                                        std::numeric_limits<double>::denorm_min()},
                                       torch::kFloat64);
  return c;
}

TEST(Checkpoint, RoundTripIsBitForBit) {
  TempDir dir;
  const auto c = sample_checkpoint();
  save_checkpoint(c, dir / "a.ckpt");
  const auto back = load_checkpoint(dir / "a.ckpt");

  EXPECT_EQ(back.architecture, c.architecture);
  EXPECT_EQ(back.metadata, c.metadata);
  EXPECT_EQ(back.metadata["step"].get<int64_t>(), 1234567890123LL);
  ASSERT_EQ(back.tensors.size(), c.tensors.size());
  for (const auto& [name, t] : c.tensors) {
    ASSERT_TRUE(back.has(name)) << name;
    expect_identical(back.at(name), t, name);
    EXPECT_TRUE(back.at(name).is_contiguous()) << name;
    EXPECT_EQ(back.at(name).device(), torch::Device(torch::kCPU)) << name;
  }
  // The transposed view came back as its values, not as the underlying storage.
  EXPECT_TRUE(torch::equal(back.at("cov_t"), c.tensors.at("cov_t")));
}

TEST(Checkpoint, SameStateGivesByteIdenticalFiles) {
  TempDir dir;
  save_checkpoint(sample_checkpoint(), dir / "a.ckpt");
  save_checkpoint(sample_checkpoint(), dir / "b.ckpt");
  EXPECT_EQ(read_bytes(dir / "a.ckpt"), read_bytes(dir / "b.ckpt"));
  // ...and a single changed bit in a tensor changes the file.
  auto c = sample_checkpoint();
  c.tensors["theta"][0] = std::nextafter(c.tensors["theta"][0].item<double>(), 1e300);
  save_checkpoint(c, dir / "c.ckpt");
  EXPECT_NE(read_bytes(dir / "a.ckpt"), read_bytes(dir / "c.ckpt"));
}

TEST(Checkpoint, NoTensorsAndOverwrite) {
  TempDir dir;
  Checkpoint c;
  c.architecture = "empty";
  save_checkpoint(c, dir / "x.ckpt");
  auto back = load_checkpoint(dir / "x.ckpt");
  EXPECT_TRUE(back.tensors.empty());
  EXPECT_EQ(back.metadata, nlohmann::json::object());

  c.metadata["step"] = 2;
  c.tensors["w"] = torch::ones({2});
  save_checkpoint(c, dir / "x.ckpt");  // replaces the old file
  back = load_checkpoint(dir / "x.ckpt");
  EXPECT_EQ(back.metadata["step"], 2);
  EXPECT_TRUE(torch::equal(back.at("w"), torch::ones({2})));
  EXPECT_EQ(testing::file_names(dir.path()), std::vector<std::string>{"x.ckpt"});  // no temporaries left
}

TEST(Checkpoint, LoadedTensorsDoNotAliasEachOther) {
  TempDir dir;
  Checkpoint c;
  c.architecture = "a";
  c.tensors["a"] = torch::zeros({3});
  c.tensors["b"] = torch::zeros({3});
  save_checkpoint(c, dir / "x.ckpt");
  auto back = load_checkpoint(dir / "x.ckpt");
  back.tensors["a"].fill_(1.0);
  EXPECT_TRUE(torch::equal(back.at("b"), torch::zeros({3})));
}

TEST(Checkpoint, ExpectedArchitectureMatches) {
  TempDir dir;
  auto c = sample_checkpoint();
  save_checkpoint(c, dir / "a.ckpt");
  EXPECT_NO_THROW(load_checkpoint(dir / "a.ckpt", LoadExpectations().architecture(c.architecture)));
}

TEST(Checkpoint, SavePreconditions) {
  TempDir dir;
  Checkpoint c;
  auto msg = testing::error_message<c10::Error>([&] { save_checkpoint(c, dir / "a.ckpt"); });
  EXPECT_NE(msg.find("architecture"), std::string::npos) << msg;

  c.architecture = "a";
  c.tensors["undefined"] = torch::Tensor();
  msg = testing::error_message<c10::Error>([&] { save_checkpoint(c, dir / "a.ckpt"); });
  EXPECT_NE(msg.find("\"undefined\" is undefined"), std::string::npos) << msg;

  c.tensors.clear();
  c.tensors["sparse"] = torch::eye(3).to_sparse();
  msg = testing::error_message<c10::Error>([&] { save_checkpoint(c, dir / "a.ckpt"); });
  EXPECT_NE(msg.find("\"sparse\" must be dense"), std::string::npos) << msg;

  c.tensors.clear();
  msg = testing::error_message<c10::Error>([&] { save_checkpoint(c, dir / "no-such-dir" / "a.ckpt"); });
  EXPECT_NE(msg.find("no-such-dir"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;

  EXPECT_EQ(testing::file_names(dir.path()), std::vector<std::string>{});  // nothing written
}

TEST(Checkpoint, AtNamesMissingTensorAndWhatIsThere) {
  Checkpoint c;
  c.architecture = "a";
  c.tensors["theta"] = torch::zeros({1});
  const auto msg = testing::error_message<c10::Error>([&] { c.at("mu"); });
  EXPECT_NE(msg.find("no tensor \"mu\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"theta\""), std::string::npos) << msg;
}

}  // namespace
}  // namespace unlearn::io
