#pragma once
#include <gtest/gtest.h>

#include <string>

#include <torch/torch.h>

namespace unlearn::test {

// The message of the c10::Error that f throws (a test failure when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  ADD_FAILURE() << "expected a c10::Error";
  return {};
}

}  // namespace unlearn::test
