#include "workloads/data/idx.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <utility>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace axsim {
namespace {

constexpr int kMaxInferredClasses = 65536;

bool is_idx_type(std::uint8_t b) {
  switch (b) {
    case 0x08:
    case 0x09:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x0E:
      return true;
    default:
      return false;
  }
}

std::uint32_t read_be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

std::string hex_bytes(const std::vector<unsigned char>& b, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < std::min(n, b.size()); ++i) {
    if (i) s += ' ';
    s += digits[b[i] >> 4];
    s += digits[b[i] & 15];
  }
  return s;
}

std::string dims_text(const std::vector<std::size_t>& dims, const char* sep) {
  std::string s;
  for (std::size_t k = 0; k < dims.size(); ++k) s += (k ? sep : "") + std::to_string(dims[k]);
  return s;
}

// Big-endian element k of the payload, converted to T. The compiler turns the fixed-size byte
// gathers into single loads plus a byte swap.
template <class Raw>
Raw load_be(const unsigned char* p) {
  std::array<unsigned char, sizeof(Raw)> be;
  std::memcpy(be.data(), p, sizeof(Raw));
  if constexpr (std::endian::native == std::endian::little) std::reverse(be.begin(), be.end());
  Raw v;
  std::memcpy(&v, be.data(), sizeof(Raw));
  return v;
}

template <class Raw, class Out>
void convert_be(const unsigned char* src, std::size_t n, Out* dst) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load_be<Raw>(src + i * sizeof(Raw)));
}

}  // namespace

std::size_t idx_element_size(IdxType type) {
  switch (type) {
    case IdxType::u8:
    case IdxType::i8:
      return 1;
    case IdxType::i16:
      return 2;
    case IdxType::i32:
    case IdxType::f32:
      return 4;
    case IdxType::f64:
      return 8;
  }
  return 0;
}

const char* idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::u8:
      return "u8";
    case IdxType::i8:
      return "i8";
    case IdxType::i16:
      return "i16";
    case IdxType::i32:
      return "i32";
    case IdxType::f32:
      return "f32";
    case IdxType::f64:
      return "f64";
  }
  return "?";
}

std::size_t IdxFile::count() const {
  std::size_t n = 1;
  for (std::size_t d : dims) n *= d;  // cannot overflow: read_idx checked it against the file size
  return n;
}

IdxFile read_idx(const std::string& path) { return parse_idx(read_file_bytes(path), path); }

IdxFile parse_idx(FileBytes file, const std::string& path) {
  IdxFile idx;
  idx.path = path;
  idx.file = std::move(file);
  const auto& b = idx.file.bytes;
  const std::size_t total = b.size();

  if (total < 4)
    throw_input_error(path, "byte 0", "a 4-byte IDX magic (00 00 <dtype> <ndims>)",
                      std::to_string(total) + " bytes in the whole file");
  if (b[0] != 0 || b[1] != 0 || !is_idx_type(b[2]) || b[3] == 0) {
    std::string where = "byte 0", expected = "IDX magic 00 00 <dtype> <ndims>";
    if (b[0] == 0 && b[1] == 0 && !is_idx_type(b[2])) {
      where = "byte 2";
      expected = "an IDX dtype byte (08 u8, 09 i8, 0b i16, 0c i32, 0d f32, 0e f64)";
    } else if (b[0] == 0 && b[1] == 0 && b[3] == 0) {
      where = "byte 3";
      expected = "at least one dimension";
    }
    throw_input_error(path, where, expected, "bytes " + hex_bytes(b, 4) + " (is this an IDX file?)");
  }
  idx.type = static_cast<IdxType>(b[2]);
  const std::size_t ndims = b[3];
  idx.header_bytes = 4 + 4 * ndims;
  if (total < idx.header_bytes)
    throw_input_error(path, "byte 4",
                      std::to_string(ndims) + " big-endian 4-byte dimensions (a " + std::to_string(idx.header_bytes) +
                          "-byte header)",
                      "only " + std::to_string(total - 4) + " bytes after the magic (truncated header)");
  idx.dims.resize(ndims);
  for (std::size_t k = 0; k < ndims; ++k) idx.dims[k] = read_be32(b.data() + 4 + 4 * k);

  // Multiply with overflow checks: the product must match the bytes we hold, and the caller allocates
  // only after this check, so a header claiming 10^12 elements fails here without any allocation.
  const std::size_t elem = idx_element_size(idx.type);
  const std::size_t available = total - idx.header_bytes;
  unsigned long long need = elem;
  bool overflow = false;
  for (std::size_t d : idx.dims) overflow = overflow || __builtin_mul_overflow(need, (unsigned long long)d, &need);
  if (overflow || need != available) {
    std::string expected = dims_text(idx.dims, "*") + (elem > 1 ? "*" + std::to_string(elem) : "");
    expected += overflow ? " bytes (more than 2^64)"
                         : (ndims > 1 || elem > 1 ? " = " + std::to_string(need) : "") + std::string(" bytes");
    expected += std::string(" of ") + idx_type_name(idx.type) + " data after the " + std::to_string(idx.header_bytes) +
                "-byte header";
    std::string found = std::to_string(available) + " bytes";
    if (!overflow && available > need)
      found += " (" + std::to_string(available - need) + " bytes more than the header declares)";
    else
      found += " (file truncated or header wrong)";
    throw_input_error(path, byte_location(idx.header_bytes, idx.file), expected, found);
  }
  return idx;
}

