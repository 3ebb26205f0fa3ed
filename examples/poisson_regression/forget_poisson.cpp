// The same as run.sh, through the C++ API alone: train a Gaussian posterior by VI, forget 30
// points with BIF and with EUBO, retrain on what remains, and compare each with the retrained one.
// Exit code 1 when BIF does not move the posterior mean towards the retrained one.
#include <cstdio>
#include <string>

#include <unlearn/data/csv.h>
#include <unlearn/unlearning/method_registry.h>
#include <unlearn/unlearning/request.h>
#include <unlearn/unlearning/training.h>

#include "poisson_regression.h"

int main(int argc, char** argv) {
  const std::string csv = argc > 1 ? argv[1] : "data/poisson_300.csv";
  auto data = unlearn::data::load_csv_dataset(csv, {"x1", "x2"}, "count", "id", torch::kFloat64, torch::kFloat64);
  poisson::PoissonRegression model(2, 1.0);

  // How the posterior is trained; `retrain` replays the same recipe on the data that remain.
  auto recipe = std::make_shared<unlearn::TrainingRecipe>();
  recipe->method(unlearn::TrainingMethod::kVI)
      .vi(unlearn::inference::VIOptions().steps(3000).num_samples(256).lr(0.02).seed(1))
      .fresh_posterior([] { return std::make_shared<unlearn::FullRankGaussianImpl>(unlearn::GaussianOptions(3)); });
  auto state = unlearn::train_posterior(model, *recipe, data);

  auto erased = torch::arange(0, 30);  // the ids to forget
  unlearn::ForgetContext ctx;
  ctx.seed = 7;
  ctx.training = recipe;
  auto target = unlearn::forget_request(*unlearn::make_unlearner("retrain"), model, state, data, erased, ctx);
  // How far a posterior's mean is from the retrained one's (the retrained VI posterior carries
  // its own Monte Carlo noise, which dominates a KL between such small posteriors).
  auto distance = [&](const unlearn::PosteriorState& s) { return (s.mean() - target.state.mean()).norm().item<double>(); };

  std::printf("%-8s %14s %9s\n", "method", "|mean - mean_r|", "seconds");
  std::printf("%-8s %14.5f %9s\n", "none", distance(state), "-");
  bool ok = true;
  for (const std::string name : {"bif", "eubo"}) {
    auto options = name == "eubo" ? nlohmann::json{{"lambdas", {1e-5}}, {"steps", 2000}} : nlohmann::json::object();
    auto method = unlearn::make_unlearner(name, options);
    auto r = unlearn::forget_request(*method, model, state, data, erased, ctx);
    std::printf("%-8s %14.5f %9.3f\n", name.c_str(), distance(r.state), r.seconds);
    // BIF must move towards the target; EUBO's result is reported as it is (README: on this model
    // it does not beat doing nothing at these settings).
    if (name == "bif") ok = ok && distance(r.state) < distance(state);
    ok = ok && r.state.is_finite();
  }
  std::printf("%-8s %14s %9.3f\n", "retrain", "0 (target)", target.seconds);
  return ok ? 0 : 1;
}
