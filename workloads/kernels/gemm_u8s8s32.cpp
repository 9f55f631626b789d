#include "workloads/kernels/gemm_u8s8s32.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "workloads/kernels/cpu_features.hpp"

namespace axsim::kernels {
namespace {

constexpr int kPanel = 16;  // outputs per packed panel (two vectors of 8 int32 lanes)
constexpr int kGroup = 4;   // consecutive k per int32 lane

int groups_of(int k) { return (k + kGroup - 1) / kGroup; }

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("gemm_u7s8_fused: " + what); }

// Requantize one accumulator (bias added) exactly like models' requantize() for 1 <= shift <= 31.
inline std::uint8_t requantize_one(std::int32_t x, int shift, int lo, int hi) {
  const std::int32_t v = (x >> shift) + ((x >> (shift - 1)) & 1);  // floor((x + 2^(s-1)) / 2^s) without overflow
  return std::uint8_t(std::clamp(v, lo, hi));
}

void run_scalar(int m, const std::uint8_t* a, std::ptrdiff_t lda, const PackedQuadWeights& w, const QuadEpilogue& e) {
  const int k = w.k(), n = w.n(), groups = groups_of(k);
  for (int i = 0; i < m; ++i) {
    const std::uint8_t* row = a + std::ptrdiff_t(i) * lda;
    for (int o = 0; o < n; ++o) {
      const std::int8_t* panel = w.data() + std::ptrdiff_t(o / kPanel) * groups * kPanel * kGroup;
      std::int32_t acc = e.bias ? e.bias[o] : 0;
      for (int j = 0; j < k; ++j)
        acc += std::int32_t(row[j]) * panel[(std::ptrdiff_t(j / kGroup) * kPanel + o % kPanel) * kGroup + j % kGroup];
      if (e.c)
        e.c[std::ptrdiff_t(i) * e.ldc + o] = acc;
      else
        e.codes[std::ptrdiff_t(i) * e.ldcodes + o] = requantize_one(acc, e.shift, e.lo, e.hi);
    }
  }
}

// ------------------------------------------------------------------------------------------- AVX2
#if defined(__GNUC__)
#define AXSIM_AVX2 __attribute__((target("avx2,fma")))
#else
#define AXSIM_AVX2
#endif

alignas(32) const int kLaneMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
AXSIM_AVX2 inline __m256i first_lanes(int count) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMask + 8 - std::clamp(count, 0, 8)));
}

AXSIM_AVX2 inline __m256i quad_dot(__m256i acc, __m256i a, __m256i b, __m256i ones) {
  // u8 x s8 pair sums in int16 (exact: activations <= 127), then pairs of those into int32.
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
}

