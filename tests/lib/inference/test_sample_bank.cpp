// SampleBank: burn-in, thinning, the ring, checkpointing, and predictive averages.
#include <gtest/gtest.h>

#include "inference_test_models.h"
#include "unlearn/inference/sample_bank.h"
#include "unlearn/io/checkpoint.h"

namespace {
using namespace unlearn;
using namespace unlearn::inference;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

torch::Tensor state(int64_t step) { return torch::full({2}, static_cast<double>(step), kF64); }

TEST(SampleBank, BurnInAndThinning) {
  SampleBank bank(SampleBankOptions().burn_in(5).thinning(3).capacity(100));
  std::vector<int64_t> kept;
  for (int64_t step = 1; step <= 20; ++step) {
    if (bank.offer(step, state(step))) kept.push_back(step);
  }
  EXPECT_EQ(kept, (std::vector<int64_t>{8, 11, 14, 17, 20}));
  EXPECT_TRUE(torch::equal(bank.samples().select(1, 0), torch::tensor({8.0, 11.0, 14.0, 17.0, 20.0}, kF64)));
}

// The ring keeps the latest `capacity` samples, oldest first, across the storage's growth.
TEST(SampleBank, RingKeepsTheLatestSamples) {
  SampleBank bank(SampleBankOptions().capacity(40));
  for (int64_t step = 1; step <= 103; ++step) bank.offer(step, state(step));
  EXPECT_EQ(bank.size(), 40);
  EXPECT_EQ(bank.num_kept(), 103);
  EXPECT_TRUE(torch::equal(bank.samples().select(1, 0), torch::arange(64, 104, kF64)));
  EXPECT_DOUBLE_EQ(bank.mean()[0].item<double>(), (64 + 103) / 2.0);
}

TEST(SampleBank, CheckpointRoundTripOfAWrappedRing) {
  SampleBank bank(SampleBankOptions().burn_in(2).capacity(5));
  for (int64_t step = 1; step <= 13; ++step) bank.offer(step, state(step));
  io::Checkpoint ckpt;
  bank.save_state(ckpt, "bank/");
  SampleBank back(SampleBankOptions().burn_in(2).capacity(5));
  back.load_state(ckpt, "bank/");
  EXPECT_TRUE(torch::equal(back.samples(), bank.samples()));
  EXPECT_EQ(back.num_kept(), 11);
  for (int64_t step = 14; step <= 17; ++step) {
    bank.offer(step, state(step));
    back.offer(step, state(step));
  }
  EXPECT_TRUE(torch::equal(back.samples(), bank.samples()));

  SampleBank other(SampleBankOptions().burn_in(2).capacity(6));
  inference_test::expect_error_containing([&] { other.load_state(ckpt, "bank/"); }, "capacity = 5");
  SampleBank empty;
  io::Checkpoint empty_ckpt;
  empty.save_state(empty_ckpt, "");
  EXPECT_FALSE(empty_ckpt.has("samples"));
  empty.load_state(empty_ckpt, "");
  EXPECT_TRUE(empty.empty());
  inference_test::expect_error_containing([&] { empty.samples(); }, "empty");
}

TEST(SampleBank, ReplaceSamplesKeepsTheRingOrder) {
  SampleBank bank(SampleBankOptions().capacity(4));
  for (int64_t step = 1; step <= 6; ++step) bank.offer(step, state(step));  // holds 3..6, wrapped
  bank.replace_samples(bank.samples() * 10);
  EXPECT_TRUE(torch::equal(bank.samples().select(1, 0), torch::tensor({30.0, 40.0, 50.0, 60.0}, kF64)));
  bank.offer(7, state(7));  // overwrites the oldest (30)
  EXPECT_TRUE(torch::equal(bank.samples().select(1, 0), torch::tensor({40.0, 50.0, 60.0, 7.0}, kF64)));
  EXPECT_EQ(bank.num_kept(), 7);
  inference_test::expect_error_containing([&] { bank.replace_samples(torch::zeros({3, 2}, kF64)); }, "expected 4");
}

TEST(SampleBank, RejectsSamplesOfAnotherShape) {
  SampleBank bank;
  bank.add(torch::zeros({3}, kF64));
  inference_test::expect_error_containing([&] { bank.add(torch::zeros({4}, kF64)); }, "[4]");
}

// A softmax classifier with θ = W [P = D·C]: predict_log_proba = log_softmax(x W).
class Softmax : public Model {
 public:
  Softmax(int64_t d, int64_t c) : d_(d), c_(c) {}
  int64_t num_params() const override { return d_ * c_; }
  torch::Tensor predict_log_proba(const torch::Tensor& theta, const torch::Tensor& x) override {
    auto w = theta.view({theta.size(0), d_, c_});
    return torch::log_softmax(torch::matmul(x.unsqueeze(0), w), -1);  // [S, B, C]
  }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& b) override {
    auto lp = predict_log_proba(theta, b.x);
    return lp.gather(-1, b.y.view({1, -1, 1}).expand({lp.size(0), -1, 1})).squeeze(-1);
  }
  torch::Tensor log_prior(const torch::Tensor& theta) override { return -0.5 * theta.square().sum(-1); }
  torch::Tensor init_theta() override { return torch::zeros({num_params()}, kF64); }
  std::string architecture() const override { return "softmax"; }

 private:
  int64_t d_, c_;
};

// The predictive is the average of the probabilities (not of the log-probabilities), computed in
// log space; chunking the samples does not change it beyond rounding.
TEST(Predictive, AveragesProbabilitiesOverSamples) {
  auto gen = at::detail::createCPUGenerator(31);
  Softmax model(3, 4);
  auto samples = torch::randn({37, 12}, gen, kF64) * 3;
  auto x = torch::randn({5, 3}, gen, kF64);
  auto y = torch::randint(0, 4, {5}, gen, torch::kLong);

  auto naive = model.predict_log_proba(samples, x).exp().mean(0).log();  // [5, 4]
  for (int64_t chunk : {1, 10, 37, 256}) {
    auto lp = predictive_log_proba(model, samples, x, chunk);
    EXPECT_TRUE(torch::allclose(lp, naive, 1e-12, 1e-12)) << chunk;
    auto ll = predictive_log_likelihood(model, samples, {x, y, torch::arange(5)}, chunk);
    EXPECT_TRUE(torch::allclose(ll, naive.gather(1, y.unsqueeze(1)).squeeze(1), 1e-12, 1e-12)) << chunk;
  }
  SampleBank bank(SampleBankOptions().capacity(37));
  for (int64_t i = 0; i < 37; ++i) bank.add(samples[i]);
  EXPECT_TRUE(torch::allclose(bank.predictive_log_proba(model, x), naive, 1e-12, 1e-12));
  // Each row is a distribution.
  EXPECT_TRUE(torch::allclose(naive.exp().sum(-1), torch::ones({5}, kF64)));
}

}  // namespace
