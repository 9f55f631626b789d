#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/workloads/data/data_test_util.hpp"
#include "workloads/data/idx.hpp"
#include "workloads/data/load.hpp"

using namespace axsim;
using axsim::testing_data::expect_input_error;
using axsim::testing_data::ScratchDir;

namespace {

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xFF), char((v >> 8) & 0xFF), char(v & 0xFF)};
}

std::string idx_header(std::uint8_t dtype, std::initializer_list<std::uint32_t> dims) {
  std::string h = {'\0', '\0', char(dtype), char(dims.size())};
  for (auto d : dims) h += be32(d);
  return h;
}

// A gzip file made of stored (uncompressed) deflate blocks: valid gzip without needing zlib here.
std::string gzip_stored(const std::string& data) {
  std::uint32_t table[256];
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : data) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
  crc ^= 0xFFFFFFFFu;
  std::string out = {char(0x1f), char(0x8b), 8, 0, 0, 0, 0, 0, 0, char(0xff)};
  auto le16 = [&](std::uint32_t v) { out += {char(v & 0xFF), char((v >> 8) & 0xFF)}; };
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min<std::size_t>(65535, data.size() - pos);
    out += char(pos + n == data.size() ? 1 : 0);
    le16(std::uint32_t(n));
    le16(std::uint32_t(~n & 0xFFFF));
    out.append(data, pos, n);
    pos += n;
  } while (pos < data.size());
  for (std::uint32_t v : {crc, std::uint32_t(data.size())})
    out += {char(v & 0xFF), char((v >> 8) & 0xFF), char((v >> 16) & 0xFF), char(v >> 24)};
  return out;
}

struct SyntheticSet {
  std::vector<double> pixels, labels;
};

// n images of h x w with distinct pixel values and labels cycling through `classes`.
SyntheticSet make_set(std::size_t n, std::size_t h, std::size_t w, int classes) {
  SyntheticSet s;
  for (std::size_t i = 0; i < n * h * w; ++i) s.pixels.push_back(double((i * 37 + 11) % 256));
  for (std::size_t i = 0; i < n; ++i) s.labels.push_back(double((i * 7) % classes));
  return s;
}

}  // namespace

TEST(Idx, RoundTripOfASyntheticImageSet) {
  ScratchDir dir;
  const std::size_t n = 7, h = 3, w = 5;
  const SyntheticSet s = make_set(n, h, w, 4);
  const std::vector<std::size_t> image_dims = {n, h, w}, label_dims = {n};
  write_idx(dir.file("img"), IdxType::u8, image_dims, s.pixels);
  write_idx(dir.file("lab"), IdxType::u8, label_dims, s.labels);

  const Dataset d = load_idx_pair(dir.file("img"), dir.file("lab"));
  EXPECT_EQ(d.size, n);
  EXPECT_EQ(d.sample_shape, (std::vector<std::size_t>{1, h, w}));
  EXPECT_EQ(d.feature_count(), h * w);
  ASSERT_EQ(d.features.size(), s.pixels.size());
  for (std::size_t i = 0; i < s.pixels.size(); ++i) EXPECT_EQ(d.features[i], float(s.pixels[i]) / 255.0f) << i;
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(d.labels[i], int(s.labels[i]));
  EXPECT_EQ(d.num_classes, 4);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"0", "1", "2", "3"}));
  EXPECT_EQ(d.feature_scaling, "u8/255 -> [0,1]");

  DataOptions raw;
  raw.scale_u8 = false;
  const Dataset r = load_idx_pair(dir.file("img"), dir.file("lab"), raw);
  for (std::size_t i = 0; i < s.pixels.size(); ++i) EXPECT_EQ(r.features[i], float(s.pixels[i]));
}

