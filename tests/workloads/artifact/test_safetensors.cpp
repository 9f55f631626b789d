#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>

#include "core/error.hpp"
#include "workloads/artifact/safetensors.hpp"

using namespace axsim;
using namespace axsim::artifact;
namespace fs = std::filesystem;

namespace {

// A scratch directory per test (ctest runs tests as parallel processes).
class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("axsim_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& file) const { return (dir_ / file).string(); }

  std::string write_raw(const std::string& file, const std::string& bytes) const {
    const std::string p = path(file);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  fs::path dir_;
};

std::string le64(std::uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(char((v >> (8 * i)) & 0xFF));
  return s;
}

// A file from a header text (padded with spaces to 8 bytes, as writers do) and a data buffer.
std::string file_bytes(std::string header, const std::string& data) {
  while (header.size() % 8 != 0) header += ' ';
  return le64(header.size()) + header + data;
}

std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <class T>
std::string bytes_of(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return s;
}

// Loading must fail with an InputError (not bad_alloc, not a crash) whose message names the file
// and contains every given fragment.
void expect_load_error(const std::string& p, const std::vector<std::string>& fragments) {
  try {
    SafetensorsFile::load(p);
    ADD_FAILURE() << "expected InputError loading " << p;
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
  }
}

constexpr const char* kPython = "/usr/bin/python3";

bool python_available() {
  return fs::exists(kPython) && std::system((std::string(kPython) + " -c 'import json, struct'").c_str()) == 0;
}

std::string script_path() { return std::string(AXSIM_SOURCE_DIR) + "/tests/workloads/artifact/make_reference.py"; }

double json_number(const nlohmann::json& v) {
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    return s == "inf" ? INFINITY : -INFINITY;
  }
  return v.get<double>();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writing and reading back

TEST_F(Safetensors, RoundTripsEveryKindOfTensorAndMetadata) {
  SafetensorsWriter w;
  const std::vector<float> weights = {0.1f, -2.5f, 3.25f, 1e-8f, -0.0f, 1e30f};
  const std::vector<float> halves = {1.0f, -2.5f, 65504.0f, 0.000061035156f, 0.33325195f};  // exact in F16
  const std::vector<float> bf = {1.0f, -0.15625f, 3.3895314e38f, 1.5f};                     // exact in BF16
  const std::vector<double> wide = {std::numbers::pi, -1e300, 5e-324};
  const std::vector<std::int8_t> codes = {-128, -1, 0, 1, 127, 42};
  const std::vector<std::uint8_t> bytes = {0, 255, 7};
  const std::vector<std::int32_t> ints = {std::numeric_limits<std::int32_t>::min(), 0, 123456};
  const std::vector<std::int64_t> longs = {std::numeric_limits<std::int64_t>::max()};
  const std::vector<float> scalar = {7.5f};
  const std::vector<float> nothing;
  const std::vector<std::byte> mask = {std::byte{1}, std::byte{0}};
  w.add("fc1.weight", {2, 3}, weights);
  w.add("fc1.scale_h", {5}, halves, DType::F16);
  w.add("fc1.scale_b", {2, 2}, bf, DType::BF16);
  w.add("fc1.wide", {3}, wide);
  w.add("fc1.codes", {2, 1, 3}, codes);
  w.add("u8", {3}, bytes);
  w.add("i32", {3}, ints);
  w.add("step", {}, longs);  // 0-dim scalar
  w.add("temperature", {}, scalar);
  w.add("empty", {0, 3}, nothing);
  w.add("mask", DType::BOOL, {2}, mask);
  w.set_metadata("network", R"({"layers": [{"kind": "dense", "out": 10}]})");
  w.set_metadata("units",
                 "supply 0.66 V, I_max 1 \xC2\xB5"
                 "A, \"quoted\"\nline two");
  w.set_metadata("empty", "");
  const std::string p = path("model.safetensors");
  w.write(p);

  const auto f = SafetensorsFile::load(p);
  EXPECT_EQ(f.size(), 11u);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"empty", "fc1.codes", "fc1.scale_b", "fc1.scale_h", "fc1.weight",
                                                 "fc1.wide", "i32", "mask", "step", "temperature", "u8"}));
  const auto& t = f.tensor("fc1.weight");
  EXPECT_EQ(t.dtype, DType::F32);
  EXPECT_EQ(t.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(t.source, p);
  const auto back = t.as_float();
  ASSERT_EQ(back.size(), weights.size());
  for (std::size_t i = 0; i < back.size(); ++i)
    EXPECT_EQ(std::bit_cast<std::uint32_t>(back[i]), std::bit_cast<std::uint32_t>(weights[i])) << i;  // -0 too
  EXPECT_EQ(f.tensor("fc1.scale_h").dtype, DType::F16);
  EXPECT_EQ(f.tensor("fc1.scale_h").as_float(), halves);
  EXPECT_EQ(f.tensor("fc1.scale_b").dtype, DType::BF16);
  EXPECT_EQ(f.tensor("fc1.scale_b").as_float(), bf);
  EXPECT_EQ(f.tensor("fc1.wide").as_double(), wide);
  EXPECT_EQ(f.tensor("fc1.codes").as_int8(), codes);
  EXPECT_EQ(f.tensor("fc1.codes").shape, (std::vector<std::int64_t>{2, 1, 3}));
  EXPECT_EQ(f.tensor("u8").as_uint8(), bytes);
  EXPECT_EQ(f.tensor("i32").as_int32(), ints);
  EXPECT_EQ(f.tensor("i32").as_int64(), (std::vector<std::int64_t>{ints.begin(), ints.end()}));
  EXPECT_EQ(f.tensor("step").as_int64(), longs);
  EXPECT_TRUE(f.tensor("step").shape.empty());
  EXPECT_EQ(f.tensor("step").element_count(), 1);
  EXPECT_EQ(f.tensor("temperature").as_float(), scalar);
  EXPECT_EQ(f.tensor("empty").element_count(), 0);
  EXPECT_TRUE(f.tensor("empty").as_float().empty());
  EXPECT_EQ(f.tensor("empty").shape, (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(f.tensor("mask").as_uint8(), (std::vector<std::uint8_t>{1, 0}));
  EXPECT_EQ(f.metadata().size(), 3u);
  EXPECT_EQ(f.metadata_value("network"), R"({"layers": [{"kind": "dense", "out": 10}]})");
  EXPECT_EQ(f.metadata_value("units"),
            "supply 0.66 V, I_max 1 \xC2\xB5"
            "A, \"quoted\"\nline two");
  EXPECT_EQ(f.metadata_value("empty"), "");

  // Layout promises: header padded to 8 bytes with spaces, every tensor aligned to its element size.
  const std::string raw = read_all(p);
  std::uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  const std::string header_text = raw.substr(8, n);
  const auto last_brace = header_text.find_last_of('}');
  EXPECT_EQ(header_text.find_first_not_of(' ', last_brace + 1), std::string::npos);
  const auto header = nlohmann::json::parse(header_text);
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const auto dtype = parse_dtype(entry["dtype"].get<std::string>());
    ASSERT_TRUE(dtype);
    EXPECT_EQ(entry["data_offsets"][0].get<std::uint64_t>() % std::min<std::size_t>(dtype_size(*dtype), 8), 0u) << name;
  }
}

TEST_F(Safetensors, WriterOutputIsByteExactAgainstAHandBuiltFile) {
  SafetensorsWriter w;
  const std::vector<std::int8_t> codes = {-1, 2, -3};
  const std::vector<float> weights = {1.0f, -2.0f};
  w.add("a_codes", {3}, codes);        // added first, but a smaller dtype: laid out second
  w.add("b_weight", {2, 1}, weights);  // F32 before I8, as the reference writer sorts by alignment
  w.set_metadata("format", "pt");
  w.set_metadata("axsim", "1");  // metadata keys sorted

  std::string header = R"({"__metadata__":{"axsim":"1","format":"pt"},)"
                       R"("b_weight":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},)"
                       R"("a_codes":{"dtype":"I8","shape":[3],"data_offsets":[8,11]}})";
  ASSERT_EQ(header.size(), 165u);
  header += "   ";  // padded with spaces to 168 = 21 * 8 bytes
  std::string expected = std::string("\xA8\0\0\0\0\0\0\0", 8) + header;
  expected += std::string("\x00\x00\x80\x3F", 4);  // 1.0f little-endian
  expected += std::string("\x00\x00\x00\xC0", 4);  // -2.0f
  expected += std::string("\xFF\x02\xFD", 3);      // -1, 2, -3
  EXPECT_EQ(w.serialize(), expected);

  const std::string p = path("exact.safetensors");
  w.write(p);
  EXPECT_EQ(read_all(p), expected);
}

TEST_F(Safetensors, EmptyFileIsAPaddedEmptyObject) {
  SafetensorsWriter w;
  EXPECT_EQ(w.serialize(), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  const std::string p = path("empty.safetensors");
  w.write(p);
  const auto f = SafetensorsFile::load(p);
  EXPECT_EQ(f.size(), 0u);
  EXPECT_TRUE(f.metadata().empty());
}

TEST_F(Safetensors, LoadedTensorsCanBeRewrittenUnchanged) {
  SafetensorsWriter w;
  const std::vector<float> v = {1, 2, 3, 4};
  w.add("x", {2, 2}, v, DType::BF16);
  w.add("y", {4}, v);
  w.set_metadata("k", "v");
  const std::string first = w.serialize();
  const std::string p = write_raw("a.safetensors", first);
  const auto f = SafetensorsFile::load(p);
  SafetensorsWriter copy;
  for (const auto& [name, t] : f.tensors()) copy.add(t);
  for (const auto& [k, val] : f.metadata()) copy.set_metadata(k, val);
  EXPECT_EQ(copy.serialize(), first);
}

TEST_F(Safetensors, ReaderAcceptsOtherWritersLayouts) {
  // Pretty-printed header, metadata last, tensors listed out of buffer order, no alignment padding,
  // "__metadata__": null: all valid safetensors.
  const std::string header =
      "{\n  \"z\": {\"data_offsets\": [2, 6], \"shape\": [1], \"dtype\": \"F32\"},\n"
      "  \"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]},\n  \"__metadata__\": null\n}";
  const std::string data = std::string("\x05\x06", 2) + bytes_of<float>({0.5f});
  const std::string p = write_raw("other.safetensors", le64(header.size()) + header + data);
  const auto f = SafetensorsFile::load(p);
  EXPECT_EQ(f.tensor("a").as_uint8(), (std::vector<std::uint8_t>{5, 6}));
  EXPECT_EQ(f.tensor("z").as_float(), (std::vector<float>{0.5f}));
  EXPECT_TRUE(f.metadata().empty());
}

TEST_F(Safetensors, SeveralEmptyTensorsMayShareAnOffset) {
  const std::string header = R"({"e1":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                             R"("e2":{"dtype":"I8","shape":[3,0],"data_offsets":[4,4]},)"
                             R"("w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("e0":{"dtype":"F64","shape":[0],"data_offsets":[0,0]}})";
  const auto f = SafetensorsFile::load(write_raw("e.safetensors", file_bytes(header, bytes_of<float>({2.0f}))));
  EXPECT_EQ(f.size(), 4u);
  EXPECT_EQ(f.tensor("w").as_float(), (std::vector<float>{2.0f}));
  EXPECT_EQ(f.tensor("e2").element_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// 16-bit float conversions

TEST(SafetensorsHalf, EveryHalfRoundTripsThroughFloat) {
  for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float f = half_to_float(std::uint16_t(h));
    const bool nan = ((h >> 10) & 0x1F) == 0x1F && (h & 0x3FF) != 0;
    if (nan) {
      EXPECT_TRUE(std::isnan(f)) << h;
      EXPECT_EQ(float_to_half(f), std::uint16_t(h | 0x200)) << h;  // quietened, payload kept
    } else {
      ASSERT_EQ(float_to_half(f), std::uint16_t(h)) << std::hex << h;
    }
  }
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x7C00), INFINITY);
}

