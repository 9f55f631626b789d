// FaultSampler::next_gap, batched and bit-identical: the gaps that FaultSampler::for_each_fault draws from
// CounterRng(seed, stream) (draw i = 64-bit word i of the stream, U = ((u >> 11) + 1) 2^-53, gap =
// floor(log(U) / log(1-p))), computed a few hundred at a time. Committed training results (LaNMax, the
// erasure regularizer) were produced with the scalar sampler, so a faster sampler must not change a single
// fault: this one returns exactly the scalar gaps, only cheaper (~2 ns instead of ~30 ns per draw).
//
// How: Philox blocks 8 at a time (philox_u32_blocks, same blocks as CounterRng), U converted exactly, and
// log(U) by a vectorized polynomial whose relative error is ~1e-15. The gap only depends on floor(g), so
// the approximate g is exact enough unless an integer lies within a relative kGapTolerance of it; those
// rare draws (probability ~ 2 g kGapTolerance) are recomputed with std::log, as the scalar sampler does.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "models/fault_sampler.hpp"

namespace axsim {

// Relative margin within which an approximate gap is recomputed with std::log (the approximation's error
// is below 1e-14 relative, see the test; glibc's log is within 1 ulp).
inline constexpr double kGapTolerance = 1e-12;

// gaps[k] = floor(g) of draw first_draw + k of CounterRng(seed, stream), k < n, for 0 < p < 1
// (FaultSampler::next_gap with an unbounded limit; values >= 2^62 mean "no fault for a very long time").
// first_draw and n must be even (whole Philox blocks). `tolerance` is for tests (a large one forces the
// std::log path everywhere).
void geometric_gaps(const FaultSampler& sampler, std::uint64_t seed, std::uint64_t stream, std::uint64_t first_draw,
                    std::size_t n, double* gaps, double tolerance = kGapTolerance);

// The gap sequence of CounterRng(seed, stream) from draw 0, buffered.
class GeometricGapStream {
 public:
  // expected_draws: how many draws the caller will probably consume (sizes the first refill only).
  GeometricGapStream(const FaultSampler& sampler, std::uint64_t seed, std::uint64_t stream, double expected_draws);

  // Same as FaultSampler::for_each_fault(n, CounterRng(seed, stream), on_fault) on a fresh stream:
  // on_fault(position) for every faulty position in [0, n), in increasing order; returns the count.
  template <class OnFault>
  std::uint64_t for_each_fault(std::uint64_t n, OnFault&& on_fault) {
    if (sampler_.never()) return 0;
    if (sampler_.always()) {
      for (std::uint64_t pos = 0; pos < n; ++pos) on_fault(pos);
      return n;
    }
    std::uint64_t count = 0;
    for (std::uint64_t pos = 0; pos < n; ++pos, ++count) {
      if (cursor_ == filled_) refill();
      const double gap = gaps_[cursor_++];
      if (gap >= double(n - pos)) break;
      pos += std::uint64_t(gap);
      on_fault(pos);
    }
    return count;
  }

 private:
  static constexpr std::size_t kBatch = 512;
  void refill();

  FaultSampler sampler_;
  std::uint64_t seed_, stream_;
  std::uint64_t next_draw_ = 0;
  std::size_t first_batch_;
  std::size_t cursor_ = 0, filled_ = 0;
  std::array<double, kBatch> gaps_;
};

}  // namespace axsim
