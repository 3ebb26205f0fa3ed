#include "lib/io/io_test_util.h"
#include "unlearn/io/audit_log.h"

namespace unlearn::io {
namespace {

using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

TEST(AuditLog, OneObjectPerLineAppended) {
  TempDir dir;
  const auto path = dir / "audit.jsonl";
  EXPECT_TRUE(read_audit_log(path).empty());
  const nlohmann::json first = {{"generation", 1}, {"ids", {3, 17, 42}}, {"method", "eubo"}, {"note", "two\nlines"}};
  const nlohmann::json second = {{"generation", 2}, {"ids", {5}}, {"method", "exact"}, {"seconds", 0.25}};
  append_audit_line(path, first);
  append_audit_line(path, second);

  const std::string text = read_bytes(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);  // the embedded newline is escaped
  EXPECT_EQ(text.back(), '\n');
  const auto records = read_audit_log(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], first);
  EXPECT_EQ(records[1], second);
}

TEST(AuditLog, RecordAfterATornLineStartsOnItsOwnLine) {
  TempDir dir;
  const auto path = dir / "audit.jsonl";
  append_audit_line(path, {{"generation", 1}});
  write_bytes(path, read_bytes(path) + "{\"generation\": 2, \"ids\": [1,");  // a crash mid-append
  append_audit_line(path, {{"generation", 3}});
  const std::string text = read_bytes(path);
  EXPECT_NE(text.find("[1,\n{\"generation\":3}\n"), std::string::npos) << text;
  // The torn record is reported, with its line number, rather than skipped silently.
  const auto msg = testing::error_message<c10::Error>([&] { read_audit_log(path); });
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
}

TEST(AuditLog, OnlyObjects) {
  TempDir dir;
  const auto msg = testing::error_message<c10::Error>([&] { append_audit_line(dir / "a.jsonl", {1, 2}); });
  EXPECT_NE(msg.find("JSON object"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(dir / "a.jsonl"));
}

}  // namespace
}  // namespace unlearn::io

namespace unlearn::io {
namespace {

TEST(AuditLogLines, TornTailAndDamagedLinesAreToldApart) {
  testing::TempDir dir;
  const auto path = dir / "audit.jsonl";
  EXPECT_TRUE(read_audit_log_lines(path).records.empty());
  testing::write_bytes(path, "{\"generation\":1}\n{\"generation\":2}\n{\"generation\":3,\"ids\":[");
  auto log = read_audit_log_lines(path);
  EXPECT_EQ(log.records.size(), 2u);
  EXPECT_TRUE(log.torn_tail);
  EXPECT_TRUE(log.damaged_lines.empty());

  // A complete record that lost only its newline is still an unfinished write.
  testing::write_bytes(path, "{\"generation\":1}\n{\"generation\":2}");
  log = read_audit_log_lines(path);
  EXPECT_EQ(log.records.size(), 1u);
  EXPECT_TRUE(log.torn_tail);

  testing::write_bytes(path, "{\"generation\":1}\nnot json\n{\"generation\":3}\n");
  log = read_audit_log_lines(path);
  EXPECT_EQ(log.records.size(), 2u);
  EXPECT_FALSE(log.torn_tail);
  EXPECT_EQ(log.damaged_lines, std::vector<int>{2});
}

TEST(AuditLogLines, RewriteReplacesTheWholeLog) {
  testing::TempDir dir;
  const auto path = dir / "audit.jsonl";
  testing::write_bytes(path, "{\"generation\":1}\n{\"gener");
  rewrite_audit_log(path, {{{"generation", 1}}, {{"generation", 2}}});
  EXPECT_EQ(testing::read_bytes(path), "{\"generation\":1}\n{\"generation\":2}\n");
  EXPECT_THROW(rewrite_audit_log(path, {nlohmann::json::array()}), c10::Error);
  EXPECT_EQ(testing::read_bytes(path), "{\"generation\":1}\n{\"generation\":2}\n");  // unchanged
}

}  // namespace
}  // namespace unlearn::io
