// Whole-file reads for the dataset loaders: one read call, then parsing from memory, which is what
// keeps loading MNIST-sized files fast. gzip-compressed files (magic 1f 8b, e.g. `train-images-idx3-ubyte.gz`,
// `iris.arff.gz`) are decompressed transparently when axsim is built with zlib (AXSIM_HAVE_ZLIB);
// without it they are refused with a message saying how to decompress them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace axsim {

struct FileBytes {
  std::vector<unsigned char> bytes;  // decompressed contents
  bool was_gzip = false;             // byte offsets in errors then refer to the decompressed stream
};

// Throws InputError naming the path when the file is missing, unreadable, a directory, or a broken gzip stream.
FileBytes read_file_bytes(const std::string& path);

// The same from bytes already in memory (`name` stands for the file in messages): gzip data is
// decompressed, anything else is kept as is.
FileBytes decode_file_bytes(std::vector<unsigned char> raw, const std::string& name);

// True when this build can read gzip-compressed inputs.
bool gzip_supported();

// "byte 16" or "byte 16 of the decompressed data": locations inside a file read by read_file_bytes.
std::string byte_location(std::size_t offset, const FileBytes& file);

}  // namespace axsim
