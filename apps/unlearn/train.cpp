// `unlearn train CONFIG --out RUN_DIR` and `unlearn train --resume RUN_DIR`.
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "run_store.h"
#include "unlearn/io/atomic_file.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"
#include "unlearn/io/run_dir.h"
#include "unlearn/unlearning/exact_conjugate.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

struct TrainArgs {
  std::string config;
  std::string out;
  std::string resume;
  int64_t print_every = 100;
  bool quiet = false;
};

void save_generation0(const RunConfig& c, const GaussianPosteriorImpl& q, const fs::path& run_dir,
                      nlohmann::json meta, const inference::VITrainer* trainer) {
  auto ckpt = generation_checkpoint(c, q, c.dataset.ids(), torch::empty({0}, torch::kLong), 0,
                                    std::move(meta));
  if (trainer) trainer->save_state(ckpt, "vi/");
  io::save_checkpoint(ckpt, io::generation_path(run_dir, 0));
}

void run_train(const TrainArgs& a) {
  fs::path run_dir;
  RunConfig c;
  if (!a.resume.empty()) {
    run_dir = a.resume;
    c = load_run(run_dir);
  } else {
    if (a.config.empty() || a.out.empty())
      throw io::ConfigError("train needs CONFIG and --out RUN_DIR, or --resume RUN_DIR");
    fs::path config_path(a.config);
    c = load_run_config(io::parse_json_file(config_path), config_path.parent_path());
    run_dir = a.out;
    if (fs::exists(run_dir) && !fs::is_empty(run_dir))
      throw io::ConfigError("--out " + run_dir.string() +
                            " already exists and is not empty (use --resume to continue it)");
    fs::create_directories(run_dir);
    io::write_text_atomic(run_dir / "config.json", c.json.dump(2) + "\n");
  }
  auto t0 = std::chrono::steady_clock::now();
  if (c.method == "exact") {
    auto [mean, cov] = exact_conjugate_posterior(*c.model, c.dataset.batch());
    auto q = make_posterior(c);
    q->set_moments(mean, cov);
    save_generation0(c, *q, run_dir, {{"method", "exact"}, {"finished", true}, {"step", 0}}, nullptr);
    if (!a.quiet) fmt::print("trained (exact conjugate posterior) -> {}\n", run_dir.string());
    return;
  }
  auto q = make_posterior(c);
  inference::VITrainer trainer(c.model, q, c.dataset, c.vi);
  if (!a.resume.empty() && io::latest_generation(run_dir)) {
    auto ckpt = io::load_checkpoint(io::generation_path(run_dir, 0),
                                    io::LoadExpectations().architecture(c.model->architecture()));
    if (ckpt.metadata.value("finished", false)) {
      if (!a.quiet) fmt::print("{} is already trained ({} steps)\n", run_dir.string(), c.vi.steps());
      return;
    }
    trainer.load_state(ckpt, "vi/");
    if (!a.quiet) fmt::print("resuming at step {}\n", trainer.step_count());
  }
  auto meta = [&](bool finished) {
    return nlohmann::json{{"method", "vi"}, {"finished", finished}, {"step", trainer.step_count()}};
  };
  g_interrupted = false;
  auto previous = std::signal(SIGINT, on_sigint);
  auto callbacks =
      inference::TrainingCallbacks()
          .every(10)
          .checkpoint_every(c.checkpoint_every)
          .on_checkpoint([&](int64_t) { save_generation0(c, *q, run_dir, meta(false), &trainer); })
          .on_step([&](int64_t step, double objective) {
            if (!a.quiet && (step % a.print_every == 0 || step == c.vi.steps()))
              fmt::print("step {:>7}/{}  -ELBO {:.6g}\n", step, c.vi.steps(), objective);
            return !g_interrupted.load();
          });
  trainer.train(callbacks);
  std::signal(SIGINT, previous);
  bool finished = trainer.step_count() >= c.vi.steps();
  save_generation0(c, *q, run_dir, meta(finished), &trainer);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!finished) {
    fmt::print(stderr, "interrupted at step {}: checkpoint written; continue with "
               "`unlearn train --resume {}`\n", trainer.step_count(), run_dir.string());
    std::exit(130);
  }
  if (!a.quiet) fmt::print("trained {} steps in {:.2f} s -> {}\n", trainer.step_count(), secs, run_dir.string());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a posterior from a JSON config into a run directory");
  cmd->add_option("config", a->config, "JSON config file");
  cmd->add_option("--out", a->out, "run directory to create");
  cmd->add_option("--resume", a->resume, "continue the interrupted run in this directory");
  cmd->add_option("--print-every", a->print_every, "print a line every k steps")->check(CLI::Range(1, 1 << 30));
  cmd->add_flag("--quiet", a->quiet, "print nothing but errors");
  cmd->callback([a] { run_train(*a); });
}

}  // namespace unlearn::app
