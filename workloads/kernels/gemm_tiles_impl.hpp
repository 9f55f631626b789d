// Register-blocked GEMM tiles and their loops, written once over a small "vector traits" type and
// instantiated by each per-ISA file (gemm_scalar.cpp, gemm_avx2.cpp, gemm_avx512.cpp) inside its
// own target region. So the loops, packing and edge handling tested on one ISA are the same code
// on the others; only the traits (load, broadcast, fma, ...) differ.
//
// Deliberately no #pragma once and no standard-library templates here: this text is compiled once
// per ISA, and everything lives in an anonymous namespace so no ISA's copy can be merged with
// another's at link time (which would run AVX-512 code on a CPU without it).
//
// Needs (included by the caller, before its target pragma): gemm_isa.hpp and <cstring>.

namespace axsim::kernels::detail {
namespace {

inline int min_int(int a, int b) { return a < b ? a : b; }

// ---------------------------------------------------------------- float

// One MR x NR tile of C (NR = NV * V::kWidth) over kc steps of k: every element is the FMA chain
// acc = fma(a_k, b_k, acc) for k in order, starting from 0, then C = fma(alpha, acc, beta*C) (or
// alpha*acc when beta_zero, without reading C). Every step is an explicit multiply or fused
// multiply-add, so compiler contraction (-ffp-contract) cannot make two code paths round
// differently. Only the top-left rows x cols of the tile are
// stored (masked, so edge tiles do the same arithmetic as full ones). A is read in place: row r,
// step k at a[r*lda + k] or, transposed, a[k*lda + r]. B row k of the panel is at b + k*b_stride
// (a packed panel has b_stride = NR; unpacked B is read in place with its ldb).
template <class V, int MR, int NV, bool kATrans>
inline void sgemm_tile(int kc, const float* a, std::ptrdiff_t lda, const float* b, std::ptrdiff_t b_stride, float* c,
                       std::ptrdiff_t ldc, int rows, int cols, float alpha, float beta, bool beta_zero) {
  constexpr int W = V::kWidth;
  typename V::Reg acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  }
  if constexpr (kATrans) {
    for (int k = 0; k < kc; ++k) {
      typename V::Reg bk[NV];
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) bk[v] = V::loadu(b + v * W);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const typename V::Reg ar = V::broadcast(a + r);
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(ar, bk[v], acc[r][v]);
      }
      a += lda;
      b += b_stride;
    }
  } else {
    const float* a_rows[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) a_rows[r] = a + r * lda;
    for (int k = 0; k < kc; ++k) {
      typename V::Reg bk[NV];
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) bk[v] = V::loadu(b + v * W);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const typename V::Reg ar = V::broadcast(a_rows[r] + k);
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(ar, bk[v], acc[r][v]);
      }
      b += b_stride;
    }
  }
  const typename V::Reg va = V::set1(alpha), vb = V::set1(beta);
  if (cols == NV * W) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      if (r >= rows) break;
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        float* dst = c + r * ldc + v * W;
        const typename V::Reg result =
            beta_zero ? V::mul(va, acc[r][v]) : V::fma(va, acc[r][v], V::mul(vb, V::loadu(dst)));
        V::storeu(dst, result);
      }
    }
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      if (r >= rows) break;
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        const int n = min_int(W, cols - v * W);
        if (n <= 0) break;
        float* dst = c + r * ldc + v * W;
        const typename V::Reg result =
            beta_zero ? V::mul(va, acc[r][v]) : V::fma(va, acc[r][v], V::mul(vb, V::loadu_partial(dst, n)));
        V::storeu_partial(dst, result, n);
      }
    }
  }
}

