#include "unlearn/io/json_config.h"

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <set>

#include <fmt/format.h>

namespace unlearn::io {
namespace {

using nlohmann::json;

// 1 rather than 1.0 in "must be >= 1"; other numbers in their shortest exact form.
std::string number_text(double x) {
  if (std::isfinite(x) && std::nearbyint(x) == x && std::fabs(x) < 1e15) return fmt::format("{}", static_cast<long long>(x));
  return fmt::format("{}", x);
}

std::string kind_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a floating-point number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "a list";
    case json::value_t::object: return "an object";
    default: return v.type_name();
  }
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "\"" : ", \"") + n + "\"";
  return out;
}

[[noreturn]] void wrong_type(const std::string& field, const json& v, const std::string& expected) {
  throw ConfigError(fmt::format("{} = {} has the wrong type: expected {}, got {}", field, json_excerpt(v), expected,
                                kind_of(v)));
}

[[noreturn]] void out_of_range(const std::string& field, const json& v, const std::string& allowed) {
  throw ConfigError(fmt::format("{} = {} is out of range: {}", field, json_excerpt(v), allowed));
}

void check_range(const std::string& field, const json& v, double value, const Range& range) {
  if (!range.contains(value)) out_of_range(field, v, range.describe());
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The closest allowed name, if it is close enough to be a typo.
std::optional<std::string> near_miss(const std::string& name, const std::vector<std::string>& allowed) {
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(1, std::min<std::size_t>(2, name.size() / 3)) + 1;
  for (const auto& candidate : allowed) {
    const auto d = edit_distance(name, candidate);
    if (d < best_distance) best = candidate, best_distance = d;
  }
  return best;
}

// One value of type T at `field`: the type first, then the range.
template <typename T>
struct Convert;

template <>
struct Convert<double> {
  static constexpr const char* plural = "numbers";
  static constexpr const char* expected = "a number";
  static double from(const json& v, const std::string& field, const Range& range) {
    if (!v.is_number()) wrong_type(field, v, expected);
    const double x = v.get<double>();
    check_range(field, v, x, range);
    return x;
  }
};

template <>
struct Convert<float> {
  static constexpr const char* plural = "numbers";
  static constexpr const char* expected = "a number";
  static float from(const json& v, const std::string& field, const Range& range) {
    const double x = Convert<double>::from(v, field, range);
    if (std::fabs(x) > FLT_MAX) out_of_range(field, v, "must fit in float32");
    return static_cast<float>(x);
  }
};

template <>
struct Convert<int64_t> {
  static constexpr const char* plural = "integers";
  static constexpr const char* expected = "an integer";
  static int64_t from(const json& v, const std::string& field, const Range& range) {
    if (!v.is_number_integer()) wrong_type(field, v, expected);
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
      out_of_range(field, v, "must fit in a 64-bit signed integer");
    const auto x = v.get<int64_t>();
    check_range(field, v, static_cast<double>(x), range);
    return x;
  }
};

template <>
struct Convert<int> {
  static constexpr const char* plural = "integers";
  static constexpr const char* expected = "an integer";
  static int from(const json& v, const std::string& field, const Range& range) {
    const int64_t x = Convert<int64_t>::from(v, field, range);
    if (x < INT_MIN || x > INT_MAX) out_of_range(field, v, "must fit in a 32-bit integer");
    return static_cast<int>(x);
  }
};

template <>
struct Convert<bool> {
  static constexpr const char* plural = "booleans";
  static constexpr const char* expected = "a boolean (true or false)";
  static bool from(const json& v, const std::string& field, const Range&) {
    if (!v.is_boolean()) wrong_type(field, v, expected);
    return v.get<bool>();
  }
};

template <>
struct Convert<std::string> {
  static constexpr const char* plural = "strings";
  static constexpr const char* expected = "a string";
  static std::string from(const json& v, const std::string& field, const Range&) {
    if (!v.is_string()) wrong_type(field, v, expected);
    return v.get<std::string>();
  }
};

}  // namespace

