#include "unlearn/io/fault_injection.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace unlearn::io {

InjectedFault injected_fault(std::string_view point) {
  const char* spec = std::getenv("UNLEARN_FAULT");
  if (spec == nullptr || *spec == '\0') return InjectedFault::kNone;
  const std::string_view s(spec);
  if (s.substr(0, point.size()) != point) return InjectedFault::kNone;
  const std::string_view mode = s.substr(point.size());
  if (mode.empty() || mode == ":kill") return InjectedFault::kKill;
  if (mode == ":enospc") return InjectedFault::kFullDisk;
  return InjectedFault::kNone;
}

void die_at_fault_point(std::string_view point) {
  std::fprintf(stderr, "UNLEARN_FAULT: killed at %.*s\n", static_cast<int>(point.size()), point.data());
  std::_Exit(kInjectedKillStatus);  // no destructors, no flushing: what kill -9 leaves
}

InjectedFault fault_point(std::string_view point) {
  const auto fault = injected_fault(point);
  if (fault == InjectedFault::kKill) die_at_fault_point(point);
  return fault;
}

}  // namespace unlearn::io
