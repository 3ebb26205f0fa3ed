// A crash between writing the temporary file and renaming it must leave the previous
// generation loadable and unchanged (docs/architecture.md, "Run directories"), and the leftover must not look like a
// generation.
#include <torch/torch.h>

#include "lib/io/io_test_util.h"
#include "unlearn/io/atomic_file.h"
#include "unlearn/io/checkpoint.h"
#include "unlearn/io/run_dir.h"

namespace unlearn::io {
namespace {

using testing::read_bytes;
using testing::TempDir;

Checkpoint generation(int step) {
  Checkpoint c;
  c.architecture = "logistic/d=3";
  c.metadata = {{"step", step}};
  c.tensors["theta"] = torch::full({64}, static_cast<double>(step), torch::kFloat64);
  return c;
}

TEST(CrashSafety, CrashBeforeRenameKeepsThePreviousCheckpoint) {
  TempDir dir;
  const auto path = generation_path(dir.path(), 1);
  save_checkpoint(generation(1), path);
  const std::string before = read_bytes(path);

  // Same file, new content, "crash" after the temporary is complete and fsync'ed.
  const auto msg = testing::error_message<c10::Error>(
      [&] { save_checkpoint(generation(2), path, SaveOptions().crash_before_rename(true)); });
  EXPECT_NE(msg.find("simulated crash"), std::string::npos) << msg;

  EXPECT_EQ(read_bytes(path), before);  // byte-identical, not just loadable
  const auto back = load_checkpoint(path);
  EXPECT_EQ(back.metadata["step"], 1);
  EXPECT_TRUE(torch::equal(back.at("theta"), torch::full({64}, 1.0, torch::kFloat64)));

  // The temporary is still there, as a real crash would leave it, and it is complete: only
  // the rename was missing.
  const auto names = testing::file_names(dir.path());
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], "gen-0001.ckpt");
  EXPECT_TRUE(is_temporary_file_name(names[1])) << names[1];
  EXPECT_EQ(names[1].rfind("gen-0001.ckpt.tmp-", 0), 0u) << names[1];
  EXPECT_EQ(load_checkpoint(dir / names[1]).metadata["step"], 2);

  // A directory scan does not mistake it for a generation.
  EXPECT_EQ(latest_generation(dir.path()), 1);
  EXPECT_EQ(list_generations(dir.path()), std::vector<int>{1});
}

TEST(CrashSafety, CrashWritingNextGenerationLeavesLatestUnchanged) {
  TempDir dir;
  save_checkpoint(generation(0), generation_path(dir.path(), 0));
  save_checkpoint(generation(1), generation_path(dir.path(), 1));
  EXPECT_THROW(save_checkpoint(generation(2), generation_path(dir.path(), 2), SaveOptions().crash_before_rename(true)),
               c10::Error);
  EXPECT_FALSE(std::filesystem::exists(generation_path(dir.path(), 2)));
  ASSERT_EQ(latest_generation(dir.path()), 1);
  EXPECT_EQ(load_checkpoint(generation_path(dir.path(), 1)).metadata["step"], 1);

  // Recovery: the next save of generation 2 succeeds next to the leftover.
  save_checkpoint(generation(2), generation_path(dir.path(), 2));
  EXPECT_EQ(latest_generation(dir.path()), 2);
}

TEST(CrashSafety, FailedSaveRemovesItsTemporary) {
  TempDir dir;
  const auto path = dir / "a.ckpt";
  save_checkpoint(generation(1), path);
  const std::string before = read_bytes(path);
  Checkpoint bad = generation(2);
  bad.tensors["zz_undefined"] = torch::Tensor();  // fails while preparing, before any byte is written
  EXPECT_THROW(save_checkpoint(bad, path), c10::Error);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(testing::file_names(dir.path()), std::vector<std::string>{"a.ckpt"});
}

TEST(AtomicFile, UncommittedWriterLeavesTargetAndNoTemporary) {
  TempDir dir;
  write_text_atomic(dir / "config.json", "{\"a\": 1}\n");
  {
    AtomicFileWriter w(dir / "config.json");
    w.write("{\"a\": 2");  // an exception unwinds here, before commit()
    EXPECT_TRUE(std::filesystem::exists(w.temporary_path()));
  }
  EXPECT_EQ(read_bytes(dir / "config.json"), "{\"a\": 1}\n");
  EXPECT_EQ(testing::file_names(dir.path()), std::vector<std::string>{"config.json"});

  write_text_atomic(dir / "config.json", "{\"a\": 3}\n");
  EXPECT_EQ(read_bytes(dir / "config.json"), "{\"a\": 3}\n");
  EXPECT_EQ(std::filesystem::status(dir / "config.json").permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::others_read);
}

TEST(AtomicFile, TemporaryNamesAreUniqueAndRecognised) {
  TempDir dir;
  AtomicFileWriter a(dir / "x.json"), b(dir / "x.json");
  EXPECT_NE(a.temporary_path(), b.temporary_path());
  EXPECT_TRUE(is_temporary_file_name(a.temporary_path().filename().string()));
  EXPECT_FALSE(is_temporary_file_name("x.json"));
  EXPECT_FALSE(is_temporary_file_name("gen-0001.ckpt"));
  EXPECT_FALSE(is_temporary_file_name(".tmp-abcdef"));
}

}  // namespace
}  // namespace unlearn::io
