// GEMM kernels against naive references: float vs a double-precision product within a rounding
// bound, int8 exactly vs int64; every ISA path this CPU supports; leading dimensions wider than
// the rows (padding filled with NaN / sentinels to catch stray reads and writes); determinism
// across calls, thread counts and ISAs.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "workloads/kernels/cpu_features.hpp"
#include "workloads/kernels/gemm.hpp"

namespace axsim::kernels {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// A rows x cols matrix stored with leading dimension ld >= cols; the padding holds `pad`.
struct FloatMatrix {
  int rows, cols;
  std::ptrdiff_t ld;
  std::vector<float> data;
  FloatMatrix(int r, int c, int extra_ld, float pad) : rows(r), cols(c), ld(std::max(c, 1) + extra_ld) {
    data.assign(std::size_t(std::max(r, 1)) * ld, pad);
  }
  float& at(int i, int j) { return data[std::size_t(i) * ld + j]; }
  float at(int i, int j) const { return data[std::size_t(i) * ld + j]; }
  void fill_random(std::uint64_t stream) {
    CounterRng rng(7, stream);
    for (int i = 0; i < rows; ++i) {
      for (int j = 0; j < cols; ++j) at(i, j) = float(2.0 * rng.uniform() - 1.0);
    }
  }
};

struct Case {
  Trans ta, tb;
  int m, n, k;
  float alpha, beta;
  int extra_ld;
};

std::string describe(const Case& c) {
  return "ta=" + std::to_string(int(c.ta == Trans::yes)) + " tb=" + std::to_string(int(c.tb == Trans::yes)) +
         " m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " alpha=" + std::to_string(c.alpha) + " beta=" + std::to_string(c.beta) +
         " extra_ld=" + std::to_string(c.extra_ld);
}

// Runs sgemm on fresh operands for `c` and checks every element of C against the double
// reference, |got - ref| <= 2 (k + 4) 2^-24 (|alpha| sum_k |a b| + |beta c0|), the worst-case
// float rounding of a length-k dot product plus the alpha/beta update; and that the padding of C
// is untouched. Returns C (with padding) for determinism checks.
std::vector<float> run_and_check(const Case& c, const GemmOptions& options) {
  SCOPED_TRACE(describe(c) + " isa=" + std::string(isa_name(options.isa)) +
               " threads=" + std::to_string(options.threads));
  const bool ta = c.ta == Trans::yes, tb = c.tb == Trans::yes;
  // NaN padding: a kernel that reads outside op(A)/op(B) poisons the result.
  FloatMatrix a(ta ? c.k : c.m, ta ? c.m : c.k, c.extra_ld, kNaN);
  FloatMatrix b(tb ? c.n : c.k, tb ? c.k : c.n, c.extra_ld, kNaN);
  FloatMatrix out(c.m, c.n, c.extra_ld, 12345.0f);
  a.fill_random(stream_id({1, std::uint64_t(c.m), std::uint64_t(c.k)}));
  b.fill_random(stream_id({2, std::uint64_t(c.k), std::uint64_t(c.n)}));
  out.fill_random(3);
  // beta == 0 must not read C: make C NaN so reading it shows.
  if (c.beta == 0.0f) {
    for (int i = 0; i < c.m; ++i) {
      for (int j = 0; j < c.n; ++j) out.at(i, j) = kNaN;
    }
  }
  const FloatMatrix c0 = out;
  sgemm(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a.data.data(), a.ld, b.data.data(), b.ld, c.beta, out.data.data(), out.ld,
        options);
  auto op_a = [&](int i, int p) { return double(ta ? a.at(p, i) : a.at(i, p)); };
  auto op_b = [&](int p, int j) { return double(tb ? b.at(j, p) : b.at(p, j)); };
  int failures = 0;
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < c.n; ++j) {
      double sum = 0, abs_sum = 0;
      for (int p = 0; p < c.k; ++p) {
        sum += op_a(i, p) * op_b(p, j);
        abs_sum += std::fabs(op_a(i, p) * op_b(p, j));
      }
      double ref = c.alpha * sum, scale = std::fabs(c.alpha) * abs_sum;
      if (c.beta != 0.0f) {
        ref += c.beta * double(c0.at(i, j));
        scale += std::fabs(c.beta * double(c0.at(i, j)));
      }
      const double tolerance = 2.0 * (c.k + 4) * 0x1p-24 * scale + 1e-30;
      const double got = out.at(i, j);
      if (!(std::fabs(got - ref) <= tolerance) && ++failures <= 5) {
        ADD_FAILURE() << "C(" << i << "," << j << ") = " << got << ", expected " << ref << " +- " << tolerance;
      }
    }
    for (std::ptrdiff_t j = c.n; j < out.ld; ++j) {
      if (out.data[std::size_t(i) * out.ld + j] != c0.data[std::size_t(i) * out.ld + j] && ++failures <= 5) {
        ADD_FAILURE() << "padding C(" << i << "," << j << ") was overwritten";
      }
    }
  }
  EXPECT_EQ(failures, 0);
  return out.data;
}

