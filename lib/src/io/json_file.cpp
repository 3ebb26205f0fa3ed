// parse_json_file / parse_json_string: JSON in, ConfigError naming the source on any problem.
#include <fstream>
#include <iterator>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "unlearn/io/json_config.h"

namespace unlearn::io {
namespace {

// Deeper than any config needs (ours nest 4 levels); far below what would exhaust the stack when
// a value is later printed or compared (10⁵ levels did: exit 139).
constexpr int kMaxJsonDepth = 256;

// "line L, column C" of byte offset `at` in `text` (1-based), for errors nlohmann reports
// without a position.
std::string position_of(const std::string& text, size_t at) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < at && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return fmt::format("line {}, column {}", line, column);
}

// e.what() without nlohmann's "[json.exception.parse_error.101] " prefix.
std::string without_json_prefix(const char* what) {
  std::string reason = what;
  const auto bracket = reason.find("] ");
  if (reason.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos) reason = reason.substr(bracket + 2);
  return reason;
}

}  // namespace

nlohmann::json parse_json_string(const std::string& text, const std::string& source) {
  using nlohmann::json;
  // nlohmann keeps the last of two equal keys silently; a strict bridge must not (the user
  // edited one of them and the other one wins).
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  json::parser_callback_t check_keys = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) {
      throw ConfigError(fmt::format("{}: invalid JSON: nested deeper than {} levels (arrays and objects)",
                                    source, kMaxJsonDepth));
    }
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      const auto key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second && !duplicate) duplicate = key;
    }
    return true;
  };
  json out;
  try {
    out = json::parse(text, check_keys);
  } catch (const json::parse_error& e) {
    // "parse error at line 3, column 5: ..." once the prefix is gone.
    const auto reason = without_json_prefix(e.what());
    throw ConfigError(fmt::format("{}: invalid JSON: {} (byte {})", source, reason, e.byte));
  } catch (const json::out_of_range& e) {
    // A number beyond double's range, e.g. 1e400 ("number overflow parsing '1e400'"): nlohmann
    // gives no position, so find the token.
    const auto reason = without_json_prefix(e.what());
    std::string where;
    const auto quote = reason.find('\'');
    if (quote != std::string::npos) {
      const auto token = reason.substr(quote + 1, reason.find('\'', quote + 1) - quote - 1);
      const auto at = token.empty() ? std::string::npos : text.find(token);
      if (at != std::string::npos) where = " at " + position_of(text, at);
    }
    throw ConfigError(fmt::format("{}: invalid JSON{}: {}", source, where, reason));
  }
  if (duplicate) throw ConfigError(fmt::format("{}: duplicate key \"{}\" in one object", source, *duplicate));
  return out;
}

nlohmann::json parse_json_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw ConfigError(fmt::format("cannot read {}: no such file", path.string()));
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError(fmt::format("cannot read {}: it is a directory, not a JSON file", path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) throw ConfigError(fmt::format("cannot read {}: cannot open it (permissions?)", path.string()));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ConfigError(fmt::format("cannot read {}: I/O error", path.string()));
  return parse_json_string(text, path.string());
}

}  // namespace unlearn::io
