// `unlearn forget RUN_DIR --ids 3,17,42 | --ids-file FILE --method NAME [method options]`: the
// request through the library's request loop (unlearn/unlearning/request.h) with the method the
// registry builds (method_registry.h); writes the next generation and appends an audit line. Bad
// requests change nothing on disk.
#include <chrono>
#include <ctime>
#include <limits>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "commands.h"
#include "distributed_args.h"
#include "method_flags.h"
#include "output.h"
#include "progress.h"
#include "run_lineage.h"
#include "run_store.h"
#include "run_writer.h"
#include "unlearn/data/csv.h"
#include "unlearn/distributed/data_parallel.h"
#include "unlearn/io/audit_log.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/run_dir.h"
#include "unlearn/unlearning/exact_conjugate.h"
#include "unlearn/unlearning/method_registry.h"
#include "unlearn/unlearning/request.h"

namespace unlearn::app {
namespace {
namespace fs = std::filesystem;

// Data parallel (distributed_args.h): the run's processes; rank 0 alone writes and prints.
std::shared_ptr<distributed::Cluster> g_cluster = distributed::local_cluster();

struct ForgetArgs {
  std::string run_dir;
  std::string ids;
  std::string ids_file;
  std::string method = "exact";
  MethodFlags flags;
  int64_t removal_batch = 0;
  uint64_t seed = 0;
  double wait_seconds = 0;
  OutputMode output;
  DistributedArgs dist;
};

torch::Tensor parse_ids(const ForgetArgs& a) {
  if (a.ids.empty() == a.ids_file.empty())
    throw io::ConfigError("forget needs exactly one of --ids and --ids-file");
  if (!a.ids_file.empty()) {
    try {
      return data::read_id_list(a.ids_file);
    } catch (const c10::Error& e) {
      throw io::ConfigError(std::string("--ids-file: ") + e.what_without_backtrace());
    }
  }
  std::vector<int64_t> ids;
  std::stringstream ss(a.ids);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      ids.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw io::ConfigError("--ids: '" + item + "' is not an integer id");
    }
  }
  if (ids.empty()) throw io::ConfigError("--ids is empty");
  return torch::tensor(ids, torch::kLong);
}

/// Conjugate models: the exact retrained posterior is cheap, so every Gaussian result's gap to it
/// is measured and recorded.
void add_exact_gap(const RunConfig& c, const PosteriorState& state, const data::Dataset& remaining,
                   nlohmann::json& certificate) {
  if (!state.is_gaussian() || !dynamic_cast<ConjugateGaussianLikelihood*>(c.model.get()) || !c.model->gaussian_prior())
    return;
  auto target = train_posterior(*c.model, c.recipe().method(TrainingMethod::kExact), remaining);
  torch::NoGradGuard no_grad;
  certificate["kl_to_exact_retrain"] = state.gaussian().kl_divergence(target.gaussian()).item<double>();
}

