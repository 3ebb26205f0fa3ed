#pragma once
// Testing hook for the crash-safety suite (tests/apps/test_run_faults.cpp; docs/architecture.md,
// "Run directories: commit protocol"): the environment variable UNLEARN_FAULT names one point of
// a commit at which the process fails as a real fault would.
//
//   UNLEARN_FAULT=atomic_file.rename            die there (std::_Exit(86): no cleanup, like kill -9)
//   UNLEARN_FAULT=atomic_file.write:enospc      fail there as a full disk does (a partial write,
//                                               then a c10::Error "No space left on device")
//
// Points: atomic_file.write (after part of a file's bytes), atomic_file.sync, atomic_file.rename
// (temporary complete and synced, not renamed), atomic_file.directory_sync (renamed, directory not
// yet synced), audit.write (before the line; with :enospc half a line is written), audit.sync
// (line written, not yet synced). Unset (the normal case), fault_point costs one getenv.
#include <string_view>

namespace unlearn::io {

/// What an injected fault asks the caller at `point` to do.
enum class InjectedFault {
  kNone,      ///< carry on
  kKill,      ///< die here (returned only by injected_fault; fault_point dies itself)
  kFullDisk,  ///< write part of what was asked, then fail as ENOSPC does
};

/// Exit status of a process killed by an injected fault (so tests tell it from a real crash).
inline constexpr int kInjectedKillStatus = 86;

/// The fault UNLEARN_FAULT injects at `point` (`point` or `point:kill`: kKill; `point:enospc`:
/// kFullDisk), kNone otherwise. For points that first do part of their work (a partial write).
InjectedFault injected_fault(std::string_view point);

/// Dies (std::_Exit(kInjectedKillStatus)) naming the point.
[[noreturn]] void die_at_fault_point(std::string_view point);

/// Dies at once when UNLEARN_FAULT kills at `point`; returns kFullDisk or kNone.
InjectedFault fault_point(std::string_view point);

}  // namespace unlearn::io