TEST(SafetensorsHalf, FloatToHalfRoundsToNearestTiesToEven) {
  // Between every pair of adjacent non-negative halves a and a+1 (a finite): the exact midpoint goes
  // to the even one, anything a float-ulp off the midpoint goes to the nearer one.
  for (std::uint32_t a = 0; a < 0x7BFF; ++a) {  // 0x7BFF (65504) is followed by infinity: checked below
    const float lo = half_to_float(std::uint16_t(a)), hi = half_to_float(std::uint16_t(a + 1));
    const float mid = lo + (hi - lo) / 2;  // exact: float has 13 more mantissa bits
    const std::uint16_t even = (a % 2 == 0) ? std::uint16_t(a) : std::uint16_t(a + 1);
    ASSERT_EQ(float_to_half(mid), even) << std::hex << a;
    ASSERT_EQ(float_to_half(std::nextafter(mid, 0.0f)), a) << std::hex << a;
    ASSERT_EQ(float_to_half(std::nextafter(mid, INFINITY)), a + 1) << std::hex << a;
    ASSERT_EQ(float_to_half(-mid), std::uint16_t(even | 0x8000)) << std::hex << a;
  }
  EXPECT_EQ(float_to_half(65519.996f), 0x7BFF);
  EXPECT_EQ(float_to_half(65520.0f), 0x7C00);  // rounds up past the largest half
  EXPECT_EQ(float_to_half(1e10f), 0x7C00);
  EXPECT_EQ(float_to_half(-INFINITY), 0xFC00);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and the smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_half(1e-30f), 0x0000);
  EXPECT_EQ(float_to_half(-1e-30f), 0x8000);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
}