namespace {

// Converts every element of an integer-typed payload to Out (u8 as its plain value 0..255).
// Returns false, converting nothing, for the floating-point element types.
template <typename Out>
bool convert_integer_elements(IdxType type, const unsigned char* src, std::size_t n, Out* out) {
  switch (type) {
    case IdxType::u8:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(src[i]);
      return true;
    case IdxType::i8:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(static_cast<std::int8_t>(src[i]));
      return true;
    case IdxType::i16:
      convert_be<std::int16_t>(src, n, out);
      return true;
    case IdxType::i32:
      convert_be<std::int32_t>(src, n, out);
      return true;
    case IdxType::f32:
    case IdxType::f64:
      return false;
  }
  return false;
}

}  // namespace

std::vector<float> IdxFile::to_float(bool scale_u8) const {
  const std::size_t n = count();
  std::vector<float> out(n);
  const unsigned char* src = file.bytes.data() + header_bytes;
  if (type == IdxType::u8 && scale_u8) {
    // Table of float(v)/255.0f: one load per pixel, and exactly the documented value.
    std::array<float, 256> table;
    for (int v = 0; v < 256; ++v) table[v] = float(v) / 255.0f;
    for (std::size_t i = 0; i < n; ++i) out[i] = table[src[i]];
  } else if (!convert_integer_elements(type, src, n, out.data())) {
    if (type == IdxType::f32)
      convert_be<float>(src, n, out.data());
    else
      convert_be<double>(src, n, out.data());
  }
  return out;
}

std::vector<std::int32_t> IdxFile::to_int32() const {
  const std::size_t n = count();
  std::vector<std::int32_t> out(n);
  const unsigned char* src = file.bytes.data() + header_bytes;
  if (!convert_integer_elements(type, src, n, out.data()))
    throw_input_error(path, "byte 2", "an integer dtype (u8, i8, i16, i32)", idx_type_name(type));
  return out;
}

