// `unlearn --plugin PATH.so`: a user's model kind and method reach train / forget / evaluate /
// export on the stock binary; a broken plugin, a model that breaks the contract and a run used
// without its plugin each stop with exit code 2, a message that names the problem, and nothing
// written. The plugin is tests/plugins/test_plugin.cpp (built like a user's, against
// unlearn::plugin_api).
#include <cstdlib>

#include "cli_support.h"

namespace {
using namespace cli_test;

const std::string kPlugin = UNLEARN_TEST_PLUGIN;
const std::string kNoSymbol = UNLEARN_TEST_NO_SYMBOL_PLUGIN;

class Plugins : public CliTest {
 protected:
  fs::path config(const std::string& kind) {
    return write_config(kind + ".json",
                        {{"seed", 2},
                         {"data", {{"kind", "synthetic_regression"}, {"n", 40}, {"features", 2}}},
                         {"model", {{"kind", kind}}},
                         {"posterior", {{"family", "mean_field"}}},
                         {"train", {{"method", "vi"}, {"steps", 150}, {"num_samples", 16}, {"lr", 0.05}}}});
  }
  std::string with_plugin(const std::string& args) { return "--plugin " + kPlugin + " " + args; }
};

TEST_F(Plugins, AModelKindFromAPluginReachesEverySubcommand) {
  auto run_dir = dir_ / "run";
  auto r = run(with_plugin("train " + config("toy_regression").string() + " --out " + run_dir.string() + " --quiet"));
  ASSERT_EQ(r.rc, 0) << r.out;
  auto record = nlohmann::json::parse(slurp(run_dir / "plugins.json"));
  EXPECT_EQ(record["model_kind"], "toy_regression");
  EXPECT_EQ(record["plugins"][0].get<std::string>(), fs::absolute(kPlugin).lexically_normal().string());

  r = run(with_plugin("forget " + run_dir.string() + " --ids 1,2,3 --method eubo --option lambdas=[0.00001] --quiet"));
  ASSERT_EQ(r.rc, 0) << r.out;
  r = run(with_plugin("forget " + run_dir.string() + " --ids 4 --method retrain --quiet"));
  ASSERT_EQ(r.rc, 0) << r.out;
  // The plugin's own method, through the registry, with its options read strictly.
  r = run(with_plugin("forget " + run_dir.string() + " --ids 5,6 --method toy_keep --options '{\"tag\": 3}' --quiet"));
  ASSERT_EQ(r.rc, 0) << r.out;
  auto audit = read_audit(run_dir);
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_EQ(audit[2]["method"], "toy_keep");
  EXPECT_EQ(audit[2]["certificate"]["tag"], 3.0);
  EXPECT_EQ(audit[2]["certificate"]["erased"], 2);
  EXPECT_EQ(audit[2]["certificate"]["n"], 36);
  r = run(with_plugin("forget " + run_dir.string() + " --ids 7 --method toy_keep --option colour=red"));
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("colour"), std::string::npos) << r.out;

  r = run(with_plugin("evaluate " + run_dir.string() + " --json"), "2>/dev/null");
  ASSERT_EQ(r.rc, 0) << r.out;
  r = run(with_plugin("export " + run_dir.string()), "2>/dev/null");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)["trained_ids"].size(), 34u);

  // forget --help lists the plugin's method next to the built-in ones.
  r = run(with_plugin("forget --help"));
  EXPECT_NE(r.out.find("toy_keep"), std::string::npos) << r.out;
}

TEST_F(Plugins, ARunUsedWithoutItsPluginNamesThePlugin) {
  auto run_dir = dir_ / "run";
  ASSERT_EQ(run(with_plugin("train " + config("toy_regression").string() + " --out " + run_dir.string() + " --quiet")).rc, 0);
  auto before = snapshot(run_dir);
  for (const std::string sub : {"forget " + run_dir.string() + " --ids 1", "evaluate " + run_dir.string(),
                                "export " + run_dir.string()})
    expect_rejected_unchanged(run_dir, before, sub, "--plugin " + fs::absolute(kPlugin).lexically_normal().string());
}

TEST_F(Plugins, BrokenPluginsExitTwoNamingThePluginAndWriteNothing) {
  auto cfg = config("linear_regression");
  auto out = dir_ / "run";
  auto expect_refused = [&](const std::string& plugin, const std::string& needle, const char* mode = nullptr) {
    if (mode) ::setenv("UNLEARN_TEST_PLUGIN_MODE", mode, 1);
    auto r = run("--plugin " + plugin + " train " + cfg.string() + " --out " + out.string());
    ::unsetenv("UNLEARN_TEST_PLUGIN_MODE");
    EXPECT_EQ(r.rc, 2) << plugin << ": " << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(plugin), std::string::npos) << "the message names the plugin: " << r.out;
    EXPECT_FALSE(fs::exists(out)) << "nothing may be written";
  };
  expect_refused((dir_ / "missing.so").string(), "no such file");
  expect_refused(cfg.string(), "cannot load it");  // not a shared library
  expect_refused(kNoSymbol, "does not export the C symbol unlearn_register_plugin");
  expect_refused(kPlugin, "the test plugin was asked to throw", "throw");
  expect_refused(kPlugin, "model kind \"logistic\" is already registered (built-in)", "clash");
  expect_refused(kPlugin, "plugin API version 99", "version");
}

TEST_F(Plugins, AModelThatBreaksTheContractIsStoppedBeforeTraining) {
  auto out = dir_ / "run";
  auto r = run(with_plugin("train " + config("toy_shape_bug").string() + " --out " + out.string()));
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("log_likelihood(θ [2, 2], a batch of 4) returned [2]; the model contract wants [2, 4]"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(out));
  r = run(with_plugin("train " + config("toy_nan_bug").string() + " --out " + out.string()));
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("non-finite"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("toy_nan_bug"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