std::vector<Case> shape_cases() {
  const int shapes[][3] = {{1, 1, 1},    {7, 13, 5},    {129, 257, 65}, {6, 16, 256}, {6, 16, 257},
                           {12, 32, 1},  {13, 33, 600}, {64, 10, 128},  {3, 70, 2},   {50, 8, 40},
                           {29, 5, 300}, {25, 17, 9},   {5, 3, 0},      {0, 5, 3},    {4, 0, 2}};
  std::vector<Case> cases;
  for (const auto& s : shapes) {
    for (Trans ta : {Trans::no, Trans::yes}) {
      for (Trans tb : {Trans::no, Trans::yes}) {
        for (float beta : {0.0f, 1.0f, 0.7f}) {
          const float alpha = beta == 0.7f ? -1.5f : 1.0f;
          cases.push_back({ta, tb, s[0], s[1], s[2], alpha, beta, int(cases.size() % 3) * 3});
        }
      }
    }
  }
  return cases;
}

TEST(Sgemm, MatchesDoubleReferenceOnEveryIsaAndTransposeCombination) {
  for (Isa isa : supported_isas()) {
    for (const Case& c : shape_cases()) run_and_check(c, {isa, 1});
  }
}

TEST(Sgemm, MatchesReferenceWithTwoThreads) {
  for (Isa isa : supported_isas()) {
    for (const Case& c : shape_cases()) run_and_check(c, {isa, 2});
  }
}

TEST(Sgemm, TrainerShapesMatchReference) {
  // MNIST MLP forward (X W^T), dX = dY W, dW = dY^T X, and a LeNet conv as im2col.
  const Case cases[] = {{Trans::no, Trans::yes, 128, 128, 784, 1.0f, 0.0f, 0},
                        {Trans::no, Trans::no, 128, 784, 128, 1.0f, 0.0f, 0},
                        {Trans::yes, Trans::no, 128, 784, 128, 1.0f, 1.0f, 0},
                        {Trans::no, Trans::yes, 1000, 6, 25, 1.0f, 0.0f, 0}};
  for (Isa isa : supported_isas()) {
    for (const Case& c : cases) run_and_check(c, {isa, 0});
  }
}

TEST(Sgemm, AlphaZeroOnlyScalesCAndDoesNotReadAOrB) {
  std::vector<float> a(6, kNaN), b(6, kNaN), c = {1, 2, 3, 4};
  sgemm(Trans::no, Trans::no, 2, 2, 3, 0.0f, a.data(), 3, b.data(), 2, 0.5f, c.data(), 2);
  EXPECT_EQ(c, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f}));
  std::vector<float> nan_c(4, kNaN);
  sgemm(Trans::no, Trans::no, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, nan_c.data(), 2);
  EXPECT_EQ(nan_c, std::vector<float>(4, 0.0f));
}