// Packs op(B)[k0:k0+kc, j0:j0+nc] as consecutive kc x NR micro-panels (row k of a panel holds
// its NR columns), zero-padding the last panel's missing columns.
template <class V, int NR>
void sgemm_pack_b(const SgemmArgs& p, int k0, int kc, int j0, int nc, float* out) {
  for (int jp = 0; jp < nc; jp += NR) {
    const int nr = min_int(NR, nc - jp);
    float* panel = out + std::ptrdiff_t(jp / NR) * kc * NR;
    if (nr < NR) std::memset(panel, 0, sizeof(float) * std::size_t(kc) * NR);  // zero padding columns
    if (!p.trans_b) {
      for (int k = 0; k < kc; ++k) {
        const float* src = p.b + std::ptrdiff_t(k0 + k) * p.ldb + j0 + jp;
        float* dst = panel + std::ptrdiff_t(k) * NR;
        for (int j = 0; j < nr; ++j) dst[j] = src[j];
      }
    } else {
      // Transposing: 8 x 8 blocks in registers where the ISA has them, the rest element-wise.
      const float* src = p.b + std::ptrdiff_t(j0 + jp) * p.ldb + k0;
      int k_blocked = 0, j_blocked = 0;
      if constexpr (requires { V::transpose8x8(src, p.ldb, panel, NR); }) {
        k_blocked = kc / 8 * 8;
        j_blocked = nr / 8 * 8;
        for (int k = 0; k < k_blocked; k += 8) {
          for (int j = 0; j < j_blocked; j += 8) {
            V::transpose8x8(src + std::ptrdiff_t(j) * p.ldb + k, p.ldb, panel + std::ptrdiff_t(k) * NR + j, NR);
          }
        }
      }
      for (int j = 0; j < nr; ++j) {
        const float* src_row = src + std::ptrdiff_t(j) * p.ldb;
        for (int k = j < j_blocked ? k_blocked : 0; k < kc; ++k) panel[std::ptrdiff_t(k) * NR + j] = src_row[k];
      }
    }
  }
}

// Copies the last (partial) row tile of op(A), rows i0..i0+mr-1 and steps k0..k0+kc-1, into an
// MR x kc row-major buffer whose missing rows are zero, so the full tile can run on it.
template <int MR>
void sgemm_pack_a_edge(const SgemmArgs& p, int i0, int mr, int k0, int kc, float* out) {
  for (int r = 0; r < MR; ++r) {
    float* dst = out + std::ptrdiff_t(r) * kc;
    if (r >= mr) {
      for (int k = 0; k < kc; ++k) dst[k] = 0.0f;
    } else if (!p.trans_a) {
      const float* src = p.a + std::ptrdiff_t(i0 + r) * p.lda + k0;
      for (int k = 0; k < kc; ++k) dst[k] = src[k];
    } else {
      for (int k = 0; k < kc; ++k) dst[k] = p.a[std::ptrdiff_t(k0 + k) * p.lda + i0 + r];
    }
  }
}

// Packing B pays off when each panel is reused by several row tiles; with few rows (e.g. the
// 6 x 25 weights times a 25 x 36864 im2col matrix of LeNet's first convolution) a non-transposed
// B is read in place instead, and only a partial last panel is packed (for its zero padding).
inline constexpr int kSgemmDirectBMaxRowTiles = 4;

