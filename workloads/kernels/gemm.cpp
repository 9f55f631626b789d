// Argument checks, ISA dispatch and the split of one product over OpenMP threads. The kernels
// themselves live in gemm_<isa>.cpp (see gemm_isa.hpp for the contract).
#include "workloads/kernels/gemm.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "workloads/kernels/gemm_isa.hpp"

namespace axsim::kernels {
namespace {

using detail::Int8Kernel;
using detail::SgemmKernel;
using detail::SgemmTile;

// Below this many multiply-adds a product runs on one thread. An OpenMP fork/join of 2 threads
// costs about 1.5 us here (libgomp, threads still spinning from the previous call) and one core
// does about 30 multiply-adds per ns, so splitting pays from roughly 2 * 1.5 us * 30/ns = 90k;
// the margin keeps small products off the barrier, which stalls for milliseconds whenever the
// other core is busy with another process (OpenBLAS also keeps products this small on one thread).
constexpr double kParallelMinMacs = 1 << 18;

[[noreturn]] void fail(const char* function, const std::string& what) {
  throw std::invalid_argument(std::string(function) + ": " + what);
}
// The message is only built when the check fails: these run on every call.
#define AXSIM_GEMM_REQUIRE(ok, function, what) \
  do {                                         \
    if (!(ok)) fail(function, what);           \
  } while (false)

std::string ld_message(const char* name, std::ptrdiff_t ld, std::ptrdiff_t min) {
  return std::string(name) + " = " + std::to_string(ld) + " is smaller than the row width " + std::to_string(min);
}

const SgemmKernel& sgemm_kernel_for(Isa requested) {
  switch (resolve_isa(requested)) {
    case Isa::avx512:
      return detail::kSgemmAvx512;
    case Isa::avx2:
      return detail::kSgemmAvx2;
    default:
      return detail::kSgemmScalar;
  }
}

const Int8Kernel& int8_kernel_for(Isa requested) {
  switch (resolve_isa(requested)) {
    case Isa::avx512:
      return cpu_features().avx512vnni ? detail::kInt8Avx512Vnni : detail::kInt8Avx2;
    case Isa::avx2:
      return detail::kInt8Avx2;
    default:
      return detail::kInt8Scalar;
  }
}

// Per-thread scratch (packed B block, A edge rows, packed int8 A rows), grown on demand and kept for
// the thread's lifetime so steady-state training does not allocate.
std::byte* thread_workspace(std::size_t bytes) {
  thread_local std::vector<std::byte> buffer;
  if (buffer.size() < bytes + 64) buffer.resize(bytes + 64);
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  return buffer.data() + ((64 - address % 64) % 64);
}

// How one product is cut among threads: into `parts` contiguous ranges of whole row tiles
// (over_n false) or whole column panels (over_n true). Tiles are the same for any split, so the
// split never changes a result.
struct Split {
  int threads = 1;
  bool over_n = false;
};

Split choose_split(const GemmOptions& options, int m, int n, int k, int mr, int nr) {
  Split split;
  int threads = 1;
  if (options.team) {
    threads = omp_get_num_threads();  // the caller's team; 1 outside a parallel region
  } else if (!omp_in_parallel()) {
    threads = options.threads > 0 ? options.threads : omp_get_max_threads();
    if (options.threads == 0 && double(m) * n * k < kParallelMinMacs) threads = 1;
  }
  const int m_tiles = (m + mr - 1) / mr, n_panels = (n + nr - 1) / nr;
  split.threads = std::max(1, std::min(threads, std::max(m_tiles, n_panels)));
  if (split.threads <= 1) return split;
  // Estimated per-thread cost in multiply-adds (padded to whole tiles) plus the operand traffic:
  // splitting N packs only its share of B but reads all of A, splitting M the reverse.
  const int t = split.threads;
  const double tile_work_n = double((n_panels + t - 1) / t) * nr * ((m + mr - 1) / mr * mr) * k;
  const double tile_work_m = double((m_tiles + t - 1) / t) * mr * ((n + nr - 1) / nr * nr) * k;
  const double cost_n = tile_work_n + 2.0 * (double(k) * n / t + double(m) * k);
  const double cost_m = tile_work_m + 2.0 * (double(k) * n + double(m) * k / t);
  split.over_n = n_panels >= t && (m_tiles < t || cost_n < cost_m);
  return split;
}

// Part `part` of `parts`: units [U*part/parts, U*(part+1)/parts) of the split dimension.
template <class Run>
void run_part(const Split& split, int part, int parts, int m, int n, int mr, int nr, Run& run) {
  const int units = split.over_n ? (n + nr - 1) / nr : (m + mr - 1) / mr;
  const int first = int(static_cast<long long>(units) * part / parts);
  const int last = int(static_cast<long long>(units) * (part + 1) / parts);
  if (first >= last) return;
  if (split.over_n) {
    run(0, m, first * nr, std::min(n, last * nr));
  } else {
    run(first * mr, std::min(m, last * mr), 0, n);
  }
}

// Runs kernel `run(m0, m1, n0, n1)` over the split: in the caller's team (team mode), in a new
// parallel region, or on the calling thread.
template <class Run>
void run_split(const Split& split, bool team, int m, int n, int mr, int nr, Run run) {
  if (team) {
    const int parts = std::min(split.threads, omp_get_num_threads());
    if (omp_get_thread_num() < parts) run_part(split, omp_get_thread_num(), parts, m, n, mr, nr, run);
#pragma omp barrier
    return;
  }
  if (split.threads <= 1) {
    run(0, m, 0, n);
    return;
  }
#pragma omp parallel num_threads(split.threads)
  run_part(split, omp_get_thread_num(), omp_get_num_threads(), m, n, mr, nr, run);
}

// Team mode promises callers that C is complete when any thread returns.
void team_barrier(const GemmOptions& options) {
  if (options.team) {
#pragma omp barrier
  }
}

}  // namespace

void sgemm(Trans trans_a, Trans trans_b, int m, int n, int k, float alpha, const float* a, std::ptrdiff_t lda,
           const float* b, std::ptrdiff_t ldb, float beta, float* c, std::ptrdiff_t ldc, const GemmOptions& options) {
  const bool ta = trans_a == Trans::yes, tb = trans_b == Trans::yes;
  AXSIM_GEMM_REQUIRE(
      m >= 0 && n >= 0 && k >= 0, "sgemm",
      "sizes must be >= 0, got m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
  AXSIM_GEMM_REQUIRE(lda >= std::max(1, ta ? m : k), "sgemm", ld_message("lda", lda, ta ? m : k));
  AXSIM_GEMM_REQUIRE(ldb >= std::max(1, tb ? k : n), "sgemm", ld_message("ldb", ldb, tb ? k : n));
  AXSIM_GEMM_REQUIRE(ldc >= std::max(1, n), "sgemm", ld_message("ldc", ldc, n));
  const SgemmKernel& kernel = sgemm_kernel_for(options.isa);
  if (m == 0 || n == 0) return team_barrier(options);
  AXSIM_GEMM_REQUIRE(c != nullptr, "sgemm", "C is null");
  if (k == 0 || alpha == 0.0f) {  // BLAS: op(A)*op(B) is not evaluated, C only scaled
    const Split rows{options.team ? omp_get_num_threads() : 1, false};
    run_split(rows, options.team, m, n, 1, n, [&](int m0, int m1, int, int) {
      for (int i = m0; i < m1; ++i) {
        float* row = c + std::ptrdiff_t(i) * ldc;
        for (int j = 0; j < n; ++j) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
      }
    });
    return;
  }
  AXSIM_GEMM_REQUIRE(a != nullptr && b != nullptr, "sgemm", "A or B is null");
  const detail::SgemmArgs args{ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc};
  const detail::SgemmTile& tile = n <= kernel.narrow.nr ? kernel.narrow : kernel.wide;
  const Split split = choose_split(options, m, n, k, tile.mr, tile.nr);
  run_split(split, options.team, m, n, tile.mr, tile.nr, [&](int m0, int m1, int n0, int n1) {
    float* workspace = reinterpret_cast<float*>(thread_workspace(sizeof(float) * detail::sgemm_workspace_floats()));
    tile.run(args, m0, m1, n0, n1, workspace);
  });
}

PackedWeightsS8::PackedWeightsS8(Trans trans_b, int k, int n, const std::int8_t* b, std::ptrdiff_t ldb, Isa isa)
    : k_(k), n_(n) {
  const bool tb = trans_b == Trans::yes;
  AXSIM_GEMM_REQUIRE(k >= 0 && n >= 0, "PackedWeightsS8",
                     "sizes must be >= 0, got k=" + std::to_string(k) + " n=" + std::to_string(n));
  AXSIM_GEMM_REQUIRE(k <= kMaxInt8GemmK, "PackedWeightsS8",
                     "k = " + std::to_string(k) + " exceeds " + std::to_string(kMaxInt8GemmK) +
                         ", beyond which int32 accumulation could overflow");
  AXSIM_GEMM_REQUIRE(ldb >= std::max(1, tb ? k : n), "PackedWeightsS8", ld_message("ldb", ldb, tb ? k : n));
  AXSIM_GEMM_REQUIRE(b != nullptr || k == 0 || n == 0, "PackedWeightsS8", "B is null");
  const Int8Kernel& kernel = int8_kernel_for(isa);
  const std::size_t bytes = (kernel.packed_b_bytes(k, n) + 63) / 64 * 64 + 64;
  void* memory = std::aligned_alloc(64, bytes);
  if (memory == nullptr) throw std::bad_alloc();
  std::shared_ptr<std::byte> data(static_cast<std::byte*>(memory), [](std::byte* p) { std::free(p); });
  kernel.pack_b(tb, k, n, b, ldb, data.get());
  data_ = std::move(data);
  kernel_ = &kernel;
}

Isa PackedWeightsS8::isa() const { return kernel_ ? kernel_->isa : Isa::automatic; }
const char* PackedWeightsS8::kernel_name() const { return kernel_ ? kernel_->name : "none"; }

void gemm_u8s8s32(int m, const std::uint8_t* a, std::ptrdiff_t lda, const PackedWeightsS8& b, std::int32_t* c,
                  std::ptrdiff_t ldc, const GemmOptions& options) {
  AXSIM_GEMM_REQUIRE(!b.empty(), "gemm_u8s8s32", "the packed weights are empty (default-constructed)");
  const Int8Kernel& kernel = *b.kernel();
  AXSIM_GEMM_REQUIRE(options.isa == Isa::automatic || &int8_kernel_for(options.isa) == &kernel, "gemm_u8s8s32",
                     std::string("the weights were packed for the ") + kernel.name + " kernel, not for ISA " +
                         std::string(isa_name(options.isa)));
  const int n = b.n(), k = b.k();
  AXSIM_GEMM_REQUIRE(m >= 0, "gemm_u8s8s32", "m must be >= 0, got " + std::to_string(m));
  AXSIM_GEMM_REQUIRE(lda >= std::max(1, k), "gemm_u8s8s32", ld_message("lda", lda, k));
  AXSIM_GEMM_REQUIRE(ldc >= std::max(1, n), "gemm_u8s8s32", ld_message("ldc", ldc, n));
  if (m == 0 || n == 0) return team_barrier(options);
  AXSIM_GEMM_REQUIRE(c != nullptr && (a != nullptr || k == 0), "gemm_u8s8s32", "A or C is null");
  const detail::Int8Args args{m, n, k, a, lda, b.data(), c, ldc};
  const Split split = choose_split(options, m, n, std::max(k, 1), kernel.mr, kernel.nr);
  run_split(split, options.team, m, n, kernel.mr, kernel.nr, [&](int m0, int m1, int n0, int n1) {
    kernel.run(args, m0, m1, n0, n1, thread_workspace(kernel.workspace_bytes(k)));
  });
}

void gemm_u8s8s32(Trans trans_b, int m, int n, int k, const std::uint8_t* a, std::ptrdiff_t lda, const std::int8_t* b,
                  std::ptrdiff_t ldb, std::int32_t* c, std::ptrdiff_t ldc, const GemmOptions& options) {
  const PackedWeightsS8 packed(trans_b, k, n, b, ldb, options.isa);
  gemm_u8s8s32(m, a, lda, packed, c, ldc, options);
}

}  // namespace axsim::kernels
