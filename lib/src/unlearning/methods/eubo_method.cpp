// eubo: EUBO unlearning with the adjusted likelihood (eubo.h), every threshold in one batched call.
#include "unlearn/unlearning/methods.h"
#include "variational_method.h"

namespace unlearn {
namespace {

class EuboUnlearner : public Unlearner {
 public:
  explicit EuboUnlearner(EuboOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "eubo"; }
  bool batches_variants() const override { return detail::threshold_count(options_) > 1; }

  nlohmann::json options() const override { return detail::vbu_options_json(options_); }

  void check(Model&, const PosteriorState& state, const ForgetContext&) const override {
    detail::check_gaussian("eubo", state);
  }

  ForgetResult forget(Model& model, const PosteriorState& state, const data::Dataset& current,
                      const torch::Tensor& erased_ids, ForgetContext& ctx) override {
    auto erased = detail::erased_rows(ctx, current, erased_ids);
    auto o = detail::with_context(options_, ctx, erased, "eubo", "EUBO");
    return detail::to_forget_result(eubo_unlearn(model, state.gaussian(), erased.batch, o));
  }

 private:
  EuboOptions options_;
};

}  // namespace

std::unique_ptr<Unlearner> eubo_unlearner(EuboOptions options) {
  return std::make_unique<EuboUnlearner>(std::move(options));
}

namespace detail {
void register_eubo_method() {
  register_builtin_method({"eubo", "EUBO with the adjusted likelihood (Nguyen, Low & Jaillet 2020), Gaussian posteriors",
                           [](const io::JsonObjectReader& r) { return eubo_unlearner(read_vbu_options(r)); }});
}
}  // namespace detail

}  // namespace unlearn
