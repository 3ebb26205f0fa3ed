#include "lib/io/io_test_util.h"
#include "unlearn/io/run_dir.h"

namespace unlearn::io {
namespace {

using testing::TempDir;
using testing::write_bytes;

TEST(RunDir, GenerationPath) {
  EXPECT_EQ(generation_path("/runs/a", 3), std::filesystem::path("/runs/a/gen-0003.ckpt"));
  EXPECT_EQ(generation_path("r", 0).filename(), "gen-0000.ckpt");
  EXPECT_EQ(generation_path("r", 12345).filename(), "gen-12345.ckpt");
  const auto msg = testing::error_message<c10::Error>([] { generation_path("r", -1); });
  EXPECT_NE(msg.find(">= 0"), std::string::npos) << msg;
}

TEST(RunDir, ParseOnlyExactNames) {
  EXPECT_EQ(parse_generation_file_name("gen-0007.ckpt"), 7);
  EXPECT_EQ(parse_generation_file_name("gen-12345.ckpt"), 12345);
  for (const char* name : {"gen-7.ckpt", "gen-00007.ckpt", "gen-0007.ckpt.tmp-a1B2c3", "gen-0007.ckpt~", "gen-.ckpt",
                           "gen--001.ckpt", "gen-00x1.ckpt", "xgen-0001.ckpt", "gen-0001.json", "audit.jsonl",
                           "gen-99999999999.ckpt"})
    EXPECT_EQ(parse_generation_file_name(name), std::nullopt) << name;
}

TEST(RunDir, LatestIgnoresTemporariesAndOtherFiles) {
  TempDir dir;
  EXPECT_EQ(latest_generation(dir.path()), std::nullopt);
  for (int g : {0, 2, 10}) write_bytes(generation_path(dir.path(), g), "x");
  write_bytes(dir / "gen-0011.ckpt.tmp-Ab12Cd", "partial");
  write_bytes(dir / "gen-0012.ckpt.tmp-XXXXXX", "");
  write_bytes(dir / "audit.jsonl", "{}\n");
  std::filesystem::create_directory(dir / "gen-0013.ckpt");  // not a regular file
  EXPECT_EQ(list_generations(dir.path()), (std::vector<int>{0, 2, 10}));
  EXPECT_EQ(latest_generation(dir.path()), 10);
}

TEST(RunDir, MissingDirectoryIsAnError) {
  TempDir dir;
  const auto msg = testing::error_message<c10::Error>([&] { latest_generation(dir / "typo"); });
  EXPECT_NE(msg.find("typo"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

}  // namespace
}  // namespace unlearn::io
