// Robustness of the dataset readers against hostile bytes (docs/robustness.md): in-memory entry
// points agree with the file readers, and inputs found while fuzzing (tests/fuzz) stay fixed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/workloads/data/data_test_util.hpp"
#include "workloads/data/file_bytes.hpp"
#include "workloads/data/idx.hpp"

using namespace axsim;
using axsim::testing_data::expect_input_error;
using axsim::testing_data::ScratchDir;

namespace {

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xFF), char((v >> 8) & 0xFF), char(v & 0xFF)};
}

std::string idx_bytes(std::uint8_t dtype, std::initializer_list<std::uint32_t> dims, const std::string& payload) {
  std::string h = {'\0', '\0', char(dtype), char(dims.size())};
  for (auto d : dims) h += be32(d);
  return h + payload;
}

FileBytes bytes_of(const std::string& s) {
  return decode_file_bytes(std::vector<unsigned char>(s.begin(), s.end()), "mem");
}

}  // namespace

TEST(IdxRobustness, ParseFromMemoryMatchesTheFileReader) {
  ScratchDir dir;
  const std::string raw =
      idx_bytes(0x08, {2, 2, 3}, std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\xff", 12));
  const IdxFile from_file = read_idx(dir.write("img", raw));
  const IdxFile from_memory = parse_idx(bytes_of(raw), "img");
  EXPECT_EQ(from_memory.dims, from_file.dims);
  EXPECT_EQ(from_memory.to_float(true), from_file.to_float(true));
  // The same errors, naming whatever name the caller gave.
  expect_input_error([&] { parse_idx(bytes_of(raw.substr(0, 10)), "cut.idx"); },
                     {"cut.idx:byte 4", "truncated header"});
}

TEST(IdxRobustness, ATeraElementHeaderIsRefusedBeforeAnyAllocation) {
  // 10^12 rows of 1 byte claimed by the header, 3 bytes present.
  expect_input_error(
      [&] {
        parse_idx(bytes_of(idx_bytes(0x08, {1000000, 1000000}, "abc")), "tera.idx");
      },
      {"tera.idx", "1000000000000 bytes", "found 3 bytes"});
}

TEST(IdxRobustness, ZeroSizedSampleDimensionsAreRefused) {
  // The payload size matches (0 bytes), but samples would have no features at all.
  ScratchDir dir;
  const std::string images = dir.write("img", idx_bytes(0x08, {3, 0, 5}, ""));
  const std::string labels = dir.write("lab", idx_bytes(0x08, {3}, std::string("\0\1\2", 3)));
  expect_input_error([&] { load_idx_pair(images, labels); },
                     {images, "byte 8", "a sample dimension of at least 1", "dimension 1 is 0 (shape 3 x 0 x 5)"});
}
