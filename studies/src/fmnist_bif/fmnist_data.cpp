// The Fashion-MNIST study's data, model and removals (fmnist_study.h).
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>

#include "fmnist_bif/fmnist_study.h"
#include "registry.h"
#include "unlearn/data/idx.h"
#include "unlearn/io/config_error.h"

namespace unlearn::studies {
namespace {
torch::TensorOptions long_opts() { return torch::TensorOptions().dtype(torch::kLong); }
}  // namespace

void FmnistStudy::load() {
  try {
    const auto opts = data::FashionMnistOptions().pad_to_32(c_.pad_to_32);
    train_ = data::load_fashion_mnist(c_.dir, true, opts);
    test_ = data::load_fashion_mnist(c_.dir, false, opts);
  } catch (const c10::Error& e) {
    throw io::ConfigError("data.dir = \"" + c_.dir + "\": " + e.what_without_backtrace() +
                          " (Debian: apt-get install dataset-fashion-mnist)");
  }
  // One generator, drawn in this order: the train subset, the test subset, the class permutation.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c_.seed));
  auto random_ids = [&](const data::Dataset& d, int64_t k) {
    return d.ids().index_select(0, torch::randperm(d.size(), gen, long_opts()).narrow(0, 0, std::min(k, d.size())));
  };
  if (c_.train_subset > 0 && c_.train_subset < train_.size()) train_ = train_.subset(random_ids(train_, c_.train_subset));
  if (c_.test_subset > 0 && c_.test_subset < test_.size()) test_ = test_.subset(random_ids(test_, c_.test_subset));
  io::JsonObjectReader model_section(c_.model, "model");
  model_ = models::make_model(model_section, train_);
  model_section.finish();  // unknown keys of the model section are errors too
  const auto topts = model_->theta_options();
  train_ = train_.to(topts.device(), topts.dtype().toScalarType());
  test_ = test_.to(topts.device(), topts.dtype().toScalarType());

  auto class_ids = train_.ids().index({train_.y() == c_.erase_class});
  TORCH_CHECK(class_ids.size(0) >= 1, "fmnist_bif: class ", c_.erase_class, " has no training points to remove");
  for (auto k : c_.erase_counts) {
    if (k > class_ids.size(0))
      throw io::ConfigError(fmt::format("erase.count = {}: class {} has only {} training points", k, c_.erase_class,
                                        class_ids.size(0)));
  }
  permuted_ = class_ids.index_select(0, torch::randperm(class_ids.size(0), gen, long_opts()));
  for (auto k : c_.erase_counts) removed_sizes_.push_back(k == 0 ? permuted_.size(0) : k);
  // Data parallel (--world-size W): every rank loaded every row; each trains and forgets on its
  // shard (ids mod W) over the index sets, so every rank holds the one-process posterior. Rank 0
  // evaluates, prints and writes.
  if (cluster_->world_size() > 1 && !c_.vbu.methods.empty() && c_.vbu.erased_batch_size > 0)
    throw io::ConfigError(fmt::format(
        "vbu.erased_batch_size = {}: data-parallel EUBO / reverse KL sum all of D_e over the ranks every step; "
        "set it to 0 or run one process",
        c_.vbu.erased_batch_size));
  sharded_train_ = distributed::shard_for_training(cluster_, train_);
  parallel_ = distributed::forget_parallel(cluster_, sharded_train_);
  if (root_) std::filesystem::create_directories(ctx_.out_dir);  // only once the config and data are good
  std::string counts;
  for (auto k : removed_sizes_) counts += (counts.empty() ? "" : ", ") + std::to_string(k);
  log(fmt::format("fmnist_bif: {} ({} parameters); {} training points, {} test; removing {} of the {} of class {} "
                  "in requests of {}{}\n",
                  model_->architecture(), model_->num_params(), train_.size(), test_.size(), counts,
                  permuted_.size(0), c_.erase_class, c_.request_size,
                  cluster_->world_size() > 1 ? fmt::format("; {} data-parallel ranks", cluster_->world_size()) : ""));
  init_ = model_->init_theta();
}

// Built when needed (a removal of 60 000 images holds a copy of them), identically for every method.
Removal FmnistStudy::make_removal(int64_t count) const {
  Removal r;
  r.erased = count == 0 ? permuted_ : permuted_.narrow(0, 0, count);
  r.removed = r.erased.size(0);
  r.requests = (r.removed + c_.request_size - 1) / c_.request_size;
  r.remaining = train_.erase(r.erased);
  r.sets = EvalSets{train_.subset(r.erased), r.remaining, test_};
  if (c_.eval_remaining > 0 && c_.eval_remaining < r.remaining.size()) {
    auto g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c_.seed) + 1000 + r.removed);
    auto pick = torch::randperm(r.remaining.size(), g, long_opts()).narrow(0, 0, c_.eval_remaining);
    r.sets.remain = r.remaining.subset(r.remaining.ids().index_select(0, pick));
  }
  r.sharded = distributed::shard_for_training(cluster_, r.remaining);
  return r;
}

}  // namespace unlearn::studies
