// End-to-end tests of the real `unlearn` binary beyond the basics of test_cli.cpp: classifiers
// with a held-out split, SG-MCMC runs, BIF through `forget`, `evaluate` against a retrained
// reference, --json on every command, progress output, Ctrl-C and kill -9 during training.
#include "cli_support.h"

#include <set>

#include <cmath>

namespace {
using namespace cli_test;

std::string moons_path() { return std::string(UNLEARN_SOURCE_DIR) + "/configs/data/moons_100.csv"; }

/// Logistic regression on the 100 moons points, 20 held out as a test split.
nlohmann::json logistic_config(const nlohmann::json& train) {
  return {{"seed", 1},
          {"data",
           {{"kind", "csv"},
            {"path", moons_path()},
            {"features", {"x1", "x2"}},
            {"label", "label"},
            {"id_column", "id"},
            {"test_fraction", 0.2}}},
          {"model", {{"kind", "logistic"}, {"prior_std", 5.0}}},
          {"train", train}};
}

nlohmann::json vi_train() {
  return {{"method", "vi"}, {"steps", 400}, {"num_samples", 32}, {"lr", 0.05}, {"checkpoint_every", 0}};
}

nlohmann::json sgmcmc_train(const std::string& sampler) {
  nlohmann::json t{{"method", sampler}, {"steps", 600}, {"batch_size", 20}, {"lr", 2e-3},
                   {"bank", {{"burn_in", 200}, {"thinning", 20}, {"capacity", 20}}}, {"checkpoint_every", 0}};
  if (sampler == "sghmc") t["friction"] = 0.3;
  return t;
}

/// Conjugate linear regression on 60 synthetic points (the exact posterior is known).
nlohmann::json regression_config(const nlohmann::json& train) {
  return {{"seed", 3},
          {"data", {{"kind", "synthetic_regression"}, {"n", 60}, {"features", 3}}},
          {"model", {{"kind", "linear_regression"}, {"noise_std", 0.5}}},
          {"train", train}};
}

nlohmann::json parse_json(const Result& r, const std::string& what) {
  EXPECT_EQ(r.rc, 0) << what << ": " << r.out;
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": stdout is not one JSON document (" << e.what() << "):\n" << r.out;
    return nlohmann::json::object();
  }
}

/// The first k ids a run was trained on (the test split is random, so ask the run).
std::string first_ids(const fs::path& run_dir, int k) {
  auto ex = nlohmann::json::parse(run_stdout("export " + run_dir.string()).out);
  std::string ids;
  for (int i = 0; i < k; ++i) ids += (i ? "," : "") + std::to_string(ex["trained_ids"][i].get<int64_t>());
  return ids;
}

bool finite_number(const nlohmann::json& v) { return v.is_number() && std::isfinite(v.get<double>()); }

class Workflows : public CliTest {};