// ---- Range ------------------------------------------------------------------------------------

bool Range::contains(double value) const {
  if (!lo_ && !hi_) return true;
  if (std::isnan(value)) return false;
  if (lo_ && (lo_open_ ? !(value > *lo_) : !(value >= *lo_))) return false;
  if (hi_ && (hi_open_ ? !(value < *hi_) : !(value <= *hi_))) return false;
  return true;
}

std::string Range::describe() const {
  if (lo_ && hi_)
    return fmt::format("must be in {}{}, {}{}", lo_open_ ? "(" : "[", number_text(*lo_), number_text(*hi_),
                       hi_open_ ? ")" : "]");
  if (lo_) return fmt::format("must be {} {}", lo_open_ ? ">" : ">=", number_text(*lo_));
  if (hi_) return fmt::format("must be {} {}", hi_open_ ? "<" : "<=", number_text(*hi_));
  return "may be any number";
}

// ---- JsonObjectReader -------------------------------------------------------------------------

struct JsonObjectReader::State {
  json object;
  std::string path;
  std::set<std::string> known;                  ///< every key the program asked about
  std::vector<std::shared_ptr<State>> children;  ///< nested readers, checked by finish()
};

JsonObjectReader::JsonObjectReader(std::shared_ptr<State> state) : state_(std::move(state)) {}

JsonObjectReader::JsonObjectReader(json object, std::string path) : state_(std::make_shared<State>()) {
  if (!object.is_object()) {
    if (path.empty()) throw ConfigError(fmt::format("the configuration must be a JSON object, got {}", kind_of(object)));
    wrong_type(path, object, "an object");
  }
  state_->object = std::move(object);
  state_->path = std::move(path);
}

const std::string& JsonObjectReader::path() const { return state_->path; }

std::string JsonObjectReader::field(const std::string& key) const {
  return state_->path.empty() ? key : state_->path + "." + key;
}

const json* JsonObjectReader::find(const std::string& key) const {
  state_->known.insert(key);
  auto it = state_->object.find(key);
  return it == state_->object.end() ? nullptr : &*it;
}

bool JsonObjectReader::has(const std::string& key) const {
  const json* v = find(key);
  return v && !v->is_null();
}

template <typename T>
T JsonObjectReader::get(const std::string& key, const T& fallback, const Range& range) const {
  const json* v = find(key);
  return v ? Convert<T>::from(*v, field(key), range) : fallback;
}

template <typename T>
std::optional<T> JsonObjectReader::get_optional(const std::string& key, const Range& range) const {
  const json* v = find(key);
  if (!v || v->is_null()) return std::nullopt;
  return Convert<T>::from(*v, field(key), range);
}

template <typename T>
T JsonObjectReader::require(const std::string& key, const Range& range) const {
  const json* v = find(key);
  if (!v)
    throw ConfigError(state_->path.empty() ? fmt::format("missing required key \"{}\"", key)
                                           : fmt::format("{}: missing required key \"{}\"", state_->path, key));
  return Convert<T>::from(*v, field(key), range);
}

template <typename T>
std::vector<T> JsonObjectReader::get_vector(const std::string& key, const std::vector<T>& fallback,
                                            const Range& element_range) const {
  const json* v = find(key);
  if (!v) return fallback;
  const std::string name = field(key);
  if (!v->is_array()) wrong_type(name, *v, fmt::format("a list of {}", Convert<T>::plural));
  std::vector<T> out;
  out.reserve(v->size());
  for (std::size_t i = 0; i < v->size(); ++i)
    out.push_back(Convert<T>::from((*v)[i], fmt::format("{}[{}]", name, i), element_range));
  return out;
}