TEST(Sgemm, RepeatedCallsThreadCountsAndIsasGiveIdenticalBits) {
  const Case cases[] = {{Trans::no, Trans::yes, 128, 128, 784, 1.0f, 0.0f, 0},
                        {Trans::yes, Trans::no, 130, 100, 300, 0.5f, 0.7f, 1},
                        {Trans::no, Trans::no, 37, 260, 513, 1.0f, 1.0f, 2}};
  for (const Case& c : cases) {
    std::vector<float> simd_reference;
    for (Isa isa : supported_isas()) {
      const std::vector<float> first = run_and_check(c, {isa, 1});
      EXPECT_EQ(run_and_check(c, {isa, 1}), first) << describe(c) << " repeated call differs";
      EXPECT_EQ(run_and_check(c, {isa, 2}), first) << describe(c) << " 1 vs 2 threads differ";
      EXPECT_EQ(run_and_check(c, {isa, 3}), first) << describe(c) << " 1 vs 3 threads differ";
      // avx2 and avx512 share the FMA order and K blocking, so they agree bit for bit.
      if (isa == Isa::scalar) continue;
      if (simd_reference.empty()) {
        simd_reference = first;
      } else {
        EXPECT_EQ(first, simd_reference) << describe(c) << " avx2 vs avx512 differ";
      }
    }
  }
}

// The tile shape (wide or narrow), whether B is packed or read in place, and the blocking over M
// and N all depend on the product's shape, yet each element is the same FMA chain: a sub-product
// on a subset of rows or columns must reproduce the full product's bits.
TEST(Sgemm, ElementsDoNotDependOnTheRestOfTheProduct) {
  const int m = 37, n = 40, k = 300;
  for (Isa isa : supported_isas()) {
    for (Trans ta : {Trans::no, Trans::yes}) {
      for (Trans tb : {Trans::no, Trans::yes}) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " ta=" + std::to_string(int(ta == Trans::yes)) +
                     " tb=" + std::to_string(int(tb == Trans::yes)));
        FloatMatrix a(ta == Trans::yes ? k : m, ta == Trans::yes ? m : k, 0, 0.0f);
        FloatMatrix b(tb == Trans::yes ? n : k, tb == Trans::yes ? k : n, 0, 0.0f);
        a.fill_random(21);
        b.fill_random(22);
        std::vector<float> full(std::size_t(m) * n);
        sgemm(ta, tb, m, n, k, 0.5f, a.data.data(), a.ld, b.data.data(), b.ld, 0.0f, full.data(), n, {isa, 1});
        // Columns 3..8 (narrow tile) and rows 7..21 (few row tiles: B read in place).
        const int j0 = 3, nj = 6, i0 = 7, mi = 15;
        const float* b_cols = tb == Trans::yes ? b.data.data() + std::size_t(j0) * b.ld : b.data.data() + j0;
        std::vector<float> cols(std::size_t(m) * nj), rows(std::size_t(mi) * n);
        sgemm(ta, tb, m, nj, k, 0.5f, a.data.data(), a.ld, b_cols, b.ld, 0.0f, cols.data(), nj, {isa, 1});
        const float* a_rows = ta == Trans::yes ? a.data.data() + i0 : a.data.data() + std::size_t(i0) * a.ld;
        sgemm(ta, tb, mi, n, k, 0.5f, a_rows, a.ld, b.data.data(), b.ld, 0.0f, rows.data(), n, {isa, 1});
        int mismatches = 0;
        for (int i = 0; i < m; ++i) {
          for (int j = 0; j < nj; ++j) mismatches += cols[std::size_t(i) * nj + j] != full[std::size_t(i) * n + j0 + j];
        }
        for (int i = 0; i < mi; ++i) {
          for (int j = 0; j < n; ++j) mismatches += rows[std::size_t(i) * n + j] != full[std::size_t(i0 + i) * n + j];
        }
        EXPECT_EQ(mismatches, 0);
      }
    }
  }
}

TEST(Sgemm, CallsFromInsideAParallelRegionAreCorrect) {
  const Case c{Trans::no, Trans::no, 64, 64, 64, 1.0f, 0.0f, 0};
  const std::vector<float> serial = run_and_check(c, {Isa::automatic, 1});
  std::vector<std::vector<float>> results(2);
#pragma omp parallel num_threads(2)
  { results[omp_get_thread_num()] = run_and_check(c, {}); }
  for (const auto& r : results) {
    if (!r.empty()) {
      EXPECT_EQ(r, serial);
    }
  }
}