// Classifier, VI: train → a reference retrained on D_r → forget by BIF → evaluate against the
// reference; every metric of a classifier is there and finite, and BIF moved the posterior
// towards the retrained one.
TEST_F(Workflows, ClassifierViBifEvaluateAgainstRetrain) {
  auto cfg = write_config("logistic.json", logistic_config(vi_train()));
  auto run_dir = dir_ / "run", ref = dir_ / "ref";
  auto train = parse_json(run_stdout("train " + cfg.string() + " --out " + run_dir.string() + " --json"), "train --json");
  EXPECT_EQ(train["steps"], 400);
  EXPECT_EQ(train["finished"], true);
  EXPECT_TRUE(finite_number(train["objective"])) << train.dump();
  const auto ids = first_ids(run_dir, 8);

  fs::copy(run_dir, ref, fs::copy_options::recursive);
  ASSERT_EQ(run("forget " + ref.string() + " --ids " + ids + " --method retrain --quiet").rc, 0);
  auto rec = parse_json(run_stdout("forget " + run_dir.string() + " --ids " + ids + " --method bif --solver dense --json"),
                        "forget --json");
  EXPECT_EQ(rec["generation"], 1);
  EXPECT_EQ(rec["method"], "bif");
  EXPECT_EQ(rec["options"]["solver"], "dense");
  EXPECT_EQ(rec["certificate"]["kind"], "bif_newton_step");
  EXPECT_LT(rec["certificate"]["max_relative_residual"].get<double>(), 1e-6) << rec.dump();
  ASSERT_EQ(read_audit(run_dir).size(), 1u);
  EXPECT_EQ(read_audit(run_dir)[0]["certificate"], rec["certificate"]);

  auto ev = parse_json(run_stdout("evaluate " + run_dir.string() + " --reference " + ref.string() + " --json"),
                       "evaluate --json");
  EXPECT_EQ(ev["data"]["remaining"], 72);
  EXPECT_EQ(ev["data"]["erased"], 8);
  EXPECT_EQ(ev["data"]["test"], 20);
  EXPECT_EQ(ev["classifier"], true);
  const auto& m = ev["metrics"];
  for (const char* key : {"nll_remaining", "nll_erased", "nll_test", "error_remaining", "error_erased", "error_test",
                          "mia_balanced_accuracy", "mia_erased_nonmember", "l1_erased", "l1_remaining", "kl_param",
                          "mean_distance"})
    EXPECT_TRUE(finite_number(m[key])) << key << " in " << ev.dump();
  for (const char* key : {"kl_erased", "kl_remaining"}) {
    EXPECT_TRUE(finite_number(m[key]["mean"]) && finite_number(m[key]["std"])) << key << " in " << ev.dump();
  }
  EXPECT_TRUE(ev["notes"].empty()) << ev["notes"].dump();
  EXPECT_LT(m["error_remaining"].get<double>(), 0.3);

  // Doing nothing (generation 0) is further from the retrained posterior than the BIF step.
  auto ev0 = parse_json(run_stdout("evaluate " + run_dir.string() + " --generation 0 --reference " + ref.string() + " --json"),
                        "evaluate --generation 0");
  EXPECT_LT(m["kl_param"].get<double>(), ev0["metrics"]["kl_param"].get<double>()) << ev.dump() << ev0.dump();
  EXPECT_FALSE(ev0["notes"].empty());  // the reference was not trained on generation 0's data

  // The table names the metrics and what they are.
  auto table = run("evaluate " + run_dir.string() + " --reference " + ref.string());
  ASSERT_EQ(table.rc, 0) << table.out;
  for (const char* needle : {"kl_erased", "error_test", "mia_erased_nonmember", "averaged KL", "generation 1"})
    EXPECT_NE(table.out.find(needle), std::string::npos) << needle << " in\n" << table.out;
}

// SG-MCMC through the app: train a chain, forget by BIF (every sample corrected) or retrain,
// evaluate with the 1-NN KL between the banks, export the samples.
void sgmcmc_workflow(const fs::path& dir, const std::string& sampler, const std::string& solver_args) {
  auto cfg = dir / (sampler + ".json");
  std::ofstream(cfg) << logistic_config(sgmcmc_train(sampler)).dump(2);
  auto run_dir = dir / sampler, ref = dir / (sampler + "_ref");
  auto r = run("train " + cfg.string() + " --out " + run_dir.string() + " --quiet");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "");
  auto g0 = nlohmann::json::parse(run_stdout("export " + run_dir.string() + " --samples").out);
  std::string ids;
  for (int i = 0; i < 4; ++i) ids += (i ? "," : "") + std::to_string(g0["trained_ids"][i].get<int64_t>());
  fs::copy(run_dir, ref, fs::copy_options::recursive);
  ASSERT_EQ(run("forget " + ref.string() + " --ids " + ids + " --method retrain --quiet").rc, 0);
  r = run("forget " + run_dir.string() + " --ids " + ids + " --method bif " + solver_args + " --sample-steps 3");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("generation 1: erased 4 ids by bif"), std::string::npos) << r.out;

  auto g1 = nlohmann::json::parse(run_stdout("export " + run_dir.string() + " --samples").out);
  EXPECT_EQ(g1["family"], "samples");
  EXPECT_EQ(g1["bank"]["sampler"], sampler);
  EXPECT_EQ(g1["bank"]["size"], 20);
  ASSERT_EQ(g1["samples"].size(), 20u);
  EXPECT_EQ(g1["erased_ids"].size(), 4u);
  EXPECT_NE(g1["samples"], g0["samples"]);  // BIF corrects every stored sample
  const bool ggn = solver_args.find("gauss_newton") != std::string::npos;
  const auto audit_options = read_audit(run_dir).at(0)["options"];
  EXPECT_EQ(audit_options["curvature"], ggn ? "gauss_newton" : "hessian");
  EXPECT_EQ(audit_options["curvature_batch"], solver_args.find("--curvature-batch 40") != std::string::npos ? 40 : 0);

  auto ev = parse_json(run_stdout("evaluate " + run_dir.string() + " --reference " + ref.string() + " --json"),
                       "evaluate");
  for (const char* key : {"knn_kl", "mean_distance", "error_erased", "mia_balanced_accuracy"})
    EXPECT_TRUE(finite_number(ev["metrics"][key])) << key << " in " << ev.dump();
  EXPECT_FALSE(ev["metrics"].contains("kl_param"));

  // Methods that need a Gaussian are refused, naming the ones that work; nothing changes.
  auto before = snapshot(run_dir);
  r = run("forget " + run_dir.string() + " --ids " + g1["trained_ids"][0].dump() + " --method eubo");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("use --method bif or retrain"), std::string::npos) << r.out;
  EXPECT_EQ(snapshot(run_dir), before);
}

