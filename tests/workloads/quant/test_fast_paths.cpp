// The fast paths of quantized inference give the same bits as the plain ones: the byte-wise fused
// kernel (vpmaddubsw for activations <= 127) against a naive product, the sparse AXPY corrections, and
// Monte Carlo over a prepared set (cached first-layer sums + per-trial corrections) against the full
// evaluation of every trial.
#include <gtest/gtest.h>
#include <omp.h>

#include "tests/workloads/quant/quant_test_util.hpp"
#include "workloads/kernels/cpu_features.hpp"
#include "workloads/kernels/gemm_u8s8s32.hpp"
#include "workloads/quant/executor.hpp"

namespace axsim::quant {
namespace {

using testing::LayerPlan;
using testing::random_codes;
using testing::random_network;

std::vector<std::int8_t> random_weights(std::size_t n, std::uint64_t seed) {
  CounterRng rng(seed, 5);
  std::vector<std::int8_t> w(n);
  for (auto& v : w) v = std::int8_t(int(rng.below(256)) - 128);  // full int8 range, -128 included
  return w;
}

TEST(FusedQuadKernel, EqualsANaiveProductForEveryEpilogue) {
  // Sizes cover k tails (k % 4 != 0), partial panels (n % 16 != 0) and row remainders (m % 4 != 0).
  for (const auto [m, n, k] : {std::array<int, 3>{1, 1, 1}, {5, 10, 7}, {13, 16, 64}, {9, 37, 130}, {32, 128, 784}}) {
    const auto a = random_codes(std::size_t(m) * k, kernels::kMaxQuadActivation, std::uint64_t(m * 1000 + k));
    // Extremes too: 127 * -128 pairs are where vpmaddubsw would saturate if activations could exceed 127.
    std::vector<std::uint8_t> extreme(a.size(), 127);
    const auto w = random_weights(std::size_t(n) * k, std::uint64_t(n + k));
    std::vector<std::int8_t> w_min(w.size(), -128);
    std::vector<std::int32_t> bias(static_cast<std::size_t>(n));
    CounterRng rng(7, std::uint64_t(n));
    for (auto& b : bias) b = int(rng.below(20001)) - 10000;
    for (int variant = 0; variant < 3; ++variant) {
      const auto& av = variant == 1 ? extreme : a;
      const auto& wv = variant == 2 ? w_min : w;
      const kernels::PackedQuadWeights packed(k, n, wv.data(), k);
      std::vector<std::int32_t> expected(std::size_t(m) * n);
      for (int i = 0; i < m; ++i)
        for (int o = 0; o < n; ++o) {
          std::int64_t acc = bias[std::size_t(o)];
          for (int j = 0; j < k; ++j) acc += std::int64_t(av[std::size_t(i) * k + j]) * wv[std::size_t(o) * k + j];
          expected[std::size_t(i) * n + o] = std::int32_t(acc);
        }
      for (bool scalar : {false, true}) {
        std::vector<std::int32_t> c(std::size_t(m) * n, -1);
        kernels::QuadEpilogue logits;
        logits.bias = bias.data();
        logits.c = c.data();
        logits.ldc = n;
        kernels::gemm_u7s8_fused(m, av.data(), k, packed, logits, scalar);
        EXPECT_EQ(c, expected) << m << "x" << n << "x" << k << " variant " << variant << " scalar " << scalar;
        for (const int shift : {1, 5, 9, 31}) {
          const FixedPointFormat out = FixedPointFormat::power_of_two(8, 0, false);  // codes 0..127
          std::vector<std::uint8_t> codes(std::size_t(m) * n, 255);
          kernels::QuadEpilogue requant;
          requant.bias = bias.data();
          requant.codes = codes.data();
          requant.ldcodes = n;
          requant.shift = shift;
          requant.lo = 0;
          requant.hi = out.max_code();
          kernels::gemm_u7s8_fused(m, av.data(), k, packed, requant, scalar);
          for (std::size_t i = 0; i < codes.size(); ++i)
            ASSERT_EQ(int(codes[i]), requantize(expected[i], shift, out, true))
                << "element " << i << " shift " << shift << " scalar " << scalar;
        }
      }
    }
  }
}

TEST(FusedQuadKernel, RejectsBadArguments) {
  const std::vector<std::int8_t> w(8, 1);
  const kernels::PackedQuadWeights packed(4, 2, w.data(), 4);
  const std::vector<std::uint8_t> a(4, 1);
  std::vector<std::uint8_t> codes(2);
  kernels::QuadEpilogue e;
  e.codes = codes.data();
  e.ldcodes = 2;
  e.shift = 0;  // outside [1, 31]
  EXPECT_THROW(kernels::gemm_u7s8_fused(1, a.data(), 4, packed, e), std::invalid_argument);
  e.shift = 1;
  EXPECT_THROW(kernels::gemm_u7s8_fused(1, a.data(), 3, packed, e), std::invalid_argument);  // lda < k
  EXPECT_THROW(kernels::PackedQuadWeights(4, 2, w.data(), 3), std::invalid_argument);
}

TEST(AddScaledRows, EqualsTheDefinitionWithWrapAround) {
  const int m = 150, features = 20;
  const std::ptrdiff_t ldx = 160;
  const auto x = random_codes(std::size_t(features) * ldx, 255, 3);
  const std::vector<std::uint32_t> rows{3, 0, 19, 3, 7};
  const std::vector<std::int32_t> deltas{-255, 128, 1, -300, 65535};
  std::vector<std::int32_t> init(m);
  for (int b = 0; b < m; ++b) init[std::size_t(b)] = b % 2 ? INT32_MAX - b : INT32_MIN + b;  // wraps on the way
  std::vector<std::int32_t> expected(m);
  for (int b = 0; b < m; ++b) {
    std::uint32_t v = std::uint32_t(init[std::size_t(b)]);
    for (std::size_t e = 0; e < rows.size(); ++e) v += std::uint32_t(deltas[e]) * x[rows[e] * ldx + std::size_t(b)];
    expected[std::size_t(b)] = std::int32_t(v);
  }
  for (bool scalar : {false, true}) {
    std::vector<std::int32_t> y(m, 0);
    kernels::add_scaled_rows(m, int(rows.size()), deltas.data(), rows.data(), x.data(), ldx, init.data(), y.data(),
                             scalar);
    EXPECT_EQ(y, expected) << "scalar " << scalar;
    std::vector<std::int32_t> in_place = init;  // init == y
    kernels::add_scaled_rows(m, int(rows.size()), deltas.data(), rows.data(), x.data(), ldx, in_place.data(),
                             in_place.data(), scalar);
    EXPECT_EQ(in_place, expected);
  }
}

// Per trial: the prepared shortcut and the plain path give identical correct counts, fault counts and
// logits, for 1 and 2 threads.
void expect_prepared_equals_plain(const QuantizedNetwork& net, const FaultInjection& faults, bool expect_shortcut) {
  const std::size_t n = 300;
  const auto codes = random_codes(n * net.layers.front().input_size(), net.input_format.max_code(), 11);
  std::vector<std::int32_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = std::int32_t(i % std::size_t(net.classes));
  QuantizedExecutor plain(net), fast(net);
  plain.set_faults(faults);
  fast.set_faults(faults);
  const auto set = fast.prepare_set(codes.data(), n);
  EXPECT_EQ(fast.uses_prepared_shortcut(*set), expect_shortcut);
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    for (std::uint64_t trial = 0; trial < 3; ++trial) {
      const EvalResult a = plain.evaluate_codes(codes.data(), labels.data(), n, trial);
      const EvalResult b = fast.evaluate_prepared(*set, labels.data(), trial);
      EXPECT_EQ(a.correct, b.correct) << "trial " << trial << " threads " << threads;
      EXPECT_EQ(a.weight_faults.words_changed, b.weight_faults.words_changed);
      EXPECT_EQ(a.activation_faults.faulty_bits, b.activation_faults.faulty_bits);
      // Identical logits on a subset that does not start at 0.
      const std::size_t first = 37, count = 101, classes = std::size_t(net.classes);
      std::vector<std::int32_t> la(count * classes), lb(count * classes), pa(count), pb(count);
      plain.run_codes(codes.data() + first * plain.input_size(), count, first, la.data(), pa.data());
      fast.run_prepared(*set, first, count, lb.data(), pb.data());
      EXPECT_EQ(la, lb) << "trial " << trial << " threads " << threads;
      EXPECT_EQ(pa, pb);
    }
  }
  omp_set_num_threads(omp_get_num_procs());
}

FaultInjection flips(double p, WeightFaultDraw draw = WeightFaultDraw::per_trial, double p_act = 0.0) {
  FaultInjection f;
  f.seed = 5;
  f.weight_channel = "flip";
  f.weight_rate = p;
  f.weight_draw = draw;
  f.activation_rate = p_act;
  return f;
}

TEST(PreparedSet, MonteCarloShortcutIsBitExactExactAndDrum) {
  const std::vector<LayerPlan> mlp{{QOpKind::dense, 24}, {QOpKind::dense, 16}, {QOpKind::dense, 10}};
  for (const Multiplier m : {Multiplier::exact(8), Multiplier::drum(4, 8), Multiplier::drum(2, 8)}) {
    const QuantizedNetwork net = random_network(mlp, 36, 1, 1, m, 21);
    expect_prepared_equals_plain(net, flips(0.02), true);
    expect_prepared_equals_plain(net, flips(0.0), true);
    // Stuck-at faults draw stuck values per cell: the shortcut must take whatever the channel wrote.
    FaultInjection stuck = flips(0.05);
    stuck.weight_channel = "stuck_at";
    expect_prepared_equals_plain(net, stuck, true);
  }
}

TEST(PreparedSet, FallsBackToThePlainPathWhereTheShortcutDoesNotApply) {
  const std::vector<LayerPlan> mlp{{QOpKind::dense, 12}, {QOpKind::dense, 10}};
  const QuantizedNetwork net = random_network(mlp, 25, 1, 1, Multiplier::exact(8), 3);
  expect_prepared_equals_plain(net, flips(0.02, WeightFaultDraw::per_inference), false);
  expect_prepared_equals_plain(net, flips(0.0, WeightFaultDraw::per_trial, 0.01), false);  // activation faults
  // Nine-bit activations (codes up to 255) and a conv first layer.
  const QuantizedNetwork wide = random_network(mlp, 25, 1, 1, Multiplier::exact(8), 4, 9);
  expect_prepared_equals_plain(wide, flips(0.02), true);
  const QuantizedNetwork conv = random_network(
      {{QOpKind::conv2d, 3, 3, 1, 1}, {QOpKind::flatten}, {QOpKind::dense, 10}}, 1, 6, 6, Multiplier::exact(8), 5);
  expect_prepared_equals_plain(conv, flips(0.02), false);
}

}  // namespace
}  // namespace axsim::quant