template <class V, int MR, int NV>
void sgemm_range(const SgemmArgs& p, int m0, int m1, int n0, int n1, float* workspace) {
  constexpr int NR = NV * V::kWidth;
  static_assert(kSgemmMc % MR == 0 && kSgemmNc % NR == 0 && MR <= kSgemmMrMax && NR <= kSgemmNrMax,
                "blocking must align with the tile");
  float* packed_b = workspace;
  float* a_edge = packed_b + std::ptrdiff_t(kSgemmKcMax) * kSgemmNc;
  const int k_blocks = sgemm_k_blocks(p.k);
  const bool direct_b = !p.trans_b && (m1 - m0 + MR - 1) / MR <= kSgemmDirectBMaxRowTiles;
  for (int jc = n0; jc < n1; jc += kSgemmNc) {
    const int nc = min_int(kSgemmNc, n1 - jc);
    for (int kb = 0; kb < k_blocks; ++kb) {
      const int k0 = sgemm_k_block_begin(p.k, k_blocks, kb);
      const int kc = sgemm_k_block_begin(p.k, k_blocks, kb + 1) - k0;
      // Later K blocks add onto what the earlier ones wrote.
      const float beta = kb == 0 ? p.beta : 1.0f;
      const bool beta_zero = kb == 0 && p.beta == 0.0f;
      if (!direct_b) sgemm_pack_b<V, NR>(p, k0, kc, jc, nc, packed_b);
      for (int ic = m0; ic < m1; ic += kSgemmMc) {
        const int mc = min_int(kSgemmMc, m1 - ic);
        // A partial last row tile is packed (zero-padded) once and reused for every panel.
        const int edge_row = mc / MR * MR, edge_rows = mc - edge_row;
        if (edge_rows > 0) sgemm_pack_a_edge<MR>(p, ic + edge_row, edge_rows, k0, kc, a_edge);
        for (int jr = 0; jr < nc; jr += NR) {
          const int nr = min_int(NR, nc - jr);
          const float* bp = packed_b + std::ptrdiff_t(jr / NR) * kc * NR;
          std::ptrdiff_t b_stride = NR;
          if (direct_b && nr == NR) {
            bp = p.b + std::ptrdiff_t(k0) * p.ldb + jc + jr;
            b_stride = p.ldb;
          } else if (direct_b) {
            sgemm_pack_b<V, NR>(p, k0, kc, jc + jr, nr, packed_b);
            bp = packed_b;
          }
          for (int ir = 0; ir < mc; ir += MR) {
            const int mr = min_int(MR, mc - ir);
            const int i = ic + ir;
            float* c = p.c + std::ptrdiff_t(i) * p.ldc + jc + jr;
            if (mr < MR) {
              sgemm_tile<V, MR, NV, false>(kc, a_edge, kc, bp, b_stride, c, p.ldc, mr, nr, p.alpha, beta, beta_zero);
            } else if (p.trans_a) {
              sgemm_tile<V, MR, NV, true>(kc, p.a + std::ptrdiff_t(k0) * p.lda + i, p.lda, bp, b_stride, c, p.ldc, mr,
                                          nr, p.alpha, beta, beta_zero);
            } else {
              sgemm_tile<V, MR, NV, false>(kc, p.a + std::ptrdiff_t(i) * p.lda + k0, p.lda, bp, b_stride, c, p.ldc, mr,
                                           nr, p.alpha, beta, beta_zero);
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- int8

// Int8 traits I: kGroup consecutive k are combined per 32-bit lane (the A broadcast unit and one
// column's slot in a packed B row), I::AElem / I::BElem are the packed element types, and
// I::dot(acc, a, b) adds the kGroup exact products of each lane to acc.
inline int round_up(int x, int to) { return (x + to - 1) / to * to; }

template <class I, int NV>
std::size_t int8_packed_b_bytes(int k, int n) {
  constexpr int NR = NV * I::kWidth;
  const std::size_t panels = std::size_t((n + NR - 1) / NR);
  return panels * std::size_t(round_up(k, I::kGroup)) * NR * sizeof(typename I::BElem);
}

// Layout: panel p (NR columns), group q, column j, element g -> B(q*G + g, p*NR + j); zero
// outside B. One group row of a panel is NV vector loads.
template <class I, int NV>
void int8_pack_b(bool trans_b, int k, int n, const std::int8_t* b, std::ptrdiff_t ldb, void* out) {
  constexpr int NR = NV * I::kWidth, G = I::kGroup;
  using BElem = typename I::BElem;
  const int groups = round_up(k, G) / G;
  BElem* dst = static_cast<BElem*>(out);
  for (int j0 = 0; j0 < n; j0 += NR) {
    for (int q = 0; q < groups; ++q) {
      for (int j = 0; j < NR; ++j) {
        for (int g = 0; g < G; ++g) {
          const int kk = q * G + g, jj = j0 + j;
          std::int8_t value = 0;
          if (kk < k && jj < n) value = trans_b ? b[std::ptrdiff_t(jj) * ldb + kk] : b[std::ptrdiff_t(kk) * ldb + jj];
          *dst++ = BElem(value);
        }
      }
    }
  }
}

// Rows of A packed per call: as many as fit in about 96 KiB (L2), a multiple of MR.
template <class I, int MR>
int int8_block_rows(int k) {
  const int row_bytes = round_up(k, I::kGroup) * int(sizeof(typename I::AElem));
  const int rows = (96 * 1024 / (row_bytes > 0 ? row_bytes : 1)) / MR * MR;
  return rows > MR ? rows : MR;
}

template <class I, int MR, int NV>
std::size_t int8_workspace_bytes(int k) {
  return std::size_t(int8_block_rows<I, MR>(k)) * round_up(k, I::kGroup) * sizeof(typename I::AElem);
}

// C tile (top-left rows x cols of MR x NR, masked stores at the edges) = A rows x packed B panel.
template <class I, int MR, int NV>
inline void int8_tile(int groups, const typename I::AElem* a, std::ptrdiff_t a_stride, const typename I::BElem* bp,
                      std::int32_t* c, std::ptrdiff_t ldc, int rows, int cols) {
  constexpr int W = I::kWidth, G = I::kGroup, NR = NV * W;
  typename I::Reg acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[r][v] = I::zero();
  }
  for (int q = 0; q < groups; ++q) {
    typename I::Reg b[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) b[v] = I::load(bp + v * W * G);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const typename I::Reg ar = I::broadcast(a + r * a_stride + q * G);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[r][v] = I::dot(acc[r][v], ar, b[v]);
    }
    bp += NR * G;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= rows) break;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      const int n = min_int(W, cols - v * W);
      if (n == W) {
        I::storeu(c + r * ldc + v * W, acc[r][v]);
      } else if (n > 0) {
        I::storeu_partial(c + r * ldc + v * W, acc[r][v], n);
      }
    }
  }
}

template <class I, int MR, int NV>
void int8_range(const Int8Args& p, int m0, int m1, int n0, int n1, void* workspace) {
  constexpr int NR = NV * I::kWidth, G = I::kGroup;
  using AElem = typename I::AElem;
  using BElem = typename I::BElem;
  const int kg = round_up(p.k, G), groups = kg / G;
  const int block_rows = int8_block_rows<I, MR>(p.k);
  AElem* a_block = static_cast<AElem*>(workspace);
  const BElem* packed_b = static_cast<const BElem*>(p.packed_b);
  for (int ic = m0; ic < m1; ic += block_rows) {
    const int mc = min_int(block_rows, m1 - ic);
    const int mc_padded = round_up(mc, MR);
    for (int r = 0; r < mc_padded; ++r) {
      AElem* dst = a_block + std::ptrdiff_t(r) * kg;
      int k = 0;
      if (r < mc) {
        const std::uint8_t* src = p.a + std::ptrdiff_t(ic + r) * p.lda;
        for (; k < p.k; ++k) dst[k] = AElem(src[k]);
      }
      for (; k < kg; ++k) dst[k] = AElem(0);
    }
    for (int jr = n0; jr < n1; jr += NR) {
      const int nr = min_int(NR, n1 - jr);
      const BElem* bp = packed_b + std::ptrdiff_t(jr / NR) * kg * NR;
      for (int ir = 0; ir < mc; ir += MR) {
        int8_tile<I, MR, NV>(groups, a_block + std::ptrdiff_t(ir) * kg, kg, bp,
                             p.c + std::ptrdiff_t(ic + ir) * p.ldc + jr, p.ldc, min_int(MR, mc - ir), nr);
      }
    }
  }
}

}  // namespace
}  // namespace axsim::kernels::detail