#define UNLEARN_JSON_READER_TYPE(T)                                                                        \
  template T JsonObjectReader::get<T>(const std::string&, const T&, const Range&) const;                  \
  template std::optional<T> JsonObjectReader::get_optional<T>(const std::string&, const Range&) const;    \
  template T JsonObjectReader::require<T>(const std::string&, const Range&) const;                        \
  template std::vector<T> JsonObjectReader::get_vector<T>(const std::string&, const std::vector<T>&,      \
                                                          const Range&) const;
UNLEARN_JSON_READER_TYPE(double)
UNLEARN_JSON_READER_TYPE(float)
UNLEARN_JSON_READER_TYPE(int64_t)
UNLEARN_JSON_READER_TYPE(int)
UNLEARN_JSON_READER_TYPE(bool)
UNLEARN_JSON_READER_TYPE(std::string)
#undef UNLEARN_JSON_READER_TYPE

std::string JsonObjectReader::get_enum(const std::string& key, const std::string& fallback,
                                       const std::vector<std::string>& allowed) const {
  const json* v = find(key);
  if (!v) return fallback;
  const std::string name = field(key);
  if (!v->is_string()) wrong_type(name, *v, "one of " + quoted_list(allowed));
  const auto value = v->get<std::string>();
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return value;
  const auto hint = near_miss(value, allowed);
  throw ConfigError(fmt::format("{} = {} is not one of {}{}", name, json_excerpt(*v), quoted_list(allowed),
                                hint ? fmt::format(" (did you mean \"{}\"?)", *hint) : ""));
}

JsonObjectReader JsonObjectReader::object(const std::string& key) const {
  const json* v = find(key);
  const std::string name = field(key);
  if (v && !v->is_object()) wrong_type(name, *v, "an object");
  auto child = std::make_shared<State>();
  child->object = v ? *v : json::object();
  child->path = name;
  state_->children.push_back(child);
  return JsonObjectReader(child);
}

std::vector<JsonObjectReader> JsonObjectReader::objects(const std::string& key) const {
  const json* v = find(key);
  std::vector<JsonObjectReader> out;
  if (!v) return out;
  const std::string name = field(key);
  if (!v->is_array()) wrong_type(name, *v, "a list of objects");
  for (std::size_t i = 0; i < v->size(); ++i) {
    const std::string element = fmt::format("{}[{}]", name, i);
    if (!(*v)[i].is_object()) wrong_type(element, (*v)[i], "an object");
    auto child = std::make_shared<State>();
    child->object = (*v)[i];
    child->path = element;
    state_->children.push_back(child);
    out.push_back(JsonObjectReader(child));
  }
  return out;
}

json JsonObjectReader::raw(const std::string& key, const json& fallback) const {
  const json* v = find(key);
  return v ? *v : fallback;
}

void JsonObjectReader::finish() const {
  const std::vector<std::string> allowed(state_->known.begin(), state_->known.end());
  std::vector<std::string> unknown;
  for (const auto& item : state_->object.items())
    if (!state_->known.count(item.key())) unknown.push_back(item.key());
  if (!unknown.empty()) {
    std::string names;
    for (const auto& key : unknown) {
      const auto hint = near_miss(key, allowed);
      names += fmt::format("{}\"{}\"{}", names.empty() ? "" : ", ", key,
                           hint ? fmt::format(" (did you mean \"{}\"?)", *hint) : "");
    }
    const std::string where = state_->path.empty() ? "top level" : state_->path;
    throw ConfigError(fmt::format("{}: unknown key{} {}; allowed keys: {}", where, unknown.size() > 1 ? "s" : "", names,
                                  allowed.empty() ? "none" : quoted_list(allowed)));
  }
  for (const auto& child : state_->children) JsonObjectReader(child).finish();
}

std::string json_excerpt(const json& value, std::size_t max_chars) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > max_chars && max_chars > 3) text = text.substr(0, max_chars - 3) + "...";
  return text;
}

}  // namespace unlearn::io
