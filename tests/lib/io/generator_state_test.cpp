// Saving a generator's state in a checkpoint and restoring it must reproduce the same draws.
#include <torch/torch.h>

#include "lib/io/io_test_util.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/io/generator_state.h"

namespace unlearn::io {
namespace {

torch::Tensor draws(torch::Generator& gen) {
  // Both normal code paths (n < 16 scalar, n >= 16 vectorised) and a uniform draw.
  return torch::cat({torch::randn({5}, gen, torch::kFloat64), torch::randn({33}, gen, torch::kFloat64),
                     torch::rand({7}, gen, torch::kFloat64)});
}

TEST(GeneratorState, ThroughACheckpointGivesIdenticalDraws) {
  testing::TempDir dir;
  auto gen = at::detail::createCPUGenerator(42);
  torch::randn({3}, gen, torch::kFloat64);  // advance mid-stream: a normal sample may be cached
  torch::randn({1}, gen, torch::kFloat32);

  Checkpoint c;
  c.architecture = "rng-test";
  c.tensors["rng"] = generator_state(gen);
  save_checkpoint(c, dir / "rng.ckpt");
  const auto expected = draws(gen);

  auto other = at::detail::createCPUGenerator(7);  // a different stream until restored
  EXPECT_FALSE(torch::equal(draws(other), expected));
  set_generator_state(other, load_checkpoint(dir / "rng.ckpt").at("rng"));
  const auto actual = draws(other);
  EXPECT_EQ(0, std::memcmp(actual.data_ptr(), expected.data_ptr(), expected.numel() * sizeof(double)));
}

TEST(GeneratorState, StateIsACopy) {
  auto gen = at::detail::createCPUGenerator(1);
  auto state = generator_state(gen);
  EXPECT_EQ(state.scalar_type(), torch::kUInt8);
  EXPECT_EQ(state.dim(), 1);
  auto before = state.clone();
  torch::randn({10}, gen);
  EXPECT_TRUE(torch::equal(state, before));  // drawing does not change a saved state
}

TEST(GeneratorState, RejectsForeignState) {
  auto gen = at::detail::createCPUGenerator(1);
  auto msg = testing::error_message<c10::Error>([&] { set_generator_state(gen, torch::zeros({16})); });
  EXPECT_NE(msg.find("uint8"), std::string::npos) << msg;
  msg = testing::error_message<c10::Error>(
      [&] { set_generator_state(gen, torch::zeros({16}, torch::kUInt8)); });  // a CUDA-sized state
  EXPECT_NE(msg.find("does not fit"), std::string::npos) << msg;
}

TEST(GeneratorState, CudaGenerator) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this build/machine";
  auto gen = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, 0));
  auto state = generator_state(gen);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA);
  const auto expected = torch::randn({100}, gen, opts).cpu();
  set_generator_state(gen, state);
  EXPECT_TRUE(torch::equal(torch::randn({100}, gen, opts).cpu(), expected));
}

}  // namespace
}  // namespace unlearn::io