void write_idx(const std::string& path, IdxType type, std::span<const std::size_t> dims,
               std::span<const double> values) {
  if (dims.empty() || dims.size() > 255) throw std::invalid_argument("write_idx: 1 to 255 dimensions");
  std::size_t n = 1;
  for (std::size_t d : dims) {
    if (d > std::numeric_limits<std::uint32_t>::max()) throw std::invalid_argument("write_idx: dimension > 2^32-1");
    n *= d;
  }
  if (n != values.size())
    throw std::invalid_argument("write_idx: " + std::to_string(values.size()) + " values for " + std::to_string(n) +
                                " elements");
  const std::size_t elem = idx_element_size(type);
  std::string out;
  out.reserve(4 + 4 * dims.size() + n * elem);
  out += '\0';
  out += '\0';
  out += static_cast<char>(type);
  out += static_cast<char>(dims.size());
  auto put_be = [&](std::uint64_t bits, std::size_t bytes) {
    for (std::size_t k = bytes; k-- > 0;) out += static_cast<char>((bits >> (8 * k)) & 0xFF);
  };
  for (std::size_t d : dims) put_be(d, 4);
  auto integral = [&](double v, double lo, double hi) {
    if (!(v >= lo && v <= hi) || v != std::floor(v))
      throw std::invalid_argument("write_idx: value " + std::to_string(v) + " is not a " + idx_type_name(type));
    return static_cast<std::int64_t>(v);
  };
  for (double v : values) {
    switch (type) {
      case IdxType::u8:
        put_be(static_cast<std::uint64_t>(integral(v, 0, 255)), 1);
        break;
      case IdxType::i8:
        put_be(static_cast<std::uint64_t>(integral(v, -128, 127)), 1);
        break;
      case IdxType::i16:
        put_be(static_cast<std::uint64_t>(integral(v, -32768, 32767)), 2);
        break;
      case IdxType::i32:
        put_be(static_cast<std::uint64_t>(integral(v, -2147483648.0, 2147483647.0)), 4);
        break;
      case IdxType::f32:
        put_be(std::bit_cast<std::uint32_t>(static_cast<float>(v)), 4);
        break;
      case IdxType::f64:
        put_be(std::bit_cast<std::uint64_t>(v), 8);
        break;
    }
  }
  write_file_atomic(path, out);
}

Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, const DataOptions& options) {
  const IdxFile images = read_idx(images_path);
  const std::size_t n = images.dims[0];
  if (n == 0) throw_input_error(images_path, "byte 4", "at least one sample", "dimension 0 is 0");
  // A zero anywhere else would make samples of no features, which no network can take as input.
  for (std::size_t k = 1; k < images.dims.size(); ++k)
    if (images.dims[k] == 0)
      throw_input_error(images_path, "byte " + std::to_string(4 + 4 * k), "a sample dimension of at least 1",
                        "dimension " + std::to_string(k) + " is 0 (shape " + dims_text(images.dims, " x ") + ")");

  const IdxFile labels = read_idx(labels_path);
  if (labels.type == IdxType::f32 || labels.type == IdxType::f64)
    throw_input_error(labels_path, "byte 2", "an integer dtype for class labels (u8, i8, i16, i32)",
                      idx_type_name(labels.type));
  if (!(labels.dims.size() == 1 || (labels.dims.size() == 2 && labels.dims[1] == 1)))
    throw_input_error(labels_path, "byte 3", "a label file of shape N or N x 1",
                      "shape " + dims_text(labels.dims, " x "));
  if (labels.dims[0] != n)
    throw_input_error(labels_path, "byte 4 (dimension 0)",
                      std::to_string(n) + " labels, one per image in " + images_path,
                      std::to_string(labels.dims[0]) + " labels");

  Dataset d;
  d.name = std::filesystem::path(images_path).filename().string();
  d.source = images_path + "," + labels_path;
  switch (images.dims.size()) {
    case 1:
      d.sample_shape = {1};
      break;
    case 3:
      d.sample_shape = {1, images.dims[1], images.dims[2]};
      break;
    default:
      d.sample_shape.assign(images.dims.begin() + 1, images.dims.end());
  }
  d.size = n;
  d.features = images.to_float(options.scale_u8);
  d.feature_scaling = images.type == IdxType::u8 && options.scale_u8
                          ? "u8/255 -> [0,1]"
                          : std::string(idx_type_name(images.type)) + " values as stored";
  d.labels = labels.to_int32();

  std::int32_t max_label = 0;
  const std::size_t elem = idx_element_size(labels.type);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t l = d.labels[i];
    const bool too_big = options.num_classes > 0 && l >= options.num_classes;
    if (l < 0 || too_big)
      throw_input_error(labels_path, byte_location(labels.header_bytes + i * elem, labels.file),
                        options.num_classes > 0 ? "a class index in [0, " + std::to_string(options.num_classes) + ")"
                                                : std::string("a non-negative class index"),
                        std::to_string(l) + " (label of sample " + std::to_string(i) + ")");
    max_label = std::max(max_label, l);
  }
  if (options.num_classes > 0) {
    d.num_classes = options.num_classes;
  } else {
    if (max_label >= kMaxInferredClasses)
      throw_input_error(labels_path, "labels",
                        "at most " + std::to_string(kMaxInferredClasses) + " classes (is this a label file?)",
                        "largest label " + std::to_string(max_label));
    d.num_classes = max_label + 1;
  }
  d.class_names.reserve(d.num_classes);
  for (int c = 0; c < d.num_classes; ++c) d.class_names.push_back(std::to_string(c));
  d.check_consistent();
  return d;
}

Dataset load_mnist_like(const std::string& dir, const std::string& split, const DataOptions& options) {
  namespace fs = std::filesystem;
  std::string prefix;
  if (split == "train")
    prefix = "train";
  else if (split == "test" || split == "t10k")
    prefix = "t10k";
  else
    throw_input_error(dir, "split", "'train' or 'test'", "'" + split + "'",
                      closest_match(split, std::array<const char*, 2>{"train", "test"}));
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw_input_error(dir, "", "a directory holding MNIST-style IDX files (train-images-idx3-ubyte...)",
                      fs::exists(dir, ec) ? "a file" : "no such directory");

  // The original distribution names and the common variants (dot before idx, gzip).
  auto find = [&](const std::string& kind, const char* rank) {
    for (const std::string sep : {"-", "."})
      for (const std::string ext : {"", ".gz"}) {
        const fs::path p = fs::path(dir) / (prefix + "-" + kind + sep + rank + "-ubyte" + ext);
        if (fs::is_regular_file(p, ec)) return p.string();
      }
    std::string listing;
    std::size_t shown = 0;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (shown++ == 8) {
        listing += ", ...";
        break;
      }
      listing += (listing.empty() ? "" : ", ") + e.path().filename().string();
    }
    throw_input_error((fs::path(dir) / (prefix + "-" + kind + "-" + rank + "-ubyte")).string(), "",
                      "an existing file (or its .gz) in the MNIST layout",
                      "no such file (the directory holds: " + (listing.empty() ? "nothing" : listing) + ")");
    return std::string();
  };
  const std::string images = find("images", "idx3");
  const std::string labels = find("labels", "idx1");
  Dataset d = load_idx_pair(images, labels, options);
  std::string base = fs::path(dir).lexically_normal().filename().string();
  if (base.empty()) base = fs::path(dir).lexically_normal().parent_path().filename().string();
  d.name = (base.empty() ? "idx" : base) + "-" + (prefix == "t10k" ? "test" : "train");
  return d;
}

}  // namespace axsim
