#include "core/units.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>

namespace axsim {

std::string_view dim_symbol(Dim d) {
  switch (d) {
    case Dim::volt: return "V";
    case Dim::hertz: return "Hz";
    case Dim::ampere: return "A";
    case Dim::joule: return "J";
    case Dim::watt: return "W";
    case Dim::second: return "s";
    case Dim::byte: return "B";
    case Dim::farad: return "F";
    case Dim::none: return "";
  }
  return "";
}

std::string dim_example(Dim d) {
  switch (d) {
    case Dim::volt: return "a voltage like 0.66V";
    case Dim::hertz: return "a frequency like 250MHz";
    case Dim::ampere: return "a current like 10nA";
    case Dim::joule: return "an energy like 1.5pJ";
    case Dim::watt: return "a power like 20nW";
    case Dim::second: return "a time like 2ms";
    case Dim::byte: return "a size like 64KiB";
    case Dim::farad: return "a capacitance like 1fF";
    case Dim::none: return "a number";
  }
  return "a value";
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Returns the multiplier of a prefix, or NaN if it is not one.
double prefix_scale(std::string_view p, Dim d) {
  if (p.empty()) return 1.0;
  if (d == Dim::byte) {
    static constexpr std::array<std::pair<std::string_view, double>, 7> kBin{
        {{"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0}, {"k", 1e3}, {"K", 1e3},
         {"M", 1e6}}};
    for (auto [name, v] : kBin)
      if (p == name) return v;
    if (p == "G") return 1e9;
    return NAN;
  }
  static constexpr std::array<std::pair<std::string_view, double>, 11> kSi{{{"f", 1e-15},
                                                                           {"p", 1e-12},
                                                                           {"n", 1e-9},
                                                                           {"u", 1e-6},
                                                                           {"\xC2\xB5", 1e-6},
                                                                           {"m", 1e-3},
                                                                           {"k", 1e3},
                                                                           {"K", 1e3},
                                                                           {"M", 1e6},
                                                                           {"G", 1e9},
                                                                           {"T", 1e12}}};
  for (auto [name, v] : kSi)
    if (p == name) return v;
  return NAN;
}

}  // namespace

double parse_quantity(std::string_view text, Dim expected) {
  const std::string_view t = trim(text);
  const std::string shown = "'" + std::string(t) + "'";
  double value = 0.0;
  const char* first = t.data();
  const char* last = t.data() + t.size();
  if (!t.empty() && *first == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || t.empty()) throw UnitError(dim_example(expected) + ", found " + shown);
  if (!std::isfinite(value)) throw UnitError("a finite number, found " + shown);
  std::string_view unit = trim(std::string_view(ptr, std::size_t(last - ptr)));
  if (expected == Dim::none) {
    if (unit.empty()) return value;
    if (unit == "%") return value / 100.0;
    throw UnitError("a plain number, found " + shown);
  }
  const std::string_view sym = dim_symbol(expected);
  if (unit.empty())
    throw UnitError(dim_example(expected) + " (the unit is required), found " + shown);
  if (unit.size() < sym.size() || unit.substr(unit.size() - sym.size()) != sym)
    throw UnitError(dim_example(expected) + ", found " + shown);
  const double scale = prefix_scale(unit.substr(0, unit.size() - sym.size()), expected);
  if (std::isnan(scale)) throw UnitError(dim_example(expected) + " (unknown unit prefix), found " + shown);
  if (!std::isfinite(value * scale)) throw UnitError("a finite quantity, found " + shown + " (too large)");
  return value * scale;
}

std::string format_quantity(double v, Dim d, int significant) {
  const std::string_view sym = dim_symbol(d);
  char buf[64];
  if (d == Dim::none || v == 0.0 || !std::isfinite(v)) {
    std::snprintf(buf, sizeof buf, "%.*g%s%.*s", significant, v, sym.empty() ? "" : " ", int(sym.size()), sym.data());
    return buf;
  }
  static constexpr std::array<std::pair<int, const char*>, 9> kPrefix{
      {{-15, "f"}, {-12, "p"}, {-9, "n"}, {-6, "u"}, {-3, "m"}, {0, ""}, {3, "k"}, {6, "M"}, {9, "G"}}};
  int e3 = int(std::floor(std::log10(std::fabs(v)) / 3.0)) * 3;
  e3 = std::max(-15, std::min(9, e3));
  const char* pre = "";
  for (auto [e, p] : kPrefix)
    if (e == e3) pre = p;
  std::snprintf(buf, sizeof buf, "%.*g %s%.*s", significant, v / std::pow(10.0, e3), pre, int(sym.size()), sym.data());
  return buf;
}

}  // namespace axsim
