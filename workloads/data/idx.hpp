// IDX files (MNIST, Fashion-MNIST, EMNIST, KMNIST...). Layout: magic bytes 00 00 <dtype> <ndims>, then
// ndims big-endian u32 dimensions, then prod(dims) big-endian elements. dtypes: 0x08 u8, 0x09 i8,
// 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64.
// Every size the header claims is checked against the bytes actually present before anything is
// allocated for it, so a corrupt or hostile header is an InputError, never a huge allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "workloads/data/dataset.hpp"
#include "workloads/data/file_bytes.hpp"

namespace axsim {

enum class IdxType : std::uint8_t { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E };

std::size_t idx_element_size(IdxType type);
const char* idx_type_name(IdxType type);  // "u8", "f32", ...

// A validated IDX file held in memory: the payload is exactly count() elements.
struct IdxFile {
  std::string path;
  IdxType type = IdxType::u8;
  std::vector<std::size_t> dims;
  std::size_t header_bytes = 0;  // 4 + 4 * dims.size(); the payload starts here
  FileBytes file;                // the whole (decompressed) file

  std::size_t count() const;  // product of dims
  // Elements as float; u8 becomes v / 255.0f when scale_u8 (see dataset.hpp), everything else as stored.
  std::vector<float> to_float(bool scale_u8) const;
  // Elements of an integer dtype as int32; an f32/f64 file is an InputError.
  std::vector<std::int32_t> to_int32() const;
};

// Reads and validates magic, dtype, dims and payload size (gzip transparently, see file_bytes.hpp).
IdxFile read_idx(const std::string& path);
// The same validation for a file already in memory (read_file_bytes or decode_file_bytes); `name`
// stands for the file in messages.
IdxFile parse_idx(FileBytes file, const std::string& name);

// Writes an IDX file atomically; values are converted to `type` (integer types: must be whole numbers
// in range, else std::invalid_argument). values.size() must equal prod(dims).
void write_idx(const std::string& path, IdxType type, std::span<const std::size_t> dims,
               std::span<const double> values);

// An image file (N x ...) and a label file (N, or N x 1, integer dtype) as one dataset. Sample shape:
// N x H x W -> {1,H,W}; N x C x H x W -> {C,H,W} (IDX has no channel convention; 4-D files are taken as
// channel-first); N x F -> {F}; N -> {1}. Class names are "0", "1", ...
// Reads options.scale_u8 and options.num_classes.
Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, const DataOptions& options = {});

// The standard four-file layout in `dir`: {train,t10k}-{images-idx3,labels-idx1}-ubyte (also the
// ".idx3-ubyte" spelling and ".gz" variants). split: "train" or "test" (alias "t10k").
// The dataset is named "<dir name>-<split>", e.g. "fashion-mnist-test".
Dataset load_mnist_like(const std::string& dir, const std::string& split, const DataOptions& options = {});

}  // namespace axsim
