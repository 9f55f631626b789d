// Quantities with units, as users write them in YAML and on the command line: "0.66V", "250 MHz",
// "1nA", "64KiB", "2ms", "3.1pJ", "10nW". Values are returned in SI base units (V, Hz, A, J, W, s,
// bytes, F); a bare number is accepted only where the dimension is dimensionless.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace axsim {

enum class Dim { none, volt, hertz, ampere, joule, watt, second, byte, farad };

// Thrown with a message that says what was expected; callers add file and key (see ConfigNode).
class UnitError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

std::string_view dim_symbol(Dim d);  // "V", "Hz", "A", "J", "W", "s", "B", "F", ""
std::string dim_example(Dim d);      // e.g. "a voltage like 0.66V"

// Parse "<number>[ ]<prefix><symbol>". Prefixes f p n u µ m k M G T (and Ki Mi Gi Ti for bytes).
// For Dim::none a bare number (or a percentage "5%") is accepted.
double parse_quantity(std::string_view text, Dim expected);

// Engineering notation with a prefix chosen so that 1 <= mantissa < 1000: "660 mV", "250 MHz".
std::string format_quantity(double value, Dim d, int significant = 4);

}  // namespace axsim
