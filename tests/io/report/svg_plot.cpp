#include "fovea/io/report/svg_plot.hpp"

#include <catch2/catch.hpp>
#include <limits>
#include <vector>

#include "support/temp_files.hpp"

using Catch::Matchers::Contains;
using fovea::LineChart;
using fovea::PlotSeries;
using fovea::to_svg;

namespace {

int occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// Well-formed enough for any XML parser: every tag closes in order, attribute
// values are quoted, and text holds no raw '<' or stray '&'. Returns the
// first problem, or "" when there is none.
std::string xml_problem(const std::string& xml) {
  std::vector<std::string> open;
  std::size_t i = 0;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      const auto end = xml.find(';', i);
      const std::string entity = xml.substr(i, end == std::string::npos ? 8 : end - i + 1);
      if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;" && entity != "&apos;") {
        return "bad entity " + entity + " at " + std::to_string(i);
      }
    }
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    const auto end = xml.find('>', i);
    if (end == std::string::npos) return "unclosed tag at " + std::to_string(i);
    std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return "'<' inside a tag at " + std::to_string(i);
    if (occurrences(tag, "\"") % 2 != 0) return "unbalanced quotes in <" + tag + ">";
    if (tag.front() == '/') {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes " + (open.empty() ? "nothing" : open.back());
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
    i = end + 1;
  }
  return open.empty() ? "" : "<" + open.back() + "> never closed";
}

LineChart training_curves() {
  LineChart chart;
  chart.title = "LeNet-5 on MNIST";
  chart.y_label = "loss";
  chart.series.push_back({"train loss", {2.3, 0.9, 0.41, 0.25, 0.18, 0.14, 0.11, 0.09, 0.08, 0.07}});
  chart.series.push_back({"validation loss", {1.1, 0.6, 0.35, 0.24, 0.2, 0.17, 0.15, 0.14, 0.14, 0.13}});
  return chart;
}

}  // namespace

TEST_CASE("a line chart is an SVG document with one polyline per series, axes, legend and title", "[io][svg]") {
  const std::string svg = to_svg(training_curves());
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.size() >= 7);
  CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
  CHECK(xml_problem(svg).empty());
  INFO(xml_problem(svg));

  CHECK(occurrences(svg, "<polyline") == 2);
  CHECK_THAT(svg, Contains("<title>train loss</title>"));
  CHECK_THAT(svg, Contains("<title>validation loss</title>"));
  CHECK(occurrences(svg, ">train loss</text>") == 1);  // legend entry
  CHECK_THAT(svg, Contains(">LeNet-5 on MNIST</text>"));
  CHECK_THAT(svg, Contains(">epoch</text>"));
  CHECK_THAT(svg, Contains(">loss</text>"));
  CHECK_THAT(svg, Contains("rotate(-90"));
  // Epochs 1..10 get ticks 0, 2, ..., 10; losses 0.07..2.3 get 0, 0.5, ..., 2.5.
  for (const char* tick : {">0</text>", ">2</text>", ">10</text>", ">0.5</text>", ">2.5</text>"}) {
    CHECK_THAT(svg, Contains(tick));
  }
  // Ten points per series, each "x,y".
  const auto points_at = svg.find("points=\"") + 8;
  const std::string points = svg.substr(points_at, svg.find('"', points_at) - points_at);
  CHECK(occurrences(points, ",") == 10);
  CHECK(occurrences(points, " ") == 9);
}

TEST_CASE("text is escaped, and NaN points are left out of their line", "[io][svg]") {
  LineChart chart;
  chart.title = "a < b & \"c\"";
  const double nan = std::numeric_limits<double>::quiet_NaN();
  chart.series.push_back({"loss <diverged>", {1.0, nan, 0.5, std::numeric_limits<double>::infinity()}});
  const std::string svg = to_svg(chart);
  CHECK(xml_problem(svg).empty());
  INFO(xml_problem(svg));
  CHECK_THAT(svg, Contains("a &lt; b &amp; &quot;c&quot;"));
  CHECK_THAT(svg, Contains("loss &lt;diverged&gt;"));
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  const auto points_at = svg.find("points=\"") + 8;
  CHECK(occurrences(svg.substr(points_at, svg.find('"', points_at) - points_at), ",") == 2);
}

TEST_CASE("explicit x values, a single point and an empty chart still draw", "[io][svg]") {
  LineChart chart;
  chart.x_label = "step";
  chart.series.push_back({"lr", {0.1, 0.01, 0.001}, {0, 1000, 2000}});
  chart.series.push_back({"one point", {0.05}});
  const std::string svg = to_svg(chart);
  CHECK(xml_problem(svg).empty());
  CHECK(occurrences(svg, "<polyline") == 2);
  CHECK_THAT(svg, Contains(">2000</text>"));
  CHECK(occurrences(svg, "<circle") == 4);  // markers make the single point visible

  const std::string empty = to_svg(LineChart{});
  CHECK(xml_problem(empty).empty());
  CHECK(occurrences(empty, "<polyline") == 0);
}

TEST_CASE("to_svg refuses mismatched series and tiny charts; write_svg writes the text", "[io][svg][errors]") {
  LineChart chart;
  chart.series.push_back({"bad", {1, 2, 3}, {1, 2}});
  CHECK_THROWS_AS(to_svg(chart), fovea::value_error);
  CHECK_THROWS_WITH(to_svg(chart), "to_svg: series 'bad' has 2 x and 3 y values, expected the same count");
  chart = LineChart{};
  chart.width = 50;
  CHECK_THROWS_WITH(to_svg(chart), "to_svg: chart size 50x440, expected at least 200x150");

  const fovea::test::TempFolder folder("svg");
  const auto path = folder / "curves.svg";
  fovea::write_svg(path, training_curves());
  const auto bytes = fovea::test::read_file(path);
  CHECK(std::string(bytes.begin(), bytes.end()) == to_svg(training_curves()));
  const auto nowhere = folder / "missing" / "curves.svg";
  CHECK_THROWS_AS(fovea::write_svg(nowhere, training_curves()), fovea::io_error);
  CHECK_THROWS_WITH(fovea::write_svg(nowhere, training_curves()),
                    "write_svg: cannot write '" + nowhere.string() + "': its folder does not exist");
}
