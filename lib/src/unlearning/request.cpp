#include "unlearn/unlearning/request.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>

#include "unlearn/data/csv.h"
#include "unlearn/io/config_error.h"

namespace unlearn {
namespace {

std::vector<int64_t> id_vector(const torch::Tensor& ids) {
  auto c = ids.to(torch::kCPU, torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace

nlohmann::json BatchRecord::to_json() const {
  return {{"index", index},
          {"ids", id_vector(ids)},
          {"n_before", n_before},
          {"n_after", n_before - ids.numel()},
          {"seconds", seconds},
          {"certificate", certificate},
          {"report", report}};
}

nlohmann::json RequestResult::record(bool with_reports) const {
  nlohmann::json batches_json = nlohmann::json::array();
  for (const auto& b : batches) {
    auto j = b.to_json();
    if (!with_reports) j.erase("report");
    batches_json.push_back(std::move(j));
  }
  return {{"method", method}, {"options", options},  {"seed", seed},           {"ids", id_vector(ids)},
          {"seconds", seconds}, {"certificate", certificate}, {"batches", batches_json}};
}

void check_erase_request(const torch::Tensor& request, const torch::Tensor& trained_ids,
                         const torch::Tensor& erased_ids) {
  auto ids = request.to(torch::kCPU, torch::kLong).reshape({-1});
  auto trained = trained_ids.to(torch::kCPU, torch::kLong).reshape({-1});
  if (ids.numel() == 0) throw io::ConfigError("the erase request is empty: name at least one id");
  auto [uniq, inverse, counts] = torch::_unique2(ids, /*sorted=*/true, false, /*return_counts=*/true);
  auto dup = uniq.masked_select(counts > 1);
  if (dup.numel() > 0) throw io::ConfigError("duplicate ids in the request: " + data::describe_ids(dup));
  auto known = torch::isin(ids, trained);
  if (!known.all().item<bool>()) {
    auto missing = ids.masked_select(known.logical_not());
    auto was_erased = erased_ids.defined() && erased_ids.numel() > 0
                          ? torch::isin(missing, erased_ids.to(torch::kCPU, torch::kLong))
                          : torch::zeros_like(missing, torch::kBool);
    auto erased = missing.masked_select(was_erased);
    auto unknown = missing.masked_select(was_erased.logical_not());
    std::string msg;
    if (erased.numel() > 0) msg += "already erased ids: " + data::describe_ids(erased);
    if (unknown.numel() > 0) msg += (msg.empty() ? "" : "; ") + std::string("unknown ids: ") + data::describe_ids(unknown);
    throw io::ConfigError(msg + " (the posterior is conditioned on " + std::to_string(trained.numel()) + " ids)");
  }
  if (ids.numel() >= trained.numel())
    throw io::ConfigError("the request erases all " + std::to_string(trained.numel()) +
                          " ids the posterior is conditioned on: nothing would remain");
}

RequestResult forget_request(Unlearner& method, Model& model, const PosteriorState& state,
                             const data::Dataset& current, const torch::Tensor& request, ForgetContext& ctx,
                             const RequestOptions& options, const BatchCallback& on_batch) {
  TORCH_CHECK(options.batch_size() >= 0, "forget_request: batch_size = ", options.batch_size(),
              " must be >= 0 (0: the whole request at once)");
  TORCH_CHECK(state.defined(), "forget_request: no posterior to forget from");
  auto ids = request.to(torch::kCPU, torch::kLong).reshape({-1}).contiguous();
  check_erase_request(ids, current.ids());
  method.check(model, state, ctx);
  const int64_t k = ids.size(0);
  const int64_t batch = options.batch_size() > 0 ? std::min(options.batch_size(), k) : k;
  const int64_t batches = (k + batch - 1) / batch;
  if (method.batches_variants() && batches > 1)
    throw io::ConfigError("method " + method.name() + " trains several thresholds at once; it forgets a request in "
                          "one batch (leave the batch size at 0 or >= " + std::to_string(k) + ")");
  if (!ctx.generator.defined()) ctx.generator = at::make_generator<at::CPUGeneratorImpl>(ctx.seed);

  RequestResult out;
  out.method = method.name();
  out.options = method.options();
  out.seed = ctx.seed;
  out.ids = ids;
  const auto t0 = std::chrono::steady_clock::now();
  PosteriorState now = state;
  data::Dataset rows = current;
  for (int64_t b = 0; b < batches; ++b) {
    BatchRecord record;
    record.index = b;
    record.ids = ids.narrow(0, b * batch, std::min(batch, k - b * batch));
    record.n_before = rows.size();
    const auto b0 = std::chrono::steady_clock::now();
    auto result = method.forget(model, now, rows, record.ids, ctx);
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - b0).count();
    TORCH_CHECK(result.state.defined() && result.state.kind() == state.kind(), "method ", method.name(),
                " returned ", result.state.describe(), " for ", state.describe());
    if (!options.allow_non_finite() && !result.state.is_finite())
      TORCH_CHECK(false, "forget --method ", method.name(), ": the posterior after batch ", b + 1, " of ", batches,
                  " is not finite (the method diverged); nothing was kept");
    record.certificate = std::move(result.certificate);
    record.report = std::move(result.report);
    rows = rows.erase(record.ids);
    now = std::move(result.state);
    if (b == 0) out.variants = std::move(result.variants);
    if (ctx.on_progress && batches > 1)
      ctx.on_progress(ProgressEvent{"request", b + 1, batches, {}, ""});
    if (on_batch) on_batch(record, now);
    out.batches.push_back(std::move(record));
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.certificate = method.summarise(out.batches);
  out.state = std::move(now);
  out.remaining = std::move(rows);
  return out;
}

}  // namespace unlearn