TEST_F(Workflows, SgldTrainBifRetrainEvaluateExport) { sgmcmc_workflow(dir_, "sgld", "--solver dense"); }
// Truncated Newton-CG on a subsampled Gauss-Newton operator (the Fashion-MNIST setting).
TEST_F(Workflows, SgldGaussNewtonCgOnASubsample) {
  sgmcmc_workflow(dir_, "sgld", "--solver cg --cg-max-iter 5 --curvature gauss_newton --curvature-batch 40");
}
TEST_F(Workflows, SghmcTrainBifRetrainEvaluateExport) {
  // The Gauss-Newton curvature (PSD) on this classifier; SGLD above takes the exact Hessian.
  sgmcmc_workflow(dir_, "sghmc", "--solver lissa --lissa-scale 1e-3 --lissa-terms 64 --curvature gauss_newton");
}

// BIF on the conjugate model, where the exact retrained posterior is the known answer: one
// Newton step of the VI energy (exact expectations: moment-matched noise) lands next to it.
TEST_F(Workflows, BifOnConjugateModelNearlyExact) {
  auto cfg = write_config("exact.json", regression_config({{"method", "exact"}}));
  auto run_dir = dir_ / "run";
  ASSERT_EQ(run("train " + cfg.string() + " --out " + run_dir.string() + " --quiet").rc, 0);
  auto r = run("forget " + run_dir.string() + " --ids 1,2,3 --method bif --solver dense --removal-batch 1");
  ASSERT_EQ(r.rc, 0) << r.out;
  auto rec = read_audit(run_dir).at(0);
  EXPECT_EQ(rec["certificate"]["batches"], 3);
  // Doing nothing would leave KL ≈ 0.21 (test_cli.cpp); the Newton steps leave far less.
  EXPECT_LT(rec["certificate"]["kl_to_exact_retrain"].get<double>(), 2e-3) << rec.dump();
  auto ev = parse_json(run_stdout("evaluate " + run_dir.string() + " --json"), "evaluate");
  EXPECT_DOUBLE_EQ(ev["metrics"]["kl_to_exact_retrain"].get<double>(),
                   rec["certificate"]["kl_to_exact_retrain"].get<double>());
  EXPECT_EQ(ev["classifier"], false);
  EXPECT_FALSE(ev["metrics"].contains("error_erased"));

  // LiSSA with s = 1/n diverges here (s·λ_max > 2): refused, exit 1, nothing written.
  auto before = snapshot(run_dir);
  r = run("forget " + run_dir.string() + " --ids 4 --method bif --solver lissa --lissa-c 1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("diverged"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nothing was written"), std::string::npos) << r.out;
  EXPECT_EQ(snapshot(run_dir), before);
}

// Progress: plain lines every k steps when stdout is not a terminal, a redrawn bar on a
// terminal, nothing with --quiet; --json keeps stdout to the document.
TEST_F(Workflows, ProgressLinesBarQuietAndJson) {
  auto cfg = write_config("vi.json", regression_config({{"method", "vi"}, {"steps", 300}, {"num_samples", 16},
                                                        {"lr", 0.02}, {"checkpoint_every", 0}}));
  auto r = run("train " + cfg.string() + " --out " + (dir_ / "a").string() + " --log-every 100");
  ASSERT_EQ(r.rc, 0) << r.out;
  for (const char* needle : {"train step 100/300", "train step 200/300", "train step 300/300", "steps/s", "ETA",
                             "-ELBO", "trained vi (300 steps)"})
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle << " in\n" << r.out;
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << "no bar when stdout is not a terminal";

  r = run("train " + cfg.string() + " --out " + (dir_ / "b").string() + " --quiet");
  ASSERT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "");

  // --json: stdout is the document alone, the progress went to stderr.
  auto out = run_stdout("train " + cfg.string() + " --out " + (dir_ / "c").string() + " --json --log-every 100");
  auto doc = parse_json(out, "train --json");
  EXPECT_EQ(doc["method"], "vi");
  auto err = run("train " + cfg.string() + " --out " + (dir_ / "d").string() + " --json --log-every 100", "2>&1 >/dev/null");
  EXPECT_NE(err.out.find("train step 300/300"), std::string::npos) << err.out;

  // Iterative forgetting reports too: a line per window, with the method's objective.
  auto f = run("forget " + (dir_ / "a").string() + " --ids 3,17 --method rkl --lambda 0 --steps 200 --num-samples 50 --log-every 50");
  ASSERT_EQ(f.rc, 0) << f.out;
  for (const char* needle : {"rkl step 100/200", "rkl step 200/200", "objective"})
    EXPECT_NE(f.out.find(needle), std::string::npos) << needle << " in\n" << f.out;
  f = run("forget " + (dir_ / "b").string() + " --ids 3,17 --method eubo --lambda 0 --steps 200 --num-samples 50 --quiet");
  ASSERT_EQ(f.rc, 0) << f.out;
  EXPECT_EQ(f.out, "");

  // A terminal (script(1) gives the command a pty): the bar redraws in place.
  if (std::system("command -v script >/dev/null 2>&1") == 0) {
    auto tty = dir_ / "tty.txt";
    std::string cmd = "script -qec '" + std::string(UNLEARN_BINARY) + " train " + cfg.string() + " --out " +
                      (dir_ / "e").string() + "' " + tty.string() + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    auto text = slurp(tty);
    EXPECT_NE(text.find("\rtrain ["), std::string::npos) << text;
    EXPECT_NE(text.find("300/300 100%"), std::string::npos) << text;
  }
}

