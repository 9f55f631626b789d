// `axsim model ...`: see what the hardware models do, one model at a time, stdin -> stdout. These
// commands call exactly the models/ and energy/ code the trainer and the simulator use.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/units.hpp"
#include "energy/eta.hpp"
#include "energy/technology.hpp"
#include "models/analog_vmm.hpp"
#include "models/drum.hpp"
#include "models/fault_channel.hpp"
#include "models/voltage_curve.hpp"
#include "tools/cli/command.hpp"

namespace axsim::cli {

namespace {

const char* kDefaultTech = "configs/tech/default-65nm.yaml";

// A value on the command line: "0.66V" or a bare "0.66" (taken in the expected unit).
double cli_quantity(const std::string& text, Dim dim, const std::string& option) {
  try {
    return parse_quantity(text, dim);
  } catch (const UnitError& with_unit) {
    try {
      return parse_quantity(text, Dim::none);
    } catch (const UnitError&) {
      throw_input_error("<command line>", option, with_unit.what());
    }
  }
}

MemoryDomain parse_domain(const std::string& name) {
  if (name == "weight_sram") return MemoryDomain::weight_sram;
  if (name == "neuron_sram") return MemoryDomain::neuron_sram;
  if (name == "local_sram") return MemoryDomain::local_sram;
  throw_input_error("<command line>", "--domain", "one of weight_sram, neuron_sram, local_sram", "'" + name + "'",
                    closest_match(name, std::vector<std::string>{"weight_sram", "neuron_sram", "local_sram"}));
}

// Reads whitespace-separated integers from a line; reports the line number on bad input.
std::vector<long long> parse_integers(const std::string& line, long line_no, std::size_t expect = 0) {
  std::istringstream in(line);
  std::vector<long long> v;
  std::string tok;
  while (in >> tok) {
    std::size_t used = 0;
    long long x = 0;
    try {
      x = std::stoll(tok, &used, 0);
    } catch (...) {
      used = 0;
    }
    if (used != tok.size())
      throw_input_error("<stdin>", "line " + std::to_string(line_no), "integers", "'" + tok + "'");
    v.push_back(x);
  }
  if (expect && v.size() != expect)
    throw_input_error("<stdin>", "line " + std::to_string(line_no), std::to_string(expect) + " integers",
                      std::to_string(v.size()));
  return v;
}

int cmd_ber(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string tech = kDefaultTech, domain = "weight_sram", vdd, p;
  o.add_options()("tech", po::value(&tech), "technology YAML (default configs/tech/default-65nm.yaml)")(
      "domain", po::value(&domain), "memory domain: weight_sram | neuron_sram | local_sram")(
      "vdd", po::value(&vdd), "supply voltage (e.g. 0.66V): print the bit-error rate p")(
      "p", po::value(&p), "bit-error rate: print the lowest voltage whose p is at most this");
  po::variables_map vm;
  if (parse_options("model ber", "[--tech FILE] (--vdd V | --p P)   (or voltages on stdin, one per line)", o, args, vm))
    return kOk;
  const Technology t = Technology::load_file(tech);
  const BitErrorCurve& curve = t.bit_error_curve(parse_domain(domain));
  if (!vdd.empty() && !p.empty()) throw_input_error("<command line>", "axsim model ber", "either --vdd or --p, not both");
  if (!p.empty()) {
    const double pv = cli_quantity(p, Dim::none, "--p");
    if (!(pv >= 0 && pv <= 1)) throw_input_error("<command line>", "--p", "a probability in [0, 1]", p);
    std::cout << fmt::format("{:.6g}\n", curve.voltage_for(pv));
    return kOk;
  }
  auto print = [&](double v) { std::cout << fmt::format("{:.6g}\n", curve.p_at(v)); };
  if (!vdd.empty()) {
    print(cli_quantity(vdd, Dim::volt, "--vdd"));
    return kOk;
  }
  std::string line;
  long n = 0;
  while (std::getline(std::cin, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    print(cli_quantity(line, Dim::volt, "stdin line " + std::to_string(n)));
  }
  return kOk;
}

int cmd_eta(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string p, eta_text;
  double a = kDefaultReliabilityExponent;
  o.add_options()("p", po::value(&p), "fault rate: print eta(p) = -ln(p)/a (eta(0) = 1)")(
      "eta", po::value(&eta_text), "normalized energy: print p = exp(-a*eta)")("a", po::value(&a), "reliability exponent (12.8)");
  po::variables_map vm;
  if (parse_options("model eta", "(--p P | --eta E) [--a A]", o, args, vm)) return kOk;
  if (p.empty() == eta_text.empty()) throw_input_error("<command line>", "axsim model eta", "exactly one of --p or --eta");
  if (!p.empty()) std::cout << fmt::format("{:.6g}\n", eta(cli_quantity(p, Dim::none, "--p"), a));
  else std::cout << fmt::format("{:.6g}\n", p_for_eta(cli_quantity(eta_text, Dim::none, "--eta"), a));
  return kOk;
}

// The README's demonstration: what undervolting the weight SRAM does to faults and energy.
int cmd_sweep(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string tech = kDefaultTech, from = "0.40V", to = "1.10V", step = "0.05V";
  int bits = 8;
  o.add_options()("tech", po::value(&tech), "technology YAML")("from", po::value(&from), "lowest voltage (0.40V)")(
      "to", po::value(&to), "highest voltage (1.10V)")("step", po::value(&step), "voltage step (0.05V)")(
      "bits", po::value(&bits), "weight word width (8)");
  po::variables_map vm;
  if (parse_options("model sweep", "[--tech FILE] [--from V] [--to V] [--step V]", o, args, vm)) return kOk;
  const double v0 = cli_quantity(from, Dim::volt, "--from"), v1 = cli_quantity(to, Dim::volt, "--to"),
               dv = cli_quantity(step, Dim::volt, "--step");
  if (!(dv > 0) || !(v1 >= v0) || v0 <= 0) throw_input_error("<command line>", "--from/--to/--step", "0 < from <= to and step > 0");
  if (bits < 1 || bits > 32) throw_input_error("<command line>", "--bits", "a word width in [1, 32]", std::to_string(bits));
  const Technology t = Technology::load_file(tech);
  const BitErrorCurve& curve = t.bit_error_curve(MemoryDomain::weight_sram);
  const double vnom = t.nominal_voltage();
  const std::uint64_t capacity = 64 * 1024;
  const double e_nom = t.energy_of(Action::sram_read(capacity, bits), vnom);
  const double leak_nom = t.leakage_power(Component::sram(capacity), vnom);
  std::cout << fmt::format("Weight SRAM (64 KiB bank, {}-bit words) under voltage scaling, technology '{}'\n", bits, t.name());
  std::cout << fmt::format("{:>8} {:>11} {:>13} {:>14} {:>12} {:>13} {:>10}\n", "Vdd", "bit p", "faulty words",
                           "read energy", "vs nominal", "leakage", "eta(p)");
  std::cout << fmt::format("{:>8} {:>11} {:>13} {:>14} {:>12} {:>13} {:>10}\n", "", "", "per 1k reads", "per word", "",
                           "per bank", "a=12.8");
  for (double v = v0; v <= v1 + 1e-9; v += dv) {
    const double p = curve.p_at(v);
    const double word_fault = 1.0 - std::pow(1.0 - p, bits);
    const double e = t.energy_of(Action::sram_read(capacity, bits), v);
    std::cout << fmt::format("{:>8} {:>11.3g} {:>13.3g} {:>14} {:>11.1f}% {:>13} {:>10.3f}\n", format_quantity(v, Dim::volt, 3), p,
                             1000 * word_fault, format_quantity(e, Dim::joule, 3), 100 * e / e_nom,
                             format_quantity(t.leakage_power(Component::sram(capacity), v), Dim::watt, 3), eta(p));
  }
  std::cout << fmt::format("\nAt {} the bank is reliable; read energy {} and leakage {} are the 100% reference.\n",
                           format_quantity(vnom, Dim::volt, 3), format_quantity(e_nom, Dim::joule, 3),
                           format_quantity(leak_nom, Dim::watt, 3));
  return kOk;
}

int cmd_analog(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string i_max = "10nA", layer = "hidden";
  double x_max = 1.0, w_max = 0.0;
  o.add_options()("i-max", po::value(&i_max), "I_max of the layer (10nA)")(
      "layer", po::value(&layer), "first (merged-DAC, 4-bit inputs) | hidden (current-mode)")(
      "x-max", po::value(&x_max), "full-scale input")("w-max", po::value(&w_max), "first layer: |W| mapped to I_max (0: max |W| given)");
  po::variables_map vm;
  if (parse_options("model analog", "[--i-max I] [--layer first|hidden]   (stdin: lines 'x w', one input of one neuron each)",
                    o, args, vm))
    return kOk;
  if (layer != "first" && layer != "hidden")
    throw_input_error("<command line>", "--layer", "first or hidden", "'" + layer + "'");
  AnalogLayerParams params;
  params.i_max_na = cli_quantity(i_max, Dim::ampere, "--i-max") * (i_max.find('A') != std::string::npos ? 1e9 : 1.0);
  params.first_layer = layer == "first";
  params.x_max = x_max;
  params.w_max = w_max;
  try {
    params.validate();
  } catch (const std::exception& e) {
    throw_input_error("<command line>", "axsim model analog", "valid analog parameters", e.what());
  }
  std::vector<float> x, w;
  std::string line;
  long n = 0;
  while (std::getline(std::cin, line)) {
    ++n;
    std::istringstream in(line);
    double xv, wv;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (!(in >> xv >> wv)) throw_input_error("<stdin>", "line " + std::to_string(n), "two numbers 'x w'", "'" + line + "'");
    x.push_back(float(xv));
    w.push_back(float(wv));
  }
  if (x.empty()) throw_input_error("<stdin>", "line 1", "at least one 'x w' line");
  AnalogVmmLayer vmm(params, w.data(), w.size(), 1);
  float sigma = 0;
  vmm.sigma(x.data(), 1, &sigma);
  std::cout << fmt::format("2qB0 = {:.4g} nA\nsigma = {:.6g} (output units)\nmean current = {:.6g} nA\npower = {}\n",
                           shot_noise_na(params.bandwidth_hz), sigma, vmm.mean_current_na(x.data(), 1),
                           format_quantity(vmm.mean_power_w(x.data(), 1), Dim::watt, 4));
  return kOk;
}

int cmd_drum(const std::vector<std::string>& args) {
  po::options_description o("options");
  int k = 4, bits = 8;
  bool transform = false;
  o.add_options()("k", po::value(&k), "DRUM width k (bits kept from the leading one); k >= bits is exact")(
      "bits", po::value(&bits), "operand word width including the sign (8)")(
      "transform", po::bool_switch(&transform), "print the operand transform D(x) of one value per line instead");
  po::variables_map vm;
  if (parse_options("model drum", "--k K [--bits B]   (stdin: lines 'a b'; prints the DRUM product)", o, args, vm))
    return kOk;
  if (bits < 2 || bits > 32) throw_input_error("<command line>", "--bits", "a width in [2, 32]", std::to_string(bits));
  if (k < 1) throw_input_error("<command line>", "--k", "k >= 1", std::to_string(k));
  const Multiplier m = k >= bits ? Multiplier::exact(bits) : Multiplier::drum(k, bits);
  const long long lo = -(1LL << (bits - 1)) + 1, hi = (1LL << (bits - 1)) - 1;
  std::string line;
  long n = 0;
  while (std::getline(std::cin, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto v = parse_integers(line, n, transform ? 1 : 2);
    for (long long x : v)
      if (x < lo || x > hi)
        throw_input_error("<stdin>", "line " + std::to_string(n),
                          fmt::format("operands in [{}, {}] ({}-bit sign-magnitude)", lo, hi, bits), std::to_string(x));
    if (transform) std::cout << m.transform(std::int32_t(v[0])) << "\n";
    else std::cout << m.multiply(std::int32_t(v[0]), std::int32_t(v[1])) << "\n";
  }
  return kOk;
}

int cmd_fault(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string channel = "flip", p_text;
  int bits = 8;
  std::uint64_t seed = 1;
  bool is_unsigned = false;
  o.add_options()("channel", po::value(&channel), "flip | bit_mask | word_mask | erasure | stuck_at")(
      "p", po::value(&p_text), "fault rate: per stored bit (per word for erasure)")(
      "bits", po::value(&bits), "word width (8)")("seed", po::value(&seed), "random seed (1)")(
      "unsigned", po::bool_switch(&is_unsigned), "words are unsigned activations (sign bit not stored, cannot fault)");
  po::variables_map vm;
  if (parse_options("model fault", "--channel C --p P [--bits B] [--seed S] [--unsigned]   (stdin: integer words)", o,
                    args, vm))
    return kOk;
  if (p_text.empty()) throw_input_error("<command line>", "axsim model fault", "a fault rate --p");
  const double p = cli_quantity(p_text, Dim::none, "--p");
  if (bits < 1 || bits > 32) throw_input_error("<command line>", "--bits", "a width in [1, 32]", std::to_string(bits));
  const auto ch = make_fault_channel(channel, "<command line>", "--channel");
  if (!(p >= 0 && p <= ch->max_rate()))
    throw_input_error("<command line>", "--p", fmt::format("a rate in [0, {}]", ch->max_rate()), p_text);
  const WordLayout layout{bits, !is_unsigned};
  const long long lo = is_unsigned ? 0 : -(1LL << (bits - 1)), hi = (1LL << (bits - 1)) - 1;
  std::vector<std::int32_t> words;
  std::string line;
  long n = 0;
  while (std::getline(std::cin, line)) {
    ++n;
    for (long long x : parse_integers(line, n)) {
      if (x < lo || x > hi)
        throw_input_error("<stdin>", "line " + std::to_string(n), fmt::format("words in [{}, {}]", lo, hi), std::to_string(x));
      words.push_back(std::int32_t(x));
    }
  }
  // Words are read in input order from one stream, so the output depends only on (seed, input).
  CounterRng rng(seed, stream_id({0xFA17u}));
  const FaultStats st = ch->apply(std::span<std::int32_t>(words), layout, p, rng);
  for (auto w : words) std::cout << w << "\n";
  std::cerr << fmt::format("{} words, {} stored bits read, {} faulty bits, {} words changed (channel {}, p = {})\n",
                           st.words_read, st.bits_read, st.faulty_bits, st.words_changed, ch->name(), p);
  return kOk;
}

}  // namespace

std::vector<Command> model_commands() {
  return {
      {"model ber", "voltage -> SRAM bit-error rate (and back) from a technology file", cmd_ber},
      {"model eta", "the papers' abstract energy model: eta(p) = -ln(p)/a and back", cmd_eta},
      {"model sweep", "table of bit-error rate and energy over a voltage range", cmd_sweep},
      {"model drum", "DRUM approximate products (or operand transforms) of integers on stdin", cmd_drum},
      {"model fault", "corrupt integer words on stdin through a memory fault channel", cmd_fault},
      {"model analog", "analog floating-gate VMM shot noise and power for one neuron", cmd_analog},
  };
}

}  // namespace axsim::cli
