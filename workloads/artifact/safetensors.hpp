// The deploy artifact's container: the .safetensors format of Hugging Face, so that Python users can
// open our trained networks with `safetensors.torch.load_file` and we can load theirs.
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON header (padded with spaces to
// a multiple of 8), then the data buffer. The header maps each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the buffer start), plus an
// optional "__metadata__" object of string -> string. Tensors are little-endian, row-major, packed.
//
// Loading treats the file as hostile: every number in the header is checked (with overflow checks)
// before it is used, the tensors must tile the buffer exactly (no hole, no overlap, nothing left
// over), and nothing is allocated beyond the size of the file itself. Every problem is an
// InputError naming the file and the tensor, field or byte at fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace axsim::artifact {

// The element types of the format. Their order is the reference implementation's (increasing
// alignment), which its writer uses to lay tensors out; our writer uses the same order so a file
// we write is laid out exactly as Python's `save_file` would lay it out.
enum class DType : std::uint8_t {
  BOOL,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  F8_E8M0,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  C64,
  F64,
  I64,
  U64,
};

std::size_t dtype_size(DType dtype);       // bytes per element
std::string_view dtype_name(DType dtype);  // "F32"
std::optional<DType> parse_dtype(std::string_view name);
std::vector<std::string> dtype_names();  // every supported name, for error hints

// The header may be at most this long (the reference implementation's limit): a header length above
// it is refused before anything is allocated.
inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

// IEEE binary16 and bfloat16 conversions (round to nearest, ties to even; NaN stays NaN).
float half_to_float(std::uint16_t h);
std::uint16_t float_to_half(float f);
float bfloat16_to_float(std::uint16_t b);
std::uint16_t float_to_bfloat16(float f);

// One tensor, owning its bytes exactly as stored in the file.
struct Tensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;  // {} for a scalar; a 0 anywhere makes an empty tensor
  std::vector<std::byte> bytes;     // element_count() * dtype_size(dtype) bytes
  std::string source;               // file it was loaded from, for error messages ("" if built in memory)

  std::int64_t element_count() const;

  // Typed copies of the values. A dtype the accessor cannot represent is an InputError naming the
  // file, the tensor, the accepted dtypes and the dtype found.
  std::vector<float> as_float() const;         // F32, F16, BF16, F64 (rounded to float)
  std::vector<double> as_double() const;       // F64, F32, F16, BF16 (exact)
  std::vector<std::int8_t> as_int8() const;    // I8 only (quantized codes)
  std::vector<std::uint8_t> as_uint8() const;  // U8 or BOOL
  std::vector<std::int32_t> as_int32() const;  // I32, I16, U16, I8, U8, BOOL (exact widening)
  std::vector<std::int64_t> as_int64() const;  // any integer dtype or BOOL; a U64 above INT64_MAX is an error

  // Throws InputError (file, tensor, expected vs found) unless the tensor has this dtype / shape.
  void expect_dtype(DType dtype) const;
  void expect_shape(const std::vector<std::int64_t>& shape) const;
};

std::string shape_string(const std::vector<std::int64_t>& shape);  // "[10, 784]"

class SafetensorsFile {
 public:
  // Reads and validates the whole file. Throws InputError naming the path and what is wrong where.
  static SafetensorsFile load(const std::string& path);
  // The same validation for a file already in memory; `name` stands for the file in messages.
  static SafetensorsFile parse(std::string_view bytes, const std::string& name);

  const std::string& path() const { return path_; }
  std::size_t size() const { return tensors_.size(); }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Missing name -> InputError listing the closest name.
  const Tensor& tensor(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Missing key -> InputError naming the closest key.
  const std::string& metadata_value(const std::string& key) const;

 private:
  // Copies n bytes at `offset` into dst; called only for ranges already checked against the size.
  using ReadExactly = std::function<void(void* dst, std::uint64_t offset, std::uint64_t n)>;
  static SafetensorsFile from_source(const std::string& path, std::uint64_t file_size, const ReadExactly& read_exactly);

  std::string path_;
  std::map<std::string, Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors and metadata, then writes one file atomically (a temporary file renamed over the
// destination, so a crash never leaves half an artifact). Programming errors (duplicate names, a
// byte count that does not match the shape, invalid UTF-8) throw std::invalid_argument at add().
//
// Layout follows the reference writer: tensors sorted by decreasing dtype alignment, then by name,
// so every tensor starts at a multiple of its element size; the header JSON is compact, starts with
// "__metadata__" (keys sorted), lists tensors in buffer order, and is padded with spaces to a
// multiple of 8 bytes so the buffer is 8-byte aligned in the file.
class SafetensorsWriter {
 public:
  void add(std::string name, DType dtype, std::vector<std::int64_t> shape, std::span<const std::byte> bytes);
  // Floats stored as F32 (default), F16, BF16 or F64.
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const float> values,
           DType stored_as = DType::F32);
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const double> values);        // F64
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const std::int8_t> values);   // I8
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const std::uint8_t> values);  // U8
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const std::int32_t> values);  // I32
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const std::int64_t> values);  // I64
  void add(const Tensor& tensor);  // e.g. copy a tensor from a loaded file

  void set_metadata(std::string key, std::string value);  // replaces an earlier value for the key

  std::size_t size() const { return tensors_.size(); }
  // The complete file contents.
  std::string serialize() const;
  // Throws OutputError naming the path when it cannot be written.
  void write(const std::string& path) const;

 private:
  std::map<std::string, Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace axsim::artifact
