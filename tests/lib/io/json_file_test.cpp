#include "lib/io/io_test_util.h"
#include "unlearn/io/json_config.h"

namespace unlearn::io {
namespace {

using testing::TempDir;
using testing::write_bytes;

#define EXPECT_HAS(message, part) EXPECT_NE((message).find(part), std::string::npos) << (message)

TEST(JsonFile, Parses) {
  TempDir dir;
  write_bytes(dir / "ok.json", "{\"train\": {\"lr\": 0.1}}\n");
  EXPECT_EQ(parse_json_file(dir / "ok.json")["train"]["lr"], 0.1);
}

TEST(JsonFile, MalformedNamesFileAndPosition) {
  TempDir dir;
  const auto path = dir / "bad.json";
  write_bytes(path, "{\n  \"lr\": 0.1,\n  \"steps\": ,\n}\n");
  const auto msg = testing::error_message<ConfigError>([&] { parse_json_file(path); });
  EXPECT_HAS(msg, path.string() + ": invalid JSON");
  EXPECT_HAS(msg, "line 3, column");
  EXPECT_HAS(msg, "(byte ");
  EXPECT_EQ(msg.find("[json.exception"), std::string::npos) << msg;
}

TEST(JsonFile, EmptyFile) {
  TempDir dir;
  write_bytes(dir / "empty.json", "");
  const auto msg = testing::error_message<ConfigError>([&] { parse_json_file(dir / "empty.json"); });
  EXPECT_HAS(msg, "empty.json: invalid JSON");
}

TEST(JsonFile, MissingFileNamesThePath) {
  TempDir dir;
  const auto msg = testing::error_message<ConfigError>([&] { parse_json_file(dir / "nope.json"); });
  EXPECT_HAS(msg, (dir / "nope.json").string());
  EXPECT_HAS(msg, "no such file");
  const auto msg2 = testing::error_message<ConfigError>([&] { parse_json_file(dir.path()); });
  EXPECT_HAS(msg2, "is a directory");
}

TEST(JsonFile, DuplicateKeysAreErrors) {
  const auto msg = testing::error_message<ConfigError>(
      [] { parse_json_string(R"({"vi": {"lr": 0.1, "steps": 3, "lr": 0.2}, "lr": 1})", "--options"); });
  EXPECT_HAS(msg, "--options: duplicate key \"lr\"");
  // The same key in different objects is fine.
  EXPECT_NO_THROW(parse_json_string(R"({"a": {"lr": 1}, "b": {"lr": 2}, "lr": [{"lr": 3}, {"lr": 4}]})"));
}

// Deep nesting is refused while parsing (10⁵ levels once overflowed the stack later on), and a
// number beyond double's range names the file and the place.
TEST(JsonFile, DeepNestingAndHugeNumbersAreConfigErrors) {
  const std::string deep = "{\"seed\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto msg = testing::error_message<ConfigError>([&] { parse_json_string(deep, "deep.json"); });
  EXPECT_HAS(msg, "deep.json: invalid JSON: nested deeper than 256 levels");
  const std::string ok = "{\"a\": " + std::string(200, '[') + std::string(200, ']') + "}";
  EXPECT_NO_THROW(parse_json_string(ok, "ok.json"));
  msg = testing::error_message<ConfigError>([] { parse_json_string("{\n  \"seed\": 1,\n  \"lr\": 1e400\n}", "big.json"); });
  EXPECT_HAS(msg, "big.json: invalid JSON at line 3, column 9: number overflow parsing '1e400'");
  EXPECT_EQ(msg.find("[json.exception"), std::string::npos) << msg;
}

TEST(JsonFile, ConfigErrorIsARuntimeError) {
  EXPECT_THROW(parse_json_string("[1,"), std::runtime_error);
}

}  // namespace
}  // namespace unlearn::io
