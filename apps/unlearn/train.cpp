// `unlearn train CONFIG --out RUN_DIR` and `unlearn train --resume RUN_DIR`: VI, SGLD, SGHMC or
// the exact conjugate posterior into generation 0 of a run directory, with periodic atomic
// checkpoints; Ctrl-C writes one before exiting (code 130) and --resume ends bit-identical.
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>

#include <fmt/format.h>

#include "commands.h"
#include "distributed_args.h"
#include "output.h"
#include "plugins.h"
#include "progress.h"
#include "run_lineage.h"
#include "run_store.h"
#include "run_writer.h"
#include "unlearn/io/atomic_file.h"
#include "unlearn/distributed/data_parallel.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_config.h"
#include "unlearn/io/run_dir.h"
#include "unlearn/unlearning/training.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

// Data parallel (distributed_args.h): the run's processes. Rank 0 alone writes the run directory
// and prints; a Ctrl-C seen by any rank stops every rank after the same step (the ranks compare
// notes every 16 steps: one tiny all-reduce, ~0.5 ms on loopback).
std::shared_ptr<distributed::Cluster> g_cluster = distributed::local_cluster();
bool interrupted_on_any_rank(int64_t step) {
  if (g_cluster->world_size() == 1) return g_interrupted.load();
  return step % 16 == 0 && any_rank(*g_cluster, g_interrupted.load());
}

// Thrown from the per-step hook once Ctrl-C was pressed: the step has completed, so the trainer's
// state is whole and can be checkpointed.
struct Interrupted {};

