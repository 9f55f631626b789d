#include "models/quantized_network.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/error.hpp"

// The batch loop is plain C++ that GCC/Clang vectorize; the default x86-64 target (SSE2) lacks 32-bit
// min/max, so also build an AVX2 clone, picked at load time when the CPU has it.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__AVX2__)
#define AXSIM_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AXSIM_VECTOR_CLONES
#endif

namespace axsim {

std::string_view to_string(QOpKind kind) {
  switch (kind) {
    case QOpKind::dense: return "dense";
    case QOpKind::conv2d: return "conv2d";
    case QOpKind::maxpool: return "maxpool";
    case QOpKind::avgpool: return "avgpool";
    case QOpKind::flatten: return "flatten";
  }
  return "?";
}

std::uint64_t QLayer::macs() const {
  switch (kind) {
    case QOpKind::dense:
      return std::uint64_t(in_c) * out_c;
    case QOpKind::conv2d:
      return std::uint64_t(out_c) * out_h * out_w * in_c * kernel * kernel;
    default:
      return 0;
  }
}

namespace {

AXSIM_VECTOR_CLONES void requantize_shift_right(const std::int32_t* acc, std::size_t n, int shift, std::int32_t lo,
                                                std::int32_t hi, std::uint8_t* codes) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t a = acc[i];
    const std::int32_t v = (a >> shift) + ((a >> (shift - 1)) & 1);  // round half up, no overflow
    codes[i] = std::uint8_t(std::min(std::max(v, lo), hi));
  }
}

std::string geometry(int c, int h, int w) {
  return "(" + std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) + ")";
}

void check_activation_format(const std::string& origin, const std::string& where, const char* what,
                             const FixedPointFormat& f) {
  if (const std::string reason = f.invalid_reason(); !reason.empty())
    throw_input_error(origin, where, std::string("a valid ") + what, reason);
  if (f.is_signed || !f.has_power_of_two_step())
    throw_input_error(origin, where, std::string("an unsigned power-of-two ") + what, f.to_string());
}

void check_layer(const std::string& origin, const QLayer& l) {
  const std::string where = "layer " + l.name;
  auto fail = [&](const std::string& expected, const std::string& found) {
    throw_input_error(origin, where, expected, found);
  };
  if (l.in_c <= 0 || l.in_h <= 0 || l.in_w <= 0 || l.out_c <= 0 || l.out_h <= 0 || l.out_w <= 0)
    fail("positive input and output sizes",
         "input " + geometry(l.in_c, l.in_h, l.in_w) + ", output " + geometry(l.out_c, l.out_h, l.out_w));
  check_activation_format(origin, where, "input format", l.input_format);
  switch (l.kind) {
    case QOpKind::dense:
      if (l.in_h != 1 || l.in_w != 1 || l.out_h != 1 || l.out_w != 1 || l.kernel != 1 || l.stride != 1 ||
          l.padding != 0)
        fail("a dense layer with flat input and output (h = w = 1, kernel = stride = 1, padding 0)",
             "input " + geometry(l.in_c, l.in_h, l.in_w) + ", output " + geometry(l.out_c, l.out_h, l.out_w));
      break;
    case QOpKind::conv2d: {
      if (l.kernel <= 0 || l.stride <= 0 || l.padding < 0)
        fail("kernel >= 1, stride >= 1, padding >= 0", "kernel " + std::to_string(l.kernel) + ", stride " +
                                                           std::to_string(l.stride) + ", padding " +
                                                           std::to_string(l.padding));
      const int h = (l.in_h + 2 * l.padding - l.kernel) / l.stride + 1;
      const int w = (l.in_w + 2 * l.padding - l.kernel) / l.stride + 1;
      if (l.out_h != h || l.out_w != w) fail("output " + geometry(l.out_c, h, w), geometry(l.out_c, l.out_h, l.out_w));
      break;
    }
    case QOpKind::maxpool:
    case QOpKind::avgpool: {
      if (l.kernel <= 0 || l.stride <= 0 || l.padding != 0)
        fail("kernel >= 1, stride >= 1, padding 0", "kernel " + std::to_string(l.kernel) + ", stride " +
                                                        std::to_string(l.stride) + ", padding " +
                                                        std::to_string(l.padding));
      const int h = (l.in_h - l.kernel) / l.stride + 1, w = (l.in_w - l.kernel) / l.stride + 1;
      if (l.in_h < l.kernel || l.in_w < l.kernel || l.out_c != l.in_c || l.out_h != h || l.out_w != w)
        fail("output " + geometry(l.in_c, h, w), geometry(l.out_c, l.out_h, l.out_w));
      break;
    }
    case QOpKind::flatten:
      if (l.out_c != l.in_c * l.in_h * l.in_w || l.out_h != 1 || l.out_w != 1)
        fail("output " + geometry(l.in_c * l.in_h * l.in_w, 1, 1), geometry(l.out_c, l.out_h, l.out_w));
      break;
  }
  if (!l.has_weights()) {
    if (l.output_format != l.input_format)
      fail("output format = input format " + l.input_format.to_string() + " (pooling and flatten work on codes)",
           l.output_format.to_string());
    if (l.is_output) fail("a dense or conv2d last layer", "is_output on a pooling/flatten layer");
    return;
  }
  const std::size_t fan_in = std::size_t(l.in_c) * l.kernel * l.kernel;
  if (l.weights.size() != fan_in * std::size_t(l.out_c))
    fail(std::to_string(fan_in * std::size_t(l.out_c)) + " weights", std::to_string(l.weights.size()));
  if (!l.bias.empty() && l.bias.size() != std::size_t(l.out_c))
    fail("no bias or " + std::to_string(l.out_c) + " bias values", std::to_string(l.bias.size()));
  const FixedPointFormat& wf = l.weight_format;
  if (const std::string reason = wf.invalid_reason(); !reason.empty()) fail("a valid weight format", reason);
  if (!wf.is_signed || !wf.symmetric || !wf.has_power_of_two_step() || !wf.codes_fit<std::int8_t>())
    fail("a signed symmetric power-of-two weight format of at most 8 bits", wf.to_string());
  if (l.binary_weights && wf != FixedPointFormat::power_of_two(2, 0, true))
    fail("weight format s2f0 for BinaryConnect weights (-1/+1, step 1)", wf.to_string());
  for (std::size_t i = 0; i < l.weights.size(); ++i) {
    const int code = l.weights[i];
    const bool ok = l.binary_weights ? (code == 1 || code == -1) : (code >= wf.min_code() && code <= wf.max_code());
    if (!ok)
      fail(l.binary_weights
               ? "weight codes -1 or +1"
               : "weight codes in [" + std::to_string(wf.min_code()) + ", " + std::to_string(wf.max_code()) + "]",
           "code " + std::to_string(code) + " at weight " + std::to_string(i));
  }
  const Multiplier& m = l.multiplier;
  if (m.bits < 2 || m.bits > 32 || (m.kind == Multiplier::Kind::drum && (m.k < 1 || m.k > m.bits)))
    fail("an exact or drum<k> multiplier with 1 <= k <= bits", m.name() + " on " + std::to_string(m.bits) + " bits");
  if (!l.is_output) {
    check_activation_format(origin, where, "output format", l.output_format);
    const int shift = l.accumulator_shift();
    if (shift < -31 || shift > 62)
      fail("an accumulator shift (weight frac + input frac - output frac) in [-31, 62]", std::to_string(shift));
  }
}

}  // namespace

