// Throughput of the DRUM operand transform (the O(n) step before an exact integer matrix product), of
// the scalar DRUM multiply, and of float -> int8 quantization. Items = elements (or products).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "models/drum.hpp"
#include "models/fixed_point.hpp"

namespace {

constexpr std::size_t kElements = 1 << 20;
constexpr int kDrumK = 4;

// Symmetric codes of a `bits`-wide signed word, uniform over the code range.
template <class T>
std::vector<T> random_codes(std::size_t n, int bits, std::uint64_t stream) {
  axsim::CounterRng rng(1, stream);
  const std::uint64_t max_code = (std::uint64_t{1} << (bits - 1)) - 1;
  std::vector<T> v(n);
  for (auto& x : v) x = T(std::int64_t(rng.below(2 * max_code + 1)) - std::int64_t(max_code));
  return v;
}

template <class T>
void BM_DrumTransform(benchmark::State& state, int bits) {
  const std::vector<T> in = random_codes<T>(kElements, bits, 1);
  std::vector<T> out(in.size());
  const int k = int(state.range(0));
  for (auto _ : state) {
    axsim::drum_transform_batch(std::span<const T>(in), std::span<T>(out), k);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * std::int64_t(in.size()));
  state.SetBytesProcessed(state.iterations() * std::int64_t(in.size() * sizeof(T) * 2));
}

void BM_DrumTransformInt8(benchmark::State& state) { BM_DrumTransform<std::int8_t>(state, 8); }
void BM_DrumTransformInt16(benchmark::State& state) { BM_DrumTransform<std::int16_t>(state, 16); }
BENCHMARK(BM_DrumTransformInt8)->Arg(kDrumK);
BENCHMARK(BM_DrumTransformInt16)->Arg(kDrumK);

// Scalar drum_multiply over independent operand pairs, accumulated like a dot product.
void BM_DrumMultiplyScalar(benchmark::State& state) {
  const std::vector<std::int16_t> a = random_codes<std::int16_t>(kElements, 8, 2);
  const std::vector<std::int16_t> b = random_codes<std::int16_t>(kElements, 8, 3);
  const int k = int(state.range(0));
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (std::size_t i = 0; i < a.size(); ++i) sum += axsim::drum_multiply(a[i], b[i], k);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * std::int64_t(a.size()));
}
BENCHMARK(BM_DrumMultiplyScalar)->Arg(kDrumK);

// The same dot product the way the trainer/simulator do it: transform both operands, then exact products.
void BM_DrumDotViaTransform(benchmark::State& state) {
  const std::vector<std::int8_t> a = random_codes<std::int8_t>(kElements, 8, 2);
  const std::vector<std::int8_t> b = random_codes<std::int8_t>(kElements, 8, 3);
  std::vector<std::int8_t> ta(a.size()), tb(b.size());
  const int k = int(state.range(0));
  for (auto _ : state) {
    axsim::drum_transform_batch(std::span<const std::int8_t>(a), std::span<std::int8_t>(ta), k);
    axsim::drum_transform_batch(std::span<const std::int8_t>(b), std::span<std::int8_t>(tb), k);
    std::int64_t sum = 0;
    for (std::size_t i = 0; i < ta.size(); ++i) sum += std::int32_t(ta[i]) * std::int32_t(tb[i]);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * std::int64_t(a.size()));
}
BENCHMARK(BM_DrumDotViaTransform)->Arg(kDrumK);

void BM_QuantizeFloatToInt8(benchmark::State& state) {
  axsim::CounterRng rng(1, 4);
  std::vector<float> in(kElements);
  for (auto& x : in) x = float(rng.normal() * 0.05);
  const auto format = axsim::FixedPointFormat::covering(0.2, 8, true);
  std::vector<std::int8_t> out(in.size());
  for (auto _ : state) {
    benchmark::DoNotOptimize(axsim::quantize(format, in, std::span<std::int8_t>(out)));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * std::int64_t(in.size()));
}
BENCHMARK(BM_QuantizeFloatToInt8);

}  // namespace