TEST(SafetensorsHalf, BFloat16RoundsToNearestTiesToEven) {
  const float one = 1.0f, ulp = std::ldexp(1.0f, -7);  // bf16 has 7 stored mantissa bits
  EXPECT_EQ(float_to_bfloat16(one), 0x3F80);
  EXPECT_EQ(float_to_bfloat16(one + ulp / 2), 0x3F80);      // tie -> even (1.0)
  EXPECT_EQ(float_to_bfloat16(one + 3 * ulp / 2), 0x3F82);  // tie -> even (1 + 2 ulp)
  EXPECT_EQ(float_to_bfloat16(std::nextafter(one + ulp / 2, 2.0f)), 0x3F81);
  EXPECT_EQ(float_to_bfloat16(-2.0f), 0xC000);
  EXPECT_EQ(float_to_bfloat16(std::numeric_limits<float>::max()), 0x7F80);  // rounds to infinity
  EXPECT_EQ(float_to_bfloat16(INFINITY), 0x7F80);
  EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(std::bit_cast<float>(0x7F800001u)))));
  for (std::uint32_t b = 0; b < 0x7F80; b += 7) ASSERT_EQ(float_to_bfloat16(bfloat16_to_float(std::uint16_t(b))), b);
}

// ---------------------------------------------------------------------------------------------
// Corrupt files: every class of damage is a clear InputError naming the file and the culprit.

