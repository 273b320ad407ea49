#pragma once

/// @file
/// Line charts as SVG text (training curves: loss and accuracy per epoch),
/// written by hand so that plotting needs no library. A browser shows the file;
/// hovering a line shows its series name.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/detail/file_io.hpp"
#include "fovea/detail/quoted_path.hpp"

namespace fovea {

/// One line of a chart.
struct PlotSeries {
  std::string name = {};       ///< Shown in the legend and when hovering the line.
  std::vector<double> y = {};  ///< The values; non-finite ones are left out of the line.
  std::vector<double> x = {};  ///< empty: 1, 2, ..., y.size() (epochs)
};

/// A line chart: axes fitted to all series, a legend on the right.
struct LineChart {
  std::string title = {};               ///< Above the plot; none when empty.
  std::string x_label = "epoch";        ///< Below the x axis; none when empty.
  std::string y_label = {};             ///< Beside the y axis; none when empty.
  std::vector<PlotSeries> series = {};  ///< The lines, each in its own colour.
  int width = 720;                      ///< Pixels; at least 200.
  int height = 440;                     ///< Pixels; at least 150.
};

namespace detail {

inline std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Coordinates with two decimals: enough for a screen, short in the file.
inline std::string svg_number(double value) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.2f", value);
  std::string s = text.data();
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

// A tick label with as many decimals as the tick step needs (0.25 -> 2).
inline std::string tick_label(double value, double step) {
  std::array<char, 32> text{};
  const double magnitude = std::max(std::abs(value), step);
  if (magnitude >= 1e6 || magnitude < 1e-4) {
    std::snprintf(text.data(), text.size(), "%.3g", value);
  } else {
    const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    std::snprintf(text.data(), text.size(), "%.*f", decimals, value);
  }
  std::string s = text.data();
  return s == "-0" ? "0" : s;
}

// An axis range widened to round tick values: steps of 1, 2 or 5 times a
// power of ten, about `target` ticks.
struct Axis {
  double low = 0, high = 1, step = 0.2;

