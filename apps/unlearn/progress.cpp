#include "progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <c10/util/Exception.h>
#include <fmt/format.h>

namespace unlearn::app {
namespace {
using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Redraws closer together than this only flicker; the last step is always drawn.
constexpr double kMinRedrawSeconds = 0.1;
// About this many objective reads per run for the bar, and lines per run in plain mode.
constexpr int64_t kBarReads = 500;
constexpr int64_t kPlainLines = 20;
constexpr int kBarWidth = 28;

}  // namespace

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) return fmt::format("{:.1f} s", s);
  auto total = static_cast<int64_t>(std::llround(s));
  if (total < 3600) return fmt::format("{} min {:02d} s", total / 60, static_cast<int>(total % 60));
  return fmt::format("{} h {:02d} min", total / 3600, static_cast<int>((total % 3600) / 60));
}

Progress::Progress(ProgressOptions options) : options_(std::move(options)) {
  TORCH_CHECK(options_.total() >= 1, "Progress: total = ", options_.total(), " must be >= 1");
  TORCH_CHECK(options_.log_every() >= 0, "Progress: log_every = ", options_.log_every(), " must be >= 0");
  TORCH_CHECK(options_.stream() != nullptr, "Progress: stream must not be null");
  bar_ = options_.bar().value_or(::isatty(::fileno(options_.stream())) == 1);
  const int64_t remaining = std::max<int64_t>(1, options_.total() - options_.initial());
  const int64_t auto_every = std::max<int64_t>(1, remaining / (bar_ ? kBarReads : kPlainLines));
  every_ = options_.log_every() > 0 ? options_.log_every() : auto_every;
  start_ = Clock::now();
  last_draw_ = start_ - std::chrono::seconds(1);
}

Progress::~Progress() { finish(); }

std::string Progress::line(int64_t step, double objective) const {
  const auto now = Clock::now();
  const double elapsed = seconds_between(start_, now);
  const int64_t done = step - options_.initial();
  const double rate = elapsed > 0 && done > 0 ? static_cast<double>(done) / elapsed : NAN;
  const double eta = step >= options_.total() ? 0.0 : static_cast<double>(options_.total() - step) / rate;
  const double fraction = std::clamp(static_cast<double>(step) / static_cast<double>(options_.total()), 0.0, 1.0);
  std::string rate_text = std::isfinite(rate) ? (rate >= 10 ? fmt::format("{:.0f} steps/s", rate)
                                                            : fmt::format("{:.3g} steps/s", rate))
                                              : "? steps/s";
  std::string objective_text;
  if (!options_.objective_name().empty() && !std::isnan(objective))
    objective_text = fmt::format("  {} {:.6g}", options_.objective_name(), objective);
  const int width = static_cast<int>(std::to_string(options_.total()).size());
  std::string head = options_.label().empty() ? "" : options_.label() + " ";
  if (bar_) {
    const int filled = static_cast<int>(fraction * kBarWidth);
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < kBarWidth) bar += '>' + std::string(static_cast<size_t>(kBarWidth - filled - 1), ' ');
    return fmt::format("{}[{}] {:>{}}/{} {:3.0f}%  {}  ETA {}{}", head, bar, step, width, options_.total(),
                       100 * fraction, rate_text, format_duration(eta), objective_text);
  }
  return fmt::format("{}step {:>{}}/{} {:3.0f}%  {}  ETA {}{}", head, step, width, options_.total(),
                     100 * fraction, rate_text, format_duration(eta), objective_text);
}

void Progress::update(int64_t step, double objective) {
  if (options_.quiet()) return;
  const auto now = Clock::now();
  const bool last = step >= options_.total();
  if (bar_) {
    if (!last && seconds_between(last_draw_, now) < kMinRedrawSeconds) return;
    // \r back to the line start, \x1b[K clears what a longer previous line left behind.
    fmt::print(options_.stream(), "\r{}\x1b[K", line(step, objective));
    drawn_ = true;
  } else {
    fmt::print(options_.stream(), "{}\n", line(step, objective));
  }
  last_draw_ = now;
  std::fflush(options_.stream());
}

void Progress::finish() {
  if (drawn_) {
    fmt::print(options_.stream(), "\n");
    std::fflush(options_.stream());
    drawn_ = false;
  }
}

inference::TrainingCallbacks Progress::attach(inference::TrainingCallbacks callbacks) {
  if (options_.quiet()) return callbacks;
  auto previous = callbacks.on_step();
  callbacks.every(previous ? std::min(every_, callbacks.every()) : every_);
  const int64_t every = every_;
  callbacks.on_step([this, previous, every](int64_t step, double objective) {
    if (step % every == 0 || step >= options_.total()) update(step, objective);
    return previous ? previous(step, objective) : true;
  });
  return callbacks;
}

ProgressFn StagedProgress::callback() {
  return [this](const ProgressEvent& e) {
    if (!current_ || e.stage != stage_ || e.total != total_) {
      if (current_) current_->finish();
      current_ = std::make_unique<Progress>(make_(e.stage, std::max<int64_t>(e.total, 1), e.value_name));
      stage_ = e.stage;
      total_ = e.total;
    }
    current_->update(e.done, e.values.empty() ? std::nan("") : e.values.front());
  };
}

void StagedProgress::finish() {
  if (current_) current_->finish();
}

}  // namespace unlearn::app
