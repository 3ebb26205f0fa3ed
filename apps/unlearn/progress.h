#pragma once
// Progress of long work (training, retraining, iterative forgetting) for the `unlearn` command:
//   - a bar redrawn in place (step, rate, ETA, current objective) when the stream is a terminal,
//   - one plain line every k steps otherwise (logs, CI, pipes),
//   - nothing with --quiet.
//
//   Progress progress(ProgressOptions().label("train").total(steps).objective_name("-ELBO")
//                         .log_every(args.log_every).quiet(args.quiet));
//   trainer.train(progress.attach(inference::TrainingCallbacks().checkpoint_every(500)...));
//   progress.finish();
//
// The objective is read only on the steps the progress prints (TrainingCallbacks::every), so
// attaching it adds no per-step host synchronisation: plain mode reads it every k steps, the bar
// about 500 times over the whole run (and redraws at most 10 times a second).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <torch/arg.h>

#include "unlearn/inference/callbacks.h"
#include "unlearn/progress.h"

namespace unlearn::app {

/// TORCH_ARG pastes its type textually ("const T&"), which breaks for a bare `FILE*`.
using OutputStream = std::FILE*;

struct ProgressOptions {
  /// Names the work at the start of each line ("train", "retrain", "bif").
  TORCH_ARG(std::string, label) = "";
  /// The step counter the work runs up to (> 0).
  TORCH_ARG(int64_t, total) = 1;
  /// The step counter the work starts from (a resumed run: > 0); rates count from here.
  TORCH_ARG(int64_t, initial) = 0;
  /// What the objective is called ("-ELBO", "U"); empty: no objective is shown.
  TORCH_ARG(std::string, objective_name) = "objective";
  /// Plain mode: a line every k steps (0: about 20 lines per run). A terminal bar: the objective
  /// is read every k steps (0: about 500 reads per run).
  TORCH_ARG(int64_t, log_every) = 0;
  /// Print nothing.
  TORCH_ARG(bool, quiet) = false;
  /// Where to print: stdout, or stderr when stdout carries --json output.
  TORCH_ARG(OutputStream, stream) = stdout;
  /// Draw the bar (true) or plain lines (false); unset: the bar iff `stream` is a terminal.
  TORCH_ARG(std::optional<bool>, bar) = std::nullopt;
};

class Progress {
 public:
  explicit Progress(ProgressOptions options);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// How often the objective has to be read (the value for TrainingCallbacks::every).
  int64_t every() const { return every_; }
  /// Whether this progress draws a terminal bar.
  bool bar() const { return bar_; }

  /// Reports `step` steps done with the objective read at that step (NaN: none).
  void update(int64_t step, double objective);
  /// Ends the bar's line (a no-op for plain lines or when nothing was drawn). Idempotent.
  void finish();

  /// `callbacks` with every = this progress's interval and on_step reporting here first; an
  /// on_step already set still runs after it and still decides whether to stop. A progress that
  /// prints nothing leaves `every` as it was.
  inference::TrainingCallbacks attach(inference::TrainingCallbacks callbacks);

 private:
  std::string line(int64_t step, double objective) const;

  ProgressOptions options_;
  bool bar_ = false;
  int64_t every_ = 1;
  bool drawn_ = false;  // a bar line is on the terminal and needs a final newline
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

/// "1.2 s", "3 min 04 s", "1 h 02 min".
std::string format_duration(double seconds);

/// The library's progress reports (unlearn/progress.h) shown as Progress lines or bars: a new one
/// whenever the stage or its total changes (a request's batches, then a method's steps...).
class StagedProgress {
 public:
  /// `make(stage, total, value_name)`: the options of each stage's Progress.
  using OptionsFn = std::function<ProgressOptions(const std::string& stage, int64_t total, const std::string& value_name)>;
  explicit StagedProgress(OptionsFn make) : make_(std::move(make)) {}
  /// The callback to hand to the library; it refers to this object, which must outlive its use.
  ProgressFn callback();
  /// Ends the current stage's line.
  void finish();

 private:
  OptionsFn make_;
  std::unique_ptr<Progress> current_;
  std::string stage_;
  int64_t total_ = -1;
};

}  // namespace unlearn::app