  static Axis nice(double low, double high, int target = 5) {
    if (!(low <= high)) return {};
    if (high - low < 1e-12 * std::max(1.0, std::abs(high))) {  // one value: give it room
      const double pad = std::abs(low) > 0 ? std::abs(low) * 0.1 : 0.5;
      low -= pad;
      high += pad;
    }
    const double raw = (high - low) / target;
    const double power = std::pow(10.0, std::floor(std::log10(raw)));
    const double fraction = raw / power;
    const double step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
    return {std::floor(low / step + 1e-9) * step, std::ceil(high / step - 1e-9) * step, step};
  }
};

// Elements written straight into the document. Attribute values arrive
// formatted (numbers) or escaped (text); no quotes to escape by hand.
using Attributes = std::initializer_list<std::pair<std::string_view, std::string_view>>;

inline void open_tag(std::string& out, std::string_view name, Attributes attributes) {
  out += '<';
  out += name;
  for (const auto& [key, value] : attributes) {
    out += ' ';
    out += key;
    out += '=';
    out += '"';
    out += value;
    out += '"';
  }
  out += '>';
}

// <name .../>
inline void empty_element(std::string& out, std::string_view name, Attributes attributes) {
  open_tag(out, name, attributes);
  out.insert(out.size() - 1, 1, '/');
  out += '\n';
}

// <name ...>text</name>, the text escaped.
inline void text_element(std::string& out, std::string_view name, Attributes attributes, std::string_view text) {
  open_tag(out, name, attributes);
  out += xml_escape(text);
  out += "</";
  out += name;
  out += ">\n";
}

}  // namespace detail

/// The chart as a complete SVG document. Non-finite values (a diverged loss)
/// are left out of their line. Throws value_error for a chart smaller than
/// 200x150 or a series whose x and y counts differ.
inline std::string to_svg(const LineChart& chart) {
  using detail::svg_number;
  using detail::xml_escape;
  if (chart.width < 200 || chart.height < 150) {
    throw value_error("to_svg: chart size " + std::to_string(chart.width) + "x" + std::to_string(chart.height) +
                      ", expected at least 200x150");
  }
  for (const PlotSeries& series : chart.series) {
    if (!series.x.empty() && series.x.size() != series.y.size()) {
      throw value_error("to_svg: series '" + series.name + "' has " + std::to_string(series.x.size()) + " x and " +
                        std::to_string(series.y.size()) + " y values, expected the same count");
    }
  }
  auto x_of = [](const PlotSeries& series, std::size_t i) {
    return series.x.empty() ? static_cast<double>(i + 1) : series.x[i];
  };

  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  for (const PlotSeries& series : chart.series) {
    for (std::size_t i = 0; i < series.y.size(); ++i) {
      const double x = x_of(series, i), y = series.y[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
  }
  const detail::Axis x_axis = detail::Axis::nice(x_min, x_max);
  const detail::Axis y_axis = detail::Axis::nice(y_min, y_max);

  // Plot area: room for tick labels on the left, the title on top, axis
  // labels below, and the legend on the right.
  const double left = 72, top = 44, right = chart.width - 150.0, bottom = chart.height - 52.0;
  auto px = [&](double x) { return left + (x - x_axis.low) / (x_axis.high - x_axis.low) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y_axis.low) / (y_axis.high - y_axis.low) * (bottom - top); };

  constexpr std::array<const char*, 10> palette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  using detail::empty_element;
  using detail::open_tag;
  using detail::text_element;
  const std::string width = std::to_string(chart.width), height = std::to_string(chart.height);
  const std::string view_box = "0 0 " + width + " " + height;
  const std::string middle = svg_number((left + right) / 2);
  std::string svg;
  open_tag(svg, "svg",
           {{"xmlns", "http://www.w3.org/2000/svg"},
            {"width", width},
            {"height", height},
            {"viewBox", view_box},
            {"font-family", "sans-serif"},
            {"font-size", "12"}});
  svg += '\n';
  empty_element(svg, "rect", {{"width", "100%"}, {"height", "100%"}, {"fill", "white"}});
  if (!chart.title.empty()) {
    text_element(svg, "text", {{"x", middle}, {"y", "26"}, {"text-anchor", "middle"}, {"font-size", "16"}},
                 chart.title);
  }

  // Grid lines and tick labels; ticks are counted, not accumulated, so
  // rounding never drops the last one.
  open_tag(svg, "g", {{"stroke", "#e0e0e0"}, {"stroke-width", "1"}});
  svg += '\n';
  std::string labels;
  const auto x_ticks = static_cast<int>(std::lround((x_axis.high - x_axis.low) / x_axis.step));
  for (int i = 0; i <= x_ticks; ++i) {
    const double value = x_axis.low + i * x_axis.step;
    const std::string x = svg_number(px(value));
    empty_element(svg, "line", {{"x1", x}, {"y1", svg_number(top)}, {"x2", x}, {"y2", svg_number(bottom)}});
    text_element(labels, "text", {{"x", x}, {"y", svg_number(bottom + 16)}, {"text-anchor", "middle"}},
                 detail::tick_label(value, x_axis.step));
  }
  const auto y_ticks = static_cast<int>(std::lround((y_axis.high - y_axis.low) / y_axis.step));
  for (int i = 0; i <= y_ticks; ++i) {
    const double value = y_axis.low + i * y_axis.step;
    const std::string y = svg_number(py(value));
    empty_element(svg, "line", {{"x1", svg_number(left)}, {"y1", y}, {"x2", svg_number(right)}, {"y2", y}});
    text_element(labels, "text",
                 {{"x", svg_number(left - 6)}, {"y", svg_number(py(value) + 4)}, {"text-anchor", "end"}},
                 detail::tick_label(value, y_axis.step));
  }
  svg += "</g>\n";
  empty_element(svg, "rect",
                {{"x", svg_number(left)},
                 {"y", svg_number(top)},
                 {"width", svg_number(right - left)},
                 {"height", svg_number(bottom - top)},
                 {"fill", "none"},
                 {"stroke", "black"}});
  svg += labels;
  if (!chart.x_label.empty()) {
    text_element(svg, "text", {{"x", middle}, {"y", svg_number(bottom + 40)}, {"text-anchor", "middle"}},
                 chart.x_label);
  }
  if (!chart.y_label.empty()) {
    const std::string center = svg_number((top + bottom) / 2);
    text_element(
        svg, "text",
        {{"x", "18"}, {"y", center}, {"text-anchor", "middle"}, {"transform", "rotate(-90 18 " + center + ")"}},
        chart.y_label);
  }

  // One polyline per series (markers too when the points are few enough to see).
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const PlotSeries& series = chart.series[s];
    const std::string_view color = palette[s % palette.size()];
    std::string points, markers;
    std::size_t finite = 0;
    for (std::size_t i = 0; i < series.y.size(); ++i) {
      const double x = x_of(series, i), y = series.y[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      const std::string cx = svg_number(px(x)), cy = svg_number(py(y));
      if (!points.empty()) points += ' ';
      points += cx;
      points += ',';
      points += cy;
      empty_element(markers, "circle", {{"cx", cx}, {"cy", cy}, {"r", "2.5"}});
      ++finite;
    }
    open_tag(svg, "polyline", {{"fill", "none"}, {"stroke", color}, {"stroke-width", "2"}, {"points", points}});
    text_element(svg, "title", {}, series.name);
    svg += "</polyline>\n";
    if (finite > 0 && finite <= 40) {
      open_tag(svg, "g", {{"fill", color}});
      svg += '\n';
      svg += markers;
      svg += "</g>\n";
    }

    const double legend_y = top + 8 + 20.0 * static_cast<double>(s);
    empty_element(svg, "line",
                  {{"x1", svg_number(right + 14)},
                   {"y1", svg_number(legend_y)},
                   {"x2", svg_number(right + 38)},
                   {"y2", svg_number(legend_y)},
                   {"stroke", color},
                   {"stroke-width", "2"}});
    text_element(svg, "text", {{"x", svg_number(right + 44)}, {"y", svg_number(legend_y + 4)}}, series.name);
  }
  svg += "</svg>\n";
  return svg;
}

/// Writes to_svg(chart) to `path` as model files are written (a temporary
/// file, checked writes, a rename: a full disk leaves the previous chart
/// intact); throws as to_svg() does, and io_error when the file cannot be written.
inline void write_svg(const std::filesystem::path& path, const LineChart& chart) {
  const std::string svg = to_svg(chart);
  if (path.has_parent_path() && !std::filesystem::is_directory(path.parent_path())) {
    throw io_error("write_svg: cannot write " + detail::quoted_path(path) + ": its folder does not exist");
  }
  detail::write_file_atomically(
      path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(svg.data()), svg.size()),
      "write_svg: ");
}

}  // namespace fovea
