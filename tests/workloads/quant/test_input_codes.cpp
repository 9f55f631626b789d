// The AVX2 float -> input code quantization equals models' quantize() bit for bit, edge cases included,
// and MNIST-like sparse inputs (blank borders, all-zero images) run through the executor exactly as the
// reference definition says.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/workloads/quant/quant_test_util.hpp"
#include "workloads/quant/executor.hpp"
#include "workloads/quant/input_codes.hpp"

namespace axsim::quant {
namespace {

std::vector<float> edge_values() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v{0.0f,
                       -0.0f,
                       0.5f,
                       1.5f,
                       2.5f,
                       -0.5f,
                       1.0f,
                       0.999f,
                       1e30f,
                       -1e30f,
                       inf,
                       -inf,
                       std::numeric_limits<float>::quiet_NaN(),
                       std::numeric_limits<float>::denorm_min(),
                       -std::numeric_limits<float>::denorm_min(),
                       std::numeric_limits<float>::max(),
                       3e-39f,
                       126.5f,
                       127.5f,
                       255.5f,
                       0.00390625f,
                       0.001953125f,
                       0.005859375f};
  CounterRng rng(3, 3);
  for (int i = 0; i < 300; ++i) v.push_back(float(rng.uniform() * 3.0 - 1.0));
  for (int i = 0; i < 100; ++i) v.push_back(float(int(rng.below(600))) / 256.0f);  // exact halves of a step
  return v;
}

TEST(InputCodes, EqualsModelsQuantizeForEveryFormatAndLength) {
  const auto values = edge_values();
  std::vector<FixedPointFormat> formats{FixedPointFormat::power_of_two(8, 7, false),
                                        FixedPointFormat::power_of_two(8, 0, false),
                                        FixedPointFormat::power_of_two(9, 8, false),
                                        FixedPointFormat::power_of_two(8, -2, false),
                                        FixedPointFormat::power_of_two(4, 2, false),
                                        FixedPointFormat::with_step(8, 0.013, false)};  // non power of two: fallback
  for (const FixedPointFormat& format : formats) {
    for (std::size_t length : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(8), std::size_t(31),
                               std::size_t(33), values.size()}) {
      std::vector<std::uint8_t> expected(length), fast(length, 200), scalar(length, 200);
      quantize(format, std::span<const float>(values.data(), length), std::span<std::uint8_t>(expected));
      quantize_input_codes(format, values.data(), length, fast.data());
      quantize_input_codes(format, values.data(), length, scalar.data(), true);
      EXPECT_EQ(fast, expected) << format.to_string() << " length " << length;
      EXPECT_EQ(scalar, expected) << format.to_string() << " length " << length;
    }
  }
}

TEST(InputCodes, NonzeroSpanFindsTheFirstAndLastNonzeroByte) {
  CounterRng rng(6, 6);
  for (std::size_t count = 0; count <= 100; ++count) {
    for (int pattern = 0; pattern < 6; ++pattern) {
      std::vector<std::uint8_t> codes(count, 0);
      if (pattern == 1 && count > 0) codes.front() = 1;
      if (pattern == 2 && count > 0) codes.back() = 255;
      if (pattern == 3 && count > 0) codes[count / 2] = 7;
      if (pattern >= 4)
        for (auto& c : codes) c = rng.below(8) == 0 ? std::uint8_t(1 + rng.below(200)) : 0;
      ByteSpan expected;
      for (std::size_t i = 0; i < count; ++i)
        if (codes[i] != 0) {
          if (expected.end == 0) expected.begin = i;
          expected.end = i + 1;
        }
      const ByteSpan span = nonzero_span(codes.data(), count);
      EXPECT_EQ(span.begin, expected.begin) << "count " << count << " pattern " << pattern;
      EXPECT_EQ(span.end, expected.end) << "count " << count << " pattern " << pattern;
    }
  }
}

TEST(InputCodes, SparseImagesRunExactlyAsTheReference) {
  // 28 x 28 "images": blank 4-pixel borders, a few strokes, some images entirely blank, one lit only in
  // its first pixel and one only in its last (the DRUM span edge cases); 37 of them (a batch tail for
  // any chunking). Exact and DRUM multipliers (DRUM transforms only each image's nonzero span).
  const std::vector<testing::LayerPlan> mlp{{QOpKind::dense, 40}, {QOpKind::dense, 24}, {QOpKind::dense, 10}};
  const std::size_t n = 37, in = 784;
  std::vector<float> features(n * in, 0.0f);
  CounterRng rng(8, 8);
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 5 == 3) continue;  // blank image
    for (int y = 4; y < 24; ++y)
      for (int x = 4; x < 24; ++x)
        if (rng.below(4) == 0) features[i * in + std::size_t(y) * 28 + std::size_t(x)] = float(rng.uniform());
  }
  std::fill_n(features.begin() + 10 * in, in, 0.0f);
  features[10 * in] = 0.9f;
  std::fill_n(features.begin() + 11 * in, in, 0.0f);
  features[12 * in - 1] = 0.7f;
  for (const Multiplier m : {Multiplier::exact(8), Multiplier::drum(4, 8), Multiplier::drum(2, 8)}) {
    const QuantizedNetwork net = testing::random_network(mlp, 784, 1, 1, m, 17);
    QuantizedExecutor executor(net);
    std::vector<std::int32_t> logits(n * 10), predictions(n);
    executor.run(features.data(), n, 0, logits.data(), predictions.data());
    const auto codes = executor.quantize_inputs(features.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto expected =
          testing::reference_logits(net, std::vector<std::uint8_t>(codes.begin() + std::ptrdiff_t(i * in),
                                                                   codes.begin() + std::ptrdiff_t((i + 1) * in)));
      EXPECT_EQ(std::vector<std::int32_t>(logits.begin() + std::ptrdiff_t(i * 10),
                                          logits.begin() + std::ptrdiff_t((i + 1) * 10)),
                expected)
          << "image " << i << " " << m.name();
    }
    std::vector<std::uint8_t> expected_codes(n * in);
    quantize(net.input_format, std::span<const float>(features), std::span<std::uint8_t>(expected_codes));
    EXPECT_EQ(codes, expected_codes);
  }
}

}  // namespace
}  // namespace axsim::quant
