#include "unlearn/io/run_dir.h"

#include <algorithm>
#include <cctype>

#include <c10/util/Exception.h>
#include <fmt/format.h>

namespace unlearn::io {
namespace {

constexpr const char* kPrefix = "gen-";
constexpr const char* kSuffix = ".ckpt";

std::string file_name(int generation) { return fmt::format("{}{:04d}{}", kPrefix, generation, kSuffix); }

}  // namespace

std::filesystem::path generation_path(const std::filesystem::path& run_dir, int generation) {
  TORCH_CHECK(generation >= 0, "generation_path: generation must be >= 0, got ", generation);
  return run_dir / file_name(generation);
}

std::optional<int> parse_generation_file_name(const std::string& filename) {
  const std::string prefix = kPrefix, suffix = kSuffix;
  if (filename.size() <= prefix.size() + suffix.size() || filename.compare(0, prefix.size(), prefix) != 0 ||
      filename.compare(filename.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::nullopt;
  const std::string digits = filename.substr(prefix.size(), filename.size() - prefix.size() - suffix.size());
  if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::nullopt;
  const int generation = std::stoi(digits);
  // "gen-3.ckpt" and "gen-00003.ckpt" are not ours: one generation, one name.
  if (file_name(generation) != filename) return std::nullopt;
  return generation;
}

std::vector<int> list_generations(const std::filesystem::path& run_dir) {
  std::error_code ec;
  TORCH_CHECK(std::filesystem::is_directory(run_dir, ec), "run directory ", run_dir.string(), " does not exist");
  std::vector<int> out;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir)) {
    if (!entry.is_regular_file()) continue;
    if (auto g = parse_generation_file_name(entry.path().filename().string())) out.push_back(*g);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<int> latest_generation(const std::filesystem::path& run_dir) {
  auto all = list_generations(run_dir);
  if (all.empty()) return std::nullopt;
  return all.back();
}

}  // namespace unlearn::io
