// `unlearn bench`: the performance figures the issues ask for, measured in one run so that
// ratios are meaningful. Absolute numbers move with machine load; compare within one run.
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "commands.h"
#include "unlearn/bench/inference_bench.h"
#include "unlearn/posterior/gaussian.h"
#include "unlearn/bench/unlearning_bench.h"

namespace unlearn::app {
namespace {

/// Median wall time of `fn` in microseconds over `reps` calls, after `warmup` calls.
double median_us(const std::function<void()>& fn, int reps = 50, int warmup = 5) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
  return t[reps / 2];
}

/// The BLAS libraries this process actually loaded (Debian's alternatives decide which).
std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    auto pos = line.find('/');
    if (pos == std::string::npos) continue;
    auto path = line.substr(pos);
    bool blas = path.find("libblas.so") != std::string::npos ||
                path.find("libopenblas") != std::string::npos;
    if (blas && found.find(path) == std::string::npos) found += (found.empty() ? "" : ", ") + path;
  }
  return found.empty() ? "unknown" : found;
}

nlohmann::json bench_linear_algebra() {
  auto gen = at::detail::createCPUGenerator(0);
  auto a = torch::randn({1000, 20}, gen, torch::kFloat64);
  auto b = torch::randn({20, 100}, gen, torch::kFloat64);
  auto f = torch::randn({100000}, gen, torch::kFloat64);
  nlohmann::json out;
  out["mm_1000x20x100_us"] = median_us([&] { auto c = torch::mm(a, b); });
  out["elementwise_100k_us"] = median_us([&] { auto c = f * 2.0 - f; });

  // One moons-shaped ELBO step: S = 1000 samples of a full-rank q over P = 20, a linear-logit
  // likelihood on N = 100 points, Adam. The shape of the VBU paper's experiment.
  auto q = FullRankGaussian(GaussianOptions(20));
  auto x = torch::randn({100, 20}, gen, torch::kFloat64);
  auto y = (torch::rand({100}, gen, torch::kFloat64) > 0.5).to(torch::kFloat64);
  torch::optim::Adam adam(q->parameters(), torch::optim::AdamOptions(1e-3));
  out["elbo_step_moons_shape_us"] = median_us([&] {
    adam.zero_grad();
    auto theta = q->rsample(1000, gen);
    auto logits = torch::matmul(theta, x.t());
    auto ll = (y * logits - torch::nn::functional::softplus(logits)).sum(-1);
    auto prior = -0.5 * theta.square().sum(-1);
    auto loss = -(ll + prior - q->log_prob(theta)).mean();
    loss.backward();
    adam.step();
  }, 30, 3);
  return out;
}

void run_bench(bool as_json) {
  nlohmann::json report;
  report["blas"] = loaded_blas();
  report["torch_threads"] = at::get_num_threads();
  report["linear_algebra"] = bench_linear_algebra();
  report["inference"] = inference::bench_inference();
  report["unlearning"] = bench_unlearning();
  if (as_json) {
    std::cout << report.dump(2) << std::endl;
    return;
  }
  fmt::print("BLAS: {}\ntorch threads: {}\n", report["blas"].get<std::string>(),
             report["torch_threads"].get<int>());
  // Every number in the report, flattened to "group.name value" lines (lists are per-repeat
  // timings and are summarised by their min/median siblings).
  std::function<void(const std::string&, const nlohmann::json&)> print = [&](const std::string& prefix,
                                                                              const nlohmann::json& j) {
    for (auto& [name, v] : j.items()) {
      if (v.is_object()) print(prefix + name + ".", v);
      else if (v.is_number_float()) fmt::print("  {:<48} {:>12.4g}\n", prefix + name, v.get<double>());
      else if (v.is_number() || v.is_string()) fmt::print("  {:<48} {:>12}\n", prefix + name, v.dump());
    }
  };
  for (const char* group : {"linear_algebra", "inference", "unlearning"}) {
    fmt::print("[{}]\n", group);
    print("", report[group]);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure the performance figures (Release build)");
  auto as_json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *as_json, "machine-readable output on stdout");
  cmd->callback([as_json] { run_bench(*as_json); });
}

}  // namespace unlearn::app
