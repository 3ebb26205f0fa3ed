#include "unlearn/bench/inference_bench.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "unlearn/data/dataset.h"
#include "unlearn/inference/sgmcmc.h"
#include "unlearn/inference/vi.h"
#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"

namespace unlearn::inference {
namespace {

constexpr double kHalfLog2Pi = 0.91893853320467274178032973640562;

// Bayesian logistic regression on fixed features, θ ~ N(0, I): the benchmark's model. The
// likelihood is written in the stable form y f − (max(f, 0) + log1p(exp(−|f|))) (docs/performance.md).
class BenchLogistic : public Model {
 public:
  explicit BenchLogistic(int64_t p) : p_(p) { anchor_ = register_buffer("anchor", torch::zeros({0}, torch::kFloat64)); }
  int64_t num_params() const override { return p_; }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& batch) override {
    auto f = torch::matmul(theta, batch.x.t());  // [S, B]
    return batch.y.unsqueeze(0) * f - (f.clamp_min(0) + torch::log1p(torch::exp(-f.abs())));
  }
  torch::Tensor log_prior(const torch::Tensor& theta) override {
    return -0.5 * theta.square().sum(-1) - static_cast<double>(p_) * kHalfLog2Pi;
  }
  torch::Tensor init_theta() override { return torch::zeros({p_}, torch::kFloat64); }
  std::string architecture() const override { return fmt::format("bench_logistic(p={})", p_); }
  torch::TensorOptions theta_options() const override { return anchor_.options(); }

 private:
  int64_t p_;
  torch::Tensor anchor_;
};

data::Dataset logistic_data(int64_t n, int64_t p, torch::Generator& gen) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto x = torch::randn({n, p}, gen, opts);
  auto theta = torch::randn({p}, gen, opts);
  auto prob = torch::sigmoid(torch::matmul(x, theta));
  auto y = torch::bernoulli(prob, gen);
  return data::Dataset(x, y);
}

template <typename Step>
nlohmann::json time_steps(const InferenceBenchOptions& o, int64_t steps, Step&& step) {
  for (int64_t i = 0; i < o.warmup(); ++i) step();
  std::vector<double> ms;
  for (int64_t r = 0; r < o.repeats(); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < steps; ++i) step();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() / static_cast<double>(steps));
  }
  auto sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  return {{"steps", steps}, {"ms_per_step", ms}, {"min_ms", sorted.front()}, {"median_ms", sorted[sorted.size() / 2]}};
}

}  // namespace

nlohmann::json bench_inference(const InferenceBenchOptions& o) {
  TORCH_CHECK(o.vi_steps() >= 1, "bench: vi_steps = ", o.vi_steps(), " must be >= 1");
  TORCH_CHECK(o.sgld_steps() >= 1, "bench: sgld_steps = ", o.sgld_steps(), " must be >= 1");
  TORCH_CHECK(o.warmup() >= 0, "bench: warmup = ", o.warmup(), " must be >= 0");
  TORCH_CHECK(o.repeats() >= 1, "bench: repeats = ", o.repeats(), " must be >= 1");
  TORCH_CHECK(o.threads() >= 0, "bench: threads = ", o.threads(), " must be >= 0 (0: unchanged)");
  const int threads_before = at::get_num_threads();
  if (o.threads() > 0) at::set_num_threads(static_cast<int>(o.threads()));
  nlohmann::json report{{"threads", at::get_num_threads()}};
  try {
    auto gen = at::detail::createCPUGenerator(o.seed());
    {
      constexpr int64_t p = 20, n = 100, s = 1000;
      auto model = std::make_shared<BenchLogistic>(p);
      auto q = std::make_shared<FullRankGaussianImpl>(GaussianOptions(p));
      VITrainer trainer(
          model, q, logistic_data(n, p, gen),
          VIOptions().num_samples(s).lr(1e-3).seed(o.seed()).steps(o.warmup() + o.repeats() * o.vi_steps()));
      auto timing = time_steps(o, o.vi_steps(), [&] { trainer.step(); });
      timing.update(
          {{"P", p}, {"N", n}, {"S", s}, {"family", "full_rank"}, {"kl", "monte_carlo"}, {"optimizer", "adam"}});
      report["vi"] = timing;
    }
    {
      constexpr int64_t p = 8, n = 1024, b = 64;
      auto model = std::make_shared<BenchLogistic>(p);
      SGMCMCTrainer chain(model, logistic_data(n, p, gen),
                          SGMCMCOptions().sampler(Sampler::kSGLD).lr(1e-4).batch_size(b).seed(o.seed()).bank(
                              SampleBankOptions().burn_in(0).thinning(10).capacity(1000)));
      auto timing = time_steps(o, o.sgld_steps(), [&] { chain.step(); });
      timing.update({{"P", p}, {"N", n}, {"batch_size", b}, {"bank_thinning", 10}});
      report["sgld"] = timing;
    }
  } catch (...) {
    at::set_num_threads(threads_before);
    throw;
  }
  at::set_num_threads(threads_before);
  return report;
}

}  // namespace unlearn::inference
