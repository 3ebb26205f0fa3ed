// The Fashion-MNIST study of the BIF papers (issue 7): train a Bayesian network by mean-field VI,
// SGLD and SGHMC on D (origin), retrain on D_r = D without the removed class-0 points (target),
// forget those points with BIF in batches of 64 (processed) — and, for the VI posterior, with EUBO
// and reverse KL (the VBU paper's methods) — and compare errors on S_f (removed), S_r (remaining)
// and test, a membership-inference attack and the predictive L1 distance to the retrained model.
// This file: the order of the parts (fmnist_study.h), the rows and timings, DIR/results.csv (one
// row per method and stage) and DIR/results.json.
#include <fmt/format.h>

#include <algorithm>

#include "fmnist_bif/fmnist_study.h"
#include "unlearn/studies/results_table.h"

namespace unlearn::studies {

FmnistStudy::FmnistStudy(const nlohmann::json& config, const StudyContext& ctx)
    : json_(config), c_(parse_fmnist_bif_config(config)), ctx_(ctx), cluster_(ctx.cluster), root_(cluster_->is_root()) {}

void FmnistStudy::run() {
  load();
  if (c_.runs("vi")) run_vi();
  for (const char* m : {"sgld", "sghmc"})
    if (c_.runs(m)) run_chain(m);
  if (root_) write_outputs();
}

// Training on `d` (the index set when data parallel) with `seed`, a log line every steps/5.
TrainStart FmnistStudy::train_start(const distributed::ShardedData& d, uint64_t seed, const std::string& what) const {
  return TrainStart()
      .seed(seed)
      .parallel(d.parallel)
      .stage(what)
      .progress_every(std::max<int64_t>(1, c_.steps / 5))
      .on_progress([this](const ProgressEvent& e) {
        log(fmt::format("    {} step {}/{}: objective {:.5g}\n", e.stage, e.done, e.total, e.values.at(0)));
      });
}

void FmnistStudy::push_row(const FmnistRow& row) {
  rows_.push_back(row);
  log(fmt::format("  {:<18} {:>5} {:<9} err S_f {:6.2f}%  S_r {:6.2f}%  test {:6.2f}%  MIA(S_f non-member) "
                  "{:6.2f}%  L1 to target {:.4f}\n",
                  row.method, row.removed, row.stage, 100 * row.err_forget, 100 * row.err_remain, 100 * row.err_test,
                  100 * row.mia, row.l1));
}

void FmnistStudy::add_rows(const std::string& method, const Removal& r, const Outcome& o) {
  for (auto [stage, p] : {std::pair<const char*, const Predictive*>{"origin", &o.origin},
                          {"processed", &o.processed},
                          {"target", &o.target}}) {
    auto row = judge(method, stage, r.removed, *p, o.target, r.sets);
    row.forget_seconds = std::string(stage) == "processed" ? o.forget_seconds : 0.0;
    row.retrain_seconds = o.retrain_seconds;
    push_row(row);
  }
}

// timings[method]: training once, then per removal; the flat retrain/forget fields are the last
// removal's (the only one in a single-count config).
// requests: how many calls the forgetting took (0: the removal's requests of request_size).
void FmnistStudy::record_timing(const std::string& method, double train_s, const Removal& r, double retrain_s,
                                double forget_s, int64_t requests) {
  auto& t = timings_[method];
  t["train_seconds"] = train_s;
  t["train_ms_per_step"] = 1e3 * train_s / c_.steps;
  nlohmann::json one{{"removed", r.removed},
                     {"retrain_seconds", retrain_s},
                     {"forget_seconds", forget_s},
                     {"forget_seconds_per_request", forget_s / (requests > 0 ? requests : r.requests)},
                     {"forget_over_retrain", forget_s / retrain_s}};
  t.update(one);
  t["per_removal"].push_back(one);
}

void FmnistStudy::write_outputs() const {
  ResultsTable table({"method", "removed", "err_forget", "err_remain", "err_test", "mia_forget_nonmember",
                      "pred_l1_to_retrain", "forget_seconds", "retrain_seconds"});
  for (const auto& r : rows_) {
    table.add_row()
        .csv("method", r.method + "/" + r.stage)  // the CSV's one name column; JSON keeps them apart
        .json("method", r.method)
        .json("stage", r.stage)
        .csv("removed", std::to_string(r.removed))
        .json("removed", r.removed)
        .number("err_forget", r.err_forget)
        .number("err_remain", r.err_remain)
        .number("err_test", r.err_test)
        .number("mia_forget_nonmember", r.mia)
        .number("pred_l1_to_retrain", r.l1)
        .json("pred_l1_forget", r.l1_forget)
        .json("pred_l1_remain", r.l1_remain)
        .json("pred_l1_test", r.l1_test)
        .number("forget_seconds", r.forget_seconds)
        .number("retrain_seconds", r.retrain_seconds);
  }
  table.write(ctx_.out_dir, {{"experiment", "fmnist_bif"},
                             {"config", json_},
                             {"model", model_->architecture()},
                             {"num_params", model_->num_params()},
                             {"train_size", train_.size()},
                             {"world_size", cluster_->world_size()},
                             {"test_size", test_.size()},
                             {"eval_remaining", c_.eval_remaining},
                             {"removed", removed_sizes_},
                             {"class_size", permuted_.size(0)},
                             {"pred_l1_to_retrain_on", "S_f, the evaluated S_r and test together"},
                             {"timings", timings_},
                             {"diverged_at_request", diverged_},
                             {"lissa_guard", guard_},
                             {"solves", solves_},
                             {"vbu", vbu_reports_}});
  log("fmnist_bif: wrote " + (ctx_.out_dir / "results.csv").string() + "\n");
}

StudyResult run_fmnist_bif_study(const nlohmann::json& config, const StudyContext& ctx) {
  FmnistStudy(config, ctx).run();
  StudyResult result;
  result.wrote = ctx.cluster->is_root();
  return result;
}

}  // namespace unlearn::studies