TEST(Idx, EveryDtypeRoundTrips) {
  ScratchDir dir;
  const std::vector<std::size_t> dims = {2, 3};
  const std::vector<double> small = {0, 1, 2, 100, 127, 5};
  const std::vector<double> signed_values = {-128, -1, 0, 1, 77, 127};
  const std::vector<double> wide = {-32768, -300, 0, 300, 32767, 12345};
  const std::vector<double> huge = {-2147483648.0, -70000, 0, 70000, 2147483647.0, 99};
  const std::vector<double> reals = {-1.5, 0.25, 3.0e10, -7.0e-5, 0, 1};
  struct Case {
    IdxType type;
    const std::vector<double>* values;
  };
  for (const Case& c : {Case{IdxType::u8, &small}, Case{IdxType::i8, &signed_values}, Case{IdxType::i16, &wide},
                        Case{IdxType::i32, &huge}, Case{IdxType::f32, &reals}, Case{IdxType::f64, &reals}}) {
    SCOPED_TRACE(idx_type_name(c.type));
    const std::string path = dir.file(std::string("a_") + idx_type_name(c.type));
    write_idx(path, c.type, dims, *c.values);
    const IdxFile f = read_idx(path);
    EXPECT_EQ(f.type, c.type);
    EXPECT_EQ(f.dims, dims);
    EXPECT_EQ(f.header_bytes, 12u);
    EXPECT_EQ(std::filesystem::file_size(path), 12 + 6 * idx_element_size(c.type));
    const std::vector<float> as_float = f.to_float(false);
    for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(as_float[i], float((*c.values)[i])) << i;
    if (c.type == IdxType::f32 || c.type == IdxType::f64) {
      expect_input_error([&] { f.to_int32(); }, {path, "integer dtype"});
    } else {
      const std::vector<std::int32_t> as_int = f.to_int32();
      for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(as_int[i], std::int32_t((*c.values)[i])) << i;
    }
  }
  EXPECT_THROW(write_idx(dir.file("bad"), IdxType::u8, dims, std::vector<double>{0, 1, 2, 3, 4, 256}),
               std::invalid_argument);
  EXPECT_THROW(write_idx(dir.file("bad"), IdxType::i8, dims, std::vector<double>{0, 1, 2, 3, 4, 0.5}),
               std::invalid_argument);
}

TEST(Idx, SampleShapeFollowsTheImageRank) {
  ScratchDir dir;
  const std::vector<double> labels = {0, 1};
  const std::vector<std::size_t> label_dims = {2};
  write_idx(dir.file("lab"), IdxType::u8, label_dims, labels);

  const std::vector<std::size_t> chw = {2, 3, 2, 2};
  write_idx(dir.file("img4"), IdxType::f32, chw, std::vector<double>(24, 0.5));
  const Dataset d4 = load_idx_pair(dir.file("img4"), dir.file("lab"));
  EXPECT_EQ(d4.sample_shape, (std::vector<std::size_t>{3, 2, 2}));
  EXPECT_EQ(d4.features[0], 0.5f);  // float data kept as stored
  EXPECT_EQ(d4.feature_scaling, "f32 values as stored");

  const std::vector<std::size_t> flat = {2, 6};
  write_idx(dir.file("img2"), IdxType::u8, flat, std::vector<double>(12, 255));
  const Dataset d2 = load_idx_pair(dir.file("img2"), dir.file("lab"));
  EXPECT_EQ(d2.sample_shape, (std::vector<std::size_t>{6}));
  EXPECT_EQ(d2.features[11], 1.0f);
}

TEST(Idx, TruncatedHeaderNamesFileAndOffset) {
  ScratchDir dir;
  const std::string tiny = dir.write("tiny-idx", std::string("\0\0", 2));
  expect_input_error([&] { read_idx(tiny); }, {tiny, "byte 0", "4-byte IDX magic", "2 bytes"});
  // Claims 3 dimensions (12 bytes) but only 5 follow.
  const std::string cut = dir.write("cut-idx3-ubyte", idx_header(0x08, {10, 28, 28}).substr(0, 9));
  expect_input_error([&] { read_idx(cut); }, {cut, "byte 4", "16-byte header", "only 5 bytes", "truncated"});
}

TEST(Idx, TruncatedDataSaysHowMuchWasExpected) {
  ScratchDir dir;
  const std::string path = dir.write("short-images", idx_header(0x08, {60000, 28, 28}) + std::string(1234, '\x7f'));
  expect_input_error(
      [&] { read_idx(path); },
      {path, "byte 16", "60000*28*28 = 47040000 bytes of u8 data after the 16-byte header", "found 1234 bytes"});
  // Multi-byte dtypes include the element size.
  const std::string f32 = dir.write("short-f32", idx_header(0x0D, {10, 3}) + std::string(100, '\0'));
  expect_input_error([&] { read_idx(f32); }, {f32, "10*3*4 = 120 bytes of f32 data", "found 100 bytes"});
  // Trailing garbage is just as wrong as missing data.
  const std::string longer = dir.write("long", idx_header(0x08, {2, 2}) + std::string(6, '\0'));
  expect_input_error([&] { read_idx(longer); }, {longer, "2*2 = 4 bytes", "found 6 bytes", "2 bytes more"});
}

