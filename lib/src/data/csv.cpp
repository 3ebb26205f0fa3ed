#include "unlearn/data/csv.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <string_view>

namespace unlearn::data {
namespace {

std::string_view trim(std::string_view s) {
  const char* blanks = " \t\r\n";
  const auto first = s.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(blanks) - first + 1);
}

std::vector<std::string_view> split(std::string_view line, char delimiter) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const auto end = line.find(delimiter, start);
    fields.push_back(trim(line.substr(start, end == std::string_view::npos ? end : end - start)));
    if (end == std::string_view::npos) return fields;
    start = end + 1;
  }
}

// std::from_chars: locale-independent and exact (strtod would honour LC_NUMERIC).
template <typename T>
bool parse(std::string_view field, T& out) {
  if (!field.empty() && field.front() == '+') field.remove_prefix(1);
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
  return !field.empty() && ec == std::errc() && end == field.data() + field.size();
}

std::ifstream open_or_throw(const std::string& path, const char* op) {
  std::ifstream in(path);
  TORCH_CHECK(in.is_open(), op, ": cannot open '", path, "': ", std::strerror(errno));
  return in;
}

// Whole-number check for a column that becomes integers; names the first offending row.
void check_whole(const CsvTable& table, int64_t column, const std::string& what) {
  auto values = table.values.select(1, column);
  auto bad = (values != values.round()).logical_or(values.isfinite().logical_not());
  if (!bad.any().item<bool>()) return;
  const int64_t row = bad.nonzero()[0].item<int64_t>();
  TORCH_CHECK(false, table.path, ":", table.lines[row], ": ", what, " column '", table.columns[column],
              "' must hold whole numbers, got ", values[row].item<double>());
}

}  // namespace

int64_t CsvTable::index_of(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int64_t>(i);
  TORCH_CHECK(false, path, ": no column '", name, "'; the columns are ", fmt::format("{}", fmt::join(columns, ", ")));
}

CsvTable read_csv(const std::string& path, const CsvOptions& options) {
  auto in = open_or_throw(path, "read_csv");
  CsvTable table;
  table.path = path;
  std::vector<double> values;
  bool have_columns = false;
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    const auto text = trim(line);
    if (text.empty() || (options.comment() != '\0' && text.front() == options.comment())) continue;
    const auto fields = split(text, options.delimiter());
    if (!have_columns) {
      have_columns = true;
      if (options.header()) {
        for (const auto& name : fields) {
          TORCH_CHECK(std::find(table.columns.begin(), table.columns.end(), name) == table.columns.end(), path,
                      ":", lineno, ": column '", name, "' appears twice in the header");
          table.columns.emplace_back(name);
        }
        continue;
      }
      for (size_t i = 0; i < fields.size(); ++i) table.columns.push_back(std::to_string(i));
    }
    TORCH_CHECK(fields.size() == table.columns.size(), path, ":", lineno, ": ", fields.size(),
                " fields, expected ", table.columns.size(), " (", fmt::format("{}", fmt::join(table.columns, ",")),
                ")");
    for (size_t i = 0; i < fields.size(); ++i) {
      double v = 0;
      TORCH_CHECK(parse(fields[i], v), path, ":", lineno, ": field ", i + 1, " (column '", table.columns[i],
                  "') is not a number: '", fields[i], "'");
      values.push_back(v);
    }
    table.lines.push_back(lineno);
  }
  TORCH_CHECK(!in.bad(), "read_csv: error while reading '", path, "'");
  TORCH_CHECK(have_columns, "read_csv: '", path, "' is empty");
  const auto rows = static_cast<int64_t>(table.lines.size());
  const auto cols = static_cast<int64_t>(table.columns.size());
  table.values = torch::from_blob(values.data(), {rows, cols}, torch::kFloat64).clone();
  return table;
}

Dataset load_csv_dataset(const std::string& path, const std::vector<std::string>& feature_columns,
                         const std::string& label_column, const std::optional<std::string>& id_column,
                         torch::Dtype x_dtype, torch::Dtype y_dtype, const CsvOptions& options) {
  TORCH_CHECK(!feature_columns.empty(), "load_csv_dataset: no feature columns given for '", path, "'");
  const auto table = read_csv(path, options);
  std::vector<int64_t> features;
  for (const auto& name : feature_columns) features.push_back(table.index_of(name));
  const int64_t label = table.index_of(label_column);

  auto x = table.values.index_select(1, torch::tensor(features, torch::kLong)).to(x_dtype);
  if (torch::isIntegralType(y_dtype, /*includeBool=*/true)) check_whole(table, label, "label");
  auto y = table.values.select(1, label).to(y_dtype);
  torch::Tensor ids;
  if (id_column) {
    const int64_t column = table.index_of(*id_column);
    check_whole(table, column, "id");
    ids = table.values.select(1, column).to(torch::kLong);
  } else {
    ids = torch::arange(table.rows(), torch::kLong);
  }
  try {
    return Dataset(std::move(x), std::move(y), std::move(ids));
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, path, ": ", e.what_without_backtrace());
  }
}

torch::Tensor read_id_list(const std::string& path) {
  auto in = open_or_throw(path, "read_id_list");
  std::vector<int64_t> ids;
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    const auto text = trim(line);
    if (text.empty() || text.front() == '#') continue;
    int64_t id = 0;
    TORCH_CHECK(parse(text, id), path, ":", lineno, ": not an integer id: '", text, "'");
    ids.push_back(id);
  }
  TORCH_CHECK(!in.bad(), "read_id_list: error while reading '", path, "'");
  return torch::tensor(ids, torch::kLong);
}

}  // namespace unlearn::data