// Team mode: the threads of one open parallel region share a product, as a trainer that keeps a
// persistent region would call it. C must be complete (and equal to the serial bits) on return.
TEST(Sgemm, TeamModeSharesOneProductAmongTheCallersThreads) {
  const int m = 70, n = 50, k = 300;
  FloatMatrix a(m, k, 0, 0.0f), b(n, k, 0, 0.0f);
  a.fill_random(31);
  b.fill_random(32);
  std::vector<float> serial(std::size_t(m) * n, 1.0f);
  sgemm(Trans::no, Trans::yes, m, n, k, 1.0f, a.data.data(), k, b.data.data(), k, 0.5f, serial.data(), n, {{}, 1});
  std::vector<float> shared(std::size_t(m) * n, 1.0f), scaled(std::size_t(m) * n, 2.0f);
  int mismatches_seen_by_a_thread = 0;
#pragma omp parallel num_threads(2) reduction(+ : mismatches_seen_by_a_thread)
  {
    const GemmOptions team{Isa::automatic, 0, true};
    sgemm(Trans::no, Trans::yes, m, n, k, 1.0f, a.data.data(), k, b.data.data(), k, 0.5f, shared.data(), n, team);
    // Right after return every element must already be final, whichever thread wrote it.
    for (std::size_t i = 0; i < shared.size(); ++i) mismatches_seen_by_a_thread += shared[i] != serial[i];
    sgemm(Trans::no, Trans::no, m, n, 0, 1.0f, nullptr, 1, nullptr, n, 0.25f, scaled.data(), n, team);
  }
  EXPECT_EQ(mismatches_seen_by_a_thread, 0);
  EXPECT_EQ(scaled, std::vector<float>(scaled.size(), 0.5f));  // scaled once, not once per thread
}

TEST(Sgemm, RejectsBadArguments) {
  std::vector<float> x(64, 1.0f);
  EXPECT_THROW(sgemm(Trans::no, Trans::no, -1, 2, 2, 1, x.data(), 2, x.data(), 2, 0, x.data(), 2),
               std::invalid_argument);
  EXPECT_THROW(sgemm(Trans::no, Trans::no, 2, 2, 3, 1, x.data(), 2, x.data(), 2, 0, x.data(), 2),
               std::invalid_argument);  // lda < k
  EXPECT_THROW(sgemm(Trans::yes, Trans::no, 3, 2, 2, 1, x.data(), 2, x.data(), 2, 0, x.data(), 2),
               std::invalid_argument);  // transposed A is k x m: lda < m
  EXPECT_THROW(sgemm(Trans::no, Trans::yes, 2, 2, 3, 1, x.data(), 3, x.data(), 2, 0, x.data(), 2),
               std::invalid_argument);  // transposed B is n x k: ldb < k
  EXPECT_THROW(sgemm(Trans::no, Trans::no, 2, 3, 2, 1, x.data(), 2, x.data(), 3, 0, x.data(), 2),
               std::invalid_argument);  // ldc < n
}

TEST(CpuFeatures, DispatchIsConsistent) {
  EXPECT_TRUE(isa_supported(Isa::scalar));
  EXPECT_EQ(supported_isas().front(), Isa::scalar);
  EXPECT_TRUE(isa_supported(default_isa()));
  EXPECT_EQ(resolve_isa(Isa::automatic), default_isa());
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    EXPECT_EQ(parse_isa(isa_name(isa), "AXSIM_ISA"), isa);
    if (!isa_supported(isa)) {
      EXPECT_THROW(resolve_isa(isa), std::invalid_argument);
    }
  }
  EXPECT_EQ(isa_supported(Isa::avx2), cpu_features().avx2 && cpu_features().fma);
}

TEST(CpuFeatures, UnknownIsaNameIsAnInputErrorWithAHint) {
  try {
    parse_isa("avx", "AXSIM_ISA");
    FAIL() << "no error for an unknown ISA";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("AXSIM_ISA"), std::string::npos) << message;
    EXPECT_NE(message.find("avx2"), std::string::npos) << message;
  }
}

// ---------------------------------------------------------------- int8

std::vector<std::int32_t> naive_int8(int m, int n, int k, const std::vector<std::uint8_t>& a, std::ptrdiff_t lda,
                                     Trans tb, const std::vector<std::int8_t>& b, std::ptrdiff_t ldb) {
  std::vector<std::int32_t> c(std::size_t(m) * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      std::int64_t sum = 0;
      for (int p = 0; p < k; ++p) {
        const std::int8_t w = tb == Trans::yes ? b[std::size_t(j) * ldb + p] : b[std::size_t(p) * ldb + j];
        sum += std::int64_t(a[std::size_t(i) * lda + p]) * w;
      }
      EXPECT_LE(std::llabs(sum), std::int64_t(INT32_MAX));
      c[std::size_t(i) * n + j] = std::int32_t(sum);
    }
  }
  return c;
}