namespace {
const std::string kGoodData = bytes_of<float>({1.0f, 2.0f}) + std::string("\x01\x02\x03", 3);  // 11 bytes
std::string entry(const std::string& name, const std::string& body) { return "\"" + name + "\":" + body; }
std::string good_w() { return entry("w", R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"); }
std::string good_b() { return entry("b", R"({"dtype":"I8","shape":[3],"data_offsets":[8,11]})"); }
}  // namespace

TEST_F(Safetensors, TheUncorruptedBaseFileLoads) {
  const auto f =
      SafetensorsFile::load(write_raw("ok.safetensors", file_bytes("{" + good_w() + "," + good_b() + "}", kGoodData)));
  EXPECT_EQ(f.tensor("w").as_float(), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(f.tensor("b").as_int8(), (std::vector<std::int8_t>{1, 2, 3}));
}

TEST_F(Safetensors, FileLevelDamage) {
  expect_load_error(path("missing.safetensors"), {"no such file"});
  expect_load_error(dir_.string(), {"a directory"});
  expect_load_error(write_raw("short.safetensors", std::string("\x10\0\0", 3)), {"byte 0", "only 3 bytes"});
  expect_load_error(write_raw("empty.safetensors", ""), {"only 0 bytes"});
  // A length over the limit is refused before anything is allocated or read.
  expect_load_error(write_raw("huge_header.safetensors", le64(std::uint64_t(1) << 62) + "{}"),
                    {"header length", "100000000", "4611686018427387904"});
  expect_load_error(write_raw("long_header.safetensors", le64(1000) + "{}      "),
                    {"header length", "1000", "truncated"});
  expect_load_error(write_raw("zero_header.safetensors", le64(0)), {"starting with '{'", "empty header"});
  expect_load_error(write_raw("array_header.safetensors", file_bytes("[1, 2]", "")), {"starting with '{'", "'['"});
  // NUL padding: JSON has no place for a NUL byte (and nlohmann would stop reading at it).
  expect_load_error(write_raw("nul_padded.safetensors", le64(8) + std::string("{}\0\0\0\0\0\0", 8)),
                    {"byte 10 (header JSON byte 2)", "no NUL bytes"});
  expect_load_error(write_raw("nul_inside.safetensors", file_bytes(std::string("{\"a\0\":1}", 8), "")),
                    {"byte 11 (header JSON byte 3)", "no NUL bytes"});
}

TEST_F(Safetensors, MalformedJsonReportsTheBytePosition) {
  // The error sits at header byte 13 (the stray 'x'), which is byte 21 of the file.
  expect_load_error(write_raw("bad_json.safetensors", file_bytes(R"({"w":{"dtype"x"F32"}})", "")),
                    {"byte 21", "header JSON byte 13", "valid JSON header"});
  expect_load_error(write_raw("cut_json.safetensors", le64(6) + R"({"w":{)"), {"valid JSON header"});
  expect_load_error(write_raw("bad_utf8.safetensors", file_bytes("{\"w\xFF\":{}}", "")),
                    {"valid JSON header", "UTF-8"});
  expect_load_error(write_raw("trailing.safetensors", file_bytes("{} {}", "")), {"valid JSON header"});
}

TEST_F(Safetensors, EntryFieldDamage) {
  struct Case {
    std::string header;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"{" + good_w() + "," + entry("b", R"({"shape":[3],"data_offsets":[8,11]})") + "}",
       {"tensor 'b'", "field 'dtype'"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I8","data_offsets":[8,11]})") + "}",
       {"tensor 'b'", "field 'shape'"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I8","shape":[3]})") + "}",
       {"tensor 'b'", "field 'data_offsets'"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I8","shape":[3],"data_offset":[8,11]})") + "}",
       {"tensor 'b' field 'data_offset'", "unknown field", "did you mean 'data_offsets'"}},
      {"{" + good_w() + "," + entry("b", "[1,2]") + "}", {"tensor 'b'", "an object"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I9","shape":[3],"data_offsets":[8,11]})") + "}",
       {"tensor 'b' dtype", "'I9'", "did you mean 'I8'"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"F4","shape":[3],"data_offsets":[8,11]})") + "}",
       {"tensor 'b' dtype", "sub-byte"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":8,"shape":[3],"data_offsets":[8,11]})") + "}",
       {"tensor 'b' dtype", "a dtype string"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I8","shape":[-3],"data_offsets":[8,11]})") + "}",
       {"tensor 'b' shape[0]", "non-negative integer", "-3"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I8","shape":[1,2.5],"data_offsets":[8,11]})") + "}",
       {"tensor 'b' shape[1]", "non-negative integer", "2.5"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I8","shape":3,"data_offsets":[8,11]})") + "}",
       {"tensor 'b' shape", "an array"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I8","shape":[3],"data_offsets":[8]})") + "}",
       {"tensor 'b' data_offsets", "[begin, end]"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I8","shape":[3],"data_offsets":[8,-11]})") + "}",
       {"tensor 'b' data_offsets[1]", "-11"}},
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I8","shape":[3],"data_offsets":[11,8]})") + "}",
       {"tensor 'b' data_offsets", "begin <= end"}},
      // Shape and byte range disagree.
      {"{" + good_w() + "," + entry("b", R"({"dtype":"I8","shape":[4],"data_offsets":[8,11]})") + "}",
       {"tensor 'b' data_offsets", "4 bytes for shape [4] of I8", "3 bytes"}},
      {"{" + entry("w", R"({"dtype":"F16","shape":[2],"data_offsets":[0,8]})") + "," + good_b() + "}",
       {"tensor 'w' data_offsets", "4 bytes for shape [2] of F16"}},
      // 2^32 * 2^32 elements overflow 64 bits.
      {"{" + entry("w", R"({"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]})") + "," + good_b() +
           "}",
       {"tensor 'w' shape", "overflows"}},
      {"{" + entry("w", R"({"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,8]})") + "," + good_b() + "}",
       {"tensor 'w' shape[0]", "below 2^63"}},
      // Nesting beyond {name: {field: [numbers]}}.
      {"{" + entry("w", R"({"dtype":"F32","shape":[[2]],"data_offsets":[0,8]})") + "," + good_b() + "}",
       {"tensor 'w'", "nested at most 3 levels"}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].header);
    expect_load_error(write_raw("case" + std::to_string(i) + ".safetensors", file_bytes(cases[i].header, kGoodData)),
                      cases[i].fragments);
  }
}

