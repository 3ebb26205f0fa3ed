#include "registry.h"

#include <cmath>

#include <mutex>

#include "bnn/bnn_config.h"
#include "gmm/gmm.h"
#include "linear_regression/linear_regression.h"
#include "logistic/logistic.h"
#include "sparse_gp/sparse_gp.h"
#include "unlearn/data/csv.h"
#include "unlearn/io/config_error.h"

namespace unlearn::models {
namespace {
using io::Range;

int64_t num_features(const data::Dataset& d) { return d.x().dim() == 2 ? d.x().size(1) : 1; }

std::shared_ptr<Model> make_linear_regression(const io::JsonObjectReader& r, const data::Dataset& d,
                                              const ModelContext&) {
  auto o = LinearRegressionOptions(num_features(d));
  o.noise_std(r.get<double>("noise_std", o.noise_std(), Range::positive()));
  o.prior_std(r.get<double>("prior_std", o.prior_std(), Range::positive()));
  return LinearRegression(o).ptr();
}

std::shared_ptr<Model> make_logistic(const io::JsonObjectReader& r, const data::Dataset& d, const ModelContext&) {
  auto o = LogisticOptions(num_features(d));
  auto classes_in_data = d.size() > 0 ? d.y().max().item<int64_t>() + 1 : 2;
  o.num_classes(r.get<int64_t>("num_classes", std::max<int64_t>(2, classes_in_data), Range::count(2)));
  o.prior_std(r.get<double>("prior_std", o.prior_std(), Range::positive()));
  o.standardize(r.get<bool>("standardize", o.standardize()));
  auto model = Logistic(o);
  if (o.standardize()) model->fit_standardisation(d);
  return model.ptr();
}

std::shared_ptr<Model> make_sparse_gp(const io::JsonObjectReader& r, const data::Dataset& d,
                                      const ModelContext& ctx) {
  auto path = r.require<std::string>("inducing");
  if (ctx.resolve_path) path = ctx.resolve_path(path, r.field("inducing"));
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

std::shared_ptr<Model> make_gmm(const io::JsonObjectReader& r, const data::Dataset& d, const ModelContext&) {
  auto o = GmmOptions(r.get<int64_t>("components", 4, Range::closed(1, 64)), num_features(d));
  o.prior_std(r.get<double>("prior_std", o.prior_std(), Range::positive()));
  return Gmm(o).ptr();
}

std::shared_ptr<Model> make_bnn_kind(const std::string& kind, const io::JsonObjectReader& r, const data::Dataset& d) {
  return bnn::make_bnn(kind, r, d);
}

}  // namespace

std::vector<std::string> builtin_model_kinds() {
  return {"bnn_lenet", "bnn_mlp", "gmm", "linear_regression", "logistic", "sparse_gp"};
}

void register_builtin_model_kinds() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_model_kind({"linear_regression", "Bayesian linear regression (conjugate: exact posteriors)", make_linear_regression});
    register_model_kind({"logistic", "Bayesian multinomial logistic regression", make_logistic});
    register_model_kind({"sparse_gp", "sparse GP classifier (SE-ARD kernel, inducing inputs)", make_sparse_gp});
    register_model_kind({"gmm", "Gaussian mixture, Bayesian over the means (unit covariances)", make_gmm});
    register_model_kind({"bnn_mlp", "Bayesian MLP classifier",
                         [](const io::JsonObjectReader& r, const data::Dataset& d, const ModelContext&) {
                           return make_bnn_kind("bnn_mlp", r, d);
                         }});
    register_model_kind({"bnn_lenet", "Bayesian LeNet-5 classifier (32×32 images)",
                         [](const io::JsonObjectReader& r, const data::Dataset& d, const ModelContext&) {
                           return make_bnn_kind("bnn_lenet", r, d);
                         }});
  });
}

std::shared_ptr<Model> make_model(const io::JsonObjectReader& section, const data::Dataset& data,
                                  const ModelContext& context) {
  register_builtin_model_kinds();
  return unlearn::make_model(section, data, context);
}

}  // namespace unlearn::models
