#include "workloads/kernels/gemm_u8s8s32.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

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

// The epilogue of one MR x 16 tile: bias, then int32 outputs or requantized uint8 codes.
template <int MR>
AXSIM_AVX2 inline void store_tile(__m256i (*acc)[2], int row0, int col0, int cols, const QuadEpilogue& e) {
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

// The groups of 4 consecutive k (among the k / 4 whole ones) where at least one of rows [0, mr) has a
// nonzero byte, in increasing order; returns how many. A group that is zero in every row adds nothing to
// any accumulator, so the tile skips it: MNIST-like inputs (blank borders, ~80 % zero pixels) have about
// half of their first-layer groups zero across 4 rows (ReLU outputs have zeros too, fewer whole groups).
AXSIM_AVX2 int nonzero_groups(int mr, int full, const std::uint8_t* a, std::ptrdiff_t lda, std::uint32_t* list) {
  int count = 0, q = 0;
  const __m256i zero = _mm256_setzero_si256();
  for (; q + 8 <= full; q += 8) {
    __m256i any = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + q * kGroup));
    for (int r = 1; r < mr; ++r)
      any = _mm256_or_si256(any, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + r * lda + q * kGroup)));
    unsigned mask = ~unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(any, zero)))) & 0xFFu;
    while (mask != 0) {
      list[count++] = std::uint32_t(q + __builtin_ctz(mask));
      mask &= mask - 1;
    }
  }
  for (; q < full; ++q) {
    std::int32_t any = 0;
    for (int r = 0; r < mr; ++r) any |= load_group(a + r * lda + q * kGroup);
    list[count] = std::uint32_t(q);
    count += any != 0;
  }
  return count;
}

// MR rows x NP panels (16 outputs each; outputs [col0, col0 + cols) valid) over the listed whole groups
// and the partial last group (k % 4 bytes, read without going past k).
template <int MR, int NP>
AXSIM_AVX2 __attribute__((noinline)) void tile(int k, const std::uint8_t* a, std::ptrdiff_t lda,
                                               const std::int8_t* panel, std::ptrdiff_t panel_bytes,
                                               const std::uint32_t* list, int count, int row0, int col0, int cols,
                                               const QuadEpilogue& e) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[NP][MR][2];
  for (int p = 0; p < NP; ++p)
    for (int r = 0; r < MR; ++r) acc[p][r][0] = acc[p][r][1] = _mm256_setzero_si256();
  auto step = [&](const std::int8_t* bp, const __m256i* ar) AXSIM_AVX2_LAMBDA {
    for (int p = 0; p < NP; ++p) {
      const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp + p * panel_bytes));
      const __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp + p * panel_bytes + 32));
      for (int r = 0; r < MR; ++r) {
        acc[p][r][0] = quad_dot(acc[p][r][0], ar[r], b0, ones);
        acc[p][r][1] = quad_dot(acc[p][r][1], ar[r], b1, ones);
      }
    }
  };
  const int full = k / kGroup;
  if (count == full) {  // no zero group: a plain sequential pass (no index loads)
    const std::int8_t* bp = panel;
    for (int q = 0; q < full; ++q, bp += kPanel * kGroup) {
      __m256i ar[MR];
      for (int r = 0; r < MR; ++r) ar[r] = _mm256_set1_epi32(load_group(a + r * lda + q * kGroup));
      step(bp, ar);
    }
  } else {
    for (int t = 0; t < count; ++t) {
      const int q = int(list[t]);
      __m256i ar[MR];
      for (int r = 0; r < MR; ++r) ar[r] = _mm256_set1_epi32(load_group(a + r * lda + q * kGroup));
      step(panel + std::ptrdiff_t(q) * (kPanel * kGroup), ar);
    }
  }
  if (const int tail = k - full * kGroup; tail > 0) {  // last partial group: read only the valid bytes
    __m256i ar[MR];
    for (int r = 0; r < MR; ++r) {
      std::int32_t v = 0;
      std::memcpy(&v, a + r * lda + full * kGroup, std::size_t(tail));
      ar[r] = _mm256_set1_epi32(v);
    }
    step(panel + std::ptrdiff_t(full) * (kPanel * kGroup), ar);
  }
  for (int p = 0; p < NP; ++p)
    if (cols > p * kPanel) store_tile<MR>(acc[p], row0, col0 + p * kPanel, std::min(kPanel, cols - p * kPanel), e);
}

