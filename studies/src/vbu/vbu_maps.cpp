// Points and predictive maps of the vbu study (vbu_runs.h), for scripts/plot.py.
#include <fmt/format.h>

#include "unlearn/io/atomic_file.h"
#include "unlearn/metrics/predictive.h"
#include "unlearn/unlearning/adjusted_likelihood.h"
#include "vbu/vbu_runs.h"

namespace unlearn::studies {
namespace {

void write_points(const VbuConfig& c, const std::filesystem::path& dir) {
  std::string pts = "x1,x2,label,erased\n";
  auto is_erased = torch::isin(c.dataset.ids(), c.erased_ids);
  for (int64_t i = 0; i < c.dataset.size(); ++i)
    pts += fmt::format("{},{},{},{}\n", c.dataset.x()[i][0].item<double>(), c.dataset.x()[i][1].item<double>(),
                       c.dataset.y()[i].item<int64_t>(), is_erased[i].item<bool>() ? 1 : 0);
  io::write_text_atomic(dir / "points.csv", pts);
}

}  // namespace

void write_vbu_maps(const VbuConfig& c, const VbuRuns& runs, torch::Generator& gen, const std::filesystem::path& dir) {
  if (c.dataset.x().size(1) != 2) return;
  write_points(c, dir);
  const int64_t g = 61;
  auto axis = torch::linspace(-1.5, 2.5, g, c.model->theta_options());
  auto grid = torch::stack(torch::meshgrid({axis, axis}, "xy"), -1).reshape({-1, 2});
  auto p1 = [&](const GaussianPosteriorImpl& q) {
    return metrics::predictive_probs(*c.model, q, grid, c.predictive_samples, gen).select(1, 1);
  };
  // In this order, one predictive draw each: the columns of maps.csv and the generator's stream.
  std::vector<std::pair<std::string, torch::Tensor>> maps;
  maps.emplace_back("full", p1(*runs.full));
  maps.emplace_back("retrain", p1(*runs.retrain));
  for (const auto& u : runs.unlearned)
    for (double l : c.map_lambdas)
      if (u.log_lambda == functional::resolve_log_lambdas({l}, {}).front())  // matched by ln λ
        maps.emplace_back(fmt::format("{}_{:g}", u.method, l), p1(*u.posterior));
  std::string m = "x1,x2";
  for (auto& [name, _] : maps) m += "," + name;
  m += "\n";
  for (int64_t i = 0; i < grid.size(0); ++i) {
    m += fmt::format("{:.4f},{:.4f}", grid[i][0].item<double>(), grid[i][1].item<double>());
    for (auto& [_, p] : maps) m += fmt::format(",{:.5f}", p[i].item<double>());
    m += "\n";
  }
  io::write_text_atomic(dir / "maps.csv", m);
}

}  // namespace unlearn::studies