void requantize_batch(std::span<const std::int32_t> acc, int shift, const FixedPointFormat& out, bool relu,
                      std::span<std::uint8_t> codes) {
  if (acc.size() != codes.size())
    throw std::invalid_argument("requantize_batch: " + std::to_string(acc.size()) + " accumulators but " +
                                std::to_string(codes.size()) + " codes");
  if (!out.codes_fit<std::uint8_t>())
    throw std::invalid_argument("requantize_batch: codes of " + out.to_string() + " do not fit uint8");
  if (shift >= 1 && shift <= 31) {
    // Unsigned formats have min_code 0, so the clamp already applies the ReLU.
    const std::int32_t lo = relu ? std::max(0, out.min_code()) : out.min_code();
    requantize_shift_right(acc.data(), acc.size(), shift, lo, out.max_code(), codes.data());
    return;
  }
  for (std::size_t i = 0; i < acc.size(); ++i) codes[i] = std::uint8_t(requantize(acc[i], shift, out, relu));
}

void validate(const QuantizedNetwork& net, const std::string& origin) {
  if (net.layers.empty()) throw_input_error(origin, "layers", "at least one layer", "none");
  if (net.classes <= 0) throw_input_error(origin, "classes", "a positive class count", std::to_string(net.classes));
  check_activation_format(origin, "input format", "input format", net.input_format);
  const QLayer* previous = nullptr;
  for (const QLayer& l : net.layers) {
    check_layer(origin, l);
    const std::string where = "layer " + l.name;
    const FixedPointFormat& expected_format = previous ? previous->output_format : net.input_format;
    if (l.input_format != expected_format)
      throw_input_error(
          origin, where,
          "input format " + expected_format.to_string() + " (the " +
              (previous ? "output format of layer " + previous->name : std::string("network input format")) + ")",
          l.input_format.to_string());
    if (previous && (l.in_c != previous->out_c || l.in_h != previous->out_h || l.in_w != previous->out_w))
      throw_input_error(origin, where,
                        "input " + geometry(previous->out_c, previous->out_h, previous->out_w) +
                            " (the output of layer " + previous->name + ")",
                        geometry(l.in_c, l.in_h, l.in_w));
    if (l.is_output && &l != &net.layers.back())
      throw_input_error(origin, where, "is_output only on the last layer", "is_output on layer " + l.name);
    previous = &l;
  }
  const QLayer& last = net.layers.back();
  if (!last.is_output || !last.has_weights())
    throw_input_error(origin, "layer " + last.name, "a dense or conv2d last layer marked is_output",
                      last.has_weights() ? "is_output = false" : "a pooling/flatten layer");
  if (last.output_size() != std::size_t(net.classes))
    throw_input_error(origin, "layer " + last.name, std::to_string(net.classes) + " outputs (one per class)",
                      std::to_string(last.output_size()));
}

}  // namespace axsim
