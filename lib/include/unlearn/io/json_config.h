#pragma once
// A thin, strict bridge from JSON onto Options structs (docs/architecture.md, "Idioms"): omitted keys keep the
// Options default; unknown keys, wrong types and out-of-range values are ConfigErrors that name
// the field path, the value and what is allowed.
//
//   auto config = unlearn::io::parse_json_file("configs/moons.json");
//   unlearn::io::JsonObjectReader r(config.at("train"), "train");
//   auto vi = r.object("vi");                                   // path "train.vi"
//   opts.lr(vi.get<double>("lr", opts.lr(), Range::positive()));
//   opts.steps(vi.get<int64_t>("steps", opts.steps(), Range::at_least(1)));
//   opts.method(vi.get_enum("method", opts.method(), {"exact", "eubo", "rkl"}));
//   auto lambdas = vi.get_vector<double>("lambdas", {0.0}, Range::closed(0, 1));
//   r.finish();   // checks "train" and every reader obtained from it, e.g. "train.vi"
//
// Messages look like
//   train.vi.lr = -0.1 is out of range: must be > 0
//   train.vi.steps = "100" has the wrong type: expected an integer, got a string
//   train.vi: unknown key "lrr" (did you mean "lr"?); allowed keys: "lambdas", "lr", "method", "steps"
//
// The allowed keys are the ones the program asked for, so call finish() after every get.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "unlearn/io/config_error.h"

namespace unlearn::io {

/// An interval of allowed numeric values, with the wording for error messages.
class Range {
 public:
  /// No bounds: every value (NaN included) is accepted.
  static Range any() { return {}; }
  static Range positive() { return greater_than(0); }       ///< > 0
  static Range non_negative() { return at_least(0); }       ///< >= 0
  static Range at_least(double lo) { return {lo, false, std::nullopt, false}; }     ///< >= lo
  static Range greater_than(double lo) { return {lo, true, std::nullopt, false}; }  ///< > lo
  static Range at_most(double hi) { return {std::nullopt, false, hi, false}; }      ///< <= hi
  static Range less_than(double hi) { return {std::nullopt, false, hi, true}; }     ///< < hi
  static Range closed(double lo, double hi) { return {lo, false, hi, false}; }      ///< [lo, hi]
  static Range open(double lo, double hi) { return {lo, true, hi, true}; }          ///< (lo, hi)
  static Range left_open(double lo, double hi) { return {lo, true, hi, false}; }    ///< (lo, hi]
  static Range right_open(double lo, double hi) { return {lo, false, hi, true}; }   ///< [lo, hi)
  /// A count of steps or iterations, [lo, kMaxSteps]: more than a run could ever finish is an
  /// error here, not an overflow later.
  static Range steps(double lo = 1) { return closed(lo, kMaxSteps); }
  /// A count of things held in memory at once (Monte Carlo samples, rows, widths, bank slots),
  /// [lo, kMaxCount]: beyond it, allocation would fail anyway, with a worse message.
  static Range count(double lo = 1) { return closed(lo, kMaxCount); }

  /// 10⁹ steps: eleven days at one millisecond a step.
  static constexpr double kMaxSteps = 1e9;
  /// 10⁸ of anything held at once: a float64 vector of that length is already 800 MB.
  static constexpr double kMaxCount = 1e8;

  /// Whether `value` lies in the interval (NaN lies in none but any()).
  bool contains(double value) const;
  /// "must be > 0", "must be in [0, 1]", "may be any number".
  std::string describe() const;

 private:
  Range() = default;
  Range(std::optional<double> lo, bool lo_open, std::optional<double> hi, bool hi_open)
      : lo_(lo), hi_(hi), lo_open_(lo_open), hi_open_(hi_open) {}
  std::optional<double> lo_, hi_;
  bool lo_open_ = false, hi_open_ = false;
};

/// Reads one JSON object field by field. Copies share their bookkeeping, so a reader can be
/// passed by value. Supported T: double, float, int64_t, int, bool, std::string.
class JsonObjectReader {
 public:
  /// `path` names the object in messages ("train.vi"); empty for a file's top level. A value
  /// that is not an object is a ConfigError.
  explicit JsonObjectReader(nlohmann::json object, std::string path = "");

  /// The object's dotted path in messages ("train.vi"; empty for a file's top level).
  const std::string& path() const;
  /// "train.vi.lr" for key "lr".
  std::string field(const std::string& key) const;
  /// Whether the key is present (and not null). Counts the key as allowed.
  bool has(const std::string& key) const;

  /// The value, or `fallback` when the key is absent. Numbers must lie in `range`.
  template <typename T>
  T get(const std::string& key, const T& fallback, const Range& range = Range::any()) const;
  /// The value, or nullopt when the key is absent or null (for Options fields that are optional).
  template <typename T>
  std::optional<T> get_optional(const std::string& key, const Range& range = Range::any()) const;
  /// The value; absent is a ConfigError ("missing required key").
  template <typename T>
  T require(const std::string& key, const Range& range = Range::any()) const;
  /// A JSON list, each element checked ("lambdas[2] = 1.5 is out of range: ...").
  template <typename T>
  std::vector<T> get_vector(const std::string& key, const std::vector<T>& fallback,
                            const Range& element_range = Range::any()) const;

  /// A string from a fixed set ("method": "exact" | "eubo" | "rkl").
  std::string get_enum(const std::string& key, const std::string& fallback,
                       const std::vector<std::string>& allowed) const;
  /// A string from a fixed set, mapped to a value (an enum, a torch::Dtype ...).
  template <typename E>
  E get_choice(const std::string& key, const E& fallback,
               const std::vector<std::pair<std::string, E>>& choices) const {
    std::vector<std::string> names;
    for (const auto& c : choices) names.push_back(c.first);
    if (!has(key)) return fallback;
    const auto name = get_enum(key, names.front(), names);
    for (const auto& c : choices)
      if (c.first == name) return c.second;
    return fallback;  // unreachable: get_enum accepted a listed name
  }

  /// The nested object at `key` (an empty one when absent), path "<this>.<key>".
  JsonObjectReader object(const std::string& key) const;
  /// A list of objects (absent: empty), paths "<this>.<key>[i]".
  std::vector<JsonObjectReader> objects(const std::string& key) const;
  /// The raw value for free-form sections (copied into checkpoints as they are), unchecked.
  nlohmann::json raw(const std::string& key, const nlohmann::json& fallback = nullptr) const;

  /// ConfigError if this object, or any reader obtained from it, has a key that was never asked
  /// for; the message names the key, a near miss if there is one, and the allowed keys.
  void finish() const;

 private:
  struct State;
  explicit JsonObjectReader(std::shared_ptr<State> state);
  const nlohmann::json* find(const std::string& key) const;

  std::shared_ptr<State> state_;
};

/// Parses a JSON file. A missing or unreadable file, malformed JSON (the message names the file,
/// line, column and byte) and duplicate keys in one object are ConfigErrors.
nlohmann::json parse_json_file(const std::filesystem::path& path);
/// The same for JSON text; `source` names it in messages ("--options").
nlohmann::json parse_json_string(const std::string& text, const std::string& source = "<string>");

/// A JSON value for error messages: dumped, shortened past `max_chars`.
std::string json_excerpt(const nlohmann::json& value, std::size_t max_chars = 80);

}  // namespace unlearn::io
