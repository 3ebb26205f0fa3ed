// A plugin for the command's tests (tests/apps/test_plugins.cpp), built against unlearn::plugin_api
// like a user's: it registers a toy method and three model kinds, one that works and two that break
// the model contract. UNLEARN_TEST_PLUGIN_MODE picks a failure of the registration itself:
// "throw" (the plugin throws), "clash" (a kind named like a built-in one), "version" (a wrong API
// version).
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>

#include <unlearn/plugin.h>

namespace {

// y_i ~ N(x_i·θ, 1), θ ~ N(0, I): a working model (VI can train it), or one whose
// log-likelihood has the wrong shape or is NaN.
class ToyRegression : public unlearn::Model {
 public:
  enum class Bug { kNone, kShape, kNaN };
  ToyRegression(int64_t d, Bug bug) : d_(d), bug_(bug) {}
  int64_t num_params() const override { return d_; }
  torch::Tensor log_likelihood(const torch::Tensor& theta, const unlearn::data::Batch& b) override {
    auto r = b.y.to(theta.dtype()).unsqueeze(0) - torch::matmul(theta, b.x.to(theta.dtype()).t());  // [S, B]
    auto ll = -0.5 * r.square() - 0.5 * std::log(2 * M_PI);
    if (bug_ == Bug::kShape) return ll.sum(-1);  // [S]: summed over the data, against the contract
    if (bug_ == Bug::kNaN) return ll * std::numeric_limits<double>::quiet_NaN();
    return ll;
  }
  torch::Tensor log_prior(const torch::Tensor& theta) override {
    return (-0.5 * theta.square() - 0.5 * std::log(2 * M_PI)).sum(-1);
  }
  torch::Tensor init_theta() override { return torch::zeros({d_}, torch::kFloat64); }
  std::string architecture() const override { return "test_plugin.toy_regression(d=" + std::to_string(d_) + ")"; }

 private:
  int64_t d_;
  Bug bug_;
};

unlearn::ModelFactory factory(ToyRegression::Bug bug) {
  return [bug](const unlearn::io::JsonObjectReader&, const unlearn::data::Dataset& d, const unlearn::ModelContext&) {
    return std::make_shared<ToyRegression>(d.x().size(1), bug);
  };
}

// The toy method: "forgets" by keeping the posterior as it is, and says so in its certificate.
// It proves that a method added in one file with one registration line reaches `forget --method`.
class KeepUnlearner : public unlearn::Unlearner {
 public:
  explicit KeepUnlearner(double tag) : tag_(tag) {}
  std::string name() const override { return "toy_keep"; }
  nlohmann::json options() const override { return {{"tag", tag_}}; }
  unlearn::ForgetResult forget(unlearn::Model&, const unlearn::PosteriorState& state, const unlearn::data::Dataset& current,
                               const torch::Tensor& erased_ids, unlearn::ForgetContext&) override {
    unlearn::ForgetResult r;
    r.state = state;
    r.certificate = {{"toy", true}, {"tag", tag_}, {"erased", erased_ids.numel()}, {"n", current.size()}};
    return r;
  }

 private:
  double tag_;
};

}  // namespace

extern "C" UNLEARN_PLUGIN_EXPORT int unlearn_register_plugin(int) {
  const char* mode_env = std::getenv("UNLEARN_TEST_PLUGIN_MODE");
  const std::string mode = mode_env ? mode_env : "";
  if (mode == "throw") throw std::runtime_error("the test plugin was asked to throw");
  if (mode == "version") return UNLEARN_PLUGIN_API_VERSION + 98;
  if (mode == "clash") unlearn::register_model_kind({"logistic", "a clash", factory(ToyRegression::Bug::kNone)});
  unlearn::register_model_kind({"toy_regression", "linear regression, unit noise", factory(ToyRegression::Bug::kNone)});
  unlearn::register_model_kind({"toy_shape_bug", "log_likelihood summed over the data", factory(ToyRegression::Bug::kShape)});
  unlearn::register_model_kind({"toy_nan_bug", "log_likelihood is NaN", factory(ToyRegression::Bug::kNaN)});
  unlearn::register_method({"toy_keep", "keeps the posterior (a test of the method registry)",
                            [](const unlearn::io::JsonObjectReader& r) {
                              return std::make_unique<KeepUnlearner>(r.get<double>("tag", 1.0));
                            }});
  return UNLEARN_PLUGIN_API_VERSION;
}
