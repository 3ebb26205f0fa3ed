#pragma once
// What a training loop reports, and when: callbacks rather than flags (docs/architecture.md, "Tiers").
//
//   auto callbacks = TrainingCallbacks()
//       .every(100)
//       .on_step([](int64_t step, double objective) { fmt::print("{} {}\n", step, objective); return true; })
//       .checkpoint_every(1000)
//       .on_checkpoint([&](int64_t step) { trainer.save_state(ckpt, "vi/"); io::save_checkpoint(ckpt, path); });
//   trainer.train(callbacks);
//
// Reading the objective is a host synchronisation (a GPU waits for it): it happens only on the
// steps on_step is called for, never otherwise.
#include <torch/arg.h>

#include <cstdint>
#include <functional>

namespace unlearn::inference {

/// What a trainer's train() reports and when: an on_step callback every `every` steps (which can
/// stop the run) and an on_checkpoint callback every `checkpoint_every` steps. The default calls
/// nothing.
struct TrainingCallbacks {
  /// Called after every `every`-th step and after the last one, with the number of steps done and
  /// the objective of that step (the value minimised, summed over runs). Return false to stop.
  TORCH_ARG(std::function<bool(int64_t step, double objective)>, on_step) = nullptr;
  /// How often on_step is called (>= 1).
  TORCH_ARG(int64_t, every) = 1;
  /// Called after every `checkpoint_every`-th step (before on_step of that step).
  TORCH_ARG(std::function<void(int64_t step)>, on_checkpoint) = nullptr;
  /// How often on_checkpoint is called (0: never).
  TORCH_ARG(int64_t, checkpoint_every) = 0;

 public:
  /// TORCH_CHECKs every field, naming the value.
  void validate() const;
  /// Runs the callbacks due after `step` steps (`last`: the final step of the run); `objective`
  /// is read (one host sync) only when on_step is due. Returns false to stop.
  template <typename ObjectiveFn>
  bool after_step(int64_t step, bool last, ObjectiveFn&& objective) const {
    if (on_checkpoint_ && checkpoint_every_ > 0 && step % checkpoint_every_ == 0) on_checkpoint_(step);
    if (on_step_ && (step % every_ == 0 || last)) return on_step_(step, objective());
    return true;
  }
};

}  // namespace unlearn::inference