TEST_F(Safetensors, OffsetsMustTileTheBufferExactly) {
  // Overlap: b starts inside w.
  expect_load_error(write_raw("overlap.safetensors",
                              file_bytes("{" + good_w() + "," +
                                             entry("b", R"({"dtype":"I8","shape":[3],"data_offsets":[6,9]})") + "}",
                                         kGoodData.substr(0, 9))),
                    {"tensor 'b' data_offsets", "do not overlap", "overlapping tensor 'w' at [0, 8]"});
  // Hole: b starts one byte after w ends.
  expect_load_error(write_raw("hole.safetensors",
                              file_bytes("{" + good_w() + "," +
                                             entry("b", R"({"dtype":"I8","shape":[2],"data_offsets":[9,11]})") + "}",
                                         kGoodData)),
                    {"tensor 'b' data_offsets", "without gaps", "[8, 9) unused"});
  // Hole at the very start.
  expect_load_error(
      write_raw("hole0.safetensors",
                file_bytes("{" + entry("w", R"({"dtype":"F32","shape":[2],"data_offsets":[3,11]})") + "}", kGoodData)),
      {"tensor 'w' data_offsets", "start at buffer byte 0"});
  // Out of range: the data buffer is shorter than the offsets say.
  expect_load_error(
      write_raw("truncated.safetensors", file_bytes("{" + good_w() + "," + good_b() + "}", kGoodData.substr(0, 10))),
      {"tensor 'b' data_offsets", "within the data buffer of 10 bytes", "past the end"});
  // Trailing bytes belonging to no tensor.
  const std::string header = "{" + good_w() + "," + good_b() + "}";
  expect_load_error(write_raw("trailing.safetensors", file_bytes(header, kGoodData + "junk")),
                    {"cover the whole data buffer (15 bytes)", "4 trailing bytes"});
  // Two tensors claiming the same bytes.
  expect_load_error(write_raw("alias.safetensors",
                              file_bytes("{" + good_w() + "," +
                                             entry("v", R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})") + "}",
                                         kGoodData.substr(0, 8))),
                    {"data_offsets", "overlapping tensor"});
}

