// The strict JSON bridge: every bad config is a ConfigError naming the field path, the value
// and what is allowed; omitted keys keep the Options defaults.
#include <torch/torch.h>

#include "lib/io/io_test_util.h"
#include "unlearn/io/json_config.h"

namespace unlearn::io {
namespace {

using nlohmann::json;

// A stand-in for a real Options struct (inference/, unlearning/ have the real ones).
struct PosteriorOptions {
  TORCH_ARG(std::string, family) = "mean_field";
  TORCH_ARG(double, init_scale) = 1.0;
};
enum class Schedule { kConstant, kPolynomial };
struct ViOptions {
  TORCH_ARG(double, lr) = 0.01;
  TORCH_ARG(int64_t, steps) = 1000;
  TORCH_ARG(int, samples) = 8;
  TORCH_ARG(bool, type2) = true;
  TORCH_ARG(std::string, method) = "eubo";
  TORCH_ARG(std::vector<double>, lambdas) = std::vector<double>{0.0};
  TORCH_ARG(std::optional<double>, clip) = std::nullopt;
  TORCH_ARG(Schedule, schedule) = Schedule::kConstant;
  TORCH_ARG(PosteriorOptions, posterior) = {};
};

ViOptions read_vi(const json& config) {
  ViOptions o;
  JsonObjectReader r(config, "train.vi");
  o.lr(r.get<double>("lr", o.lr(), Range::positive()));
  o.steps(r.get<int64_t>("steps", o.steps(), Range::at_least(1)));
  o.samples(r.get<int>("samples", o.samples(), Range::closed(1, 4096)));
  o.type2(r.get<bool>("type2", o.type2()));
  o.method(r.get_enum("method", o.method(), {"exact", "eubo", "rkl"}));
  o.lambdas(r.get_vector<double>("lambdas", o.lambdas(), Range::closed(0, 1)));
  o.clip(r.get_optional<double>("clip", Range::positive()));
  o.schedule(r.get_choice<Schedule>("schedule", o.schedule(),
                                    {{"constant", Schedule::kConstant}, {"polynomial", Schedule::kPolynomial}}));
  auto p = r.object("posterior");
  o.posterior().family(p.get_enum("family", o.posterior().family(), {"mean_field", "full_rank"}));
  o.posterior().init_scale(p.get<double>("init_scale", o.posterior().init_scale(), Range::positive()));
  r.finish();
  return o;
}

std::string config_error(const json& config) {
  return testing::error_message<ConfigError>([&] { read_vi(config); });
}

#define EXPECT_HAS(message, part) EXPECT_NE((message).find(part), std::string::npos) << (message)

TEST(JsonConfig, OmittedKeysKeepDefaults) {
  const auto o = read_vi(json::object());
  const ViOptions d;
  EXPECT_EQ(o.lr(), d.lr());
  EXPECT_EQ(o.steps(), d.steps());
  EXPECT_EQ(o.samples(), d.samples());
  EXPECT_EQ(o.type2(), d.type2());
  EXPECT_EQ(o.method(), d.method());
  EXPECT_EQ(o.lambdas(), d.lambdas());
  EXPECT_FALSE(o.clip().has_value());
  EXPECT_EQ(o.schedule(), Schedule::kConstant);
  EXPECT_EQ(o.posterior().family(), "mean_field");
  EXPECT_EQ(o.posterior().init_scale(), 1.0);
}

TEST(JsonConfig, ReadsEveryKind) {
  const auto o = read_vi(json::parse(R"({"lr": 0.5, "steps": 20, "samples": 3, "type2": false, "method": "rkl",
      "lambdas": [0, 0.05, 1], "clip": 10, "schedule": "polynomial",
      "posterior": {"family": "full_rank", "init_scale": 2}})"));
  EXPECT_EQ(o.lr(), 0.5);
  EXPECT_EQ(o.steps(), 20);
  EXPECT_EQ(o.samples(), 3);
  EXPECT_FALSE(o.type2());
  EXPECT_EQ(o.method(), "rkl");
  EXPECT_EQ(o.lambdas(), (std::vector<double>{0, 0.05, 1}));
  EXPECT_EQ(o.clip(), 10.0);
  EXPECT_EQ(o.schedule(), Schedule::kPolynomial);
  EXPECT_EQ(o.posterior().family(), "full_rank");
  EXPECT_EQ(o.posterior().init_scale(), 2.0);
  EXPECT_FALSE(read_vi({{"clip", nullptr}}).clip().has_value());  // null = not set
}

TEST(JsonConfig, UnknownKeyNamesItAndTheAllowedKeys) {
  const auto msg = config_error({{"lrr", 0.1}});
  EXPECT_HAS(msg, "train.vi: unknown key \"lrr\"");
  EXPECT_HAS(msg, "did you mean \"lr\"?");
  EXPECT_HAS(msg, "allowed keys: \"clip\", \"lambdas\", \"lr\", \"method\", \"posterior\", \"samples\", "
                  "\"schedule\", \"steps\", \"type2\"");
  const auto two = config_error({{"foo", 1}, {"bar", 2}});
  EXPECT_HAS(two, "unknown keys \"bar\", \"foo\"");
  EXPECT_EQ(two.find("did you mean"), std::string::npos) << two;  // nothing close to suggest
}

TEST(JsonConfig, UnknownKeyInNestedObjectHasTheNestedPath) {
  const auto msg = config_error({{"posterior", {{"famliy", "full_rank"}}}});
  EXPECT_HAS(msg, "train.vi.posterior: unknown key \"famliy\" (did you mean \"family\"?)");
  EXPECT_HAS(msg, "allowed keys: \"family\", \"init_scale\"");
}

TEST(JsonConfig, WrongType) {
  auto msg = config_error({{"steps", "100"}});
  EXPECT_HAS(msg, "train.vi.steps = \"100\" has the wrong type: expected an integer, got a string");
  msg = config_error({{"steps", 2.5}});
  EXPECT_HAS(msg, "train.vi.steps = 2.5 has the wrong type: expected an integer, got a floating-point number");
  msg = config_error({{"lr", true}});
  EXPECT_HAS(msg, "train.vi.lr = true has the wrong type: expected a number, got a boolean");
  msg = config_error({{"type2", 1}});
  EXPECT_HAS(msg, "train.vi.type2 = 1 has the wrong type: expected a boolean");
  msg = config_error({{"lr", nullptr}});
  EXPECT_HAS(msg, "train.vi.lr = null has the wrong type");
  msg = config_error({{"lambdas", 0.5}});
  EXPECT_HAS(msg, "train.vi.lambdas = 0.5 has the wrong type: expected a list of numbers, got a floating-point number");
  msg = config_error({{"posterior", 3}});
  EXPECT_HAS(msg, "train.vi.posterior = 3 has the wrong type: expected an object");
  msg = config_error({{"posterior", {{"init_scale", "big"}}}});
  EXPECT_HAS(msg, "train.vi.posterior.init_scale = \"big\" has the wrong type: expected a number");
}

TEST(JsonConfig, OutOfRange) {
  EXPECT_HAS(config_error({{"lr", -0.1}}), "train.vi.lr = -0.1 is out of range: must be > 0");
  EXPECT_HAS(config_error({{"lr", 0}}), "train.vi.lr = 0 is out of range: must be > 0");
  EXPECT_HAS(config_error({{"steps", 0}}), "train.vi.steps = 0 is out of range: must be >= 1");
  EXPECT_HAS(config_error({{"samples", 5000}}), "train.vi.samples = 5000 is out of range: must be in [1, 4096]");
  EXPECT_HAS(config_error({{"clip", -1}}), "train.vi.clip = -1 is out of range: must be > 0");
  EXPECT_HAS(config_error({{"steps", 18446744073709551615ULL}}), "must fit in a 64-bit signed integer");
  EXPECT_HAS(config_error({{"posterior", {{"init_scale", -2}}}}),
             "train.vi.posterior.init_scale = -2 is out of range: must be > 0");
}

TEST(JsonConfig, BadListElementNamesItsIndex) {
  EXPECT_HAS(config_error({{"lambdas", {0, 0.5, 1.5}}}), "train.vi.lambdas[2] = 1.5 is out of range: must be in [0, 1]");
  EXPECT_HAS(config_error({{"lambdas", {0, "a"}}}),
             "train.vi.lambdas[1] = \"a\" has the wrong type: expected a number, got a string");
}

TEST(JsonConfig, BadEnum) {
  auto msg = config_error({{"method", "eub0"}});
  EXPECT_HAS(msg, "train.vi.method = \"eub0\" is not one of \"exact\", \"eubo\", \"rkl\" (did you mean \"eubo\"?)");
  msg = config_error({{"method", 3}});
  EXPECT_HAS(msg, "train.vi.method = 3 has the wrong type: expected one of \"exact\", \"eubo\", \"rkl\"");
  msg = config_error({{"schedule", "cosine"}});
  EXPECT_HAS(msg, "train.vi.schedule = \"cosine\" is not one of \"constant\", \"polynomial\"");
}

TEST(JsonConfig, RequiredAndTopLevel) {
  JsonObjectReader top(json{{"model", "gp"}, {"extra", 1}});
  EXPECT_EQ(top.require<std::string>("model"), "gp");
  auto msg = testing::error_message<ConfigError>([&] { top.require<double>("seed"); });
  EXPECT_HAS(msg, "missing required key \"seed\"");
  msg = testing::error_message<ConfigError>([&] { top.finish(); });
  EXPECT_HAS(msg, "top level: unknown key \"extra\"");

  msg = testing::error_message<ConfigError>([] { JsonObjectReader r(json::array({1, 2})); });
  EXPECT_HAS(msg, "must be a JSON object, got a list");
}

TEST(JsonConfig, ListsOfObjectsAndRawSections) {
  const json config = {{"runs", {{{"method", "eubo"}}, {{"method", "rkl"}, {"lambda", 0.1}}}},
                       {"notes", {{"anything", {1, 2}}}}};
  JsonObjectReader r(config, "experiment");
  auto runs = r.objects("runs");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].path(), "experiment.runs[1]");
  EXPECT_EQ(runs[0].get_enum("method", "exact", {"exact", "eubo", "rkl"}), "eubo");
  EXPECT_EQ(runs[1].get_enum("method", "exact", {"exact", "eubo", "rkl"}), "rkl");
  EXPECT_EQ(r.raw("notes"), config["notes"]);
  // runs[1].lambda was never asked for: the root's finish() finds it in the child.
  const auto msg = testing::error_message<ConfigError>([&] { r.finish(); });
  EXPECT_HAS(msg, "experiment.runs[1]: unknown key \"lambda\"; allowed keys: \"method\"");
}

TEST(JsonConfig, RangeWording) {
  EXPECT_EQ(Range::positive().describe(), "must be > 0");
  EXPECT_EQ(Range::at_least(1).describe(), "must be >= 1");
  EXPECT_EQ(Range::less_than(0.5).describe(), "must be < 0.5");
  EXPECT_EQ(Range::left_open(0, 1).describe(), "must be in (0, 1]");
  EXPECT_TRUE(Range::left_open(0, 1).contains(1));
  EXPECT_FALSE(Range::left_open(0, 1).contains(0));
  EXPECT_FALSE(Range::positive().contains(std::nan("")));
  EXPECT_TRUE(Range::any().contains(-1e300));
}

}  // namespace
}  // namespace unlearn::io
