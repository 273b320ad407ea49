#pragma once

/// @file
/// CSV for training logs: a header row, then rows of numbers, one per epoch.
/// CsvWriter flushes each row as it is written, so an interrupted run keeps its
/// log; write_csv writes a whole table at once, atomically.
/// Numbers are written in the shortest form that reads back as the same double.

#include <array>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/detail/file_io.hpp"
#include "fovea/detail/quoted_path.hpp"

namespace fovea {

/// A header field as CSV (RFC 4180): quoted when it holds a comma, quote or
/// line break, with quotes doubled.
inline std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

namespace detail {

// The header row's text, without the line break.
inline std::string csv_header(const std::vector<std::string>& columns) {
  std::string line;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) line += ',';
    line += csv_field(columns[i]);
  }
  return line;
}

// A row of numbers in their shortest round-trip form, without the line break.
inline std::string csv_row(std::span<const double> values) {
  std::string line;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) line += ',';
    std::array<char, 32> text{};
    const auto result = std::to_chars(text.data(), text.data() + text.size(), values[i]);
    line.append(text.data(), result.ptr);
  }
  return line;
}

}  // namespace detail

/// Writes a CSV file row by row: the header at construction, then numbers.
class CsvWriter {
 public:
  /// Creates (or truncates) the file and writes the header row. The arguments
  /// are checked first: a bad call leaves an existing file untouched. Throws
  /// value_error for an empty column list, io_error when something other than
  /// a regular file is at `path` or the file cannot be written.
  CsvWriter(const std::filesystem::path& path, std::vector<std::string> columns)
      : path_(path), columns_(std::move(columns)) {
    if (columns_.empty()) throw value_error("CsvWriter: " + detail::quoted_path(path_) + " needs at least one column");
    std::error_code ec;
    const auto status = std::filesystem::status(path_, ec);
    if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
      throw io_error("CsvWriter: cannot open " + detail::quoted_path(path_) +
                     " for writing: it exists and is not a regular file");
    }
    out_.open(path_, std::ios::binary | std::ios::trunc);
    if (!out_) throw io_error("CsvWriter: cannot open " + detail::quoted_path(path_) + " for writing");
    write_line(detail::csv_header(columns_));
  }

  /// Appends one row and flushes it; throws value_error when the number of
  /// values differs from the number of columns, io_error when the write fails.
  void write_row(std::span<const double> values) {
    if (values.size() != columns_.size()) {
      throw value_error("CsvWriter::write_row: " + std::to_string(values.size()) + " values for the " +
                        std::to_string(columns_.size()) + " columns of " + detail::quoted_path(path_));
    }
    write_line(detail::csv_row(values));
  }
  /// Appends one row written inline: `writer.write_row({epoch, loss, accuracy})`.
  void write_row(std::initializer_list<double> values) {
    write_row(std::span<const double>(values.begin(), values.size()));
  }

  /// The header's column names.
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  void write_line(const std::string& line) {
    out_ << line << '\n';
    out_.flush();
    if (!out_) throw io_error("CsvWriter: cannot write to " + detail::quoted_path(path_));
  }

  std::filesystem::path path_;
  std::vector<std::string> columns_;
  std::ofstream out_;
};

/// The whole table at once: header `columns`, then `rows` (each with one value
/// per column), written as model files are (a temporary file, checked writes,
/// a rename): a full disk or a bad row leaves a previous file intact. Throws
/// value_error for no columns or a row of another width, io_error when the
/// file cannot be written.
inline void write_csv(const std::filesystem::path& path, const std::vector<std::string>& columns,
                      const std::vector<std::vector<double>>& rows) {
  if (columns.empty()) throw value_error("write_csv: " + detail::quoted_path(path) + " needs at least one column");
  std::string text = detail::csv_header(columns) + '\n';
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != columns.size()) {
      throw value_error("write_csv: row " + std::to_string(r) + " has " + std::to_string(rows[r].size()) +
                        " values for the " + std::to_string(columns.size()) + " columns of " +
                        detail::quoted_path(path));
    }
    text += detail::csv_row(rows[r]) + '\n';
  }
  if (path.has_parent_path() && !std::filesystem::is_directory(path.parent_path())) {
    throw io_error("write_csv: cannot write " + detail::quoted_path(path) + ": its folder does not exist");
  }
  detail::write_file_atomically(
      path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
      "write_csv: ");
}

}  // namespace fovea