// Tile shape, measured on MNIST (1 thread, CPU time): 4 rows x 1 panel beats 1 x 4, 1 x 2, 2 x 1 and
// 2 x 2 with zero-group skipping (4-row lists keep ~48 % of the groups, 1-row lists ~29 %, but one row
// per B load is load-bound) and on dense inputs.
constexpr int kMr = 4;
constexpr int kNp = 1;

AXSIM_AVX2 void run_avx2(int m, const std::uint8_t* a, std::ptrdiff_t lda, const PackedQuadWeights& w,
                         const QuadEpilogue& e) {
  const int k = w.k(), n = w.n(), full = k / kGroup, panels = (n + kPanel - 1) / kPanel;
  const std::ptrdiff_t panel_bytes = std::ptrdiff_t(groups_of(k)) * kPanel * kGroup;
  // Rows in blocks that stay in L1 while every panel passes over them (the packed weights stay in L2).
  const int block_rows = std::max(kMr, (16384 / std::max(k, 1)) / kMr * kMr);
  const int block_tiles = (block_rows + kMr - 1) / kMr;
  // Per-tile lists of nonzero groups, built once per row block and used by every panel. Per-thread
  // buffers that keep their capacity: no allocation in steady state.
  thread_local std::vector<std::uint32_t> list_buffer;
  thread_local std::vector<int> count_buffer;
  if (list_buffer.size() < std::size_t(block_tiles) * std::size_t(full))
    list_buffer.resize(std::size_t(block_tiles) * std::size_t(full));
  if (count_buffer.size() < std::size_t(block_tiles)) count_buffer.resize(std::size_t(block_tiles));
  std::uint32_t* lists = list_buffer.data();
  int* tile_counts = count_buffer.data();
  for (int i0 = 0; i0 < m; i0 += block_rows) {
    const int i1 = std::min(m, i0 + block_rows);
    for (int t = 0, i = i0; i < i1; ++t, i += kMr)
      tile_counts[t] = nonzero_groups(std::min(kMr, i1 - i), full, a + std::ptrdiff_t(i) * lda, lda,
                                      lists + std::size_t(t) * std::size_t(full));
    for (int p0 = 0; p0 < panels; p0 += kNp) {
      const std::int8_t* panel = w.data() + std::ptrdiff_t(p0) * panel_bytes;
      const int o0 = p0 * kPanel, cols = std::min(kNp * kPanel, n - o0);
      const bool all_panels = p0 + kNp <= panels;
      for (int t = 0, i = i0; i < i1; ++t, i += kMr) {
        const std::uint8_t* rows = a + std::ptrdiff_t(i) * lda;
        const std::uint32_t* list = lists + std::size_t(t) * std::size_t(full);
        const int mr = std::min(kMr, i1 - i);
        auto run = [&](auto mr_constant, auto np_constant) AXSIM_AVX2_LAMBDA {
          tile<decltype(mr_constant)::value, decltype(np_constant)::value>(k, rows, lda, panel, panel_bytes, list,
                                                                           tile_counts[t], i, o0, cols, e);
        };
        // Full tiles use the configured shape; row and panel remainders use smaller ones (one panel at a
        // time, so no packed panel past the end is read).
        if (mr == kMr && all_panels) {
          run(std::integral_constant<int, kMr>{}, std::integral_constant<int, kNp>{});
          continue;
        }
        for (int p = 0; p < std::min(kNp, panels - p0); ++p) {
          const std::int8_t* one = panel + p * panel_bytes;
          const int oc = o0 + p * kPanel, c = std::min(kPanel, n - oc);
          switch (mr) {
            case 4:
              tile<4, 1>(k, rows, lda, one, panel_bytes, list, tile_counts[t], i, oc, c, e);
              break;
            case 3:
              tile<3, 1>(k, rows, lda, one, panel_bytes, list, tile_counts[t], i, oc, c, e);
              break;
            case 2:
              tile<2, 1>(k, rows, lda, one, panel_bytes, list, tile_counts[t], i, oc, c, e);
              break;
            default:
              tile<1, 1>(k, rows, lda, one, panel_bytes, list, tile_counts[t], i, oc, c, e);
              break;
          }
        }
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

void add_scaled_row_quads_scalar(int m, int quads, const std::int8_t* deltas, const std::uint32_t* rows,
                                 const std::uint8_t* x, std::ptrdiff_t ldx, const std::int32_t* init, std::int32_t* y) {
  if (init != y) std::copy_n(init, m, y);
  for (int e = 0; e < 4 * quads; ++e) {
    const std::uint8_t* row = x + std::ptrdiff_t(rows[e]) * ldx;
    const std::uint32_t d = std::uint32_t(std::int32_t(deltas[e]));
    for (int b = 0; b < m; ++b) y[b] = std::int32_t(std::uint32_t(y[b]) + d * row[b]);  // wraps, no UB
  }
}

// Four interleaved feature rows times four int8 deltas, added to 32 inputs' accumulators. The in-lane
// byte/word unpacks leave the inputs in the order [0-3 | 16-19], [4-7 | 20-23], [8-11 | 24-27],
// [12-15 | 28-31]; the caller permutes init into that order on load and back on store (cross-lane moves
// once per block, not per quad).
AXSIM_AVX2 inline void quad_rows32(__m256i* acc, const std::uint8_t* r0, const std::uint8_t* r1, const std::uint8_t* r2,
                                   const std::uint8_t* r3, __m256i dq, __m256i ones) {
  const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0));
  const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r1));
  const __m256i x2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r2));
  const __m256i x3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r3));
  const __m256i lo01 = _mm256_unpacklo_epi8(x0, x1), hi01 = _mm256_unpackhi_epi8(x0, x1);
  const __m256i lo23 = _mm256_unpacklo_epi8(x2, x3), hi23 = _mm256_unpackhi_epi8(x2, x3);
  // Each int32 lane now holds one input's four bytes (rows 0..3): 4 corrections per multiply-add.
  acc[0] = quad_dot(acc[0], _mm256_unpacklo_epi16(lo01, lo23), dq, ones);
  acc[1] = quad_dot(acc[1], _mm256_unpackhi_epi16(lo01, lo23), dq, ones);
  acc[2] = quad_dot(acc[2], _mm256_unpacklo_epi16(hi01, hi23), dq, ones);
  acc[3] = quad_dot(acc[3], _mm256_unpackhi_epi16(hi01, hi23), dq, ones);
}