TEST_F(Safetensors, MetadataMustMapStringsToStrings) {
  const std::string tensors = good_w() + "," + good_b();
  expect_load_error(
      write_raw("m1.safetensors", file_bytes(R"({"__metadata__":{"layers":3},)" + tensors + "}", kGoodData)),
      {"__metadata__ key 'layers'", "a string value", "number 3"});
  expect_load_error(
      write_raw("m2.safetensors", file_bytes(R"({"__metadata__":{"net":{"a":"b"}},)" + tensors + "}", kGoodData)),
      {"__metadata__ key 'net'", "a string value", "object"});
  expect_load_error(write_raw("m3.safetensors", file_bytes(R"({"__metadata__":["a"],)" + tensors + "}", kGoodData)),
                    {"__metadata__", "an object mapping strings to strings"});
}

TEST_F(Safetensors, DuplicateKeysAreRejected) {
  expect_load_error(write_raw("dup_tensor.safetensors",
                              file_bytes("{" + good_w() + "," + good_b() + "," + good_b() + "}", kGoodData)),
                    {"tensor 'b'", "each tensor name once", "second entry named 'b'"});
  expect_load_error(
      write_raw("dup_field.safetensors",
                file_bytes("{" + good_w() + "," +
                               entry("b", R"({"dtype":"I8","dtype":"U8","shape":[3],"data_offsets":[8,11]})") + "}",
                           kGoodData)),
      {"tensor 'b'", "each field once", "second 'dtype'"});
  expect_load_error(
      write_raw("dup_meta.safetensors",
                file_bytes(R"({"__metadata__":{"k":"1","k":"2"},)" + good_w() + "," + good_b() + "}", kGoodData)),
      {"__metadata__", "each field once", "second 'k'"});
  expect_load_error(
      write_raw("dup_meta_obj.safetensors",
                file_bytes(R"({"__metadata__":{},"__metadata__":{},)" + good_w() + "," + good_b() + "}", kGoodData)),
      {"second entry named '__metadata__'"});
}

TEST_F(Safetensors, AHugeTensorClaimIsRefusedWithoutAllocating) {
  // 10^12 one-byte elements with a consistent byte range in a file of a few hundred bytes. Were the
  // loader to trust the header, it would try to allocate a terabyte and throw std::bad_alloc (or be
  // killed), which fails this test; it must instead report the range past the end of the file.
  const std::string header =
      "{" + entry("giant", R"({"dtype":"U8","shape":[1000000,1000000],"data_offsets":[0,1000000000000]})") + "}";
  expect_load_error(write_raw("giant.safetensors", file_bytes(header, "xyz")),
                    {"tensor 'giant' data_offsets", "within the data buffer of 3 bytes", "[0, 1000000000000]"});
  // Same with F32 and a byte count that no longer fits the shape check's 64-bit arithmetic.
  const std::string header2 = "{" +
                              entry("giant", R"({"dtype":"F64","shape":[1000000,1000000,1000000,1000000],)"
                                             R"("data_offsets":[0,18446744073709551615]})") +
                              "}";
  expect_load_error(write_raw("giant2.safetensors", file_bytes(header2, "xyz")), {"tensor 'giant' shape", "overflows"});
}

// ---------------------------------------------------------------------------------------------
// Lookups and typed access

