#include "unlearn/inference/sample_bank.h"

#include <algorithm>
#include <cmath>

namespace unlearn::inference {

void SampleBankOptions::validate() const {
  TORCH_CHECK(burn_in() >= 0, "SampleBank: burn_in = ", burn_in(), " must be >= 0");
  TORCH_CHECK(thinning() >= 1, "SampleBank: thinning = ", thinning(), " must be >= 1");
  TORCH_CHECK(capacity() >= 1, "SampleBank: capacity = ", capacity(), " must be >= 1");
}

SampleBank::SampleBank(SampleBankOptions options) : options_(options) { options_.validate(); }

bool SampleBank::offer(int64_t step, const torch::Tensor& theta) {
  TORCH_CHECK(step >= 1, "SampleBank::offer: step = ", step, " must be >= 1 (steps completed)");
  if (step <= options_.burn_in() || (step - options_.burn_in()) % options_.thinning() != 0) return false;
  add(theta);
  return true;
}

void SampleBank::ensure_storage(const torch::Tensor& theta) {
  const int64_t capacity = options_.capacity();
  if (storage_.defined()) {
    TORCH_CHECK(storage_.sizes().slice(1) == theta.sizes() && storage_.scalar_type() == theta.scalar_type() &&
                    storage_.device() == theta.device(),
                "SampleBank: a sample of shape ", theta.sizes(), " (", theta.scalar_type(), ", ", theta.device(),
                ") does not match the bank's ", storage_.sizes().slice(1), " (", storage_.scalar_type(), ", ",
                storage_.device(), ")");
    if (size_ < storage_.size(0) || storage_.size(0) == capacity) return;
  }
  // Grow by doubling up to capacity: a bank that keeps few samples never allocates all of it.
  const int64_t old_rows = storage_.defined() ? storage_.size(0) : 0;
  const int64_t rows = std::min(capacity, std::max<int64_t>(16, 2 * old_rows));
  std::vector<int64_t> shape{rows};
  for (auto s : theta.sizes()) shape.push_back(s);
  auto grown = torch::empty(shape, theta.options().requires_grad(false));
  if (old_rows > 0) grown.narrow(0, 0, size_).copy_(storage_.narrow(0, 0, size_));
  storage_ = grown;
}

void SampleBank::add(const torch::Tensor& theta) {
  TORCH_CHECK(theta.defined(), "SampleBank::add: undefined tensor");
  torch::NoGradGuard no_grad;
  ensure_storage(theta);
  if (size_ < options_.capacity()) {
    storage_[size_].copy_(theta);
    ++size_;
  } else {
    storage_[head_].copy_(theta);
    head_ = (head_ + 1) % options_.capacity();
  }
  ++num_kept_;
}

torch::Tensor SampleBank::samples() const {
  TORCH_CHECK(size_ > 0, "SampleBank: the bank is empty (burn_in = ", options_.burn_in(),
              ", thinning = ", options_.thinning(), ")");
  if (head_ == 0) return storage_.narrow(0, 0, size_);
  return torch::cat({storage_.narrow(0, head_, size_ - head_), storage_.narrow(0, 0, head_)});
}

torch::Tensor SampleBank::mean() const {
  TORCH_CHECK(size_ > 0, "SampleBank::mean: the bank is empty");
  return storage_.narrow(0, 0, size_).mean(0);  // order does not matter
}

torch::Tensor SampleBank::covariance() const {
  TORCH_CHECK(size_ >= 2, "SampleBank::covariance: needs at least 2 samples, the bank has ", size_);
  auto x = storage_.narrow(0, 0, size_).reshape({size_, -1});
  auto centred = x - x.mean(0, /*keepdim=*/true);
  return torch::matmul(centred.t(), centred) / static_cast<double>(size_ - 1);
}

torch::Tensor SampleBank::predictive_log_likelihood(Model& model, const data::Batch& batch, int64_t chunk) const {
  TORCH_CHECK(size_ > 0, "SampleBank::predictive_log_likelihood: the bank is empty");
  return inference::predictive_log_likelihood(model, storage_.narrow(0, 0, size_), batch, chunk);
}

torch::Tensor SampleBank::predictive_log_proba(Model& model, const torch::Tensor& x, int64_t chunk) const {
  TORCH_CHECK(size_ > 0, "SampleBank::predictive_log_proba: the bank is empty");
  return inference::predictive_log_proba(model, storage_.narrow(0, 0, size_), x, chunk);
}

void SampleBank::replace_samples(const torch::Tensor& samples) {
  TORCH_CHECK(size_ > 0, "SampleBank::replace_samples: the bank is empty");
  TORCH_CHECK(samples.defined() && samples.dim() == storage_.dim() && samples.size(0) == size_ &&
                  samples.sizes().slice(1) == storage_.sizes().slice(1),
              "SampleBank::replace_samples: expected ", size_, " samples of shape ", storage_.sizes().slice(1),
              ", got ", samples.defined() ? samples.sizes() : c10::IntArrayRef{});
  torch::NoGradGuard no_grad;
  // Stored unrotated from now on: slot i holds the i-th oldest, and the next write goes to slot 0
  // once full, which is then the oldest.
  storage_.narrow(0, 0, size_).copy_(samples);
  head_ = 0;
}

void SampleBank::clear() {
  size_ = 0;
  head_ = 0;
  num_kept_ = 0;
}

void SampleBank::save_state(io::Checkpoint& checkpoint, const std::string& prefix) const {
  checkpoint.metadata[prefix + "bank"] = {{"burn_in", options_.burn_in()},
                                          {"thinning", options_.thinning()},
                                          {"capacity", options_.capacity()},
                                          {"size", size_},
                                          {"num_kept", num_kept_}};
  if (size_ > 0) {
    checkpoint.tensors[prefix + "samples"] = samples().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
  } else {
    checkpoint.tensors.erase(prefix + "samples");
  }
}

void SampleBank::load_state(const io::Checkpoint& checkpoint, const std::string& prefix,
                            std::optional<torch::Device> device) {
  const std::string key = prefix + "bank";
  TORCH_CHECK(checkpoint.metadata.contains(key), "checkpoint has no sample bank \"", key, "\"");
  const auto& meta = checkpoint.metadata.at(key);
  const std::pair<const char*, int64_t> fields[] = {
      {"burn_in", options_.burn_in()}, {"thinning", options_.thinning()}, {"capacity", options_.capacity()}};
  for (const auto& [field, mine] : fields) {
    TORCH_CHECK(meta.contains(field), "SampleBank::load_state: \"", key, "\" lacks \"", field, "\"");
    const int64_t saved = meta.at(field).get<int64_t>();
    TORCH_CHECK(saved == mine, "SampleBank::load_state: the checkpoint's bank has ", field, " = ", saved,
                ", this bank ", field, " = ", mine);
  }
  TORCH_CHECK(meta.contains("size") && meta.contains("num_kept"), "SampleBank::load_state: \"", key,
              "\" lacks size or num_kept");
  const int64_t size = meta.at("size").get<int64_t>();
  const int64_t num_kept = meta.at("num_kept").get<int64_t>();
  TORCH_CHECK(size >= 0 && size <= options_.capacity() && num_kept >= size,
              "SampleBank::load_state: inconsistent saved bank (size = ", size, ", num_kept = ", num_kept, ")");
  // The device asked for, else that of the samples this bank held, else the CPU.
  const torch::Device target = device ? *device : storage_.defined() ? storage_.device() : torch::Device(torch::kCPU);
  clear();
  storage_ = torch::Tensor();  // reallocated for the saved shape and dtype
  if (size > 0) {
    const auto& saved = checkpoint.at(prefix + "samples");
    TORCH_CHECK(saved.dim() >= 1 && saved.size(0) == size, "SampleBank::load_state: \"", prefix, "samples\" has shape ",
                saved.sizes(), ", expected ", size, " rows");
    auto rows = saved.to(target);
    for (int64_t i = 0; i < size; ++i) add(rows[i]);
  }
  num_kept_ = num_kept;
}

// ---- predictive averages -------------------------------------------------------------------

namespace {

template <typename Eval>
torch::Tensor log_mean_exp_over_samples(const torch::Tensor& samples, int64_t chunk, const char* who, Eval eval) {
  TORCH_CHECK(samples.dim() == 2 && samples.size(0) >= 1, who, ": samples must be [n >= 1, P], got ", samples.sizes());
  TORCH_CHECK(chunk >= 1, who, ": chunk = ", chunk, " must be >= 1");
  torch::NoGradGuard no_grad;
  const int64_t n = samples.size(0);
  torch::Tensor acc;
  for (int64_t start = 0; start < n; start += chunk) {
    auto part = eval(samples.narrow(0, start, std::min(chunk, n - start))).logsumexp(0);
    acc = acc.defined() ? torch::logaddexp(acc, part) : part;
  }
  return acc - std::log(static_cast<double>(n));
}

}  // namespace

torch::Tensor predictive_log_likelihood(Model& model, const torch::Tensor& samples, const data::Batch& batch,
                                        int64_t chunk) {
  return log_mean_exp_over_samples(samples, chunk, "predictive_log_likelihood", [&](const torch::Tensor& theta) {
    return model.log_likelihood(theta, batch);  // [s, B]
  });
}

torch::Tensor predictive_log_proba(Model& model, const torch::Tensor& samples, const torch::Tensor& x, int64_t chunk) {
  return log_mean_exp_over_samples(samples, chunk, "predictive_log_proba", [&](const torch::Tensor& theta) {
    return model.predict_log_proba(theta, x);  // [s, B, C]
  });
}

}  // namespace unlearn::inference