TEST(Idx, WrongMagicOrDtypeIsRefused) {
  ScratchDir dir;
  const std::string text = dir.write("notes.txt", "hello, this is not an IDX file");
  expect_input_error([&] { read_idx(text); }, {text, "byte 0", "IDX magic", "68 65 6c 6c"});
  const std::string dtype = dir.write("dtype", idx_header(0x07, {1}) + std::string(1, '\0'));
  expect_input_error([&] { read_idx(dtype); }, {dtype, "byte 2", "dtype", "00 00 07 01"});
  const std::string zero_dims = dir.write("zero", std::string("\0\0\x08\0", 4));
  expect_input_error([&] { read_idx(zero_dims); }, {zero_dims, "byte 3", "at least one dimension"});
  expect_input_error([&] { read_idx(dir.file("absent")); }, {dir.file("absent"), "no such file"});
}

TEST(Idx, CountMismatchBetweenImagesAndLabels) {
  ScratchDir dir;
  const std::vector<std::size_t> image_dims = {5, 2, 2}, label_dims = {4};
  write_idx(dir.file("img"), IdxType::u8, image_dims, std::vector<double>(20, 1));
  write_idx(dir.file("lab"), IdxType::u8, label_dims, std::vector<double>(4, 1));
  expect_input_error([&] { load_idx_pair(dir.file("img"), dir.file("lab")); },
                     {dir.file("lab"), "byte 4", "5 labels, one per image in " + dir.file("img"), "found 4 labels"});
}

TEST(Idx, BadLabelsAreRefused) {
  ScratchDir dir;
  const std::vector<std::size_t> image_dims = {3, 2}, label_dims = {3};
  write_idx(dir.file("img"), IdxType::u8, image_dims, std::vector<double>(6, 1));
  write_idx(dir.file("neg"), IdxType::i8, label_dims, std::vector<double>{0, -1, 2});
  // Header of a 1-D file is 8 bytes; the second label sits at byte 9.
  expect_input_error([&] { load_idx_pair(dir.file("img"), dir.file("neg")); },
                     {dir.file("neg"), "byte 9", "non-negative class index", "-1"});
  write_idx(dir.file("real"), IdxType::f32, label_dims, std::vector<double>{0, 1, 2});
  expect_input_error([&] { load_idx_pair(dir.file("img"), dir.file("real")); },
                     {dir.file("real"), "byte 2", "integer dtype", "f32"});
  write_idx(dir.file("ok"), IdxType::u8, label_dims, std::vector<double>{0, 1, 5});
  DataOptions opts;
  opts.num_classes = 4;
  expect_input_error([&] { load_idx_pair(dir.file("img"), dir.file("ok"), opts); },
                     {dir.file("ok"), "byte 10", "[0, 4)", "5"});
  opts.num_classes = 6;
  EXPECT_EQ(load_idx_pair(dir.file("img"), dir.file("ok"), opts).num_classes, 6);
}

TEST(Idx, HugeClaimedDimsAreRefusedWithoutAllocating) {
  ScratchDir dir;
  // 10^12 u8 elements claimed, 100 bytes present: must fail on the size check (an implementation
  // that allocated first would throw std::bad_alloc here, or exhaust memory, not an InputError).
  const std::string tera = dir.write("tera", idx_header(0x08, {1000000, 1000000}) + std::string(100, '\0'));
  expect_input_error([&] { load_idx_pair(tera, tera); },
                     {tera, "1000000*1000000 = 1000000000000 bytes", "found 100 bytes"});
  // A product beyond 2^64 must not wrap around to a small number.
  const std::string wrap =
      dir.write("wrap", idx_header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}) + std::string(8, '\0'));
  expect_input_error([&] { read_idx(wrap); }, {wrap, "more than 2^64", "found 8 bytes"});
  // dims whose product wraps to exactly the payload size modulo 2^64: 2^32 * 2^32 = 2^64 -> 0.
  const std::string zero_wrap = dir.write("zero_wrap", idx_header(0x08, {0x80000000u, 0x80000000u, 4}));
  expect_input_error([&] { read_idx(zero_wrap); }, {zero_wrap, "more than 2^64", "found 0 bytes"});
}