TEST_F(Safetensors, MissingNamesSuggestTheClosestOne) {
  SafetensorsWriter w;
  const std::vector<float> v = {1.0f};
  w.add("fc1.weight", {1}, v);
  w.add("fc1.bias", {1}, v);
  w.set_metadata("network", "{}");
  const std::string p = path("names.safetensors");
  w.write(p);
  const auto f = SafetensorsFile::load(p);
  EXPECT_TRUE(f.has("fc1.bias"));
  EXPECT_FALSE(f.has("fc2.bias"));
  try {
    f.tensor("fc1.weigth");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor 'fc1.weigth'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("did you mean 'fc1.weight'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("fc1.bias, fc1.weight"), std::string::npos) << msg;
  }
  try {
    f.metadata_value("netwrok");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'network'"), std::string::npos) << e.what();
  }
}

TEST_F(Safetensors, TypedAccessorsRefuseTheWrongDtype) {
  SafetensorsWriter w;
  const std::vector<std::int8_t> codes = {1, 2};
  const std::vector<float> v = {1.0f, 2.0f};
  const std::vector<std::uint8_t> u64_bytes = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  w.add("codes", {2}, codes);
  w.add("w", {1, 2}, v);
  w.add("big", DType::U64, {1}, std::as_bytes(std::span<const std::uint8_t>(u64_bytes)));
  const std::string p = path("types.safetensors");
  w.write(p);
  const auto f = SafetensorsFile::load(p);
  auto expect_error = [&](auto&& fn, const std::vector<std::string>& fragments) {
    try {
      fn();
      ADD_FAILURE() << "expected InputError";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      for (const auto& fr : fragments) EXPECT_NE(msg.find(fr), std::string::npos) << fr << " in " << msg;
    }
  };
  expect_error([&] { f.tensor("codes").as_float(); }, {"tensor 'codes'", "F32, F16, BF16 or F64", "found I8"});
  expect_error([&] { f.tensor("w").as_int8(); }, {"tensor 'w'", "dtype I8", "found F32"});
  expect_error([&] { f.tensor("w").as_int64(); }, {"tensor 'w'", "integer", "found F32"});
  expect_error([&] { f.tensor("big").as_int32(); }, {"tensor 'big'", "found U64"});
  expect_error([&] { f.tensor("big").as_int64(); }, {"tensor 'big' element 0", "18446744073709551615"});
  expect_error([&] { f.tensor("w").expect_shape({2, 1}); }, {"tensor 'w'", "shape [2, 1]", "found [1, 2]"});
  expect_error([&] { f.tensor("w").expect_dtype(DType::BF16); }, {"tensor 'w'", "dtype BF16", "found F32"});
  EXPECT_NO_THROW(f.tensor("w").expect_shape({1, 2}));
  EXPECT_NO_THROW(f.tensor("codes").expect_dtype(DType::I8));
  EXPECT_EQ(f.tensor("codes").as_int32(), (std::vector<std::int32_t>{1, 2}));
}

TEST_F(Safetensors, WriterRejectsMisuse) {
  SafetensorsWriter w;
  const std::vector<float> three = {1, 2, 3};
  EXPECT_THROW(w.add("x", {2, 2}, three), std::invalid_argument);    // 3 values for 4 elements
  EXPECT_THROW(w.add("x", {-1, -3}, three), std::invalid_argument);  // negative dimension
  EXPECT_THROW(w.add("", {3}, three), std::invalid_argument);        // empty name
  EXPECT_THROW(w.add("__metadata__", {3}, three), std::invalid_argument);
  EXPECT_THROW(w.add("bad\xFF", {3}, three), std::invalid_argument);        // not UTF-8
  EXPECT_THROW(w.add("x", {3}, three, DType::I32), std::invalid_argument);  // floats as ints
  EXPECT_THROW(w.set_metadata("k", "\xC0\x80"), std::invalid_argument);     // overlong encoding
  w.add("x", {3}, three);
  EXPECT_THROW(w.add("x", {3}, three), std::invalid_argument);  // duplicate
  EXPECT_EQ(w.size(), 1u);
}

TEST_F(Safetensors, WriteIsAtomicAndReportsUnwritablePaths) {
  SafetensorsWriter w;
  const std::vector<float> v = {1.0f};
  w.add("x", {1}, v);
  EXPECT_THROW(w.write("/nonexistent_dir_axsim/model.safetensors"), OutputError);
  const std::string p = path("model.safetensors");
  write_raw("model.safetensors", "old contents");
  w.write(p);
  EXPECT_EQ(read_all(p), w.serialize());
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);  // no temporary left behind
}

// ---------------------------------------------------------------------------------------------
// An independent reader and writer (pure Python json+struct, plus torch.frombuffer when installed)

