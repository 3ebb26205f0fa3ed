#include "unlearn/unlearning/training.h"

#include <algorithm>

#include "unlearn/unlearning/exact_conjugate.h"

namespace unlearn {
namespace {

// The trainers own a shared_ptr to the model; the caller owns the model for the call's duration.
std::shared_ptr<Model> borrowed(Model& model) { return std::shared_ptr<Model>(std::shared_ptr<Model>(), &model); }

inference::TrainingCallbacks progress_callbacks(const TrainStart& start, int64_t total) {
  if (!start.on_progress()) return {};
  const int64_t every = start.progress_every() > 0 ? start.progress_every() : std::max<int64_t>(1, total / 20);
  auto fn = start.on_progress();
  auto stage = start.stage();
  return inference::TrainingCallbacks().every(every).on_step([fn, stage, total](int64_t step, double objective) {
    fn(ProgressEvent{stage, step, total, {objective}, "objective"});
    return true;
  });
}

}  // namespace

std::string to_string(TrainingMethod method) {
  switch (method) {
    case TrainingMethod::kExact:
      return "exact";
    case TrainingMethod::kVI:
      return "vi";
    case TrainingMethod::kSGLD:
      return "sgld";
    case TrainingMethod::kSGHMC:
      return "sghmc";
  }
  TORCH_CHECK(false, "unknown training method");
}

TrainingMethod training_method_from_string(const std::string& name) {
  for (auto m : {TrainingMethod::kExact, TrainingMethod::kVI, TrainingMethod::kSGLD, TrainingMethod::kSGHMC})
    if (to_string(m) == name) return m;
  TORCH_CHECK(false, "training method \"", name, "\" is unknown: allowed are exact, vi, sgld, sghmc");
}

void TrainingRecipe::validate() const {
  if (is_sgmcmc(method())) {
    const auto expected = method() == TrainingMethod::kSGLD ? inference::Sampler::kSGLD : inference::Sampler::kSGHMC;
    TORCH_CHECK(sgmcmc().sampler() == expected, "TrainingRecipe: method ", to_string(method()),
                " but the chain's sampler is ", inference::to_string(sgmcmc().sampler()));
    sgmcmc().validate();
  } else {
    TORCH_CHECK(fresh_posterior() != nullptr, "TrainingRecipe: method ", to_string(method()),
                " needs fresh_posterior (the family and starting point of a posterior)");
    if (method() == TrainingMethod::kVI) vi().validate();
  }
}

PosteriorState train_posterior(Model& model, const TrainingRecipe& recipe, const data::Dataset& data,
                               const TrainStart& start) {
  recipe.validate();
  TORCH_CHECK(data.size() >= 1, "train_posterior: no data to train on");
  switch (recipe.method()) {
    case TrainingMethod::kExact: {
      auto [mean, cov] = exact_conjugate_posterior(model, data.batch());
      auto q = recipe.fresh_posterior()();
      q->set_moments(mean, cov);
      return PosteriorState::gaussian(q, /*exact=*/true);
    }
    case TrainingMethod::kVI: {
      auto q = start.from() ? start.from()->copy() : recipe.fresh_posterior()();
      auto options = recipe.vi();
      if (start.seed()) options.seed(*start.seed());
      inference::VITrainer trainer(borrowed(model), q, data, options);
      trainer.set_data_parallel(start.parallel());
      trainer.train(progress_callbacks(start, options.steps()));
      if (recipe.finish()) recipe.finish()(model, *q, data);
      return PosteriorState::gaussian(q);
    }
    case TrainingMethod::kSGLD:
    case TrainingMethod::kSGHMC: {
      auto options = recipe.sgmcmc();
      if (start.seed()) options.seed(*start.seed());
      std::optional<torch::Tensor> init;
      if (recipe.init_theta().defined()) init = recipe.init_theta();
      inference::SGMCMCTrainer trainer(borrowed(model), data, options, init);
      trainer.set_data_parallel(start.parallel());
      trainer.train(progress_callbacks(start, options.steps()));
      TORCH_CHECK(!trainer.bank().empty(), "train_posterior: the chain kept no sample (burn_in ",
                  options.bank().burn_in(), " >= steps ", options.steps(), ")");
      return PosteriorState::chain(inference::chain_state_of(trainer), trainer.bank().samples().clone());
    }
  }
  TORCH_CHECK(false, "train_posterior: unknown training method");
}

}  // namespace unlearn
