// Fault sampling throughput: bits scanned per second (a block's stored bits, faulty or not) for the
// flip channel on int8 words and for the trainer's float flip_signs. Geometric skips make the cost
// proportional to the number of faults, so throughput should scale roughly like 1/p.
// Counters: "bits" = stored bits scanned per second, "faults" = faulty cells per second.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "models/fault_channel.hpp"

using namespace axsim;

namespace {

constexpr std::size_t kWords = std::size_t(16) << 20;  // 16 Mi words
constexpr WordLayout kInt8{8, true};

double rate_from_arg(std::int64_t per_million) { return double(per_million) * 1e-6; }

// threads: how many threads did the work (the chunked overloads use OpenMP, the others one thread).
void report(benchmark::State& state, const FaultStats& total, int threads) {
  state.counters["bits"] = benchmark::Counter(double(total.bits_read), benchmark::Counter::kIsRate);
  state.counters["faults"] = benchmark::Counter(double(total.faulty_bits), benchmark::Counter::kIsRate);
  state.counters["threads"] = double(threads);
}

// Whole-block apply as the trainer uses it: chunked streams, OpenMP over chunks.
void BM_FlipInt8Chunked(benchmark::State& state) {
  const double p = rate_from_arg(state.range(0));
  const auto flip = make_fault_channel("flip");
  std::vector<std::int8_t> words(kWords, 37);
  FaultStats total;
  std::uint64_t iteration = 0;
  for (auto _ : state) {
    total += flip->apply(std::span(words), kInt8, p, 1, iteration++);
    benchmark::DoNotOptimize(words.data());
  }
  report(state, total, omp_get_max_threads());
}

// One sequential stream (a bank's per-read path), single thread.
void BM_FlipInt8Sequential(benchmark::State& state) {
  const double p = rate_from_arg(state.range(0));
  const auto flip = make_fault_channel("flip");
  std::vector<std::int8_t> words(kWords, 37);
  CounterRng rng(1, 2);
  FaultStats total;
  for (auto _ : state) {
    total += flip->apply(std::span(words), kInt8, p, rng);
    benchmark::DoNotOptimize(words.data());
  }
  report(state, total, 1);
}

void BM_BitMaskInt8Chunked(benchmark::State& state) {
  const double p = rate_from_arg(state.range(0));
  const auto bit_mask = make_fault_channel("bit_mask");
  std::vector<std::int8_t> words(kWords, 37);
  FaultStats total;
  std::uint64_t iteration = 0;
  for (auto _ : state) {
    // bit_mask only moves values toward 0; refresh so the block keeps non-zero words.
    std::fill(words.begin(), words.end(), std::int8_t(37));
    total += bit_mask->apply(std::span(words), kInt8, p, 1, iteration++);
  }
  report(state, total, omp_get_max_threads());
}

// Trainer: BSC on BinaryConnect float weights (one stored bit per weight, so "bits" = weights/s).
void BM_FlipSignsFloat(benchmark::State& state) {
  const double p = rate_from_arg(state.range(0));
  std::vector<float> w(kWords, 1.0f);
  FaultStats total;
  std::uint64_t iteration = 0;
  for (auto _ : state) {
    total += flip_signs(std::span(w), p, 1, iteration++);
    benchmark::DoNotOptimize(w.data());
  }
  report(state, total, omp_get_max_threads());
}

// Per-chip: re-applying a drawn map (no random draws on the read path).
void BM_FlipInt8ChipMap(benchmark::State& state) {
  const double p = rate_from_arg(state.range(0));
  const auto flip = make_fault_channel("flip");
  const FaultMap map = flip->draw_map(kWords, kInt8, p, 1, 2);
  std::vector<std::int8_t> words(kWords, 37);
  FaultStats total;
  for (auto _ : state) {
    total += flip->apply(std::span(words), kInt8, map, 0);
    benchmark::DoNotOptimize(words.data());
  }
  report(state, total, 1);
}

}  // namespace

// Args: p in parts per million (1000 = 1e-3, 10000 = 1e-2).
BENCHMARK(BM_FlipInt8Chunked)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FlipInt8Sequential)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_BitMaskInt8Chunked)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FlipSignsFloat)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FlipInt8ChipMap)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();
