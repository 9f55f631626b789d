// Robustness of the safetensors reader against hostile files (docs/robustness.md): the in-memory
// entry point the fuzzer uses agrees with the file reader, and inputs found while fuzzing
// (tests/fuzz/fuzz_safetensors.cpp) stay fixed.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "workloads/artifact/safetensors.hpp"

using namespace axsim;
using namespace axsim::artifact;

namespace {

std::string file_with_header(std::string header, const std::string& data) {
  while (header.size() % 8 != 0) header += ' ';
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(char((std::uint64_t(header.size()) >> (8 * i)) & 0xFF));
  return s + header + data;
}

std::string input_error_of(const std::string& bytes) {
  try {
    SafetensorsFile::parse(bytes, "mem.safetensors");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(SafetensorsRobustness, ParseFromMemoryReadsWhatTheWriterWrote) {
  SafetensorsWriter w;
  const float values[] = {1.5f, -2.0f, 0.25f};
  w.add("w", {3}, std::span<const float>(values));
  w.set_metadata("k", "v");
  const SafetensorsFile f = SafetensorsFile::parse(w.serialize(), "mem");
  EXPECT_EQ(f.tensor("w").as_float(), std::vector<float>(values, values + 3));
  EXPECT_EQ(f.metadata_value("k"), "v");
  const std::string msg = input_error_of(w.serialize().substr(0, 12));
  EXPECT_NE(msg.find("mem.safetensors:byte 0 (header length)"), std::string::npos) << msg;
}

// A zero-sized tensor may declare any other dimensions: [2^62, 2, 0] is 0 bytes and loads. Its
// element count must be 0, not the int64 overflow of 2^62 * 2 (undefined behaviour, which the
// sanitized build reports).
TEST(SafetensorsRobustness, EmptyTensorWithHugeOtherDimensionsCountsZeroElements) {
  const std::string header = R"({"e":{"dtype":"F32","shape":[4611686018427387904,2,0],"data_offsets":[0,0]}})";
  const SafetensorsFile f = SafetensorsFile::parse(file_with_header(header, ""), "mem");
  EXPECT_EQ(f.tensor("e").element_count(), 0);
  EXPECT_TRUE(f.tensor("e").as_float().empty());
}

TEST(SafetensorsRobustness, ATeraElementTensorIsRefusedBeforeAnyAllocation) {
  const std::string header = R"({"t":{"dtype":"U8","shape":[1000000,1000000],"data_offsets":[0,1000000000000]}})";
  const std::string msg = input_error_of(file_with_header(header, "abc"));
  EXPECT_NE(msg.find("tensor 't' data_offsets"), std::string::npos) << msg;
  EXPECT_NE(msg.find("past the end of the file"), std::string::npos) << msg;
}