// Multiplies with ldc = n + 2, checks the padding is untouched, returns the m x n result.
std::vector<std::int32_t> run_int8(int m, const std::vector<std::uint8_t>& a, std::ptrdiff_t lda,
                                   const PackedWeightsS8& packed, const GemmOptions& options) {
  const int n = packed.n();
  const std::ptrdiff_t ldc = n + 2;
  std::vector<std::int32_t> c(std::size_t(std::max(m, 1)) * ldc, -7);
  gemm_u8s8s32(m, a.data(), lda, packed, c.data(), ldc, options);
  std::vector<std::int32_t> result(std::size_t(m) * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) result[std::size_t(i) * n + j] = c[std::size_t(i) * ldc + j];
    EXPECT_EQ(c[std::size_t(i) * ldc + n], -7) << "padding of C row " << i << " overwritten";
  }
  return result;
}

TEST(GemmInt8, ExactForRandomFullRangeOperandsOnEveryIsa) {
  const int shapes[][3] = {{1, 1, 1},   {7, 13, 5}, {129, 257, 65}, {6, 16, 2}, {6, 16, 3},
                           {12, 32, 4}, {5, 9, 7},  {64, 10, 784},  {2, 40, 0}, {0, 3, 4}};
  for (Isa isa : supported_isas()) {
    for (const auto& s : shapes) {
      for (Trans tb : {Trans::no, Trans::yes}) {
        const int m = s[0], n = s[1], k = s[2];
        SCOPED_TRACE("isa=" + std::string(isa_name(isa)) + " m=" + std::to_string(m) + " n=" + std::to_string(n) +
                     " k=" + std::to_string(k) + " tb=" + std::to_string(int(tb == Trans::yes)));
        const std::ptrdiff_t lda = k + 3, ldb = (tb == Trans::yes ? k : n) + 1;
        std::vector<std::uint8_t> a(std::size_t(std::max(m, 1)) * lda, 0xAB);
        std::vector<std::int8_t> b(std::size_t(tb == Trans::yes ? std::max(n, 1) : std::max(k, 1)) * ldb, 99);
        CounterRng rng(11, stream_id({std::uint64_t(m), std::uint64_t(n), std::uint64_t(k)}));
        for (auto& x : a) x = std::uint8_t(rng.below(256));
        for (auto& x : b) x = std::int8_t(int(rng.below(256)) - 128);
        const PackedWeightsS8 packed(tb, k, n, b.data(), ldb, isa);
        const auto expected = naive_int8(m, n, k, a, lda, tb, b, ldb);
        EXPECT_EQ(run_int8(m, a, lda, packed, {isa, 1}), expected);
        EXPECT_EQ(run_int8(m, a, lda, packed, {isa, 2}), expected);
      }
    }
  }
}

TEST(GemmInt8, ExactForExtremeOperandsUpToTheLargestK) {
  // 255 * -128 summed kMaxInt8GemmK times is -2147483520, one step from int32 overflow; a
  // saturating int16 pair sum (vpmaddubsw) would already fail at k = 2.
  for (Isa isa : supported_isas()) {
    for (int k : {2, 3, 1000, kMaxInt8GemmK}) {
      for (std::int8_t w : {std::int8_t(-128), std::int8_t(127)}) {
        SCOPED_TRACE("isa=" + std::string(isa_name(isa)) + " k=" + std::to_string(k) + " w=" + std::to_string(w));
        const int m = 7, n = 17;
        std::vector<std::uint8_t> a(std::size_t(m) * k, 255);
        std::vector<std::int8_t> b(std::size_t(k) * n, w);
        for (int j = 0; j < n; j += 4) b[std::size_t(k - 1) * n + j] = 0;  // not all columns identical
        const PackedWeightsS8 packed(Trans::no, k, n, b.data(), n, isa);
        EXPECT_EQ(run_int8(m, a, k, packed, {isa, 0}), naive_int8(m, n, k, a, k, Trans::no, b, n));
      }
    }
    // Alternating extremes within each k group.
    const int m = 9, n = 19, k = 37;
    std::vector<std::uint8_t> a(std::size_t(m) * k);
    std::vector<std::int8_t> b(std::size_t(n) * k);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = i % 3 == 0 ? 0 : 255;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = i % 2 == 0 ? -128 : 127;
    const PackedWeightsS8 packed(Trans::yes, k, n, b.data(), k, isa);
    EXPECT_EQ(run_int8(m, a, k, packed, {isa, 1}), naive_int8(m, n, k, a, k, Trans::yes, b, k));
  }
}

