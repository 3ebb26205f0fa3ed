// exact: p(θ|D_r) ∝ p(θ|D) / p(D_e|θ) for conjugate Gaussian models (exact_conjugate.h).
#include "method_support.h"
#include "unlearn/unlearning/exact_conjugate.h"
#include "unlearn/unlearning/methods.h"

namespace unlearn {
namespace {

class ExactUnlearner : public Unlearner {
 public:
  std::string name() const override { return "exact"; }
  nlohmann::json options() const override { return nlohmann::json::object(); }

  void check(Model& model, const PosteriorState& state, const ForgetContext& ctx) const override {
    if (ctx.parallel) throw io::ConfigError("--method exact runs in one process (its update is a few P×P sums)");
    const bool conjugate = dynamic_cast<ConjugateGaussianLikelihood*>(&model) && model.gaussian_prior();
    if (!conjugate)
      detail::refuse("exact", "a conjugate Gaussian model (linear_regression)",
                     "model " + model.architecture(), "eubo, rkl, rkl_closed, bif or retrain");
    // Subtracting the erased points' natural parameters is exact only from the exact posterior;
    // from an approximate one it returns garbage (or a matrix that is not positive definite).
    if (!state.is_gaussian() || !state.exact())
      detail::refuse("exact", "the exact posterior (train.method \"exact\", or an exact unlearning of one)",
                     state.describe(), "eubo, rkl, rkl_closed, bif or retrain");
  }

  ForgetResult forget(Model& model, const PosteriorState& state, const data::Dataset& current,
                      const torch::Tensor& erased_ids, ForgetContext&) override {
    ForgetResult r;
    r.state = PosteriorState::gaussian(exact_unlearn(model, state.gaussian(), current.subset(erased_ids).batch()),
                                       /*exact=*/true);
    r.certificate = {{"kind", "exact"}};
    return r;
  }
};

}  // namespace

std::unique_ptr<Unlearner> exact_unlearner() { return std::make_unique<ExactUnlearner>(); }

namespace detail {
void register_exact_method() {
  register_builtin_method({"exact", "exact Bayesian unlearning of a conjugate Gaussian model's exact posterior",
                           [](const io::JsonObjectReader&) { return exact_unlearner(); }});
}
}  // namespace detail

}  // namespace unlearn
