#pragma once
// Numeric CSV files (the small data sets of configs/data): a header line of column names,
// then one row a datum. Every field must be a number; errors name the file, the line and the
// field.
//
//   auto table = read_csv(".../gmm_2d_2000.csv");   // columns {id, x1, x2, label}
//   auto x = table.column("x1");                     // [2000] float64
//   Dataset ds = load_csv_dataset(".../gmm_2d_2000.csv", {"x1", "x2"}, "label", "id");
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "unlearn/data/dataset.h"

namespace unlearn::data {

/// How read_csv splits a file: the delimiter, whether a header names the columns, comment lines.
struct CsvOptions {
  /// Field separator.
  TORCH_ARG(char, delimiter) = ',';
  /// The first (non-blank) line names the columns; without it they are named "0", "1", ...
  TORCH_ARG(bool, header) = true;
  /// Lines whose first non-blank character is this are skipped ('\0': none).
  TORCH_ARG(char, comment) = '#';
};

/// A numeric CSV file read whole: column names and a [rows, columns] float64 matrix.
struct CsvTable {
  /// The file it was read from (named in error messages).
  std::string path;
  /// Column names in file order (from the header, or "0", "1", ... without one).
  std::vector<std::string> columns;
  torch::Tensor values;       ///< [rows, columns] float64
  std::vector<int64_t> lines; ///< 1-based line number of each row, for error messages

  /// Number of data rows (header and comment lines not counted).
  int64_t rows() const { return values.size(0); }
  /// Index of a column; an unknown name is an error listing the columns there are.
  int64_t index_of(const std::string& name) const;
  /// One column as a [rows] float64 view.
  torch::Tensor column(const std::string& name) const { return values.select(1, index_of(name)); }
};

/// Reads a numeric CSV file; a non-numeric field, a ragged row or a duplicate column name is an
/// error naming the file, line and field.
CsvTable read_csv(const std::string& path, const CsvOptions& options = {});

/// x = the feature columns (in the order given) cast to x_dtype, y = the label column cast to
/// y_dtype (int64 labels must be whole numbers), ids = the id column (whole numbers, unique)
/// or 0..N-1 when there is none.
Dataset load_csv_dataset(const std::string& path, const std::vector<std::string>& feature_columns,
                         const std::string& label_column,
                         const std::optional<std::string>& id_column = std::nullopt,
                         torch::Dtype x_dtype = torch::kFloat64, torch::Dtype y_dtype = torch::kLong,
                         const CsvOptions& options = {});

/// A list of ids, one integer a line (blank lines and '#' comments skipped), e.g.
/// configs/data/banknote_erased_ids.txt. Returns [k] int64.
torch::Tensor read_id_list(const std::string& path);

}  // namespace unlearn::data
