#pragma once
// Generations in a run directory (docs/architecture.md, "Run directories"): train writes generation 0, every forget the
// next one, and the previous generation stays until the new one is safely renamed into place.
//
//   RUN_DIR/gen-0000.ckpt  gen-0001.ckpt  ...   one checkpoint per generation
//
// Only exact names count: temporaries a crash left behind ("gen-0002.ckpt.tmp-Xy12ab") and
// anything else in the directory are ignored.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace unlearn::io {

/// RUN_DIR/gen-NNNN.ckpt (at least four digits). `generation` must be >= 0.
std::filesystem::path generation_path(const std::filesystem::path& run_dir, int generation);

/// The generation a file name stands for, if it is exactly the name generation_path gives.
std::optional<int> parse_generation_file_name(const std::string& filename);

/// Every generation present, ascending. The directory must exist (a c10::Error naming it).
std::vector<int> list_generations(const std::filesystem::path& run_dir);

/// The highest generation present, or nullopt for a directory without any.
std::optional<int> latest_generation(const std::filesystem::path& run_dir);

}  // namespace unlearn::io