TEST(GemmInt8, PackOnceMultiplyMany) {
  const int n = 30, k = 50;
  std::vector<std::int8_t> b(std::size_t(k) * n);
  CounterRng rng(5, 1);
  for (auto& x : b) x = std::int8_t(int(rng.below(256)) - 128);
  const PackedWeightsS8 packed(Trans::no, k, n, b.data(), n);
  EXPECT_FALSE(packed.empty());
  EXPECT_TRUE(isa_supported(packed.isa()));
  const PackedWeightsS8 copy = packed;  // copies share the packed data
  for (int batch : {1, 8, 33}) {
    std::vector<std::uint8_t> a(std::size_t(batch) * k);
    for (auto& x : a) x = std::uint8_t(rng.below(256));
    EXPECT_EQ(run_int8(batch, a, k, copy, {}), naive_int8(batch, n, k, a, k, Trans::no, b, n));
  }
  // The convenience overload packs on the fly.
  std::vector<std::uint8_t> a(std::size_t(4) * k, 200);
  std::vector<std::int32_t> c(std::size_t(4) * n);
  gemm_u8s8s32(Trans::no, 4, n, k, a.data(), k, b.data(), n, c.data(), n);
  EXPECT_EQ(c, naive_int8(4, n, k, a, k, Trans::no, b, n));
}

TEST(GemmInt8, TeamModeMatchesSerial) {
  const int m = 40, n = 33, k = 70;
  std::vector<std::uint8_t> a(std::size_t(m) * k);
  std::vector<std::int8_t> b(std::size_t(n) * k);
  CounterRng rng(9, 2);
  for (auto& x : a) x = std::uint8_t(rng.below(256));
  for (auto& x : b) x = std::int8_t(int(rng.below(256)) - 128);
  const PackedWeightsS8 packed(Trans::yes, k, n, b.data(), k);
  const auto expected = naive_int8(m, n, k, a, k, Trans::yes, b, k);
  std::vector<std::int32_t> c(std::size_t(m) * n, 0);
  int mismatches = 0;
#pragma omp parallel num_threads(2) reduction(+ : mismatches)
  {
    gemm_u8s8s32(m, a.data(), k, packed, c.data(), n, {Isa::automatic, 0, true});
    for (std::size_t i = 0; i < c.size(); ++i) mismatches += c[i] != expected[i];
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(GemmInt8, RejectsBadArguments) {
  std::vector<std::int8_t> b(16, 1);
  std::vector<std::uint8_t> a(16, 1);
  std::vector<std::int32_t> c(16);
  EXPECT_THROW(PackedWeightsS8(Trans::no, kMaxInt8GemmK + 1, 1, b.data(), 1), std::invalid_argument);
  EXPECT_THROW(PackedWeightsS8(Trans::no, 2, 4, b.data(), 3), std::invalid_argument);  // ldb < n
  EXPECT_THROW(gemm_u8s8s32(2, a.data(), 2, PackedWeightsS8(), c.data(), 2), std::invalid_argument);
  const PackedWeightsS8 packed(Trans::no, 2, 4, b.data(), 4, Isa::scalar);
  EXPECT_THROW(gemm_u8s8s32(2, a.data(), 1, packed, c.data(), 4), std::invalid_argument);  // lda < k
  if (isa_supported(Isa::avx2)) {
    EXPECT_THROW(gemm_u8s8s32(2, a.data(), 2, packed, c.data(), 4, {Isa::avx2, 0}), std::invalid_argument);
  }
}

}  // namespace
}  // namespace axsim::kernels