AXSIM_AVX2 inline void load_permuted32(const std::int32_t* init, __m256i* acc) {
  const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(init));
  const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(init + 8));
  const __m256i v2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(init + 16));
  const __m256i v3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(init + 24));
  acc[0] = _mm256_permute2x128_si256(v0, v2, 0x20);
  acc[1] = _mm256_permute2x128_si256(v0, v2, 0x31);
  acc[2] = _mm256_permute2x128_si256(v1, v3, 0x20);
  acc[3] = _mm256_permute2x128_si256(v1, v3, 0x31);
}

AXSIM_AVX2 inline void store_permuted32(const __m256i* acc, std::int32_t* y) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(y), _mm256_permute2x128_si256(acc[0], acc[1], 0x20));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 8), _mm256_permute2x128_si256(acc[2], acc[3], 0x20));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 16), _mm256_permute2x128_si256(acc[0], acc[1], 0x31));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 24), _mm256_permute2x128_si256(acc[2], acc[3], 0x31));
}

// Blocks of 32 inputs in four accumulators, then a scalar tail.
AXSIM_AVX2 void add_scaled_row_quads_avx2(int m, int quads, const std::int8_t* deltas, const std::uint32_t* rows,
                                          const std::uint8_t* x, std::ptrdiff_t ldx, const std::int32_t* init,
                                          std::int32_t* y) {
  const __m256i ones = _mm256_set1_epi16(1);
  int b0 = 0;
  for (; b0 + 32 <= m; b0 += 32) {
    __m256i acc[4];
    load_permuted32(init + b0, acc);
    const std::uint32_t* r = rows;
    const std::int8_t* d = deltas;
    for (int q = 0; q < quads; ++q, r += 4, d += 4) {
      const __m256i dq = _mm256_set1_epi32(load_group(reinterpret_cast<const std::uint8_t*>(d)));
      quad_rows32(acc, x + std::ptrdiff_t(r[0]) * ldx + b0, x + std::ptrdiff_t(r[1]) * ldx + b0,
                  x + std::ptrdiff_t(r[2]) * ldx + b0, x + std::ptrdiff_t(r[3]) * ldx + b0, dq, ones);
    }
    store_permuted32(acc, y + b0);
  }
  if (b0 < m) add_scaled_row_quads_scalar(m - b0, quads, deltas, rows, x + b0, ldx, init + b0, y + b0);
}