struct TrainArgs {
  std::string config;
  std::string out;
  std::string resume;
  double wait_seconds = 0;
  OutputMode output;
  DistributedArgs dist;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// The result document (--json) and the human summary line.
void report(const TrainArgs& a, const fs::path& run_dir, nlohmann::json result) {
  result["run_dir"] = run_dir.string();
  result["generation"] = 0;
  a.output.emit(result);
  a.output.say("trained {} ({} steps) in {:.2f} s -> {}\n", result.value("method", std::string()),
               result.value("steps", int64_t{0}), result.value("seconds", 0.0), run_dir.string());
}

/// Runs `trainer` to its step count with progress, periodic checkpoints and Ctrl-C handling.
/// `save(finished)` writes generation 0. Works for VITrainer and SGMCMCTrainer alike.
template <typename Trainer>
void run_loop(Trainer& trainer, int64_t total, int64_t checkpoint_every, const std::string& objective_name,
              const std::function<void(bool)>& save, const fs::path& run_dir, const OutputMode& output) {
  Progress progress(output.progress("train", total, objective_name, trainer.step_count()));
  // on_checkpoint runs after every step without reading the objective (no host sync), so it is
  // also where Ctrl-C is noticed promptly; the objective is read only when the progress prints.
  auto callbacks = progress.attach(inference::TrainingCallbacks().checkpoint_every(1).on_checkpoint(
      [&](int64_t step) {
        if (checkpoint_every > 0 && step % checkpoint_every == 0 && step < total) save(false);
        if (interrupted_on_any_rank(step)) throw Interrupted{};
      }));
  g_interrupted = false;
  auto previous = std::signal(SIGINT, on_sigint);
  try {
    trainer.train(callbacks);
  } catch (const Interrupted&) {
    std::signal(SIGINT, previous);
    progress.finish();
    save(false);
    fmt::print(stderr, "interrupted at step {}: checkpoint written; continue with `unlearn train --resume {}`\n",
               trainer.step_count(), run_dir.string());
    std::exit(130);
  }
  std::signal(SIGINT, previous);
  progress.finish();
  save(true);
}

/// Generation 0's checkpoint when resuming: nullopt when there is none yet (killed before the
/// first checkpoint), the checkpoint otherwise.
std::optional<io::Checkpoint> resume_checkpoint(const RunConfig& c, const fs::path& run_dir) {
  if (!io::latest_generation(run_dir)) return std::nullopt;
  return io::load_checkpoint(io::generation_path(run_dir, 0),
                             io::LoadExpectations().architecture(c.model->architecture()));
}

/// A diverged run (NaN / Inf in θ, the posterior's parameters, the chain or its optimizer state)
/// is a runtime failure (exit 1), never a checkpoint: the last good checkpoint, if any, stays for
/// --resume with other settings. One host read per checkpoint, not per step.
void require_finite(const io::Checkpoint& ckpt, int64_t step) {
  if (auto name = first_non_finite(ckpt))
    throw std::runtime_error(fmt::format(
        "training diverged: '{}' is not finite at step {}; nothing was saved for this step (an earlier "
        "checkpoint, if any, is kept). Lower train.lr, or check the data's scale.",
        *name, step));
}

/// load_state's checks (sampler kind, data size, shapes) fail when config.json no longer
/// matches the checkpoint: the run directory, not the program, is at fault (exit 2).
template <typename Trainer>
void restore(Trainer& trainer, const io::Checkpoint& ckpt, const std::string& prefix, const fs::path& run_dir) {
  try {
    trainer.load_state(ckpt, prefix);
  } catch (const c10::Error& e) {
    throw io::ConfigError("cannot resume " + run_dir.string() + " (its config.json does not match gen-0000.ckpt): " +
                          e.what_without_backtrace());
  }
}

/// With --resume: restores `trainer` from generation 0 (under `prefix`) and returns the step it
/// continues from; nullopt when the run had already finished (reported, nothing left to do).
/// Without --resume, or with no checkpoint yet (killed before the first one): 0.
template <typename Trainer>
std::optional<int64_t> resume_if_asked(const TrainArgs& a, const RunConfig& c, const fs::path& run_dir,
                                       Trainer& trainer, const std::string& prefix, const std::string& method,
                                       int64_t steps) {
  auto ckpt = a.resume.empty() ? std::nullopt : resume_checkpoint(c, run_dir);
  if (!ckpt) return 0;
  if (ckpt->metadata.value("finished", false)) {
    a.output.say("{} is already trained ({} steps)\n", run_dir.string(), steps);
    a.output.emit({{"run_dir", run_dir.string()}, {"method", method}, {"already_trained", true}, {"generation", 0}});
    return std::nullopt;
  }
  restore(trainer, *ckpt, prefix, run_dir);
  a.output.say("resuming at step {}\n", trainer.step_count());
  return trainer.step_count();
}

void train_vi(const TrainArgs& a, const RunConfig& c, const fs::path& run_dir, const nlohmann::json& lineage) {
  auto t0 = std::chrono::steady_clock::now();
  auto q = make_posterior(c);
  auto sharded = distributed::shard_for_training(g_cluster, c.dataset);  // W = 1: the data set itself
  inference::VITrainer trainer(c.model, q, sharded.index, c.vi);
  trainer.set_data_parallel(sharded.parallel);
  auto resumed = resume_if_asked(a, c, run_dir, trainer, "vi/", "vi", c.vi.steps());
  if (!resumed) return;
  const int64_t resumed_from = *resumed;
  auto save = [&](bool finished) {
    if (!g_cluster->is_root()) return;
    auto ckpt = generation_checkpoint(c, PosteriorState::gaussian(q), c.dataset.ids(), torch::empty({0}, torch::kLong),
                                      0, {{"method", "vi"}, {"finished", finished}, {"step", trainer.step_count()}, {"lineage", lineage}});
    trainer.save_state(ckpt, "vi/");
    require_finite(ckpt, trainer.step_count());
    io::save_checkpoint(ckpt, io::generation_path(run_dir, 0));
  };
  run_loop(trainer, c.vi.steps(), c.checkpoint_every, "-ELBO", save, run_dir, a.output);
  report(a, run_dir,
         {{"method", "vi"},
          {"finished", true},
          {"steps", trainer.step_count()},
          {"resumed_from", resumed_from},
          {"seconds", seconds_since(t0)},
          {"objective", json_number(trainer.last_objective().defined() ? trainer.last_objective().sum().item<double>() : NAN)}});
}

void train_sgmcmc(const TrainArgs& a, const RunConfig& c, const fs::path& run_dir, const nlohmann::json& lineage) {
  auto t0 = std::chrono::steady_clock::now();
  auto sharded = distributed::shard_for_training(g_cluster, c.dataset);  // W = 1: the data set itself
  inference::SGMCMCTrainer trainer(c.model, sharded.index, c.sgmcmc);
  trainer.set_data_parallel(sharded.parallel);
  auto resumed = resume_if_asked(a, c, run_dir, trainer, "sgmcmc/", c.method_name(), c.sgmcmc.steps());
  if (!resumed) return;
  const int64_t resumed_from = *resumed;
  auto save = [&](bool finished) {
    if (!g_cluster->is_root()) return;
    nlohmann::json meta{
        {"method", c.method_name()}, {"finished", finished}, {"step", trainer.step_count()}, {"lineage", lineage}};
    auto ids = c.dataset.ids();
    auto none = torch::empty({0}, torch::kLong);
    // A finished chain is a posterior (bank + chain state); an unfinished one only a trainer state.
    auto ckpt = finished ? generation_checkpoint(c,
                                                 PosteriorState::chain(inference::chain_state_of(trainer),
                                                                       trainer.bank().samples()),
                                                 ids, none, 0, meta)
                         : base_generation_checkpoint(c, ids, none, 0, meta);
    trainer.save_state(ckpt, "sgmcmc/");
    require_finite(ckpt, trainer.step_count());
    io::save_checkpoint(ckpt, io::generation_path(run_dir, 0));
  };
  run_loop(trainer, c.sgmcmc.steps(), c.checkpoint_every, "U", save, run_dir, a.output);
  report(a, run_dir,
         {{"method", c.method_name()},
          {"finished", true},
          {"steps", trainer.step_count()},
          {"resumed_from", resumed_from},
          {"seconds", seconds_since(t0)},
          {"bank_size", trainer.bank().size()},
          {"objective", json_number(trainer.last_energy().defined() ? trainer.last_energy().item<double>() : NAN)}});
}

void train_exact(const TrainArgs& a, const RunConfig& c, const fs::path& run_dir, const nlohmann::json& lineage) {
  auto t0 = std::chrono::steady_clock::now();
  auto state = train_posterior(*c.model, c.recipe(), c.dataset);
  auto ckpt = generation_checkpoint(c, state, c.dataset.ids(), torch::empty({0}, torch::kLong), 0,
                                    {{"method", "exact"}, {"finished", true}, {"step", 0}, {"lineage", lineage}});
  if (g_cluster->is_root()) io::save_checkpoint(ckpt, io::generation_path(run_dir, 0));
  report(a, run_dir, {{"method", "exact"}, {"finished", true}, {"steps", 0}, {"seconds", seconds_since(t0)}});
}

void run_train(const TrainArgs& a) {
  fs::path run_dir;
  RunConfig c;
  bool created = false;  // this command made run_dir (a fresh train, on rank 0)
  std::optional<RunWriter> writer;  // rank 0 writes the run directory, under its lock
  if (!a.resume.empty()) {
    if (!a.config.empty() || !a.out.empty())
      throw io::ConfigError("--resume RUN_DIR takes the config from RUN_DIR/config.json: drop CONFIG and --out");
    run_dir = a.resume;
    if (g_cluster->is_root()) writer = open_run_for_writing(run_dir, "unlearn train --resume", a.wait_seconds);
    c = load_run(run_dir);
  } else {
    if (a.config.empty() || a.out.empty())
      throw io::ConfigError("train needs CONFIG and --out RUN_DIR, or --resume RUN_DIR");
    fs::path config_path(a.config);
    c = load_run_config(io::parse_json_file(config_path), config_path.parent_path());
    run_dir = a.out;
    if (g_cluster->is_root()) {
      auto refuse_existing = [&] {
        throw io::ConfigError("--out " + run_dir.string() +
                              " already exists and is not empty (use --resume to continue it)");
      };
      if (fs::exists(run_dir) && !fs::is_empty(run_dir)) refuse_existing();
      const auto config_text = c.json.dump(2) + "\n";  // before anything is made: dump() can throw
      fs::create_directories(run_dir);
      // Two fresh trains racing for one --out: the lock decides, and the loser finds config.json.
      writer = open_run_for_writing(run_dir, "unlearn train", a.wait_seconds);
      if (fs::exists(run_dir / "config.json")) refuse_existing();
      created = true;
      // A plugin's model kind: the run records the plugin, so that using it without is an error
      // that names it (plugins.h). Written before config.json, which marks a run directory.
      auto record = plugin_record(
          c.json.value("model", nlohmann::json::object()).value("kind", std::string("linear_regression")));
      if (!record.is_null()) io::write_text_atomic(run_dir / "plugins.json", record.dump(2) + "\n");
      io::write_text_atomic(run_dir / "config.json", config_text);
    }
  }
  try {
    // Generation 0 records what it was computed from (run_lineage.h). Rank 0 alone writes, so it
    // alone hashes (the other ranks may start before config.json exists). An unfinished run may
    // be resumed with other train settings in config.json (a lower lr after a divergence, fewer
    // steps): its later checkpoints record the new config, but the data must be the rows it
    // started on.
    nlohmann::json lineage;
    if (g_cluster->is_root()) {
      const auto identity = identify_run(run_dir, c);
      if (!a.resume.empty() && io::latest_generation(run_dir)) {
        auto gen0 = io::load_checkpoint(io::generation_path(run_dir, 0),
                                        io::LoadExpectations().architecture(c.model->architecture()));
        check_lineage(run_dir, identity, 0, gen0.metadata, LineageScope::kSettingsMayChange);
      }
      lineage = lineage_json(identity, std::nullopt);
    }
    if (writer) writer->prepare_commit(a.output);  // the resumed run is valid: tidy what a kill left
    if (c.method == TrainingMethod::kExact) train_exact(a, c, run_dir, lineage);
    else if (c.is_sgmcmc()) train_sgmcmc(a, c, run_dir, lineage);
    else train_vi(a, c, run_dir, lineage);
  } catch (...) {
    // A fresh run that failed before its first checkpoint leaves nothing behind, so the same
    // --out can be used again; once a checkpoint exists the directory stays, for --resume.
    std::error_code ec;
    if (created && !fs::exists(io::generation_path(run_dir, 0), ec)) fs::remove_all(run_dir, ec);
    throw;
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a posterior (VI, SGLD, SGHMC or exact) from a JSON config into a run directory");
  cmd->add_option("config", a->config, "JSON config file");
  cmd->add_option("--out", a->out, "run directory to create");
  cmd->add_option("--resume", a->resume, "continue the interrupted run in this directory");
  add_wait_option(*cmd, a->wait_seconds);
  cmd->add_option("--log-every,--print-every", a->output.log_every,
                  "progress: a line every k steps when stdout is not a terminal (default: about 20 lines)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_flag("--quiet", a->output.quiet, "no progress or summary, only errors (and --json output)");
  cmd->add_flag("--json", a->output.json, "print the result as JSON on stdout (progress goes to stderr)");
  add_distributed_options(cmd, a->dist);
  cmd->callback([a] {
    g_cluster = connect_cluster(a->dist);
    if (!g_cluster->is_root()) a->output = OutputMode{false, true, 0};  // rank 0 speaks for the run
    run_train(*a);
  });
}

}  // namespace unlearn::app
