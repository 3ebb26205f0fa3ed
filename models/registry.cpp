#include "registry.h"

#include <cmath>

#include "bnn/bnn_config.h"
#include "linear_regression/linear_regression.h"
#include "logistic/logistic.h"
#include "sparse_gp/sparse_gp.h"
#include "unlearn/data/csv.h"
#include "unlearn/io/config_error.h"

namespace unlearn::models {
namespace {
using io::Range;

int64_t num_features(const data::Dataset& d) { return d.x().dim() == 2 ? d.x().size(1) : 1; }

std::shared_ptr<Model> make_linear_regression(const io::JsonObjectReader& r, const data::Dataset& d) {
  auto o = LinearRegressionOptions(num_features(d));
  o.noise_std(r.get<double>("noise_std", o.noise_std(), Range::positive()));
  o.prior_std(r.get<double>("prior_std", o.prior_std(), Range::positive()));
  return LinearRegression(o).ptr();
}

std::shared_ptr<Model> make_logistic(const io::JsonObjectReader& r, const data::Dataset& d) {
  auto o = LogisticOptions(num_features(d));
  auto classes_in_data = d.size() > 0 ? d.y().max().item<int64_t>() + 1 : 2;
  o.num_classes(r.get<int64_t>("num_classes", std::max<int64_t>(2, classes_in_data), Range::at_least(2)));
  o.prior_std(r.get<double>("prior_std", o.prior_std(), Range::positive()));
  o.standardize(r.get<bool>("standardize", o.standardize()));
  auto model = Logistic(o);
  if (o.standardize()) model->fit_standardisation(d);
  return model.ptr();
}

std::shared_ptr<Model> make_sparse_gp(const io::JsonObjectReader& r, const data::Dataset& d,
                                      const PathResolver& resolve) {
  auto path = r.require<std::string>("inducing");
  if (resolve) path = resolve(path, r.field("inducing"));
  torch::Tensor z;
  try {
    z = data::read_csv(path).values;
  } catch (const c10::Error& e) {
    throw io::ConfigError(r.field("inducing") + ": " + e.what_without_backtrace());
  }
  if (z.size(1) != num_features(d))
    throw io::ConfigError(r.field("inducing") + " has " + std::to_string(z.size(1)) +
                          " columns, the data " + std::to_string(num_features(d)) + " features");
  auto o = SparseGPOptions(z);
  o.kernel_variance(r.get<double>("kernel_variance", o.kernel_variance(), Range::positive()));
  auto ls = r.get_vector<double>("length_scales", {}, Range::positive());
  auto inv = r.get_vector<double>("inverse_sq_length_scales", {}, Range::positive());
  if (!ls.empty() && !inv.empty())
    throw io::ConfigError(r.path() + ": give length_scales or inverse_sq_length_scales, not both");
  for (double g : inv) ls.push_back(1.0 / std::sqrt(g));
  o.length_scales(ls);
  o.jitter(r.get<double>("jitter", o.jitter(), Range::non_negative()));
  o.whiten(r.get<bool>("whiten", o.whiten()));
  o.likelihood_variance(
      r.get_enum("likelihood_variance", o.likelihood_variance(), {"ignore", "probit", "quadrature"}));
  o.quadrature_points(r.get<int64_t>("quadrature_points", o.quadrature_points(), Range::closed(2, 100)));
  o.learn_kernel(r.get<bool>("learn_kernel", o.learn_kernel()));
  o.learn_inducing(r.get<bool>("learn_inducing", o.learn_inducing()));
  return SparseGP(o).ptr();
}

}  // namespace

std::vector<std::string> model_kinds() { return {"linear_regression", "logistic", "sparse_gp", "bnn_mlp", "bnn_lenet"}; }

std::shared_ptr<Model> make_model(const io::JsonObjectReader& section, const data::Dataset& data,
                                  const PathResolver& resolve) {
  auto kind = section.get_enum("kind", "linear_regression", model_kinds());
  try {
    if (kind == "linear_regression") return make_linear_regression(section, data);
    if (kind == "logistic") return make_logistic(section, data);
    if (kind == "bnn_mlp" || kind == "bnn_lenet") return bnn::make_bnn(kind, section, data);
    return make_sparse_gp(section, data, resolve);
  } catch (const c10::Error& e) {
    throw io::ConfigError(section.path() + ": " + e.what_without_backtrace());
  }
}

}  // namespace unlearn::models