TEST(Idx, GzipFilesAreReadOrRefusedClearly) {
  ScratchDir dir;
  const std::vector<std::size_t> image_dims = {3, 4, 4}, label_dims = {3};
  const SyntheticSet s = make_set(3, 4, 4, 3);
  write_idx(dir.file("img"), IdxType::u8, image_dims, s.pixels);
  write_idx(dir.file("lab"), IdxType::u8, label_dims, s.labels);
  const Dataset plain = load_idx_pair(dir.file("img"), dir.file("lab"));
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  // Large enough to need several stored blocks.
  const std::string big_payload = idx_header(0x08, {70000}) + std::string(70000, '\x05');
  const std::string big = dir.write("big.gz", gzip_stored(big_payload));
  const std::string img = dir.write("img.gz", gzip_stored(slurp(dir.file("img"))));
  if (gzip_supported()) {
    const Dataset z = load_idx_pair(img, dir.file("lab"));
    EXPECT_EQ(z.features, plain.features);
    EXPECT_EQ(read_idx(big).count(), 70000u);
    const std::string cut = dir.write("cut.gz", gzip_stored(big_payload).substr(0, 5000));
    expect_input_error([&] { read_idx(cut); }, {cut, "truncated"});
    const std::string short_payload = dir.write("short.gz", gzip_stored(idx_header(0x08, {10, 10}) + "abc"));
    expect_input_error([&] { read_idx(short_payload); },
                       {short_payload, "byte 12 of the decompressed data", "found 3 bytes"});
  } else {
    expect_input_error([&] { load_idx_pair(img, dir.file("lab")); }, {img, "gzip", "gunzip"});
  }
}

TEST(Idx, MnistLikeDirectoryLayout) {
  ScratchDir dir;
  const std::filesystem::path root = dir.path() / "tiny-mnist";
  std::filesystem::create_directories(root);
  const SyntheticSet train = make_set(6, 2, 3, 3), test = make_set(4, 2, 3, 3);
  const std::vector<std::size_t> train_dims = {6, 2, 3}, test_dims = {4, 2, 3}, n6 = {6}, n4 = {4};
  write_idx((root / "train-images-idx3-ubyte").string(), IdxType::u8, train_dims, train.pixels);
  write_idx((root / "train-labels-idx1-ubyte").string(), IdxType::u8, n6, train.labels);
  write_idx((root / "t10k-images.idx3-ubyte").string(), IdxType::u8, test_dims, test.pixels);  // dot spelling
  write_idx((root / "t10k-labels-idx1-ubyte").string(), IdxType::u8, n4, test.labels);

  const Dataset tr = load_mnist_like(root.string(), "train");
  EXPECT_EQ(tr.size, 6u);
  EXPECT_EQ(tr.name, "tiny-mnist-train");
  const Dataset te = load_mnist_like(root.string() + "/", "test");
  EXPECT_EQ(te.size, 4u);
  EXPECT_EQ(te.name, "tiny-mnist-test");
  EXPECT_EQ(load_dataset("mnist:" + root.string() + ":test").size, 4u);

  expect_input_error([&] { load_mnist_like(root.string(), "tset"); }, {"'train' or 'test'", "did you mean 'test'"});
  std::filesystem::remove(root / "train-labels-idx1-ubyte");
  expect_input_error([&] { load_mnist_like(root.string(), "train"); },
                     {"train-labels-idx1-ubyte", "no such file", "t10k-labels-idx1-ubyte"});
  expect_input_error([&] { load_mnist_like(dir.file("nowhere"), "train"); }, {"nowhere", "no such directory"});
}

TEST(Idx, RealMnistTestSplit) {
  const std::string dir = std::string(AXSIM_SOURCE_DIR) + "/data/mnist";
  if (!std::filesystem::exists(dir + "/t10k-images-idx3-ubyte")) GTEST_SKIP() << "no MNIST in " << dir;
  const Dataset d = load_mnist_like(dir, "test");
  EXPECT_EQ(d.size, 10000u);
  EXPECT_EQ(d.sample_shape, (std::vector<std::size_t>{1, 28, 28}));
  EXPECT_EQ(d.num_classes, 10);
  // MNIST's test split has between 892 (digit 5) and 1135 (digit 1) samples per class.
  for (std::size_t count : d.class_counts()) {
    EXPECT_GT(count, 800u);
    EXPECT_LT(count, 1200u);
  }
  const auto [lo, hi] = std::minmax_element(d.features.begin(), d.features.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
  // Digits are mostly background: the mean intensity of MNIST is about 0.13.
  double sum = 0;
  for (float v : d.features) sum += v;
  EXPECT_NEAR(sum / double(d.features.size()), 0.13, 0.02);
}