void requantize_columns_scalar(int b0, int b1, int o0, int o1, const std::int32_t* const* columns,
                               const QuadEpilogue& e) {
  for (int b = b0; b < b1; ++b)
    for (int o = o0; o < o1; ++o) {
      const std::uint32_t bias = e.bias ? std::uint32_t(e.bias[o]) : 0u;
      e.codes[std::ptrdiff_t(b) * e.ldcodes + o] =
          requantize_one(std::int32_t(std::uint32_t(columns[o][b]) + bias), e.shift, e.lo, e.hi);
    }
}

AXSIM_AVX2 void requantize_columns_avx2(int m, int n, const std::int32_t* const* columns, const QuadEpilogue& e) {
  const __m128i shift = _mm_cvtsi32_si128(e.shift), shift1 = _mm_cvtsi32_si128(e.shift - 1);
  const __m256i lo = _mm256_set1_epi32(e.lo), hi = _mm256_set1_epi32(e.hi);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const int m8 = m / 8 * 8, n8 = n / 8 * 8;
  for (int o = 0; o < n8; o += 8) {
    const __m256i bias =
        e.bias ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.bias + o)) : _mm256_setzero_si256();
    for (int b = 0; b < m8; b += 8) {
      __m256i r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(columns[o + i] + b));
      // 8 x 8 transpose: t[i] = input b + i over outputs o .. o + 7.
      const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
      const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
      const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
      const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
      const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
      const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
      const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
      const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
      const __m256i t[8] = {_mm256_permute2x128_si256(u0, u4, 0x20), _mm256_permute2x128_si256(u1, u5, 0x20),
                            _mm256_permute2x128_si256(u2, u6, 0x20), _mm256_permute2x128_si256(u3, u7, 0x20),
                            _mm256_permute2x128_si256(u0, u4, 0x31), _mm256_permute2x128_si256(u1, u5, 0x31),
                            _mm256_permute2x128_si256(u2, u6, 0x31), _mm256_permute2x128_si256(u3, u7, 0x31)};
      for (int i = 0; i < 8; i += 2) {
        const __m256i q0 = requantize8(_mm256_add_epi32(t[i], bias), shift, shift1, lo, hi);
        const __m256i q1 = requantize8(_mm256_add_epi32(t[i + 1], bias), shift, shift1, lo, hi);
        const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(q0, q1), _mm256_setzero_si256());
        const __m128i packed = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, order));  // b+i, b+i+1
        _mm_storel_epi64(reinterpret_cast<__m128i*>(e.codes + std::ptrdiff_t(b + i) * e.ldcodes + o), packed);
        // Unaligned 8-byte store of the high half (movhpd through a double* is flagged by UBSan when the
        // row is not 8-byte aligned; _mm_storel_epi64 takes an unaligned pointer type).
        _mm_storel_epi64(reinterpret_cast<__m128i*>(e.codes + std::ptrdiff_t(b + i + 1) * e.ldcodes + o),
                         _mm_unpackhi_epi64(packed, packed));
      }
    }
  }
  requantize_columns_scalar(m8, m, 0, n, columns, e);   // input tail, every output
  requantize_columns_scalar(0, m8, n8, n, columns, e);  // output tail
}

}  // namespace

void requantize_columns(int m, int n, const std::int32_t* const* columns, const QuadEpilogue& e, bool force_scalar) {
  if (m < 0 || n < 0) fail("requantize_columns: sizes must be >= 0");
  if (m == 0 || n == 0) return;
  if (!e.codes || columns == nullptr) fail("requantize_columns: codes and columns are required");
  if (e.ldcodes < n) fail("requantize_columns: ldcodes is smaller than n");
  if (e.shift < 1 || e.shift > 31) fail("shift must be in [1, 31], got " + std::to_string(e.shift));
  if (e.lo < 0 || e.hi > 255 || e.lo > e.hi)
    fail("code range [" + std::to_string(e.lo) + ", " + std::to_string(e.hi) + "] is not inside [0, 255]");
  if (!force_scalar && cpu_features().avx2) return requantize_columns_avx2(m, n, columns, e);
  requantize_columns_scalar(0, m, 0, n, columns, e);
}

void add_scaled_row_quads(int m, int quads, const std::int8_t* deltas, const std::uint32_t* rows, const std::uint8_t* x,
                          std::ptrdiff_t ldx, const std::int32_t* init, std::int32_t* y, bool force_scalar) {
  if (m <= 0) return;
  if (!force_scalar && cpu_features().avx2) return add_scaled_row_quads_avx2(m, quads, deltas, rows, x, ldx, init, y);
  add_scaled_row_quads_scalar(m, quads, deltas, rows, x, ldx, init, y);
}

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
