#include "gmm_bif/gmm_bif_setup.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "config/data_section.h"
#include "unlearn/data/csv.h"
#include "unlearn/data/split.h"
#include "unlearn/io/config_error.h"

namespace unlearn::studies {

void GmmPlotRows::add(const std::string& kind, const std::string& method, const std::string& solver,
                      const torch::Tensor& xy) {
  auto t = xy.detach().to(torch::kFloat64).cpu().reshape({-1, 2}).contiguous();
  auto a = t.accessor<double, 2>();
  for (int64_t i = 0; i < t.size(0); ++i)
    text += fmt::format("{},{},{},{:.6g},{:.6g}\n", kind, method, solver, a[i][0], a[i][1]);
}

torch::Tensor GmmSetup::centres(const torch::Tensor& theta) const {
  return model->means(theta.detach()).reshape({model->options().num_components(), ds.x().size(1)});
}

GmmSetup gmm_setup(const GmmBifConfig& c, const std::filesystem::path& config_dir) {
  GmmSetup s;
  const auto data_path = models::resolve_path(c.data_path, config_dir, "data.path");
  s.ds = data::load_csv_dataset(data_path, c.features, c.label, c.id);
  const int64_t dim = s.ds.x().size(1);
  s.model = models::Gmm(models::GmmOptions(c.components, dim).prior_std(c.prior_std));
  std::vector<torch::Tensor> parts;
  for (const auto& rule : c.rules) {
    int64_t column = -1;
    for (size_t i = 0; i < c.features.size(); ++i)
      if (c.features[i] == rule.feature) column = static_cast<int64_t>(i);
    if (column < 0) throw io::ConfigError("erase.rules: feature \"" + rule.feature + "\" is not one of data.features");
    parts.push_back(data::ids_top_k_by_feature(s.ds, column, rule.count, rule.largest, rule.label).erased);
  }
  auto erased = torch::cat(parts);
  auto order_gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.seed));
  s.erased = erased.index_select(0, torch::randperm(erased.size(0), order_gen, torch::TensorOptions().dtype(torch::kLong)));
  s.remaining = s.ds.erase(s.erased);
  s.requests = (s.erased.size(0) + c.request_size - 1) / c.request_size;
  if (c.init == "class_means") {
    s.init = torch::zeros({c.components, dim}, torch::kFloat64);
    for (int64_t k = 0; k < c.components; ++k) s.init[k] = s.ds.x().index({s.ds.y() == k}).mean(0);
    s.init = s.init.reshape({-1});
  } else {
    s.init = s.model->init_theta();
  }
  s.plot.add("data", "", "", s.remaining.x());
  s.plot.add("removed", "", "", s.ds.subset(s.erased).x());
  return s;
}

}  // namespace unlearn::studies