AXSIM_AVX2 inline std::int32_t load_group(const std::uint8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// requantize_one on 8 lanes.
AXSIM_AVX2 inline __m256i requantize8(__m256i x, __m128i shift, __m128i shift1, __m256i lo, __m256i hi) {
  const __m256i v =
      _mm256_add_epi32(_mm256_sra_epi32(x, shift), _mm256_and_si256(_mm256_sra_epi32(x, shift1), _mm256_set1_epi32(1)));
  return _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
}

// MR rows x one panel (16 outputs; `cols` of them valid).
template <int MR>
AXSIM_AVX2 void tile(int k, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* panel, int row0, int col0,
                     int cols, const QuadEpilogue& e) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  const int full = k / kGroup;
  const std::int8_t* bp = panel;
  for (int q = 0; q < full; ++q, bp += kPanel * kGroup) {
    const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp));
    const __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp + 32));
    for (int r = 0; r < MR; ++r) {
      const __m256i ar = _mm256_set1_epi32(load_group(a + r * lda + q * kGroup));
      acc[r][0] = quad_dot(acc[r][0], ar, b0, ones);
      acc[r][1] = quad_dot(acc[r][1], ar, b1, ones);
    }
  }
  if (const int tail = k - full * kGroup; tail > 0) {  // last partial group: read only the valid bytes
    const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp));
    const __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp + 32));
    for (int r = 0; r < MR; ++r) {
      std::int32_t v = 0;
      std::memcpy(&v, a + r * lda + full * kGroup, std::size_t(tail));
      const __m256i ar = _mm256_set1_epi32(v);
      acc[r][0] = quad_dot(acc[r][0], ar, b0, ones);
      acc[r][1] = quad_dot(acc[r][1], ar, b1, ones);
    }
  }
  // Epilogue in registers.
  __m256i bias0 = _mm256_setzero_si256(), bias1 = _mm256_setzero_si256();
  if (e.bias) {
    bias0 = _mm256_maskload_epi32(e.bias + col0, first_lanes(cols));
    bias1 = _mm256_maskload_epi32(e.bias + col0 + 8, first_lanes(cols - 8));
  }
  if (e.c) {
    for (int r = 0; r < MR; ++r) {
      std::int32_t* out = e.c + std::ptrdiff_t(row0 + r) * e.ldc + col0;
      const __m256i x0 = _mm256_add_epi32(acc[r][0], bias0), x1 = _mm256_add_epi32(acc[r][1], bias1);
      if (cols == kPanel) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), x0);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8), x1);
      } else {
        _mm256_maskstore_epi32(out, first_lanes(cols), x0);
        _mm256_maskstore_epi32(out + 8, first_lanes(cols - 8), x1);
      }
    }
    return;
  }
  const __m128i shift = _mm_cvtsi32_si128(e.shift), shift1 = _mm_cvtsi32_si128(e.shift - 1);
  const __m256i lo = _mm256_set1_epi32(e.lo), hi = _mm256_set1_epi32(e.hi);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int r = 0; r < MR; ++r) {
    const __m256i q0 = requantize8(_mm256_add_epi32(acc[r][0], bias0), shift, shift1, lo, hi);
    const __m256i q1 = requantize8(_mm256_add_epi32(acc[r][1], bias1), shift, shift1, lo, hi);
    // int32 -> int16 -> uint8 (values are already in 0..255), then undo the per-128-bit-lane interleave.
    const __m256i words = _mm256_packs_epi32(q0, q1);         // q0[0..3] q1[0..3] | q0[4..7] q1[4..7]
    const __m256i bytes = _mm256_packus_epi16(words, words);  // dword order: q0a q1a q0a q1a | q0b q1b q0b q1b
    const __m128i packed = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, order));
    std::uint8_t* out = e.codes + std::ptrdiff_t(row0 + r) * e.ldcodes + col0;
    if (cols == kPanel) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), packed);
    } else {
      alignas(16) std::uint8_t tmp[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(tmp), packed);
      std::memcpy(out, tmp, std::size_t(cols));
    }
  }
}

constexpr int kMr = 4;

AXSIM_AVX2 void run_avx2(int m, const std::uint8_t* a, std::ptrdiff_t lda, const PackedQuadWeights& w,
                         const QuadEpilogue& e) {
  const int k = w.k(), n = w.n();
  const std::ptrdiff_t panel_bytes = std::ptrdiff_t(groups_of(k)) * kPanel * kGroup;
  // Rows in blocks that stay in L1 while every panel passes over them (the packed weights stay in L2).
  const int block_rows = std::max(kMr, (16384 / std::max(k, 1)) / kMr * kMr);
  for (int i0 = 0; i0 < m; i0 += block_rows) {
    const int i1 = std::min(m, i0 + block_rows);
    for (int o0 = 0; o0 < n; o0 += kPanel) {
      const std::int8_t* panel = w.data() + std::ptrdiff_t(o0 / kPanel) * panel_bytes;
      const int cols = std::min(kPanel, n - o0);
      int i = i0;
      for (; i + kMr <= i1; i += kMr) tile<kMr>(k, a + std::ptrdiff_t(i) * lda, lda, panel, i, o0, cols, e);
      switch (i1 - i) {
        case 3:
          tile<3>(k, a + std::ptrdiff_t(i) * lda, lda, panel, i, o0, cols, e);
          break;
        case 2:
          tile<2>(k, a + std::ptrdiff_t(i) * lda, lda, panel, i, o0, cols, e);
          break;
        case 1:
          tile<1>(k, a + std::ptrdiff_t(i) * lda, lda, panel, i, o0, cols, e);
          break;
        default:
          break;
      }
    }
  }
}

void add_scaled_rows_scalar(int m, int count, const std::int32_t* deltas, const std::uint32_t* rows,
                            const std::uint8_t* x, std::ptrdiff_t ldx, const std::int32_t* init, std::int32_t* y) {
  if (init != y) std::copy_n(init, m, y);
  for (int e = 0; e < count; ++e) {
    const std::uint8_t* row = x + std::ptrdiff_t(rows[e]) * ldx;
    const std::uint32_t d = std::uint32_t(deltas[e]);
    for (int b = 0; b < m; ++b) y[b] = std::int32_t(std::uint32_t(y[b]) + d * row[b]);  // wraps, no UB
  }
}