void run_forget(const ForgetArgs& a) {
  fs::path run_dir(a.run_dir);
  // Rank 0 writes: it holds the run's lock from before it reads the newest generation until its
  // own is committed, so two requests can never both build on the same parent.
  std::optional<RunWriter> writer;
  if (g_cluster->is_root()) writer = open_run_for_writing(run_dir, "unlearn forget", a.wait_seconds);
  auto c = load_run(run_dir);
  auto g = load_generation(c, run_dir);
  auto ids = parse_ids(a);
  check_erase_request(ids, g.trained_ids, g.erased_ids);
  auto method = make_unlearner(a.method, a.flags.options(), "forget --method " + a.method);

  auto current = c.dataset.subset(g.trained_ids);
  // W > 1: every rank runs the request over the index set and evaluates its own rows.
  auto sharded = distributed::shard_for_training(g_cluster, current);
  StagedProgress progress([&](const std::string& stage, int64_t total, const std::string& value) {
    return a.output.progress(stage == "request" ? a.method : stage, total, value);
  });
  ForgetContext ctx;
  ctx.seed = a.seed;
  ctx.progress_every = a.output.log_every;
  if (!a.output.quiet) ctx.on_progress = progress.callback();
  ctx.parallel = distributed::forget_parallel(g_cluster, sharded);
  ctx.training = std::make_shared<TrainingRecipe>(c.recipe());
  auto result = forget_request(*method, *c.model, g.state, sharded.index, ids, ctx,
                               RequestOptions().batch_size(a.removal_batch));
  progress.finish();

  auto remaining = current.erase(ids);
  auto record = result.record(/*with_reports=*/false);
  add_exact_gap(c, result.state, remaining, record["certificate"]);
  if (!g_cluster->is_root()) return;  // rank 0 writes the generation and the audit line
  const int next = g.number + 1;
  record["generation"] = next;
  record["time"] = static_cast<int64_t>(std::time(nullptr));
  record["ids_sha256"] = ids_sha256(ids);
  record["previous_record_sha256"] =
      g.metadata.contains("request") ? nlohmann::json(record_sha256(g.metadata["request"])) : nlohmann::json(nullptr);
  // The record lives inside the generation: renaming the checkpoint into place commits the
  // request and its record together (docs/architecture.md, "Run directories: commit protocol").
  auto ckpt = generation_checkpoint(c, result.state, remaining.ids(), torch::cat({g.erased_ids, ids}), next,
                                    {{"method", a.method},
                                     {"parent", g.number},
                                     {"lineage", lineage_json(g.identity, run_file_sha256(io::generation_path(run_dir, g.number)))},
                                     {"request", record}});
  const auto path = io::generation_path(run_dir, next);
  writer->prepare_commit(a.output);  // the log is whole again before this request's line follows
  io::save_checkpoint(ckpt, path);
  // Committed. The human-readable log follows; if it cannot be written (a full disk), the request
  // stands and the next writer restores the line from the checkpoint, so this is a note, not a
  // failure that would invite the user to repeat an erase that has already happened.
  record = *audit_record_of(ckpt.metadata, run_file_sha256(path));  // the line the log holds for it
  try {
    io::append_audit_line(run_dir / "audit.jsonl", record);
  } catch (const c10::Error& e) {
    fmt::print(stderr,
               "note: generation {} is committed, but its line in audit.jsonl could not be written ({}); the next "
               "command that writes {} restores it from the checkpoint\n",
               next, e.what_without_backtrace(), run_dir.string());
  }
  record["run_dir"] = run_dir.string();
  record["checkpoint"] = io::generation_path(run_dir, next).string();
  a.output.emit(record);
  const auto& certificate = record["certificate"];
  std::string note;
  if (certificate.contains("kl_to_exact_retrain"))
    note = fmt::format("; KL to exact retrain {:.3e}", certificate["kl_to_exact_retrain"].get<double>());
  else if (certificate.contains("max_relative_residual") && certificate["max_relative_residual"].is_number())
    note = fmt::format("; worst solver residual {:.2e}", certificate["max_relative_residual"].get<double>());
  a.output.say("generation {}: erased {} ids by {} in {:.3g} s{}\n", next, ids.numel(), a.method, result.seconds, note);
}

std::string method_list() {
  std::string s;
  for (const auto& m : registered_methods()) s += fmt::format("\n  {:<11} {}", m.name, m.summary);
  return s;
}

}  // namespace

void add_forget_command(CLI::App& app) {
  auto a = std::make_shared<ForgetArgs>();
  auto* cmd = app.add_subcommand("forget", "Erase training points (by id) from a run's posterior");
  cmd->add_option("run_dir", a->run_dir, "run directory")->required();
  cmd->add_option("--ids", a->ids, "comma-separated ids, e.g. 3,17,42");
  cmd->add_option("--ids-file", a->ids_file, "file with one id a line");
  cmd->add_option("--method", a->method, "the forgetting method (default exact); registered:" + method_list());
  cmd->add_option("--removal-batch", a->removal_batch,
                  "ids per sequential batch: the request is forgotten batch after batch (default: all at once)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--seed", a->seed, "seed of the request's random numbers (noise, minibatches)");
  add_wait_option(*cmd, a->wait_seconds);
  add_method_flags(*cmd, a->flags);
  cmd->add_option("--log-every", a->output.log_every, "progress: a line every k steps when stdout is not a terminal")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_flag("--quiet", a->output.quiet, "no progress or summary, only errors (and --json output)");
  cmd->add_flag("--json", a->output.json, "print the audit record as JSON on stdout (progress goes to stderr)");
  add_distributed_options(cmd, a->dist);
  cmd->callback([a] {
    g_cluster = connect_cluster(a->dist);
    if (!g_cluster->is_root()) a->output = OutputMode{false, true, 0};  // rank 0 speaks for the run
    run_forget(*a);
  });
}

}  // namespace unlearn::app
