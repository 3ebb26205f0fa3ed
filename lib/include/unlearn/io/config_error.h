#pragma once
// The one exception type for bad user configuration: malformed JSON, unknown keys, wrong types,
// out-of-range values. The app maps it to exit code 2 (a usage error, nothing written).
//
// It derives from std::runtime_error, not c10::Error, on purpose: its what() is exactly the
// message shown to the user (c10::Error appends a C++ backtrace), and catching it cannot be
// confused with a failing tensor precondition deep inside the library.
#include <stdexcept>
#include <string>

namespace unlearn::io {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace unlearn::io
