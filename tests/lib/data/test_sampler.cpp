#include <gtest/gtest.h>

#include "data_test_util.h"

#include <ATen/CPUGeneratorImpl.h>

#include <sstream>
#include <string>
#include <vector>

#include "unlearn/data/sampler.h"

using unlearn::data::Batch;
using unlearn::data::Dataset;
using unlearn::data::MinibatchSampler;
using unlearn::data::MinibatchSamplerOptions;
using unlearn::data::SamplerState;

namespace {

using unlearn::test::error_of;

// n rows, x = [id, 2 id, 3 id] (float32), y = id % 2, ids 1000 + row.
Dataset rows(int64_t n, torch::Device device = torch::kCPU) {
  auto ids = torch::arange(1000, 1000 + n, torch::kLong);
  auto x = ids.to(torch::kFloat32).unsqueeze(1) * torch::tensor({1.0f, 2.0f, 3.0f});
  return Dataset(x, ids.remainder(2), ids).to(device);
}

void expect_consistent(const Batch& b) {
  auto id = b.ids.to(torch::kCPU);
  EXPECT_TRUE(torch::equal(b.x.to(torch::kCPU).select(1, 2), id.to(torch::kFloat32) * 3));
  EXPECT_TRUE(torch::equal(b.y.to(torch::kCPU), id.remainder(2)));
}

std::vector<Batch> take(MinibatchSampler& s, int64_t n) {
  std::vector<Batch> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(s.next());
  return out;
}

void expect_same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].ids, b[i].ids)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].x, b[i].x)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].y, b[i].y)) << "batch " << i;
  }
}

}  // namespace

TEST(MinibatchSampler, EveryIdOncePerEpoch) {
  MinibatchSampler s(rows(103), MinibatchSamplerOptions(10), /*seed=*/3);
  ASSERT_EQ(s.batches_per_epoch(), 11);
  std::vector<torch::Tensor> orders;
  for (int epoch = 0; epoch < 3; ++epoch) {
    EXPECT_EQ(s.epoch(), epoch);
    std::vector<torch::Tensor> ids;
    for (int64_t i = 0; i < s.batches_per_epoch(); ++i) {
      auto b = s.next();
      EXPECT_EQ(b.size(), i < 10 ? 10 : 3);
      expect_consistent(b);
      ids.push_back(b.ids);
    }
    auto all = torch::cat(ids);
    EXPECT_TRUE(torch::equal(std::get<0>(all.sort()), torch::arange(1000, 1103, torch::kLong)));
    orders.push_back(all);
  }
  EXPECT_EQ(s.epoch(), 3);
  EXPECT_FALSE(torch::equal(orders[0], orders[1]));  // a fresh permutation every epoch
  EXPECT_FALSE(torch::equal(orders[0], torch::arange(1000, 1103, torch::kLong)));
}

TEST(MinibatchSampler, DropLastSkipsThePartialBatch) {
  MinibatchSampler s(rows(103), MinibatchSamplerOptions(10).drop_last(true), 3);
  ASSERT_EQ(s.batches_per_epoch(), 10);
  std::vector<torch::Tensor> ids;
  for (int i = 0; i < 10; ++i) {
    auto b = s.next();
    EXPECT_EQ(b.size(), 10);
    ids.push_back(b.ids);
  }
  EXPECT_EQ(s.epoch(), 1);
  EXPECT_EQ(std::get<0>(torch::_unique(torch::cat(ids))).numel(), 100);
}

TEST(MinibatchSampler, BatchesAreViewsOfOneEpochBuffer) {
  const auto data = rows(100);
  MinibatchSampler s(data, MinibatchSamplerOptions(16), 1);
  auto batches = take(s, s.batches_per_epoch());
  const auto* base = batches[0].x.data_ptr<float>();
  for (size_t i = 0; i < batches.size(); ++i) {
    // Batch i starts 16 i rows (3 floats each) into the same buffer: a narrow, not a copy.
    EXPECT_TRUE(batches[i].x.is_alias_of(batches[0].x)) << i;
    EXPECT_EQ(batches[i].x.data_ptr<float>(), base + 16 * 3 * static_cast<int64_t>(i)) << i;
    EXPECT_EQ(batches[i].ids.data_ptr<int64_t>(), batches[0].ids.data_ptr<int64_t>() + 16 * i) << i;
    EXPECT_TRUE(batches[i].y.is_alias_of(batches[0].y)) << i;
  }
  // The buffer is a permuted copy, not the data set itself.
  EXPECT_FALSE(batches[0].x.is_alias_of(data.x()));
  // The next epoch gets its own buffer.
  EXPECT_FALSE(s.next().x.is_alias_of(batches[0].x));
}

