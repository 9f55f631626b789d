#include "tools/cli/report_svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace axsim::report {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
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
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string exact_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const std::vector<std::string>& palette() {
  // Okabe-Ito (distinguishable with colour-vision deficiencies), then greys.
  static const std::vector<std::string> colours{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7",
                                                "#56B4E9", "#F0E442", "#000000", "#999999", "#666666"};
  return colours;
}

namespace {

std::string colour(std::size_t i) { return palette()[i % palette().size()]; }

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Margins of the plot area inside the SVG.
struct Box {
  double left = 78, right = 170, top = 34, bottom = 56;
  double w, h;
  Box(const ChartFrame& f, bool legend) : w(0), h(0) {
    if (!legend) right = 24;
    w = f.width - left - right;
    h = f.height - top - bottom;
  }
  double x(double unit) const { return left + unit * w; }
  double y(double unit) const { return top + (1.0 - unit) * h; }
};

std::string data_attrs(const Mark& m, double value) {
  if (m.ptr.empty()) return "";
  return " data-ptr=\"" + html_escape(m.ptr) + "\" data-value=\"" + exact_number(value) + "\"";
}

std::string open_svg(const ChartFrame& f) {
  std::ostringstream o;
  o << "<figure class=\"chart\"><svg id=\"" << html_escape(f.id) << "\" xmlns=\"http://www.w3.org/2000/svg\" width=\""
    << px(f.width) << "\" height=\"" << px(f.height) << "\" viewBox=\"0 0 " << px(f.width) << ' ' << px(f.height)
    << "\" role=\"img\" aria-label=\"" << html_escape(f.title) << "\">"
    << "<text class=\"title\" x=\"" << px(f.width / 2) << "\" y=\"18\" text-anchor=\"middle\">" << html_escape(f.title)
    << "</text>";
  return o.str();
}

std::string close_svg() { return "</svg></figure>\n"; }

std::string y_axis(const Box& b, const Axis& y) {
  std::ostringstream o;
  for (double t : y.ticks()) {
    const double py = b.y(y.to_unit(t));
    o << "<line class=\"grid\" x1=\"" << px(b.left) << "\" x2=\"" << px(b.left + b.w) << "\" y1=\"" << px(py)
      << "\" y2=\"" << px(py) << "\"/>";
    o << "<text class=\"tick\" x=\"" << px(b.left - 6) << "\" y=\"" << px(py + 4) << "\" text-anchor=\"end\">"
      << html_escape(y.format ? y.format(t) : exact_number(t)) << "</text>";
  }
  o << "<line class=\"axis\" x1=\"" << px(b.left) << "\" x2=\"" << px(b.left) << "\" y1=\"" << px(b.top) << "\" y2=\""
    << px(b.top + b.h) << "\"/>";
  o << "<text class=\"label\" transform=\"translate(16," << px(b.top + b.h / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << html_escape(y.label) << "</text>";
  return o.str();
}

std::string x_axis(const Box& b, const Axis& x) {
  std::ostringstream o;
  for (double t : x.ticks()) {
    const double pxx = b.x(x.to_unit(t));
    o << "<line class=\"grid\" x1=\"" << px(pxx) << "\" x2=\"" << px(pxx) << "\" y1=\"" << px(b.top) << "\" y2=\""
      << px(b.top + b.h) << "\"/>";
    o << "<text class=\"tick\" x=\"" << px(pxx) << "\" y=\"" << px(b.top + b.h + 16) << "\" text-anchor=\"middle\">"
      << html_escape(x.format ? x.format(t) : exact_number(t)) << "</text>";
  }
  o << "<line class=\"axis\" x1=\"" << px(b.left) << "\" x2=\"" << px(b.left + b.w) << "\" y1=\"" << px(b.top + b.h)
    << "\" y2=\"" << px(b.top + b.h) << "\"/>";
  o << "<text class=\"label\" x=\"" << px(b.left + b.w / 2) << "\" y=\"" << px(b.top + b.h + 40)
    << "\" text-anchor=\"middle\">" << html_escape(x.label) << "</text>";
  return o.str();
}

// Category labels under the x axis (cropped to 14 characters, full name in a tooltip).
std::string category_axis(const Box& b, const std::vector<std::string>& categories) {
  std::ostringstream o;
  const double slot = categories.empty() ? b.w : b.w / double(categories.size());
  for (std::size_t i = 0; i < categories.size(); ++i) {
    std::string shown = categories[i].size() > 14 ? categories[i].substr(0, 13) + "\xE2\x80\xA6" : categories[i];
    o << "<text class=\"tick\" x=\"" << px(b.left + slot * (double(i) + 0.5)) << "\" y=\"" << px(b.top + b.h + 16)
      << "\" text-anchor=\"middle\"><title>" << html_escape(categories[i]) << "</title>" << html_escape(shown)
      << "</text>";
  }
  o << "<line class=\"axis\" x1=\"" << px(b.left) << "\" x2=\"" << px(b.left + b.w) << "\" y1=\"" << px(b.top + b.h)
    << "\" y2=\"" << px(b.top + b.h) << "\"/>";
  return o.str();
}

std::string legend(const Box& b, const std::vector<std::string>& names, const std::vector<std::string>& colours) {
  std::ostringstream o;
  double y = b.top + 4;
  for (std::size_t i = 0; i < names.size(); ++i, y += 18) {
    o << "<rect class=\"key\" x=\"" << px(b.left + b.w + 14) << "\" y=\"" << px(y)
      << "\" width=\"12\" height=\"12\" fill=\"" << colours[i] << "\"/><text class=\"legend\" x=\""
      << px(b.left + b.w + 32) << "\" y=\"" << px(y + 10) << "\">" << html_escape(names[i]) << "</text>";
  }
  return o.str();
}

double nice_step(double range, int target) {
  const double raw = range / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

}  // namespace

Axis Axis::fit(double lo, double hi, std::string label, Formatter format, bool log, bool include_zero) {
  Axis a;
  a.label = std::move(label);
  a.format = std::move(format);
  a.log = log;
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = hi = 0;
  if (lo > hi) std::swap(lo, hi);
  if (log) {
    if (!(lo > 0)) lo = hi > 0 ? hi / 10 : 1e-3;
    if (!(hi > 0)) hi = 1;
    a.lo = std::pow(10.0, std::floor(std::log10(lo)));
    a.hi = std::pow(10.0, std::ceil(std::log10(hi)));
    if (a.hi <= a.lo) a.hi = a.lo * 10;
    return a;
  }
  if (include_zero) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
  }
  if (hi == lo) {
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
    if (include_zero && lo < 0 && hi > 0 && lo >= -pad * 2) lo = std::min(0.0, lo);
  }
  const double step = nice_step(hi - lo, 5);
  a.lo = std::floor(lo / step) * step;
  a.hi = std::ceil(hi / step) * step;
  if (include_zero && lo >= 0) a.lo = std::max(0.0, a.lo);
  if (a.hi <= a.lo) a.hi = a.lo + step;
  return a;
}

std::vector<double> Axis::ticks() const {
  std::vector<double> t;
  if (log) {
    for (double v = lo; v <= hi * 1.0000001; v *= 10) t.push_back(v);
    return t;
  }
  const double step = nice_step(hi - lo, 5);
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

double Axis::to_unit(double v) const {
  double u;
  if (log) {
    if (!(v > 0)) return 0;
    u = (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  } else {
    u = (v - lo) / (hi - lo);
  }
  return std::clamp(u, 0.0, 1.0);
}

std::string line_chart(const ChartFrame& f, const Axis& x, const Axis& y, const std::vector<Series>& series, bool step,
                       double x_end) {
  const Box b(f, true);
  std::ostringstream o;
  o << open_svg(f) << y_axis(b, y) << x_axis(b, x);
  std::vector<std::string> names, colours;
  for (std::size_t s = 0; s < series.size(); ++s) {
    const Series& se = series[s];
    names.push_back(se.name);
    colours.push_back(colour(s));
    if (se.marks.empty()) continue;
    std::ostringstream d;
    double last_y = 0;
    for (std::size_t i = 0; i < se.marks.size(); ++i) {
      const double mx = b.x(x.to_unit(se.marks[i].x)), my = b.y(y.to_unit(se.marks[i].y));
      if (i == 0)
        d << 'M' << px(mx) << ' ' << px(my);
      else if (step)
        d << " H" << px(mx) << " V" << px(my);
      else
        d << " L" << px(mx) << ' ' << px(my);
      last_y = my;
    }
    if (step && x_end > se.marks.back().x) d << " H" << px(b.x(x.to_unit(x_end)));
    (void)last_y;
    o << "<path class=\"series\" d=\"" << d.str() << "\" fill=\"none\" stroke=\"" << colours.back()
      << "\" stroke-width=\"2\"/>";
    // Long series (a per-layer schedule over many inferences) are drawn as the line alone.
    if (se.marks.size() <= 300)
      for (const Mark& m : se.marks)
        o << "<circle class=\"mark\" cx=\"" << px(b.x(x.to_unit(m.x))) << "\" cy=\"" << px(b.y(y.to_unit(m.y)))
          << "\" r=\"3\" fill=\"" << colours.back() << "\"" << data_attrs(m, m.y) << "><title>" << html_escape(m.label)
          << "</title></circle>";
  }
  o << legend(b, names, colours) << close_svg();
  return o.str();
}

std::string stacked_bar_chart(const ChartFrame& f, const std::vector<std::string>& categories, const Axis& y,
                              const std::vector<Series>& stacks) {
  const Box b(f, true);
  std::ostringstream o;
  o << open_svg(f) << y_axis(b, y) << category_axis(b, categories);
  const double slot = categories.empty() ? b.w : b.w / double(categories.size());
  const double bw = std::min(60.0, slot * 0.7);
  std::vector<double> base(categories.size(), 0.0);
  std::vector<std::string> names, colours;
  for (std::size_t s = 0; s < stacks.size(); ++s) {
    names.push_back(stacks[s].name);
    colours.push_back(colour(s));
    for (std::size_t c = 0; c < categories.size() && c < stacks[s].marks.size(); ++c) {
      const Mark& m = stacks[s].marks[c];
      const double y0 = b.y(y.to_unit(base[c])), y1 = b.y(y.to_unit(base[c] + m.y));
      base[c] += m.y;
      o << "<rect class=\"bar\" x=\"" << px(b.left + slot * (double(c) + 0.5) - bw / 2) << "\" y=\"" << px(y1)
        << "\" width=\"" << px(bw) << "\" height=\"" << px(std::max(0.0, y0 - y1)) << "\" fill=\"" << colours.back()
        << "\"" << data_attrs(m, m.y) << "><title>" << html_escape(m.label) << "</title></rect>";
    }
  }
  o << legend(b, names, colours) << close_svg();
  return o.str();
}

std::string bar_chart(const ChartFrame& f, const std::vector<std::string>& categories, const Axis& y,
                      const Series& bars) {
  const Box b(f, false);
  std::ostringstream o;
  o << open_svg(f) << y_axis(b, y) << category_axis(b, categories);
  const double slot = categories.empty() ? b.w : b.w / double(categories.size());
  const double bw = std::min(60.0, slot * 0.7);
  for (std::size_t c = 0; c < categories.size() && c < bars.marks.size(); ++c) {
    const Mark& m = bars.marks[c];
    const double y0 = b.y(y.to_unit(std::max(y.lo, 0.0))), y1 = b.y(y.to_unit(m.y));
    o << "<rect class=\"bar\" x=\"" << px(b.left + slot * (double(c) + 0.5) - bw / 2) << "\" y=\""
      << px(std::min(y0, y1)) << "\" width=\"" << px(bw) << "\" height=\"" << px(std::abs(y0 - y1)) << "\" fill=\""
      << colour(0) << "\"" << data_attrs(m, m.y) << "><title>" << html_escape(m.label) << "</title></rect>";
  }
  o << close_svg();
  return o.str();
}

std::string strip_chart(const ChartFrame& f, const std::vector<std::string>& categories, const Axis& y,
                        const std::vector<std::vector<Mark>>& points, const std::vector<Mark>& means,
                        const std::vector<Mark>& lows, const std::vector<Mark>& highs) {
  const Box b(f, false);
  std::ostringstream o;
  o << open_svg(f) << y_axis(b, y) << category_axis(b, categories);
  const double slot = categories.empty() ? b.w : b.w / double(categories.size());
  for (std::size_t c = 0; c < categories.size(); ++c) {
    const double cx = b.left + slot * (double(c) + 0.5);
    const double spread = std::min(40.0, slot * 0.35);
    if (c < points.size())
      for (std::size_t i = 0; i < points[c].size(); ++i) {
        // Deterministic jitter (golden-ratio sequence) so overlapping trials stay visible.
        const double jitter = (std::fmod(double(i) * 0.6180339887, 1.0) - 0.5) * spread;
        const Mark& m = points[c][i];
        o << "<circle class=\"mark\" cx=\"" << px(cx + jitter) << "\" cy=\"" << px(b.y(y.to_unit(m.y)))
          << "\" r=\"3\" fill=\"" << colour(0) << "\" fill-opacity=\"0.55\"" << data_attrs(m, m.y) << "><title>"
          << html_escape(m.label) << "</title></circle>";
      }
    if (c < lows.size() && c < highs.size() && std::isfinite(lows[c].y) && std::isfinite(highs[c].y)) {
      const double y0 = b.y(y.to_unit(lows[c].y)), y1 = b.y(y.to_unit(highs[c].y));
      o << "<line class=\"whisker\" x1=\"" << px(cx) << "\" x2=\"" << px(cx) << "\" y1=\"" << px(y0) << "\" y2=\""
        << px(y1) << "\" stroke=\"" << colour(3) << "\" stroke-width=\"2\"/>";
      for (const Mark* m : {&lows[c], &highs[c]})
        o << "<line class=\"whisker-end\" x1=\"" << px(cx - 8) << "\" x2=\"" << px(cx + 8) << "\" y1=\""
          << px(b.y(y.to_unit(m->y))) << "\" y2=\"" << px(b.y(y.to_unit(m->y))) << "\" stroke=\"" << colour(3)
          << "\" stroke-width=\"2\"" << data_attrs(*m, m->y) << "><title>" << html_escape(m->label)
          << "</title></line>";
    }
    if (c < means.size()) {
      const double my = b.y(y.to_unit(means[c].y));
      o << "<line class=\"mean\" x1=\"" << px(cx - spread / 2 - 6) << "\" x2=\"" << px(cx + spread / 2 + 6)
        << "\" y1=\"" << px(my) << "\" y2=\"" << px(my) << "\" stroke=\"" << colour(7) << "\" stroke-width=\"3\""
        << data_attrs(means[c], means[c].y) << "><title>" << html_escape(means[c].label) << "</title></line>";
    }
  }
  o << close_svg();
  return o.str();
}

std::string scatter_chart(const ChartFrame& f, const Axis& x, const Axis& y, const std::vector<Mark>& points,
                          const std::vector<std::size_t>& front) {
  const Box b(f, true);
  std::ostringstream o;
  o << open_svg(f) << y_axis(b, y) << x_axis(b, x);
  std::vector<std::size_t> sorted = front;
  std::sort(sorted.begin(), sorted.end(), [&](std::size_t a, std::size_t c) { return points[a].x < points[c].x; });
  if (sorted.size() > 1) {
    std::ostringstream d;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      const Mark& m = points[sorted[i]];
      d << (i ? " L" : "M") << px(b.x(x.to_unit(m.x))) << ' ' << px(b.y(y.to_unit(m.y)));
    }
    o << "<path class=\"front\" d=\"" << d.str() << "\" fill=\"none\" stroke=\"" << colour(3)
      << "\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>";
  }
  for (std::size_t i = 0; i < points.size(); ++i) {
    const Mark& m = points[i];
    const bool on_front = std::find(front.begin(), front.end(), i) != front.end();
    o << "<circle class=\"" << (on_front ? "mark pareto" : "mark") << "\" cx=\"" << px(b.x(x.to_unit(m.x)))
      << "\" cy=\"" << px(b.y(y.to_unit(m.y))) << "\" r=\"" << (on_front ? 6 : 4) << "\" fill=\""
      << (on_front ? colour(3) : colour(0)) << "\"" << data_attrs(m, m.y) << "><title>" << html_escape(m.label)
      << "</title></circle>";
  }
  o << legend(b, {"run", "Pareto front"}, {colour(0), colour(3)}) << close_svg();
  return o.str();
}

}  // namespace axsim::report
