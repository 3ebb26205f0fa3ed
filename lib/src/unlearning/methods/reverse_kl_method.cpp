// rkl and rkl_closed: reverse-KL unlearning with the adjusted likelihood (reverse_kl.h), by Adam
// and in closed form, every threshold in one batched call.
#include "unlearn/unlearning/methods.h"
#include "variational_method.h"

namespace unlearn {
namespace {
using io::Range;

class ReverseKlUnlearner : public Unlearner {
 public:
  explicit ReverseKlUnlearner(ReverseKlOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "rkl"; }
  bool batches_variants() const override { return detail::threshold_count(options_) > 1; }
  nlohmann::json options() const override { return detail::vbu_options_json(options_); }
  void check(Model&, const PosteriorState& state, const ForgetContext&) const override {
    detail::check_gaussian("rkl", state);
  }

  ForgetResult forget(Model& model, const PosteriorState& state, const data::Dataset& current,
                      const torch::Tensor& erased_ids, ForgetContext& ctx) override {
    auto erased = detail::erased_rows(ctx, current, erased_ids);
    auto o = detail::with_context(options_, ctx, erased, "rkl", "objective");
    return detail::to_forget_result(reverse_kl_unlearn(model, state.gaussian(), erased.batch, o));
  }

 private:
  ReverseKlOptions options_;
};

class ReverseKlClosedFormUnlearner : public Unlearner {
 public:
  explicit ReverseKlClosedFormUnlearner(ReverseKlClosedFormOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "rkl_closed"; }
  bool batches_variants() const override { return detail::threshold_count(options_) > 1; }
  nlohmann::json options() const override {
    auto j = detail::thresholds_json(options_.lambdas(), options_.log_lambdas());
    j.update({{"num_samples", options_.num_samples()}, {"sample_chunk", options_.sample_chunk()},
              {"chunk_size", options_.chunk_size()}, {"jitter", options_.jitter()}});
    return j;
  }
  void check(Model&, const PosteriorState& state, const ForgetContext&) const override {
    detail::check_gaussian("rkl_closed", state);
  }

  ForgetResult forget(Model& model, const PosteriorState& state, const data::Dataset& current,
                      const torch::Tensor& erased_ids, ForgetContext& ctx) override {
    auto erased = detail::erased_rows(ctx, current, erased_ids);
    auto o = options_;
    o.seed(ctx.seed).erased_log_likelihood(erased.sum);
    return detail::to_forget_result(reverse_kl_closed_form(model, state.gaussian(), erased.batch, o));
  }

 private:
  ReverseKlClosedFormOptions options_;
};

ReverseKlClosedFormOptions read_closed_form_options(const io::JsonObjectReader& r) {
  ReverseKlClosedFormOptions o;
  auto [lambdas, log_lambdas] = detail::read_thresholds(r, o.lambdas());
  o.lambdas(lambdas).log_lambdas(log_lambdas);
  o.num_samples(r.get<int64_t>("num_samples", o.num_samples(), Range::count()));
  o.sample_chunk(r.get<int64_t>("sample_chunk", o.sample_chunk(), Range::closed(1, 1e9)));
  o.chunk_size(r.get<int64_t>("chunk_size", o.chunk_size(), Range::closed(1, 1e9)));
  o.jitter(r.get<double>("jitter", o.jitter(), Range::non_negative()));
  return o;
}

}  // namespace

std::unique_ptr<Unlearner> reverse_kl_unlearner(ReverseKlOptions options) {
  return std::make_unique<ReverseKlUnlearner>(std::move(options));
}

std::unique_ptr<Unlearner> reverse_kl_closed_form_unlearner(ReverseKlClosedFormOptions options) {
  return std::make_unique<ReverseKlClosedFormUnlearner>(std::move(options));
}

namespace detail {
void register_reverse_kl_methods() {
  register_builtin_method({"rkl", "reverse KL with the adjusted likelihood, by Adam (Nguyen, Low & Jaillet 2020)",
                           [](const io::JsonObjectReader& r) { return reverse_kl_unlearner(read_vbu_options(r)); }});
  register_builtin_method({"rkl_closed", "reverse KL's closed-form Gaussian optimum from weighted samples of q(θ|D)",
                           [](const io::JsonObjectReader& r) {
                             return reverse_kl_closed_form_unlearner(read_closed_form_options(r));
                           }});
}
}  // namespace detail

}  // namespace unlearn
