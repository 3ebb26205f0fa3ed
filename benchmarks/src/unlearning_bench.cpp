#include "unlearn/bench/unlearning_bench.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "unlearn/model.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/unlearning/eubo.h"
#include "unlearn/unlearning/reverse_kl.h"

namespace unlearn {
namespace {

constexpr double kLog2Pi = 1.8378770664093454836;  // log 2π

// Bernoulli-logit likelihood on θ·x, labels in {0, 1}:
// log p(y | x, θ) = log σ(s · θᵀx) with s = 2y − 1, i.e. two ops per call (a product with the
// sign-folded inputs and log_sigmoid), both vectorised.
class BenchLogistic : public Model {
 public:
  explicit BenchLogistic(int64_t dim) : dim_(dim) {
    anchor_ = register_buffer("anchor", torch::zeros({0}, torch::kFloat64));
  }
  int64_t num_params() const override { return dim_; }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const data::Batch& batch) override {
    auto sign = 2.0 * batch.y.to(theta.scalar_type()) - 1.0;                   // [B]
    auto signed_x = batch.x.to(theta.scalar_type()) * sign.unsqueeze(-1);      // [B, P]
    return torch::log_sigmoid(torch::matmul(theta, signed_x.t()));             // [S, B]
  }
  torch::Tensor log_prior(const torch::Tensor& theta) override {
    return -0.5 * theta.square().sum(-1) - 0.5 * static_cast<double>(dim_) * kLog2Pi;
  }
  torch::Tensor init_theta() override { return torch::zeros({dim_}, torch::kFloat64); }
  std::string architecture() const override { return "bench_logistic"; }

 private:
  int64_t dim_;
  torch::Tensor anchor_;
};

// Process CPU time in seconds (all threads): on a machine shared with other work it is a steadier
// measure of the work done than the wall clock.
double process_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace

nlohmann::json bench_unlearning(const UnlearningBenchOptions& options) {
  TORCH_CHECK(options.steps() >= 1, "bench_unlearning: steps = ", options.steps(), " must be >= 1");
  TORCH_CHECK(options.warmup() >= 1, "bench_unlearning: warmup = ", options.warmup(),
              " must be >= 1");
  TORCH_CHECK(options.repeats() >= 1, "bench_unlearning: repeats = ", options.repeats(),
              " must be >= 1");
  constexpr int64_t kDim = 20, kErased = 20, kSamples = 1000;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed());
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  BenchLogistic model(kDim);

  // D_e: x ~ N(0, I/P), y ~ Bernoulli(σ(x·θ*)); q(θ|D) a correlated full-rank Gaussian.
  auto x = torch::randn({kErased, kDim}, gen, opts) / std::sqrt(static_cast<double>(kDim));
  auto theta_star = torch::randn({kDim}, gen, opts);
  auto y = torch::bernoulli(torch::sigmoid(torch::matmul(x, theta_star)), gen);
  data::Batch erased{x, y, torch::arange(kErased, torch::kInt64)};
  auto a = torch::randn({kDim, kDim}, gen, opts) / std::sqrt(static_cast<double>(kDim));
  auto cov = 0.2 * torch::matmul(a, a.t()) + 0.05 * torch::eye(kDim, opts);
  auto q_full = FullRankGaussianImpl::from_moments(0.5 * theta_star, cov);

  const std::vector<double> grid{0.5, 0.1, 1e-3, 1e-5, 1e-9, 0.0};
  nlohmann::json results = nlohmann::json::array();
  for (const std::string method : {"eubo", "rkl"}) {
    for (int64_t runs : {1, 6}) {
      std::vector<double> lambdas(grid.end() - runs, grid.end());  // R = 1: λ = 0
      auto run = [&](int64_t steps) {
        if (method == "eubo") {
          eubo_unlearn(model, *q_full, erased,
                       EuboOptions().lambdas(lambdas).num_samples(kSamples).max_steps(steps)
                           .report_every(steps).seed(options.seed()));
        } else {
          reverse_kl_unlearn(model, *q_full, erased,
                             ReverseKlOptions().lambdas(lambdas).num_samples(kSamples)
                                 .max_steps(steps).report_every(steps).seed(options.seed()));
        }
      };
      run(options.warmup());
      // The best of `repeats` timings: other work on the machine only ever adds time.
      double wall = 1e300, cpu = 1e300;
      for (int64_t rep = 0; rep < options.repeats(); ++rep) {
        const auto wall0 = std::chrono::steady_clock::now();
        const double cpu0 = process_cpu_seconds();
        run(options.steps());
        cpu = std::min(cpu, process_cpu_seconds() - cpu0);
        wall = std::min(wall, std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count());
      }
      const double steps = static_cast<double>(options.steps());
      results.push_back({{"method", method},
                         {"runs", runs},
                         {"ms_per_step", 1e3 * wall / steps},
                         {"ms_per_run_step", 1e3 * wall / steps / static_cast<double>(runs)},
                         {"cpu_ms_per_step", 1e3 * cpu / steps}});
    }
  }
  auto closed = reverse_kl_closed_form(model, *q_full, erased,
                                       ReverseKlClosedFormOptions().lambdas(grid)
                                           .num_samples(options.closed_form_samples())
                                           .seed(options.seed()));
  results.push_back({{"method", "rkl_closed"},
                     {"runs", static_cast<int64_t>(grid.size())},
                     {"num_samples", options.closed_form_samples()},
                     {"ms", 1e3 * closed.seconds}});

  return {{"config",
           {{"dim", kDim},
            {"num_erased", kErased},
            {"num_samples", kSamples},
            {"family", "full_rank"},
            {"dtype", "float64"},
            {"threads", at::get_num_threads()},
            {"steps", options.steps()},
            {"repeats", options.repeats()}}},
          {"results", results}};
}

}  // namespace unlearn
