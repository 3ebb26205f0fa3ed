#include "unlearn/data/sampler.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

namespace unlearn::data {
namespace {

// Generator::get_state/set_state are not synchronised by themselves (ATen/core/Generator.h).
torch::Tensor get_state(torch::Generator& generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_state(torch::Generator& generator, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

int64_t read_int(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  archive.read(key, value);
  TORCH_CHECK(value.isInt(), "SamplerState: '", key, "' must be an integer, got ", value.tagKind());
  return value.toInt();
}

}  // namespace

void SamplerState::save(torch::serialize::OutputArchive& archive) const {
  archive.write("epoch", c10::IValue(epoch));
  archive.write("position", c10::IValue(position));
  archive.write("num_rows", c10::IValue(num_rows));
  archive.write("batch_size", c10::IValue(batch_size));
  // Undefined tensors cannot be archived: an empty tensor stands for "none".
  auto none = torch::empty({0}, torch::kUInt8);
  archive.write("generator_state", generator_state.defined() ? generator_state : none);
  archive.write("epoch_generator_state", epoch_generator_state.defined() ? epoch_generator_state : none);
}

void SamplerState::load(torch::serialize::InputArchive& archive) {
  epoch = read_int(archive, "epoch");
  position = read_int(archive, "position");
  num_rows = read_int(archive, "num_rows");
  batch_size = read_int(archive, "batch_size");
  archive.read("generator_state", generator_state);
  archive.read("epoch_generator_state", epoch_generator_state);
  if (generator_state.numel() == 0) generator_state = torch::Tensor();
  if (epoch_generator_state.numel() == 0) epoch_generator_state = torch::Tensor();
}

MinibatchSampler::MinibatchSampler(Dataset data, MinibatchSamplerOptions options, torch::Generator generator)
    : data_(std::move(data)), options_(options), generator_(std::move(generator)) {
  TORCH_CHECK(options_.batch_size() > 0, "MinibatchSampler: batch_size must be positive, got ",
              options_.batch_size());
  TORCH_CHECK(data_.size() > 0, "MinibatchSampler: the dataset is empty");
  TORCH_CHECK(generator_.defined(), "MinibatchSampler: the generator is undefined");
}

MinibatchSampler::MinibatchSampler(Dataset data, MinibatchSamplerOptions options, uint64_t seed)
    : MinibatchSampler(std::move(data), options, at::detail::createCPUGenerator(seed)) {}

int64_t MinibatchSampler::rows_per_epoch() const {
  const int64_t n = data_.size();
  return options_.drop_last() ? n - n % options_.batch_size() : n;
}

int64_t MinibatchSampler::batches_per_epoch() const {
  if (full_batch()) return 1;
  const int64_t n = data_.size(), b = options_.batch_size();
  return options_.drop_last() ? n / b : (n + b - 1) / b;
}

void MinibatchSampler::start_epoch() {
  if (!options_.shuffle()) {
    epoch_generator_state_ = torch::Tensor();
    epoch_rows_ = data_.batch();
    return;
  }
  epoch_generator_state_ = get_state(generator_);
  auto perm = torch::randperm(data_.size(), generator_, torch::dtype(torch::kLong).device(generator_.device()))
                  .to(data_.device());
  epoch_rows_ = {data_.x().index_select(0, perm), data_.y().index_select(0, perm),
                 data_.ids().index_select(0, perm)};
}

Batch MinibatchSampler::next() {
  if (full_batch()) {
    ++epoch_;
    return data_.batch();
  }
  if (position_ == 0) start_epoch();
  const int64_t rows = std::min(options_.batch_size(), data_.size() - position_);
  Batch out{epoch_rows_.x.narrow(0, position_, rows), epoch_rows_.y.narrow(0, position_, rows),
            epoch_rows_.ids.narrow(0, position_, rows)};
  position_ += rows;
  if (position_ >= rows_per_epoch()) {
    ++epoch_;
    position_ = 0;
    epoch_rows_ = Batch{};  // the buffer lives on only as long as the batches that view it
  }
  return out;
}

SamplerState MinibatchSampler::state() const {
  SamplerState s;
  s.epoch = epoch_;
  s.position = position_;
  s.num_rows = data_.size();
  s.batch_size = options_.batch_size();
  auto generator = generator_;  // shares the implementation; get_state only needs a non-const handle
  s.generator_state = get_state(generator);
  s.epoch_generator_state = epoch_generator_state_;
  return s;
}

void MinibatchSampler::load_state(const SamplerState& s) {
  TORCH_CHECK(s.num_rows == data_.size(), "MinibatchSampler::load_state: the state is for ", s.num_rows,
              " rows, this dataset has ", data_.size());
  TORCH_CHECK(s.batch_size == options_.batch_size(), "MinibatchSampler::load_state: the state is for batch_size ",
              s.batch_size, ", this sampler has ", options_.batch_size());
  TORCH_CHECK(s.epoch >= 0, "MinibatchSampler::load_state: negative epoch ", s.epoch);
  const int64_t limit = full_batch() ? 0 : rows_per_epoch() - 1;
  TORCH_CHECK(s.position >= 0 && s.position <= limit, "MinibatchSampler::load_state: position ", s.position,
              " outside [0, ", limit, "]");
  TORCH_CHECK(s.position == 0 || !options_.shuffle() || s.epoch_generator_state.defined(),
              "MinibatchSampler::load_state: a state in the middle of an epoch needs epoch_generator_state");
  epoch_rows_ = Batch{};
  epoch_generator_state_ = torch::Tensor();
  if (s.position > 0) {
    // Draw this epoch's permutation again from the state it was first drawn from.
    if (options_.shuffle()) set_state(generator_, s.epoch_generator_state);
    start_epoch();
  }
  if (s.generator_state.defined()) set_state(generator_, s.generator_state);
  epoch_ = s.epoch;
  position_ = s.position;
}

}  // namespace unlearn::data
