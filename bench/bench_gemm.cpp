// GEMM throughput at the trainer's shapes (MNIST MLP 784-128-128-10 at batch 128, LeNet-5 at batch
// 64 as im2col) on 1 and 2 threads. Float counters: FLOP/s (2 m n k per call); int8: OP/s.
// Run: bench_gemm [--benchmark_filter=...]; AXSIM_ISA=scalar|avx2|avx512 forces a path.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "workloads/kernels/gemm.hpp"

namespace {

using axsim::kernels::GemmOptions;
using axsim::kernels::Trans;

struct Shape {
  const char* name;
  Trans ta, tb;
  int m, n, k;
};

// Dense weight is [out, in], so forward is X W^T, dX = dY W, dW = dY^T X.
const Shape kFloatShapes[] = {
    {"mlp_fc1_fwd", Trans::no, Trans::yes, 128, 128, 784},
    {"mlp_fc2_fwd", Trans::no, Trans::yes, 128, 128, 128},
    {"mlp_fc3_fwd", Trans::no, Trans::yes, 128, 10, 128},
    {"mlp_fc1_dW", Trans::yes, Trans::no, 128, 784, 128},
    {"mlp_fc2_dW", Trans::yes, Trans::no, 128, 128, 128},
    {"mlp_fc3_dW", Trans::yes, Trans::no, 10, 128, 128},
    {"mlp_fc2_dX", Trans::no, Trans::no, 128, 128, 128},
    {"mlp_fc3_dX", Trans::no, Trans::no, 128, 128, 10},
    // LeNet-5 conv1 (1->6, 5x5, 28x28 -> 24x24) and conv2 (6->16, 5x5, 12x12 -> 8x8), batch 64:
    // im2col rows x weights^T, and the NCHW-friendly weights x columns orientation.
    {"lenet_conv1_col_Wt", Trans::no, Trans::yes, 64 * 24 * 24, 6, 25},
    {"lenet_conv1_W_col", Trans::no, Trans::no, 6, 64 * 24 * 24, 25},
    {"lenet_conv1_W_col_1img", Trans::no, Trans::no, 6, 24 * 24, 25},
    // Per image (the NCHW layout a conv layer produces directly; parallelise over images):
    // forward W x col, dW += dY x col^T, dcol = W^T x dY.
    {"lenet_conv1_dW_1img", Trans::no, Trans::yes, 6, 25, 24 * 24},
    {"lenet_conv2_W_col_1img", Trans::no, Trans::no, 16, 8 * 8, 150},
    {"lenet_conv2_dW_1img", Trans::no, Trans::yes, 16, 150, 8 * 8},
    {"lenet_conv2_dcol_1img", Trans::yes, Trans::no, 150, 8 * 8, 16},
    {"lenet_conv2_col_Wt", Trans::no, Trans::yes, 64 * 8 * 8, 16, 150},
    {"lenet_conv2_W_col", Trans::no, Trans::no, 16, 64 * 8 * 8, 150},
    {"lenet_conv2_dW", Trans::yes, Trans::no, 16, 150, 64 * 8 * 8},
    {"lenet_conv1_dW", Trans::yes, Trans::no, 6, 25, 64 * 24 * 24},
    {"square_64", Trans::no, Trans::no, 64, 64, 64},
    {"square_512", Trans::no, Trans::no, 512, 512, 512},
};

std::vector<float> random_floats(std::size_t count, std::uint64_t stream) {
  axsim::CounterRng rng(1, stream);
  std::vector<float> v(count);
  for (float& x : v) x = float(rng.uniform() - 0.5);
  return v;
}

void bench_sgemm(benchmark::State& state, Shape s) {
  const int threads = int(state.range(0));
  const bool ta = s.ta == Trans::yes, tb = s.tb == Trans::yes;
  const int lda = ta ? s.m : s.k, ldb = tb ? s.k : s.n;
  const auto a = random_floats(std::size_t(s.m) * s.k, 1);
  const auto b = random_floats(std::size_t(s.k) * s.n, 2);
  std::vector<float> c(std::size_t(s.m) * s.n);
  const GemmOptions options{axsim::kernels::Isa::automatic, threads};
  for (auto _ : state) {
    axsim::kernels::sgemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), s.n, options);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * s.m * s.n * s.k, benchmark::Counter::kIsIterationInvariantRate,
                                               benchmark::Counter::kIs1000);
}

const Shape kInt8Shapes[] = {
    {"q_mlp_fc1", Trans::no, Trans::yes, 128, 128, 784},
    {"q_mlp_fc2", Trans::no, Trans::yes, 128, 128, 128},
    {"q_mlp_fc3", Trans::no, Trans::yes, 128, 10, 128},
    {"q_lenet_conv2_col_Wt", Trans::no, Trans::yes, 64 * 8 * 8, 16, 150},
    {"q_square_512", Trans::no, Trans::no, 512, 512, 512},
};

void bench_int8(benchmark::State& state, Shape s) {
  const int threads = int(state.range(0));
  axsim::CounterRng rng(3, 4);
  std::vector<std::uint8_t> a(std::size_t(s.m) * s.k);
  std::vector<std::int8_t> b(std::size_t(s.k) * s.n);
  for (auto& x : a) x = std::uint8_t(rng.below(256));
  for (auto& x : b) x = std::int8_t(int(rng.below(256)) - 128);
  std::vector<std::int32_t> c(std::size_t(s.m) * s.n);
  const axsim::kernels::PackedWeightsS8 packed(s.tb, s.k, s.n, b.data(), s.tb == Trans::yes ? s.k : s.n);
  state.SetLabel(packed.kernel_name());
  const GemmOptions options{axsim::kernels::Isa::automatic, threads};
  for (auto _ : state) {
    axsim::kernels::gemm_u8s8s32(s.m, a.data(), s.k, packed, c.data(), s.n, options);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["OPS"] = benchmark::Counter(2.0 * s.m * s.n * s.k, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}

const bool kRegistered = [] {
  for (const Shape& s : kFloatShapes) {
    benchmark::RegisterBenchmark((std::string("sgemm/") + s.name).c_str(), bench_sgemm, s)
        ->ArgName("threads")
        ->Arg(1)
        ->Arg(2)
        ->Arg(0)
        ->UseRealTime();
  }
  for (const Shape& s : kInt8Shapes) {
    benchmark::RegisterBenchmark((std::string("int8/") + s.name).c_str(), bench_int8, s)
        ->ArgName("threads")
        ->Arg(1)
        ->Arg(2)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
