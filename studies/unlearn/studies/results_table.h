#pragma once
// The one results writer of the studies: rows of named cells become DIR/results.csv (the columns
// a study's issue fixed, in order, each cell formatted as the study says) and the "rows" of
// DIR/results.json (the same values as numbers, plus any JSON-only fields). One writer, so that
// every study's files have the same shape and a new column is one line.
//
//   ResultsTable table({"method", "lambda", "kl_param"});
//   table.add_row().text("method", "eubo").csv("lambda", "1e-05").number("kl_param", 0.0123);
//   table.write(out_dir, {{"config", config}});   // results.csv, results.json {"config", "rows"}
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace unlearn::studies {

class ResultsTable {
 public:
  class Row {
   public:
    /// A number in both files: the CSV cell by `format` (fmt syntax), the JSON value as is
    /// (NaN and ±inf become null, as nlohmann writes them).
    Row& number(const std::string& name, double value, const std::string& format = "{:.6g}");
    /// A string in both files.
    Row& text(const std::string& name, const std::string& value);
    /// A CSV cell only (a column whose JSON form differs, or is absent).
    Row& csv(const std::string& name, std::string cell);
    /// A JSON field only.
    Row& json(const std::string& name, nlohmann::json value);

    const nlohmann::json& json_fields() const { return json_; }
    /// The CSV cell of `name` ("" when unset).
    std::string cell(const std::string& name) const;

   private:
    friend class ResultsTable;
    std::map<std::string, std::string> cells_;
    nlohmann::json json_ = nlohmann::json::object();
  };

  explicit ResultsTable(std::vector<std::string> csv_columns);

  /// A new row at the end (references stay valid as rows are added).
  Row& add_row();
  const std::deque<Row>& rows() const { return rows_; }

  /// The header line and one line per row; a cell set for a column the table lacks is an error.
  std::string csv() const;
  /// [row.json_fields()...]
  nlohmann::json json_rows() const;
  /// Writes DIR/results.csv and DIR/results.json = `document` with "rows" set (2-space indent).
  void write(const std::filesystem::path& dir, nlohmann::json document) const;

 private:
  std::vector<std::string> columns_;
  std::deque<Row> rows_;
};

}  // namespace unlearn::studies
