#include "fovea/io/report/csv.hpp"

#include <catch2/catch.hpp>

#include "support/temp_files.hpp"

using fovea::CsvWriter;

namespace {

const fovea::test::TempFolder folder("csv");

std::string contents(const std::filesystem::path& path) {
  const auto bytes = fovea::test::read_file(path);
  return {bytes.begin(), bytes.end()};
}

}  // namespace

TEST_CASE("a CSV log is a header row and numeric rows in shortest round-trip form", "[io][csv]") {
  const auto path = folder / "log.csv";
  {
    CsvWriter log(path, {"epoch", "train loss", "accuracy"});
    log.write_row({1, 0.5, 0.9});
    // Each row is on disk as soon as it is written.
    CHECK(contents(path) == "epoch,train loss,accuracy\n1,0.5,0.9\n");
    const std::vector<double> row = {2, 0.1 + 0.2, 1e-7};
    log.write_row(row);
    CHECK(log.columns().size() == 3);
  }
  CHECK(contents(path) == "epoch,train loss,accuracy\n1,0.5,0.9\n2,0.30000000000000004,1e-07\n");

  fovea::write_csv(path, {"x", "y"}, {{1, 2}, {3, -4.25}});
  CHECK(contents(path) == "x,y\n1,2\n3,-4.25\n");
}

TEST_CASE("header fields with commas or quotes are quoted", "[io][csv]") {
  CHECK(fovea::csv_field("plain") == "plain");
  CHECK(fovea::csv_field("loss, smoothed") == "\"loss, smoothed\"");
  CHECK(fovea::csv_field("the \"best\"") == "\"the \"\"best\"\"\"");
  const auto path = folder / "quoted.csv";
  fovea::write_csv(path, {"a,b", "c"}, {});
  CHECK(contents(path) == "\"a,b\",c\n");
}

TEST_CASE("a row of the wrong width and an unwritable path are errors naming the file", "[io][csv][errors]") {
  const auto path = folder / "width.csv";
  CsvWriter log(path, {"epoch", "loss"});
  CHECK_THROWS_AS(log.write_row({1, 2, 3}), fovea::value_error);
  CHECK_THROWS_WITH(log.write_row({1, 2, 3}),
                    "CsvWriter::write_row: 3 values for the 2 columns of '" + path.string() + "'");
  CHECK_THROWS_WITH(CsvWriter(folder / "none.csv", {}),
                    "CsvWriter: '" + (folder / "none.csv").string() + "' needs at least one column");
  const auto nowhere = folder / "missing" / "log.csv";
  CHECK_THROWS_AS(CsvWriter(nowhere, {"a"}), fovea::io_error);
  CHECK_THROWS_WITH(CsvWriter(nowhere, {"a"}), "CsvWriter: cannot open '" + nowhere.string() + "' for writing");
}