// Ctrl-C writes a checkpoint and exits 130; the unfinished run is refused by forget (exit 2,
// nothing written); --resume finishes it bit-identical to an uninterrupted run.
TEST_F(Workflows, CtrlCCheckpointsAndResumesBitIdentically) {
  auto cfg = write_config("vi.json", regression_config({{"method", "vi"}, {"steps", 1500}, {"num_samples", 16},
                                                        {"lr", 0.02}, {"checkpoint_every", 50}}));
  auto a = dir_ / "a", b = dir_ / "b";
  ASSERT_EQ(run("train " + cfg.string() + " --out " + a.string() + " --quiet").rc, 0);
  std::string cmd = "(" + std::string(UNLEARN_BINARY) + " train " + cfg.string() + " --out " + b.string() +
                    " --quiet & pid=$!; while [ ! -f " + (b / "gen-0000.ckpt").string() +
                    " ] && kill -0 $pid; do sleep 0.01; done; kill -INT $pid; wait $pid; echo rc=$?) 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  pclose(pipe);
  ASSERT_NE(out.find("rc=130"), std::string::npos) << out;
  EXPECT_NE(out.find("interrupted at step"), std::string::npos) << out;

  auto before = snapshot(b);
  auto r = run("forget " + b.string() + " --ids 1 --method exact");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("has not finished training"), std::string::npos) << r.out;
  EXPECT_EQ(snapshot(b), before);

  r = run("train --resume " + b.string());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("resuming at step"), std::string::npos) << r.out;
  EXPECT_EQ(run_stdout("export " + a.string()).out, run_stdout("export " + b.string()).out);
}

// kill -9 in the middle of an SG-MCMC chain: the resumed chain ends with the same bank, bit for bit.
TEST_F(Workflows, SgldResumesBitIdenticallyAfterKill) {
  auto train = nlohmann::json{{"method", "sgld"}, {"steps", 2000}, {"batch_size", 16}, {"lr", 1e-3},
                              {"bank", {{"burn_in", 500}, {"thinning", 50}, {"capacity", 30}}},
                              {"checkpoint_every", 100}};
  auto cfg = write_config("sgld.json", regression_config(train));
  auto a = dir_ / "a", b = dir_ / "b";
  ASSERT_EQ(run("train " + cfg.string() + " --out " + a.string() + " --quiet").rc, 0);
  std::string cmd = "(" + std::string(UNLEARN_BINARY) + " train " + cfg.string() + " --out " + b.string() +
                    " --quiet & pid=$!; while [ ! -f " + (b / "gen-0000.ckpt").string() +
                    " ] && kill -0 $pid; do sleep 0.005; done; kill -9 $pid; wait $pid) >/dev/null 2>&1";
  ASSERT_NE(std::system(cmd.c_str()), -1);
  auto r = run("train --resume " + b.string());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("resuming at step"), std::string::npos) << "the kill did not interrupt the run: " << r.out;
  auto ea = run_stdout("export " + a.string() + " --samples"), eb = run_stdout("export " + b.string() + " --samples");
  ASSERT_EQ(ea.rc, 0);
  EXPECT_EQ(ea.out, eb.out);

  // A regression chain has no softmax outputs: the Gauss-Newton curvature is refused, nothing written.
  expect_rejected_unchanged(a, snapshot(a), "forget " + a.string() + " --ids 1 --method bif --curvature gauss_newton",
                            "--curvature gauss_newton needs a classifier");
}