TEST(MinibatchSampler, FullBatchAndUnshuffledNeverCopy) {
  const auto data = rows(50);
  auto generator = at::detail::createCPUGenerator(9);
  const auto before = generator.get_state();
  MinibatchSampler full(data, MinibatchSamplerOptions(50), generator);
  for (int i = 0; i < 3; ++i) {
    auto b = full.next();
    EXPECT_EQ(b.x.data_ptr(), data.x().data_ptr());
    EXPECT_EQ(b.y.data_ptr(), data.y().data_ptr());
    EXPECT_EQ(b.ids.data_ptr(), data.ids().data_ptr());
    EXPECT_EQ(b.size(), 50);
  }
  EXPECT_EQ(full.epoch(), 3);
  EXPECT_TRUE(torch::equal(generator.get_state(), before));  // nothing drawn

  MinibatchSampler big(data, MinibatchSamplerOptions(1000).drop_last(true), 0);
  EXPECT_EQ(big.batches_per_epoch(), 1);
  EXPECT_EQ(big.next().x.data_ptr(), data.x().data_ptr());

  MinibatchSampler ordered(data, MinibatchSamplerOptions(20).shuffle(false), 0);
  for (int64_t start : {0, 20, 40, 0}) {
    auto b = ordered.next();
    EXPECT_EQ(b.x.data_ptr<float>(), data.x().data_ptr<float>() + 3 * start);
    EXPECT_EQ(b.ids[0].item<int64_t>(), 1000 + start);
  }
}

TEST(MinibatchSampler, SameSeedSameBatchesOtherSeedOthers) {
  MinibatchSampler a(rows(64), MinibatchSamplerOptions(8), 42);
  MinibatchSampler b(rows(64), MinibatchSamplerOptions(8), 42);
  MinibatchSampler c(rows(64), MinibatchSamplerOptions(8), 43);
  auto ba = take(a, 30), bb = take(b, 30), bc = take(c, 30);
  expect_same_batches(ba, bb);
  EXPECT_FALSE(torch::equal(ba[0].ids, bc[0].ids));
}

TEST(MinibatchSampler, RestoredStateContinuesBitIdentically) {
  // Stop at several points: inside the first epoch, inside a later one, on an epoch boundary.
  for (int64_t stop : {3, 13, 14, 7 * 4}) {
    MinibatchSampler a(rows(100), MinibatchSamplerOptions(15), 5);  // 7 batches an epoch
    take(a, stop);
    const SamplerState saved = a.state();
    auto expected = take(a, 20);

    // Through an archive, into a sampler with another seed whose generator has moved on.
    torch::serialize::OutputArchive out;
    saved.save(out);
    std::stringstream bytes;
    out.save_to(bytes);
    torch::serialize::InputArchive in;
    in.load_from(bytes);
    SamplerState loaded;
    loaded.load(in);

    MinibatchSampler b(rows(100), MinibatchSamplerOptions(15), 999);
    take(b, 4);
    b.load_state(loaded);
    EXPECT_EQ(b.epoch(), saved.epoch);
    EXPECT_EQ(b.position(), saved.position);
    expect_same_batches(expected, take(b, 20));
    // The generator is where the original left it.
    EXPECT_TRUE(torch::equal(b.state().generator_state, a.state().generator_state)) << stop;
  }
}

TEST(MinibatchSampler, StateForOtherDataIsRejected) {
  MinibatchSampler a(rows(100), MinibatchSamplerOptions(15), 5);
  a.next();
  MinibatchSampler other(rows(90), MinibatchSamplerOptions(15), 5);
  EXPECT_NE(error_of([&] { other.load_state(a.state()); }).find("100 rows"), std::string::npos);
  MinibatchSampler wider(rows(100), MinibatchSamplerOptions(10), 5);
  EXPECT_NE(error_of([&] { wider.load_state(a.state()); }).find("batch_size 15"), std::string::npos);
  EXPECT_NE(error_of([] { MinibatchSampler(rows(10), MinibatchSamplerOptions(0), 1); }).find("positive"),
            std::string::npos);
}

TEST(MinibatchSampler, FollowsTheDataDevice) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA);
  MinibatchSampler cpu(rows(1000), MinibatchSamplerOptions(64), 11);
  MinibatchSampler gpu(rows(1000, cuda), MinibatchSamplerOptions(64), 11);
  for (int i = 0; i < 20; ++i) {
    auto a = cpu.next(), b = gpu.next();
    EXPECT_EQ(b.x.device().type(), torch::kCUDA);
    EXPECT_EQ(b.ids.device().type(), torch::kCUDA);
    expect_consistent(b);
    EXPECT_TRUE(torch::equal(a.ids, b.ids.cpu())) << i;  // a CPU generator: same batches anywhere
  }
}