// Blocks of 64 accumulators stay in registers while every listed row passes over them.
AXSIM_AVX2 void add_scaled_rows_avx2(int m, int count, const std::int32_t* deltas, const std::uint32_t* rows,
                                     const std::uint8_t* x, std::ptrdiff_t ldx, const std::int32_t* init,
                                     std::int32_t* y) {
  constexpr int kBlock = 64;
  int b0 = 0;
  for (; b0 + kBlock <= m; b0 += kBlock) {
    __m256i acc[8];
    for (int v = 0; v < 8; ++v) acc[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(init + b0 + 8 * v));
    for (int e = 0; e < count; ++e) {
      const std::uint8_t* row = x + std::ptrdiff_t(rows[e]) * ldx + b0;
      const __m256i d = _mm256_set1_epi32(deltas[e]);
      for (int v = 0; v < 8; ++v) {
        const __m256i xv = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + 8 * v)));
        acc[v] = _mm256_add_epi32(acc[v], _mm256_mullo_epi32(xv, d));
      }
    }
    for (int v = 0; v < 8; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + b0 + 8 * v), acc[v]);
  }
  if (b0 < m) add_scaled_rows_scalar(m - b0, count, deltas, rows, x + b0, ldx, init + b0, y + b0);
}

}  // namespace

void add_scaled_rows(int m, int count, const std::int32_t* deltas, const std::uint32_t* rows, const std::uint8_t* x,
                     std::ptrdiff_t ldx, const std::int32_t* init, std::int32_t* y, bool force_scalar) {
  if (m <= 0) return;
  if (!force_scalar && cpu_features().avx2) return add_scaled_rows_avx2(m, count, deltas, rows, x, ldx, init, y);
  add_scaled_rows_scalar(m, count, deltas, rows, x, ldx, init, y);
}

PackedQuadWeights::PackedQuadWeights(int k, int n, const std::int8_t* w, std::ptrdiff_t ldw) : k_(k), n_(n) {
  if (k < 0 || n < 0)
    throw std::invalid_argument("PackedQuadWeights: sizes must be >= 0, got k=" + std::to_string(k) +
                                " n=" + std::to_string(n));
  if (ldw < k) throw std::invalid_argument("PackedQuadWeights: ldw = " + std::to_string(ldw) + " < k");
  if (w == nullptr && k > 0 && n > 0) throw std::invalid_argument("PackedQuadWeights: W is null");
  const int groups = groups_of(k), panels = (n + kPanel - 1) / kPanel;
  const std::size_t bytes = std::size_t(panels) * groups * kPanel * kGroup;
  void* memory = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  if (memory == nullptr) throw std::bad_alloc();
  std::shared_ptr<std::int8_t> data(static_cast<std::int8_t*>(memory), [](std::int8_t* p) { std::free(p); });
  std::int8_t* dst = data.get();
  for (int p = 0; p < panels; ++p)
    for (int q = 0; q < groups; ++q)
      for (int j = 0; j < kPanel; ++j)
        for (int g = 0; g < kGroup; ++g) {
          const int o = p * kPanel + j, kk = q * kGroup + g;
          *dst++ = (o < n && kk < k) ? w[std::ptrdiff_t(o) * ldw + kk] : std::int8_t(0);
        }
  data_ = std::move(data);
}

void gemm_u7s8_fused(int m, const std::uint8_t* a, std::ptrdiff_t lda, const PackedQuadWeights& w,
                     const QuadEpilogue& e, bool force_scalar) {
  if (w.empty()) fail("the packed weights are empty");
  if (m < 0) fail("m must be >= 0, got " + std::to_string(m));
  if (lda < w.k()) fail("lda = " + std::to_string(lda) + " is smaller than k = " + std::to_string(w.k()));
  if (m == 0 || w.n() == 0) return;
  if (a == nullptr && w.k() > 0) fail("A is null");
  if (e.c) {
    if (e.ldc < w.n()) fail("ldc = " + std::to_string(e.ldc) + " is smaller than n = " + std::to_string(w.n()));
  } else {
    if (!e.codes) fail("neither int32 outputs nor codes given");
    if (e.ldcodes < w.n())
      fail("ldcodes = " + std::to_string(e.ldcodes) + " is smaller than n = " + std::to_string(w.n()));
    if (e.shift < 1 || e.shift > 31) fail("shift must be in [1, 31], got " + std::to_string(e.shift));
    if (e.lo < 0 || e.hi > 255 || e.lo > e.hi)
      fail("code range [" + std::to_string(e.lo) + ", " + std::to_string(e.hi) + "] is not inside [0, 255]");
  }
  if (!force_scalar && cpu_features().avx2) return run_avx2(m, a, lda, w, e);
  run_scalar(m, a, lda, w, e);
}

}  // namespace axsim::kernels
