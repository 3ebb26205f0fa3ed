#include "unlearn/studies/results_table.h"

#include <fmt/format.h>

#include <algorithm>

#include <torch/torch.h>

#include "unlearn/io/atomic_file.h"

namespace unlearn::studies {

ResultsTable::Row& ResultsTable::Row::number(const std::string& name, double value, const std::string& format) {
  cells_[name] = fmt::vformat(format, fmt::make_format_args(value));
  json_[name] = value;
  return *this;
}

ResultsTable::Row& ResultsTable::Row::text(const std::string& name, const std::string& value) {
  cells_[name] = value;
  json_[name] = value;
  return *this;
}

ResultsTable::Row& ResultsTable::Row::csv(const std::string& name, std::string cell) {
  cells_[name] = std::move(cell);
  return *this;
}

ResultsTable::Row& ResultsTable::Row::json(const std::string& name, nlohmann::json value) {
  json_[name] = std::move(value);
  return *this;
}

std::string ResultsTable::Row::cell(const std::string& name) const {
  auto it = cells_.find(name);
  return it == cells_.end() ? std::string() : it->second;
}

ResultsTable::ResultsTable(std::vector<std::string> csv_columns) : columns_(std::move(csv_columns)) {}

ResultsTable::Row& ResultsTable::add_row() { return rows_.emplace_back(); }

std::string ResultsTable::csv() const {
  std::string out = fmt::format("{}\n", fmt::join(columns_, ","));
  for (const auto& row : rows_) {
    for (const auto& [name, _] : row.cells_)
      TORCH_CHECK(std::find(columns_.begin(), columns_.end(), name) != columns_.end(), "ResultsTable: cell \"",
                  name, "\" is not one of the table's columns");
    std::vector<std::string> cells;
    for (const auto& c : columns_) cells.push_back(row.cell(c));
    out += fmt::format("{}\n", fmt::join(cells, ","));
  }
  return out;
}

nlohmann::json ResultsTable::json_rows() const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : rows_) rows.push_back(row.json_fields());
  return rows;
}

void ResultsTable::write(const std::filesystem::path& dir, nlohmann::json document) const {
  document["rows"] = json_rows();
  io::write_text_atomic(dir / "results.csv", csv());
  io::write_text_atomic(dir / "results.json", document.dump(2) + "\n");
}

}  // namespace unlearn::studies
