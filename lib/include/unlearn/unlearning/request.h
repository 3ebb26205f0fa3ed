#pragma once
// The one request loop (docs/architecture.md, "The request loop"): an erase request — a list of ids
// — is checked, split into sequential batches of `batch_size` ids (in the order given), and each
// batch is forgotten by the method on the data that still holds it; n shrinks after every batch.
// Every method, the `unlearn forget` command and the paper studies go through it.
//
//   unlearn::check_erase_request(ids, gen.trained_ids, gen.erased_ids);      // names bad ids
//   auto r = unlearn::forget_request(*method, *model, state, current, ids, ctx,
//                                    unlearn::RequestOptions().batch_size(64));
//   r.state;       // the posterior of current without ids
//   r.remaining;   // current without ids
//   r.record();    // {"method", "options", "ids", "seed", "seconds", "certificate", "batches": [...]}
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "unlearn/data/dataset.h"
#include "unlearn/unlearning/unlearner.h"

namespace unlearn {

/// How forget_request runs a request: the size of its sequential batches, and whether a
/// non-finite posterior is an error.
struct RequestOptions {
  /// Ids per sequential batch (>= 0; 0: the whole request in one batch).
  TORCH_ARG(int64_t, batch_size) = 0;
  /// A posterior that stops being finite is an error (the default: a broken result must never
  /// become the next generation). True lets a study record a diverged method and go on.
  TORCH_ARG(bool, allow_non_finite) = false;
};

/// What forget_request returns: the posterior and data after the whole request, one BatchRecord
/// per batch, variants of a batched call, timing and the request's certificate.
struct RequestResult {
  /// Unlearner::name() of the method that ran.
  std::string method;
  /// Unlearner::options() as applied (the audit record's "options").
  nlohmann::json options;
  /// ForgetContext::seed of the request.
  uint64_t seed = 0;
  torch::Tensor ids;               ///< the whole request, in order
  PosteriorState state;            ///< the posterior after the last batch
  data::Dataset remaining;         ///< the data without the request's ids
  /// One record per sequential batch, in order.
  std::vector<BatchRecord> batches;
  std::vector<ForgetVariant> variants;  ///< a batched call's posteriors (one-batch requests)
  double seconds = 0.0;            ///< wall time of the whole request
  nlohmann::json certificate;      ///< Unlearner::summarise of the batches' certificates

  /// The audit record of the request: {"method", "options", "seed", "ids", "seconds",
  /// "certificate", "batches": [BatchRecord::to_json...] (reports omitted when `with_reports` is
  /// false)}.
  nlohmann::json record(bool with_reports = true) const;
};

/// Refuses a request the data cannot serve, naming the ids: empty, duplicates, ids erased before
/// (in `erased_ids`), ids never trained on, or all of `trained_ids` (nothing would remain). An
/// io::ConfigError; nothing has happened yet when it is thrown.
void check_erase_request(const torch::Tensor& ids, const torch::Tensor& trained_ids,
                         const torch::Tensor& erased_ids = {});

/// Called after each batch with its record and the state after it (a study's log, a progress line).
using BatchCallback = std::function<void(const BatchRecord& batch, const PosteriorState& after)>;

/// Forgets `ids` (rows of `current`, in batches, in order) from `state` with `method`: checks the
/// request against current's ids and the method against the model and the state
/// (Unlearner::check), sets ctx.generator from ctx.seed when undefined, then runs the batches.
/// `state` is unchanged. A non-finite posterior after any batch is an error (c10::Error naming the
/// method and the batch) unless options.allow_non_finite.
RequestResult forget_request(Unlearner& method, Model& model, const PosteriorState& state,
                             const data::Dataset& current, const torch::Tensor& ids, ForgetContext& ctx,
                             const RequestOptions& options = {}, const BatchCallback& on_batch = nullptr);

}  // namespace unlearn