// Bad input the earlier tests do not cover: each exits 2 with a message naming the problem and
// leaves the run directory byte-identical (or writes none).
TEST_F(Workflows, BadSgmcmcAndSplitConfigsExitTwo) {
  auto check_config = [&](const std::string& name, const nlohmann::json& j, const std::string& needle) {
    auto p = write_config(name, j);
    auto out_dir = dir_ / ("out_" + name);
    auto r = run("train " + p.string() + " --out " + out_dir.string());
    EXPECT_EQ(r.rc, 2) << name << ": " << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << name << ": " << r.out;
    EXPECT_FALSE(fs::exists(out_dir)) << name << ": nothing may be written";
  };
  auto sgld = sgmcmc_train("sgld");
  sgld["num_samples"] = 10;  // a VI key
  check_config("sgld_vi_key.json", logistic_config(sgld), "unknown key \"num_samples\"");
  sgld = sgmcmc_train("sgld");
  sgld["bank"]["burn_in"] = 600;
  check_config("burn_in.json", logistic_config(sgld), "train.bank.burn_in = 600");
  sgld = sgmcmc_train("sgld");
  sgld["friction"] = 0.5;  // SGHMC only
  check_config("sgld_friction.json", logistic_config(sgld), "unknown key \"friction\"");
  auto j = logistic_config(vi_train());
  j["data"]["test_fraction"] = 1.5;
  check_config("test_fraction.json", j, "data.test_fraction = 1.5");
  j = logistic_config(vi_train());
  j["train"]["method"] = "hmc";
  check_config("method.json", j, "train.method");
}

TEST_F(Workflows, MoreBadRequestsExitTwoAndChangeNothing) {
  auto cfg = write_config("logistic.json", logistic_config(vi_train()));
  auto run_dir = dir_ / "run";
  ASSERT_EQ(run("train " + cfg.string() + " --out " + run_dir.string() + " --quiet").rc, 0);
  auto reg = write_config("reg.json", regression_config({{"method", "exact"}}));
  auto other = dir_ / "other";
  ASSERT_EQ(run("train " + reg.string() + " --out " + other.string() + " --quiet").rc, 0);
  const auto id = first_ids(run_dir, 1);
  auto before = snapshot(run_dir);
  auto expect_rejected = [&](const std::string& args, const std::string& needle) {
    expect_rejected_unchanged(run_dir, before, args, needle);
  };
  const auto rd = run_dir.string();
  expect_rejected("forget " + rd + " --ids " + id + " --method exact", "needs a conjugate Gaussian model");
  expect_rejected("forget " + rd + " --ids " + id + " --method bif --solver qr", "solver = \"qr\" is not one of \"cg\", \"lissa\", \"dense\"");
  expect_rejected("forget " + rd + " --ids " + id + " --method bif --lissa-c 1 --lissa-scale 0.1", "excludes");
  expect_rejected("evaluate " + rd + " --reference " + other.string(), "not comparable");
  expect_rejected("evaluate " + rd + " --generation 9", "gen-0009.ckpt");
  expect_rejected("export " + rd + " --generation 9", "gen-0009.ckpt");
  expect_rejected("train " + cfg.string() + " --resume " + rd, "drop CONFIG");
  // Held-out test rows were never trained on: erasing one is an unknown id.
  auto ex = nlohmann::json::parse(run_stdout("export " + rd).out);
  std::set<int64_t> trained(ex["trained_ids"].begin(), ex["trained_ids"].end());
  int64_t held_out = 0;
  while (trained.count(held_out)) ++held_out;
  expect_rejected("forget " + rd + " --ids " + std::to_string(held_out), "unknown ids: [" + std::to_string(held_out) + "]");

  // A corrupted checkpoint is named by evaluate and export as well.
  auto gen0 = run_dir / "gen-0000.ckpt";
  auto bytes = slurp(gen0);
  auto corrupted = bytes;
  corrupted[corrupted.size() / 2] ^= 0x5a;
  std::ofstream(gen0, std::ios::binary | std::ios::trunc) << corrupted;
  before = snapshot(run_dir);
  expect_rejected("evaluate " + rd, "gen-0000.ckpt");
  expect_rejected("export " + rd, "gen-0000.ckpt");
  expect_rejected("forget " + rd + " --ids " + id + " --method bif", "gen-0000.ckpt");
}

}  // namespace
