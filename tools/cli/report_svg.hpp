// Inline SVG charts for `axsim report`, drawn by our own code (no JavaScript, no fonts or files fetched), and
// the HTML helpers of the report page.
//
// Every data mark (bar, point) and every number printed in the page carries data-ptr (a JSON pointer into
// report.json) and data-value (the number, %.17g): the page shows what report.json holds, and a test checks it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace axsim::report {

// &, <, >, " and ' replaced by entities: safe in element text and in quoted attribute values.
std::string html_escape(std::string_view text);
// Round-trippable number text (%.17g); "null" for NaN/inf.
std::string exact_number(double v);

using Formatter = std::function<std::string(double)>;

// An axis: linear or log10, with "nice" tick values covering [lo, hi].
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::string label;
  Formatter format;
  // Nice bounds and ticks around the data range (log: whole decades; a zero-width range is widened).
  static Axis fit(double data_lo, double data_hi, std::string label, Formatter format, bool log = false,
                  bool include_zero = false);
  std::vector<double> ticks() const;
  double to_unit(double v) const;  // 0 at lo, 1 at hi (clamped)
};

struct Mark {
  double x = 0, y = 0;
  std::string ptr;    // JSON pointer of y (or of the point) in report.json; "" for none
  std::string label;  // tooltip text (escaped when drawn)
};

struct Series {
  std::string name;
  std::vector<Mark> marks;
};

struct ChartFrame {
  std::string id;     // element id (letters, digits, '-')
  std::string title;  // escaped when drawn
  double width = 720, height = 340;
};

// Lines through each series' marks (x ascending); step = true draws a staircase (value holds until the next).
// `x_end` extends each step series' last level to that x.
std::string line_chart(const ChartFrame& frame, const Axis& x, const Axis& y, const std::vector<Series>& series,
                       bool step = false, double x_end = 0);

// Stacked bars: one bar per category; stacks[s].marks[c].y is stack s's height in category c (x ignored).
std::string stacked_bar_chart(const ChartFrame& frame, const std::vector<std::string>& categories, const Axis& y,
                              const std::vector<Series>& stacks);

// Simple bars: one series, one bar per category.
std::string bar_chart(const ChartFrame& frame, const std::vector<std::string>& categories, const Axis& y,
                      const Series& bars);

// Per category: the points (e.g. per-trial accuracies, jittered deterministically), the mean as a bar and
// the interval [low, high] as a whisker. means/lows/highs: one mark per category (x ignored).
std::string strip_chart(const ChartFrame& frame, const std::vector<std::string>& categories, const Axis& y,
                        const std::vector<std::vector<Mark>>& points, const std::vector<Mark>& means,
                        const std::vector<Mark>& lows, const std::vector<Mark>& highs);

// Scatter of points; `front` (indices into points) are highlighted and joined by a line (the Pareto front).
std::string scatter_chart(const ChartFrame& frame, const Axis& x, const Axis& y, const std::vector<Mark>& points,
                          const std::vector<std::size_t>& front);

const std::vector<std::string>& palette();

}  // namespace axsim::report