TEST_F(Safetensors, AnIndependentPythonReaderAgreesWithOurFiles) {
  if (!python_available()) GTEST_SKIP() << kPython << " not available";
  SafetensorsWriter w;
  const std::vector<float> weights = {0.1f, -2.5f, 3.25f, 1e-8f, 7.0f, -1e30f};
  const std::vector<float> halves = {0.1f, -3.0f, 70000.0f, 1e-6f};  // rounded on the way in (70000 -> inf)
  const std::vector<float> bf = {0.1f, -1e-20f, 3.0f};
  const std::vector<double> wide = {std::numbers::pi, -1e300};
  const std::vector<std::int8_t> codes = {-128, 5, 127};
  const std::vector<std::int64_t> step = {-9000000000000LL};
  const std::vector<float> nothing;
  w.add("layer.weight", {3, 2}, weights);
  w.add("layer.h", {2, 2}, halves, DType::F16);
  w.add("layer.b", {3}, bf, DType::BF16);
  w.add("layer.wide", {2}, wide);
  w.add("layer.codes", {3, 1}, codes);
  w.add("step", {}, step);
  w.add("empty", {2, 0}, nothing);
  w.set_metadata("network", R"({"kind": "mlp"})");
  const std::string p = path("ours.safetensors");
  w.write(p);
  const std::string out = path("python_out.json");
  const std::string cmd = std::string(kPython) + " '" + script_path() + "' read '" + p + "' --torch > '" + out + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto result = nlohmann::json::parse(read_all(out));
  std::cout << "[ python reader ] torch cross-check: "
            << (result["torch_checked"].get<bool>() ? "yes" : "no (torch absent)") << "\n";
  EXPECT_EQ(result["metadata"]["network"].get<std::string>(), R"({"kind": "mlp"})");
  const auto ours = SafetensorsFile::load(p);
  ASSERT_EQ(result["tensors"].size(), ours.size());
  for (const auto& [name, t] : ours.tensors()) {
    SCOPED_TRACE(name);
    const auto& py = result["tensors"][name];
    EXPECT_EQ(py["dtype"].get<std::string>(), dtype_name(t.dtype));
    EXPECT_EQ(py["shape"].get<std::vector<std::int64_t>>(), t.shape);
    const auto& values = py["values"];
    ASSERT_EQ(std::int64_t(values.size()), t.element_count());
    if (t.dtype == DType::I8 || t.dtype == DType::I64) {
      EXPECT_EQ(values.get<std::vector<std::int64_t>>(), t.as_int64());
    } else {
      const auto mine = t.as_double();
      for (std::size_t i = 0; i < mine.size(); ++i) EXPECT_EQ(json_number(values[i]), mine[i]) << i;
    }
  }
  // The values Python decodes are the ones we meant to store (after rounding to the dtype).
  EXPECT_EQ(json_number(result["tensors"]["layer.weight"]["values"][0]), double(0.1f));
  EXPECT_EQ(json_number(result["tensors"]["layer.h"]["values"][0]), 0.0999755859375);  // nearest half to 0.1
  EXPECT_EQ(json_number(result["tensors"]["layer.h"]["values"][2]), INFINITY);
  EXPECT_EQ(json_number(result["tensors"]["layer.b"]["values"][0]), 0.10009765625);  // nearest bf16 to 0.1
  EXPECT_EQ(result["tensors"]["step"]["values"][0].get<std::int64_t>(), -9000000000000LL);
}

TEST_F(Safetensors, WeReadAFileWrittenByAnIndependentPythonWriter) {
  if (!python_available()) GTEST_SKIP() << kPython << " not available";
  const std::string p = path("theirs.safetensors");
  const std::string out = path("python_wrote.json");
  const std::string cmd = std::string(kPython) + " '" + script_path() + "' write '" + p + "' > '" + out + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto expected = nlohmann::json::parse(read_all(out));
  const auto f = SafetensorsFile::load(p);
  const auto expected_metadata = expected["metadata"].get<std::map<std::string, std::string>>();
  EXPECT_EQ(f.metadata(), expected_metadata);
  ASSERT_EQ(f.size(), expected["tensors"].size());
  for (const auto& [name, py] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    const auto& t = f.tensor(name);
    EXPECT_EQ(dtype_name(t.dtype), py["dtype"].get<std::string>());
    EXPECT_EQ(t.shape, py["shape"].get<std::vector<std::int64_t>>());
    const auto& values = py["values"];
    ASSERT_EQ(std::int64_t(values.size()), t.element_count());
    const bool floating =
        t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16 || t.dtype == DType::F64;
    if (floating) {
      const auto mine = t.as_double();
      for (std::size_t i = 0; i < mine.size(); ++i) EXPECT_EQ(mine[i], json_number(values[i])) << i;
    } else {
      EXPECT_EQ(t.as_int64(), values.get<std::vector<std::int64_t>>());
    }
  }
}
