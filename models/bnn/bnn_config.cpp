#include "bnn/bnn_config.h"

#include "bnn/lenet.h"
#include "bnn/mlp.h"
#include "unlearn/io/config_error.h"

namespace unlearn::models::bnn {
namespace {
using io::Range;

BnnCommonOptions read_common(const io::JsonObjectReader& r) {
  BnnCommonOptions o;
  o.prior_std(r.get<double>("prior_std", o.prior_std(), Range::positive()));
  o.activation(r.get_enum("activation", o.activation(), {"relu", "tanh"}));
  o.dtype(r.get_choice<torch::Dtype>("dtype", o.dtype(), {{"float32", torch::kFloat32}, {"float64", torch::kFloat64}}));
  o.init_seed(static_cast<uint64_t>(r.get<int64_t>("init_seed", 0, Range::non_negative())));
  return o;
}

}  // namespace

std::shared_ptr<Model> make_bnn(const std::string& kind, const io::JsonObjectReader& r, const data::Dataset& d) {
  const int64_t classes_in_data = d.size() > 0 ? d.y().max().item<int64_t>() + 1 : 10;
  const int64_t classes = r.get<int64_t>("classes", std::max<int64_t>(2, classes_in_data), Range::count(2));
  if (kind == "bnn_lenet") {
    return BayesianLeNet(BayesianLeNetOptions().classes(classes).common(read_common(r))).ptr();
  }
  TORCH_CHECK(kind == "bnn_mlp", "make_bnn: unknown kind \"", kind, "\"");
  const int64_t input = d.size() > 0 ? d.x().numel() / d.size() : 0;
  if (input < 1) throw io::ConfigError(r.path() + ": bnn_mlp needs a non-empty data set to size its input");
  auto hidden = r.get_vector<int64_t>("hidden", {512, 512}, Range::count());
  return BayesianMlp(BayesianMlpOptions(input, classes).hidden(hidden).common(read_common(r))).ptr();
}

}  // namespace unlearn::models::bnn
