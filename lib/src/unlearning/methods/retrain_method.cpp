// retrain: the run's training recipe replayed on the data that remain (training.h) — the
// reference every other method is judged by, and a method in its own right.
#include "method_support.h"
#include "unlearn/unlearning/methods.h"

namespace unlearn {
namespace {
using io::Range;

class RetrainUnlearner : public Unlearner {
 public:
  explicit RetrainUnlearner(RetrainOptions options) : o_(std::move(options)) {}
  std::string name() const override { return "retrain"; }

  nlohmann::json options() const override {
    nlohmann::json j{{"start", to_string(o_.start())}};
    if (o_.seed()) j["seed"] = *o_.seed();
    return j;
  }

  void check(Model&, const PosteriorState& state, const ForgetContext& ctx) const override {
    if (!ctx.training)
      throw io::ConfigError("--method retrain needs the run's training recipe (ForgetContext::training); none was given");
    if (o_.start() == RetrainStart::kOrigin && !state.is_gaussian())
      throw io::ConfigError("retrain start \"origin\" continues a Gaussian posterior; this run holds " +
                            state.describe() + ": use start \"fresh\" or \"auto\"");
  }

  ForgetResult forget(Model& model, const PosteriorState& state, const data::Dataset& current,
                      const torch::Tensor& erased_ids, ForgetContext& ctx) override {
    const auto& recipe = *ctx.training;
    const bool from_origin = state.is_gaussian() && recipe.method() == TrainingMethod::kVI &&
                             o_.start() != RetrainStart::kFresh;
    auto start = TrainStart()
                     .seed(o_.seed())
                     .parallel(ctx.parallel.training)
                     .on_progress(ctx.on_progress)
                     .progress_every(ctx.progress_every)
                     .stage("retrain");
    if (from_origin) start.from(state.gaussian_ptr());
    ForgetResult r;
    r.state = train_posterior(model, recipe, current.erase(erased_ids), start);
    const int64_t steps = recipe.method() == TrainingMethod::kVI     ? recipe.vi().steps()
                          : is_sgmcmc(recipe.method()) ? recipe.sgmcmc().steps()
                                                       : 0;
    r.certificate = {{"kind", "retrain"}, {"training", to_string(recipe.method())}, {"steps", steps},
                     {"started_from", from_origin ? "origin" : "fresh"}};
    return r;
  }

 private:
  RetrainOptions o_;
};

}  // namespace

std::string to_string(RetrainStart start) {
  switch (start) {
    case RetrainStart::kAuto:
      return "auto";
    case RetrainStart::kOrigin:
      return "origin";
    case RetrainStart::kFresh:
      return "fresh";
  }
  TORCH_CHECK(false, "unknown retrain start");
}

RetrainStart retrain_start_from_string(const std::string& name) {
  for (auto s : {RetrainStart::kAuto, RetrainStart::kOrigin, RetrainStart::kFresh})
    if (to_string(s) == name) return s;
  TORCH_CHECK(false, "retrain start \"", name, "\" is unknown: allowed are auto, origin, fresh");
}

std::unique_ptr<Unlearner> retrain_unlearner(RetrainOptions options) {
  return std::make_unique<RetrainUnlearner>(std::move(options));
}

namespace detail {
void register_retrain_method() {
  register_builtin_method({"retrain", "retrain on the data that remain with the run's own training recipe",
                           [](const io::JsonObjectReader& r) {
                             RetrainOptions o;
                             o.start(retrain_start_from_string(r.get_enum("start", "auto", {"auto", "origin", "fresh"})));
                             if (r.has("seed")) o.seed(static_cast<uint64_t>(r.get<int64_t>("seed", 0, Range::non_negative())));
                             return retrain_unlearner(o);
                           }});
}
}  // namespace detail

}  // namespace unlearn
