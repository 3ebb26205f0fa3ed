// parse_json_file / parse_json_string: JSON in, ConfigError naming the source on any problem.
#include <fstream>
#include <iterator>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "unlearn/io/json_config.h"

namespace unlearn::io {

nlohmann::json parse_json_string(const std::string& text, const std::string& source) {
  using nlohmann::json;
  // nlohmann keeps the last of two equal keys silently; a strict bridge must not (the user
  // edited one of them and the other one wins).
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  json::parser_callback_t check_keys = [&](int, json::parse_event_t event, json& parsed) {
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
    // e.what() is "[json.exception.parse_error.101] parse error at line 3, column 5: ...".
    std::string reason = e.what();
    const auto bracket = reason.find("] ");
    if (reason.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos) reason = reason.substr(bracket + 2);
    throw ConfigError(fmt::format("{}: invalid JSON: {} (byte {})", source, reason, e.byte));
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
