#pragma once
// The one forgetting concept (docs/architecture.md, "The Unlearner concept"). Every method —
// exact, EUBO, reverse KL (iterative and closed form), BIF for VI and SG-MCMC, retraining, and any
// method a user registers — is an Unlearner: a posterior state and the ids to erase in, the new
// state, a certificate and a report out. The command, the paper studies and a library user all
// reach them the same way:
//
//   auto method = unlearn::make_unlearner("bif", {{"solver", "cg"}});        // method_registry.h
//   unlearn::ForgetContext ctx;
//   ctx.seed = 7;
//   auto result = unlearn::forget_request(*method, *model, state, train, ids, ctx);  // request.h
//   state = result.state;                                                    // p(θ | D without ids)
//
// A method forgets ONE batch of ids in one go; the request loop (request.h) splits a request into
// sequential batches, checks the ids and keeps the records. Methods never modify the state they
// are given.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "unlearn/data/dataset.h"
#include "unlearn/inference/data_parallel.h"
#include "unlearn/model.h"
#include "unlearn/progress.h"
#include "unlearn/unlearning/data_parallel.h"
#include "unlearn/unlearning/posterior_state.h"
#include "unlearn/unlearning/training.h"

namespace unlearn {

/// Data-parallel hooks of a forgetting call, the same for every method (distributed::
/// forget_parallel builds them on c10d). With them the data set a method sees is the *index* set
/// (every id of the data, on every rank, in the same order: distributed::shard_for_training), so
/// that every rank draws the same minibatches and noise and computes the one-process result.
/// Default-constructed: one process.
struct ForgetParallel {
  /// Trainers, BIF gradients and Hessian-vector products: this rank's rows and the averages.
  inference::DataParallel training;
  /// EUBO and reverse KL: the requested ids -> this rank's rows of them (a stand-in row when it
  /// holds none) and the sum of the erased log-likelihood over every rank.
  std::function<std::pair<data::Batch, ErasedLogLikelihoodFn>(const torch::Tensor& ids)> erased;

  /// True when set up for more than one process.
  explicit operator bool() const { return static_cast<bool>(training); }
};

/// What a forgetting call may use besides the model, the posterior and the data.
struct ForgetContext {
  /// Seeds every random number of a request (noise, minibatches); the request loop draws a
  /// generator from it that its batches share.
  uint64_t seed = 0;
  /// Progress reports (progress.h); null: none.
  ProgressFn on_progress = nullptr;
  /// How often iterative methods report (optimiser steps; 0: about 20 reports a call).
  int64_t progress_every = 0;
  /// Data-parallel hooks; empty: one process.
  ForgetParallel parallel;
  /// How the posterior was trained: what `retrain` (and fine-tuning) replays. Null: such methods
  /// refuse.
  std::shared_ptr<const TrainingRecipe> training;
  /// The request's generator: set by the request loop (forget_request) from `seed`, shared by its
  /// batches. A method that is called directly and finds it undefined seeds one from `seed`.
  torch::Generator generator;

  /// The generator, created from `seed` on first use.
  torch::Generator& rng();
};

/// One of several posteriors a batched call produced (EUBO and reverse KL train every threshold λ
/// of their options at once): a label, the state and its own report.
struct ForgetVariant {
  std::string label;  ///< e.g. "lambda=1e-05", "ln_lambda=-3532"
  /// This variant's posterior.
  PosteriorState state;
  /// The variant's own report (method-specific JSON).
  nlohmann::json report = nlohmann::json::object();
};

/// What one forgetting call returns.
struct ForgetResult {
  /// The posterior of the data without the erased ids (the first variant's, when there are several).
  PosteriorState state;
  /// How far the method trusts its own result: solver residuals, step norms, effective sample
  /// sizes... (JSON, method-specific; the audit record's "certificate").
  nlohmann::json certificate = nlohmann::json::object();
  /// Anything else worth keeping: objective traces, fractions inside the threshold, iterations.
  nlohmann::json report = nlohmann::json::object();
  /// Batched calls: every posterior they produced (empty otherwise).
  std::vector<ForgetVariant> variants;
  /// Wall time of the call (set by the request loop).
  double seconds = 0.0;
};

/// What one batch of a request did (request.h keeps one per batch).
struct BatchRecord {
  int64_t index = 0;           ///< 0, 1, ... in order
  torch::Tensor ids;           ///< the batch's ids [k] int64
  int64_t n_before = 0;        ///< rows the batch was forgotten from (they still held it)
  double seconds = 0.0;        ///< wall time of the method's call
  nlohmann::json certificate;  ///< the method's certificate for this batch
  nlohmann::json report;       ///< the method's report for this batch

  /// {"index", "ids", "n_before", "n_after", "seconds", "certificate", "report"}.
  nlohmann::json to_json() const;
};

/// A forgetting method: forgets one batch of ids from a PosteriorState and returns the new
/// state with a certificate and a report. Built by make_unlearner (method_registry.h); run
/// through forget_request (request.h), which splits requests into batches.
class Unlearner {
 public:
  virtual ~Unlearner() = default;

  /// The name the method is registered under ("bif").
  virtual std::string name() const = 0;
  /// The options as applied, defaults included (the audit record's "options").
  virtual nlohmann::json options() const = 0;
  /// Refuses, before any work, a model or posterior this method cannot forget from: an
  /// io::ConfigError that names the method, what it needs and what it was given.
  virtual void check(Model& model, const PosteriorState& state, const ForgetContext& ctx) const {}
  /// Forgets the rows `erased_ids` of `current` (which still holds them) from `state`.
  virtual ForgetResult forget(Model& model, const PosteriorState& state, const data::Dataset& current,
                              const torch::Tensor& erased_ids, ForgetContext& ctx) = 0;
  /// A request's certificate from its batches, in order (default: the one batch's certificate, or
  /// {"batches": [each batch's certificate]}).
  virtual nlohmann::json summarise(const std::vector<BatchRecord>& batches) const;
  /// Whether one call may produce several variants (batched thresholds): the request loop then
  /// insists on a single batch.
  virtual bool batches_variants() const { return false; }
};

}  // namespace unlearn
