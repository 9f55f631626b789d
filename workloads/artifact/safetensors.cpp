#include "workloads/artifact/safetensors.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_set>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace axsim::artifact {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian values; a big-endian host would need byte swaps here");

namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DTypeInfo, 17> kDTypes = {{
    {DType::BOOL, "BOOL", 1},
    {DType::U8, "U8", 1},
    {DType::I8, "I8", 1},
    {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::F8_E4M3, "F8_E4M3", 1},
    {DType::F8_E8M0, "F8_E8M0", 1},
    {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::I32, "I32", 4},
    {DType::U32, "U32", 4},
    {DType::F32, "F32", 4},
    {DType::C64, "C64", 8},
    {DType::F64, "F64", 8},
    {DType::I64, "I64", 8},
    {DType::U64, "U64", 8},
}};

// Names the format defines that axsim does not read: elements smaller than a byte.
constexpr std::array<std::string_view, 3> kSubByteDTypes = {"F4", "F6_E2M3", "F6_E3M2"};

const DTypeInfo& info_of(DType dtype) {
  const auto i = static_cast<std::size_t>(dtype);
  if (i >= kDTypes.size() || kDTypes[i].dtype != dtype) throw std::logic_error("corrupt DType value");
  return kDTypes[i];
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string tensor_location(const std::string& name) { return "tensor " + quoted(name); }

std::string dtype_list() {
  std::string s;
  for (const auto& d : kDTypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

// Strict UTF-8 check (no overlong forms, no surrogates, nothing above U+10FFFF): the header is JSON
// text, and Python's reader refuses anything else.
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Product of the dimensions times the element size, or nullopt on u64 overflow.
std::optional<std::uint64_t> checked_byte_count(const std::vector<std::uint64_t>& dims, std::uint64_t elem_size) {
  std::uint64_t n = 1;
  for (std::uint64_t d : dims) {
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  if (__builtin_mul_overflow(n, elem_size, &n)) return std::nullopt;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Reading

struct Entry {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

class HeaderReader {
 public:
  HeaderReader(const std::string& path, std::uint64_t data_start, std::uint64_t buffer_size)
      : path_(path), data_start_(data_start), buffer_size_(buffer_size) {}

  nlohmann::json parse(const std::string& text) {
    // The callback sees every object and key while parsing, which is where duplicate keys can still
    // be caught (the finished json object keeps only the last one) and where absurd nesting is
    // stopped before it costs memory. The deepest legal value is a shape array inside an entry.
    std::vector<std::unordered_set<std::string>> open_objects;
    std::string current_tensor;
    auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
      using E = nlohmann::json::parse_event_t;
      if (event == E::object_start || event == E::array_start) {
        if (depth >= 3)
          fail(current_tensor.empty() ? "header" : tensor_location(current_tensor),
               "a header nested at most 3 levels deep ({name: {field: [numbers]}})", "a value nested deeper than that");
        if (event == E::object_start) open_objects.emplace_back();
      } else if (event == E::object_end) {
        open_objects.pop_back();
      } else if (event == E::key) {
        const std::string key = parsed.get<std::string>();
        if (depth == 1) current_tensor = key;
        if (!open_objects.back().insert(key).second) {
          if (depth == 1)
            fail(tensor_location(key), "each tensor name once (duplicate keys are not allowed)",
                 "a second entry named " + quoted(key));
          fail(current_tensor == "__metadata__" ? std::string("__metadata__") : tensor_location(current_tensor),
               "each field once (duplicate keys are not allowed)", "a second " + quoted(key));
        }
      }
      return true;
    };
    try {
      return nlohmann::json::parse(text, callback);
    } catch (const nlohmann::json::parse_error& e) {
      std::string what = e.what();
      const auto bracket = what.find("] ");
      if (bracket != std::string::npos) what = what.substr(bracket + 2);
      const std::size_t at = e.byte == 0 ? 0 : e.byte - 1;
      throw InputError(ErrorInfo{path_,
                                 "byte " + std::to_string(8 + at) + " (header JSON byte " + std::to_string(at) + ")",
                                 "a valid JSON header", what, ""});
    }
  }

  std::vector<Entry> entries(const nlohmann::json& header, std::map<std::string, std::string>& metadata) {
    std::vector<Entry> out;
    out.reserve(header.size());
    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        read_metadata(value, metadata);
      } else {
        out.push_back(read_entry(key, value));
      }
    }
    return out;
  }

  // The tensors must tile the buffer: sorted by offset, each starts where the previous one ended,
  // and the last ends at the end of the file. That is what guarantees tensors never alias each
  // other and that the file holds nothing unaccounted for.
  void check_tiling(std::vector<Entry>& entries) const {
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    std::uint64_t expected_begin = 0;
    const Entry* previous = nullptr;
    for (const Entry& e : entries) {
      if (e.begin < expected_begin) {
        fail(tensor_location(e.name) + " data_offsets",
             "tensors that do not overlap: this one may start at buffer byte " + std::to_string(expected_begin) +
                 " at the earliest",
             "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "], overlapping tensor " +
                 quoted(previous->name) + " at [" + std::to_string(previous->begin) + ", " +
                 std::to_string(previous->end) + "]");
      }
      if (e.begin > expected_begin) {
        fail(tensor_location(e.name) + " data_offsets",
             "tensors packed without gaps: this one should start at buffer byte " + std::to_string(expected_begin),
             "begin " + std::to_string(e.begin) + ", leaving buffer bytes [" + std::to_string(expected_begin) + ", " +
                 std::to_string(e.begin) + ") unused");
      }
      expected_begin = e.end;
      previous = &e;
    }
    if (expected_begin > buffer_size_)  // read_entry already refuses this; kept so the arithmetic below cannot wrap
      fail("byte " + std::to_string(file_offset(buffer_size_)), "tensors within the data buffer",
           "tensors reaching buffer byte " + std::to_string(expected_begin));
    if (expected_begin < buffer_size_) {
      fail("byte " + std::to_string(file_offset(expected_begin)),
           "the tensors to cover the whole data buffer (" + std::to_string(buffer_size_) + " bytes)",
           "only " + std::to_string(expected_begin) + " bytes used by tensors and " +
               std::to_string(buffer_size_ - expected_begin) + " trailing bytes");
    }
  }

 private:
  [[noreturn]] void fail(const std::string& location, const std::string& expected, const std::string& found) const {
    throw_input_error(path_, location, expected, found);
  }

  std::uint64_t file_offset(std::uint64_t buffer_offset) const { return data_start_ + buffer_offset; }

  static std::string describe(const nlohmann::json& v) {
    std::string s = v.dump();
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
  }

  void read_metadata(const nlohmann::json& value, std::map<std::string, std::string>& metadata) const {
    if (value.is_null()) return;  // the reference reader accepts an explicit null as "no metadata"
    if (!value.is_object())
      fail("__metadata__", "an object mapping strings to strings",
           std::string(value.type_name()) + " " + describe(value));
    for (const auto& [key, v] : value.items()) {
      if (!v.is_string())
        fail("__metadata__ key " + quoted(key), "a string value (metadata values are strings; encode JSON as a string)",
             std::string(v.type_name()) + " " + describe(v));
      metadata[key] = v.get<std::string>();
    }
  }

  std::uint64_t read_unsigned(const std::string& name, const std::string& field, const nlohmann::json& v,
                              const char* what) const {
    if (!v.is_number_unsigned()) fail(tensor_location(name) + " " + field, what, describe(v));
    return v.get<std::uint64_t>();
  }

  Entry read_entry(const std::string& name, const nlohmann::json& value) const {
    const std::string where = tensor_location(name);
    if (!value.is_object())
      fail(where, "an object {\"dtype\", \"shape\", \"data_offsets\"}",
           std::string(value.type_name()) + " " + describe(value));
    static const std::vector<std::string> kFields = {"dtype", "shape", "data_offsets"};
    for (const auto& [field, v] : value.items()) {
      if (std::find(kFields.begin(), kFields.end(), field) == kFields.end())
        throw InputError(ErrorInfo{path_, where + " field " + quoted(field),
                                   "only the fields dtype, shape, data_offsets", "unknown field " + quoted(field),
                                   closest_match(field, kFields)});
    }
    for (const auto& field : kFields) {
      if (!value.contains(field))
        fail(where, "a field " + quoted(field), "none (fields present: " + describe(value) + ")");
    }

    Entry e;
    e.name = name;
    const auto& dtype = value["dtype"];
    if (!dtype.is_string()) fail(where + " dtype", "a dtype string such as \"F32\"", describe(dtype));
    const auto dtype_text = dtype.get<std::string>();
    const auto parsed = parse_dtype(dtype_text);
    if (!parsed) {
      const bool sub_byte = std::find(kSubByteDTypes.begin(), kSubByteDTypes.end(), dtype_text) != kSubByteDTypes.end();
      throw InputError(ErrorInfo{path_, where + " dtype", "one of " + dtype_list(),
                                 quoted(dtype_text) + (sub_byte ? " (a sub-byte type axsim does not read)" : ""),
                                 sub_byte ? "" : closest_match(dtype_text, dtype_names())});
    }
    e.dtype = *parsed;

    const auto& shape = value["shape"];
    if (!shape.is_array()) fail(where + " shape", "an array of non-negative integers", describe(shape));
    std::vector<std::uint64_t> dims;
    for (std::size_t i = 0; i < shape.size(); ++i) {
      const std::string field = "shape[" + std::to_string(i) + "]";
      const std::uint64_t d = read_unsigned(name, field, shape[i], "a non-negative integer dimension");
      if (d > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        fail(where + " " + field, "a dimension below 2^63", std::to_string(d));
      dims.push_back(d);
      e.shape.push_back(std::int64_t(d));
    }

    const auto& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2)
      fail(where + " data_offsets", "an array [begin, end] of two byte offsets", describe(offsets));
    e.begin = read_unsigned(name, "data_offsets[0]", offsets[0], "a non-negative integer byte offset");
    e.end = read_unsigned(name, "data_offsets[1]", offsets[1], "a non-negative integer byte offset");
    if (e.end < e.begin)
      fail(where + " data_offsets", "begin <= end", "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]");

    const auto bytes = checked_byte_count(dims, dtype_size(e.dtype));
    if (!bytes)
      fail(where + " shape", "a shape whose size in bytes fits in 64 bits",
           shape_string(e.shape) + " of " + dtype_text + " (the element count overflows)");
    if (*bytes != e.end - e.begin)
      fail(where + " data_offsets",
           std::to_string(*bytes) + " bytes for shape " + shape_string(e.shape) + " of " + dtype_text + " (" +
               std::to_string(dtype_size(e.dtype)) + " bytes each)",
           "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] = " + std::to_string(e.end - e.begin) +
               " bytes");
    if (e.end > buffer_size_)
      fail(where + " data_offsets",
           "offsets within the data buffer of " + std::to_string(buffer_size_) + " bytes (file bytes " +
               std::to_string(data_start_) + " to " + std::to_string(data_start_ + buffer_size_) + ")",
           "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "], past the end of the file");
    return e;
  }

  std::string path_;
  std::uint64_t data_start_;   // file offset of the data buffer
  std::uint64_t buffer_size_;  // bytes from data_start_ to the end of the file
};

// ---------------------------------------------------------------------------------------------
// Typed element access

template <class T>
T load_element(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

[[noreturn]] void wrong_dtype(const Tensor& t, const std::string& accepted) {
  throw_input_error(t.source, tensor_location(t.name), "dtype " + accepted, std::string(dtype_name(t.dtype)));
}

template <class Out, class Convert>
std::vector<Out> convert_all(const Tensor& t, std::size_t elem_size, Convert convert) {
  const std::size_t n = t.bytes.size() / elem_size;
  std::vector<Out> out(n);
  const std::byte* p = t.bytes.data();
  for (std::size_t i = 0; i < n; ++i) out[i] = convert(p + i * elem_size, i);
  return out;
}

template <class Out>
std::vector<Out> widen_integers(const Tensor& t, const std::string& accepted) {
  auto as = [&](auto tag) {
    using In = decltype(tag);
    return convert_all<Out>(t, sizeof(In), [](const std::byte* p, std::size_t) { return Out(load_element<In>(p)); });
  };
  switch (t.dtype) {
    case DType::BOOL:
    case DType::U8:
      return as(std::uint8_t{});
    case DType::I8:
      return as(std::int8_t{});
    case DType::I16:
      return as(std::int16_t{});
    case DType::U16:
      return as(std::uint16_t{});
    default:
      break;
  }
  if constexpr (sizeof(Out) >= 4) {
    if (t.dtype == DType::I32) return as(std::int32_t{});
  }
  if constexpr (sizeof(Out) >= 8) {
    if (t.dtype == DType::U32) return as(std::uint32_t{});
    if (t.dtype == DType::I64) return as(std::int64_t{});
    if (t.dtype == DType::U64) {
      return convert_all<Out>(t, 8, [&](const std::byte* p, std::size_t i) {
        const auto v = load_element<std::uint64_t>(p);
        if (v > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
          throw_input_error(t.source, tensor_location(t.name) + " element " + std::to_string(i),
                            "a U64 value that fits in a signed 64-bit integer", std::to_string(v));
        return Out(v);
      });
    }
  }
  wrong_dtype(t, accepted);
}

std::vector<std::int64_t> checked_shape(const std::string& name, const std::vector<std::int64_t>& shape,
                                        std::size_t elem_size, std::size_t byte_count) {
  std::vector<std::uint64_t> dims;
  for (std::int64_t d : shape) {
    if (d < 0)
      throw std::invalid_argument("safetensors: tensor '" + name + "' has a negative dimension in shape " +
                                  shape_string(shape));
    dims.push_back(std::uint64_t(d));
  }
  const auto bytes = checked_byte_count(dims, elem_size);
  if (!bytes || *bytes != byte_count)
    throw std::invalid_argument("safetensors: tensor '" + name + "' of shape " + shape_string(shape) + " needs " +
                                (bytes ? std::to_string(*bytes) : std::string("too many")) + " bytes, got " +
                                std::to_string(byte_count));
  return shape;
}

template <class T>
std::vector<std::byte> raw_bytes(std::span<const T> values) {
  std::vector<std::byte> out(values.size_bytes());
  if (!values.empty()) std::memcpy(out.data(), values.data(), values.size_bytes());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// DType

std::size_t dtype_size(DType dtype) { return info_of(dtype).size; }
std::string_view dtype_name(DType dtype) { return info_of(dtype).name; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& d : kDTypes)
    if (d.name == name) return d.dtype;
  return std::nullopt;
}

std::vector<std::string> dtype_names() {
  std::vector<std::string> out;
  for (const auto& d : kDTypes) out.emplace_back(d.name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 16-bit floats

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  const std::uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = std::ldexp(float(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));  // inf / NaN
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

std::uint16_t float_to_half(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const auto sign = std::uint16_t((x >> 16) & 0x8000u);
  const std::uint32_t magnitude = x & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) return sign | 0x7E00u | std::uint16_t((magnitude >> 13) & 0x3FFu);  // quiet NaN
  if (magnitude >= 0x477FF000u) return sign | 0x7C00u;  // >= 65520 rounds to infinity
  if (magnitude >= 0x38800000u) {                       // normal half (>= 2^-14)
    std::uint32_t h = ((((magnitude >> 23) - 127 + 15)) << 10) | ((magnitude >> 13) & 0x3FFu);
    const std::uint32_t rest = magnitude & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry correctly bumps the exponent
    return sign | std::uint16_t(h);
  }
  // Subnormal half: round (value / 2^-24) to the nearest integer, ties to even.
  const std::uint32_t shift = 126 - (magnitude >> 23);  // >= 14
  if (shift > 24) return sign;                          // below 2^-25: rounds to zero
  const std::uint32_t mantissa = (magnitude & 0x7FFFFFu) | 0x800000u;
  std::uint32_t q = mantissa >> shift;
  const std::uint32_t rest = mantissa & ((1u << shift) - 1);
  const std::uint32_t half_unit = 1u << (shift - 1);
  if (rest > half_unit || (rest == half_unit && (q & 1u))) ++q;
  return sign | std::uint16_t(q);
}

float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

std::uint16_t float_to_bfloat16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return std::uint16_t((x >> 16) | 0x40u);  // quiet NaN
  return std::uint16_t((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

// ---------------------------------------------------------------------------------------------
// Tensor

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::int64_t Tensor::element_count() const {
  // A zero anywhere makes the tensor empty. Checked first: the loader accepts a shape like
  // [2^62, 4, 0] (0 bytes), whose leading product would overflow int64.
  for (std::int64_t d : shape)
    if (d == 0) return 0;
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;  // bounded by the byte count the loader checked
  return n;
}

std::vector<double> Tensor::as_double() const {
  switch (dtype) {
    case DType::F64:
      return convert_all<double>(*this, 8, [](const std::byte* p, std::size_t) { return load_element<double>(p); });
    case DType::F32:
      return convert_all<double>(*this, 4, [](const std::byte* p, std::size_t) { return load_element<float>(p); });
    case DType::F16:
      return convert_all<double>(
          *this, 2, [](const std::byte* p, std::size_t) { return half_to_float(load_element<std::uint16_t>(p)); });
    case DType::BF16:
      return convert_all<double>(
          *this, 2, [](const std::byte* p, std::size_t) { return bfloat16_to_float(load_element<std::uint16_t>(p)); });
    default:
      wrong_dtype(*this, "F64, F32, F16 or BF16");
  }
}

std::vector<float> Tensor::as_float() const {
  switch (dtype) {
    case DType::F32:
      return convert_all<float>(*this, 4, [](const std::byte* p, std::size_t) { return load_element<float>(p); });
    case DType::F16:
      return convert_all<float>(
          *this, 2, [](const std::byte* p, std::size_t) { return half_to_float(load_element<std::uint16_t>(p)); });
    case DType::BF16:
      return convert_all<float>(
          *this, 2, [](const std::byte* p, std::size_t) { return bfloat16_to_float(load_element<std::uint16_t>(p)); });
    case DType::F64:
      return convert_all<float>(*this, 8,
                                [](const std::byte* p, std::size_t) { return float(load_element<double>(p)); });
    default:
      wrong_dtype(*this, "F32, F16, BF16 or F64");
  }
}

std::vector<std::int8_t> Tensor::as_int8() const {
  if (dtype != DType::I8) wrong_dtype(*this, "I8");
  return convert_all<std::int8_t>(*this, 1,
                                  [](const std::byte* p, std::size_t) { return load_element<std::int8_t>(p); });
}

std::vector<std::uint8_t> Tensor::as_uint8() const {
  if (dtype != DType::U8 && dtype != DType::BOOL) wrong_dtype(*this, "U8 or BOOL");
  return convert_all<std::uint8_t>(*this, 1,
                                   [](const std::byte* p, std::size_t) { return load_element<std::uint8_t>(p); });
}

std::vector<std::int32_t> Tensor::as_int32() const {
  return widen_integers<std::int32_t>(*this, "I32, I16, U16, I8, U8 or BOOL");
}

std::vector<std::int64_t> Tensor::as_int64() const {
  return widen_integers<std::int64_t>(*this, "an integer type (I64, U64, I32, U32, I16, U16, I8, U8) or BOOL");
}

void Tensor::expect_dtype(DType expected) const {
  if (dtype != expected) wrong_dtype(*this, std::string(dtype_name(expected)));
}

void Tensor::expect_shape(const std::vector<std::int64_t>& expected) const {
  if (shape != expected)
    throw_input_error(source, tensor_location(name), "shape " + shape_string(expected), shape_string(shape));
}

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile SafetensorsFile::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw_input_error(path, "", "an existing .safetensors file", "no such file");
  if (fs::is_directory(status)) throw_input_error(path, "", "a .safetensors file", "a directory");
  const std::uint64_t file_size = fs::file_size(path, ec);
  if (ec) throw_input_error(path, "", "a readable .safetensors file", ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input_error(path, "", "a readable .safetensors file", std::strerror(errno));

  return from_source(path, file_size, [&](void* dst, std::uint64_t offset, std::uint64_t n) {
    in.seekg(std::streamoff(offset));
    in.read(static_cast<char*>(dst), std::streamsize(n));
    if (!in || std::uint64_t(in.gcount()) != n)
      throw_input_error(path, "byte " + std::to_string(offset), std::to_string(n) + " readable bytes",
                        "a read error or a file that shrank while being read");
  });
}

SafetensorsFile SafetensorsFile::parse(std::string_view bytes, const std::string& name) {
  // from_source only asks for ranges it has checked against the size, so the memcpy stays in bounds.
  return from_source(name, bytes.size(), [&](void* dst, std::uint64_t offset, std::uint64_t n) {
    std::memcpy(dst, bytes.data() + offset, n);
  });
}

SafetensorsFile SafetensorsFile::from_source(const std::string& path, std::uint64_t file_size,
                                             const ReadExactly& read_exactly) {
  if (file_size < 8)
    throw_input_error(path, "byte 0", "an 8-byte little-endian header length (the start of a safetensors file)",
                      "a file of only " + std::to_string(file_size) + " bytes");
  unsigned char length_bytes[8];
  read_exactly(length_bytes, 0, 8);
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length_bytes[i];
  if (header_size > kMaxHeaderBytes)
    throw_input_error(path, "byte 0 (header length)",
                      "a header length of at most " + std::to_string(kMaxHeaderBytes) + " bytes",
                      std::to_string(header_size) + " (not a safetensors file, or a corrupt one)");
  if (header_size > file_size - 8)
    throw_input_error(path, "byte 0 (header length)",
                      "a header length within the file (at most " + std::to_string(file_size - 8) + " bytes)",
                      std::to_string(header_size) + " (truncated file?)");

  std::string header_text(header_size, '\0');
  read_exactly(header_text.data(), 8, header_size);
  if (header_text.empty() || header_text[0] != '{')
    throw_input_error(path, "byte 8 (header JSON byte 0)", "a JSON header starting with '{'",
                      header_text.empty() ? std::string("an empty header") : quoted(header_text.substr(0, 1)));

  // JSON text never holds a raw NUL byte, and nlohmann's parser would take one for the end of the
  // input, silently accepting whatever follows it.
  if (const auto nul = header_text.find('\0'); nul != std::string::npos)
    throw_input_error(path, "byte " + std::to_string(8 + nul) + " (header JSON byte " + std::to_string(nul) + ")",
                      "JSON text with no NUL bytes (pad the header with spaces)", "a NUL byte");

  const std::uint64_t data_start = 8 + header_size;
  HeaderReader reader(path, data_start, file_size - data_start);
  const nlohmann::json header = reader.parse(header_text);
  header_text = std::string();  // release before the tensors are read

  SafetensorsFile file;
  file.path_ = path;
  std::vector<Entry> entries = reader.entries(header, file.metadata_);
  reader.check_tiling(entries);

  // Every size is now known to be consistent and to lie within the file, so these allocations add
  // up to exactly the file's data buffer.
  for (Entry& e : entries) {
    Tensor t;
    t.name = e.name;
    t.dtype = e.dtype;
    t.shape = std::move(e.shape);
    t.source = path;
    t.bytes.resize(e.end - e.begin);
    if (!t.bytes.empty()) read_exactly(t.bytes.data(), data_start + e.begin, e.end - e.begin);
    file.tensors_.emplace(e.name, std::move(t));
  }
  return file;
}

const Tensor& SafetensorsFile::tensor(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it != tensors_.end()) return it->second;
  const auto all = names();
  std::string listing;
  for (std::size_t i = 0; i < all.size() && i < 8; ++i) listing += (i ? ", " : "") + all[i];
  if (all.size() > 8) listing += ", ...";
  throw InputError(
      ErrorInfo{path_, tensor_location(name), "a tensor named " + quoted(name),
                "no such tensor among the " + std::to_string(all.size()) + " in the file (" + listing + ")",
                closest_match(name, all)});
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

const std::string& SafetensorsFile::metadata_value(const std::string& key) const {
  const auto it = metadata_.find(key);
  if (it != metadata_.end()) return it->second;
  std::vector<std::string> keys;
  for (const auto& [k, v] : metadata_) keys.push_back(k);
  throw InputError(
      ErrorInfo{path_, "__metadata__", "a metadata key " + quoted(key),
                keys.empty() ? std::string("no metadata") : "no such key among " + std::to_string(keys.size()),
                closest_match(key, keys)});
}

// ---------------------------------------------------------------------------------------------
// SafetensorsWriter

void SafetensorsWriter::add(std::string name, DType dtype, std::vector<std::int64_t> shape,
                            std::span<const std::byte> bytes) {
  if (name.empty()) throw std::invalid_argument("safetensors: a tensor needs a non-empty name");
  if (name == "__metadata__") throw std::invalid_argument("safetensors: '__metadata__' is reserved, not a tensor name");
  if (!is_valid_utf8(name)) throw std::invalid_argument("safetensors: tensor name is not valid UTF-8");
  if (tensors_.count(name)) throw std::invalid_argument("safetensors: tensor '" + name + "' added twice");
  Tensor t;
  t.shape = checked_shape(name, shape, dtype_size(dtype), bytes.size());
  t.name = name;
  t.dtype = dtype;
  t.bytes.assign(bytes.begin(), bytes.end());
  tensors_.emplace(std::move(name), std::move(t));
}

void SafetensorsWriter::add(std::string name, std::vector<std::int64_t> shape, std::span<const float> values,
                            DType stored_as) {
  std::vector<std::byte> bytes;
  switch (stored_as) {
    case DType::F32:
      bytes = raw_bytes(values);
      break;
    case DType::F64: {
      std::vector<double> wide(values.begin(), values.end());
      bytes = raw_bytes(std::span<const double>(wide));
      break;
    }
    case DType::F16:
    case DType::BF16: {
      std::vector<std::uint16_t> narrow(values.size());
      for (std::size_t i = 0; i < values.size(); ++i)
        narrow[i] = stored_as == DType::F16 ? float_to_half(values[i]) : float_to_bfloat16(values[i]);
      bytes = raw_bytes(std::span<const std::uint16_t>(narrow));
      break;
    }
    default:
      throw std::invalid_argument("safetensors: floats can be stored as F32, F16, BF16 or F64, not " +
                                  std::string(dtype_name(stored_as)));
  }
  add(std::move(name), stored_as, std::move(shape), bytes);
}

void SafetensorsWriter::add(std::string name, std::vector<std::int64_t> shape, std::span<const double> values) {
  add(std::move(name), DType::F64, std::move(shape), raw_bytes(values));
}
void SafetensorsWriter::add(std::string name, std::vector<std::int64_t> shape, std::span<const std::int8_t> values) {
  add(std::move(name), DType::I8, std::move(shape), raw_bytes(values));
}
void SafetensorsWriter::add(std::string name, std::vector<std::int64_t> shape, std::span<const std::uint8_t> values) {
  add(std::move(name), DType::U8, std::move(shape), raw_bytes(values));
}
void SafetensorsWriter::add(std::string name, std::vector<std::int64_t> shape, std::span<const std::int32_t> values) {
  add(std::move(name), DType::I32, std::move(shape), raw_bytes(values));
}
void SafetensorsWriter::add(std::string name, std::vector<std::int64_t> shape, std::span<const std::int64_t> values) {
  add(std::move(name), DType::I64, std::move(shape), raw_bytes(values));
}
void SafetensorsWriter::add(const Tensor& tensor) { add(tensor.name, tensor.dtype, tensor.shape, tensor.bytes); }

void SafetensorsWriter::set_metadata(std::string key, std::string value) {
  if (!is_valid_utf8(key) || !is_valid_utf8(value))
    throw std::invalid_argument("safetensors: metadata key/value is not valid UTF-8 (key '" + key + "')");
  metadata_[std::move(key)] = std::move(value);
}

std::string SafetensorsWriter::serialize() const {
  std::vector<const Tensor*> order;
  order.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) order.push_back(&t);  // already sorted by name
  std::stable_sort(order.begin(), order.end(), [](const Tensor* a, const Tensor* b) { return a->dtype > b->dtype; });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::uint64_t offset = 0;
  for (const Tensor* t : order) {
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = std::string(dtype_name(t->dtype));
    entry["shape"] = t->shape;
    entry["data_offsets"] = {offset, offset + t->bytes.size()};
    offset += t->bytes.size();
    header[t->name] = std::move(entry);
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + header_text.size() + offset);
  std::uint64_t n = header_text.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xFF));
  out += header_text;
  for (const Tensor* t : order) out.append(reinterpret_cast<const char*>(t->bytes.data()), t->bytes.size());
  return out;
}

void SafetensorsWriter::write(const std::string& path) const { write_file_atomic(path, serialize()); }

}  // namespace axsim::artifact
