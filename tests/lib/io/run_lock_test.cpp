// The run directory's lock: a second writer is refused with the holder's PID, waits when asked,
// and gets the lock once the holder is gone (flock locks belong to open file descriptions, so two
// acquisitions in one process exclude each other just as two processes do).
#include <unistd.h>

#include <chrono>
#include <thread>

#include "lib/io/io_test_util.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/run_lock.h"

namespace unlearn::io {
namespace {

using testing::read_bytes;
using testing::TempDir;

std::string message_of_second_acquire(const std::filesystem::path& dir, double wait) {
  try {
    auto lock = RunLock::acquire(dir, "second", RunLockOptions().wait_seconds(wait));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(RunLock, SecondWriterIsRefusedNamingTheHolder) {
  TempDir dir;
  auto first = RunLock::acquire(dir.path(), "unlearn forget");
  EXPECT_EQ(read_bytes(dir / kRunLockFileName), std::to_string(::getpid()) + " unlearn forget\n");
  const auto message = message_of_second_acquire(dir.path(), 0);
  EXPECT_NE(message.find("is locked by PID " + std::to_string(::getpid()) + " (unlearn forget)"), std::string::npos)
      << message;
  EXPECT_NE(message.find("--wait SECONDS"), std::string::npos) << message;
}

TEST(RunLock, ReleasedWhenTheHolderGoesAway) {
  TempDir dir;
  { auto first = RunLock::acquire(dir.path(), "first"); }
  auto second = RunLock::acquire(dir.path(), "second");  // does not throw
  EXPECT_EQ(read_bytes(dir / kRunLockFileName), std::to_string(::getpid()) + " second\n");
}

TEST(RunLock, WaitQueuesBehindTheHolder) {
  TempDir dir;
  auto first = std::make_unique<RunLock>(RunLock::acquire(dir.path(), "first"));
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    first.reset();
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto second = RunLock::acquire(dir.path(), "second", RunLockOptions().wait_seconds(10));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  release.join();
  EXPECT_GE(waited, 0.25);  // it really waited for the release ...
  EXPECT_LT(waited, 5.0);   // ... and took the lock soon after (polls every 50 ms)
}

TEST(RunLock, WaitGivesUpAfterItsTime) {
  TempDir dir;
  auto first = RunLock::acquire(dir.path(), "first");
  const auto t0 = std::chrono::steady_clock::now();
  const auto message = message_of_second_acquire(dir.path(), 0.2);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(message.find("after waiting 0.2 s"), std::string::npos) << message;
  EXPECT_GE(waited, 0.2);
}

TEST(RunLock, MissingDirectoryIsAConfigError) {
  TempDir dir;
  EXPECT_THROW(RunLock::acquire(dir / "nope", "x"), ConfigError);
}

}  // namespace
}  // namespace unlearn::io
