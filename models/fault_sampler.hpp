// Sparse Bernoulli sampling by geometric skips: the positions of independent faults (probability p
// each) in a stream of n bits or words. Memory faults are rare (p ~ 1e-4..1e-2), so instead of one
// random draw per bit we draw the GAP to the next fault, gap = floor(log(U) / log(1-p)) with U in
// (0, 1], which is geometric: P(gap >= k) = (1-p)^k. The cost is one draw per fault, not per bit.
// Every fault channel (models/fault_channel.hpp) samples through this class, so the trainer and the
// simulator see the same fault process.
#pragma once

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.hpp"

namespace axsim {

class FaultSampler {
 public:
  // p in [0, 1] (throws std::invalid_argument otherwise, also for NaN). Rate limits that depend on the
  // physics (a bit-error rate is at most 0.5) are checked by the channels, not here.
  explicit FaultSampler(double p);

  double p() const { return p_; }
  // True when no fault can occur (p == 0, or p below DBL_MIN: fewer than 1e-289 expected faults in
  // any stream shorter than 2^64 positions). Such a sampler makes no random draws.
  bool never() const { return never_; }
  // True when p == 1: every position is faulty, and no random draws are made.
  bool always() const { return always_; }

  // Number of fault-free positions before the next fault; a result >= limit means "no fault among
  // the next `limit` positions". Never overflows, however small p is.
  std::uint64_t next_gap(CounterRng& rng, std::uint64_t limit) const {
    if (never_) return limit;
    if (always_) return 0;
    // log(U) <= 0 and inv_log_q_ < 0, so the product is >= 0 and the integer conversion (truncation)
    // is the floor (std::floor would be a libm call without SSE4.1). Compared in double before the
    // conversion so that a huge gap (tiny p) cannot overflow the integer.
    const double gap = std::log(rng.uniform_pos()) * inv_log_q_;
    return gap < double(limit) ? std::uint64_t(gap) : limit;
  }

  // Calls on_fault(position) for every faulty position in [0, n), in increasing order; returns the
  // number of faults.
  template <class OnFault>
  std::uint64_t for_each_fault(std::uint64_t n, CounterRng& rng, OnFault&& on_fault) const {
    std::uint64_t count = 0;
    for (std::uint64_t pos = 0; pos < n; ++pos, ++count) {
      const std::uint64_t remaining = n - pos;
      const std::uint64_t gap = next_gap(rng, remaining);
      if (gap >= remaining) break;
      pos += gap;
      on_fault(pos);
    }
    return count;
  }

  // Word-level faults (erasure): on_fault(word) for each of n_words words faulty with probability p.
  template <class OnFault>
  std::uint64_t for_each_faulty_word(std::uint64_t n_words, CounterRng& rng, OnFault&& on_fault) const {
    return for_each_fault(n_words, rng, on_fault);
  }

  // Bit-level faults in a block of n_words words of `stored_bits` stored bits each (bit stream
  // position = word * stored_bits + bit): on_fault(word, bit) in increasing order; returns the count.
  // Throws std::invalid_argument if stored_bits is outside [0, 64] or n_words * stored_bits
  // overflows 64 bits.
  template <class OnFault>
  std::uint64_t for_each_faulty_bit(std::uint64_t n_words, int stored_bits, CounterRng& rng, OnFault&& on_fault) const {
    const std::uint64_t n_bits = checked_bit_count(n_words, stored_bits);
    const auto bits = std::uint64_t(stored_bits);
    if (std::has_single_bit(bits)) {  // 8/16/32-bit words: a shift instead of a 64-bit division per fault
      const int shift = std::countr_zero(bits);
      return for_each_fault(n_bits, rng,
                            [&](std::uint64_t pos) { on_fault(pos >> shift, unsigned(pos & (bits - 1))); });
    }
    return for_each_fault(n_bits, rng, [&](std::uint64_t pos) { on_fault(pos / bits, unsigned(pos % bits)); });
  }

  // All faulty positions in [0, n) (for tests and small blocks; the callbacks above avoid the vector).
  std::vector<std::uint64_t> fault_positions(std::uint64_t n, CounterRng& rng) const;

  static std::uint64_t checked_bit_count(std::uint64_t n_words, int stored_bits);

  // The gap for an exponential variate e = -log(U) (ExponentialStream): floor(e / -log(1-p)), capped at
  // limit. Same law as next_gap: P(gap >= k) = P(e >= -k log(1-p)) = (1-p)^k.
  // gap = floor(e * gap_scale()) for 0 < p < 1.
  double gap_scale() const { return -inv_log_q_; }
  std::uint64_t gap_from_exponential(double e, std::uint64_t limit) const {
    if (never_) return limit;
    if (always_) return 0;
    const double gap = e * -inv_log_q_;
    return gap < double(limit) ? std::uint64_t(gap) : limit;
  }

 private:
  double p_;
  double inv_log_q_ = 0;  // 1 / log(1 - p), finite and < 0 when 0 < p < 1
  bool never_ = false;
  bool always_ = false;
};

// ---------------------------------------------------------------------------------------------------------
// Batched variates for the hot per-read path. A scalar draw (one Philox block + libm log per fault) costs
// ~30-40 ns; the simulator's weight buffer at p = 1e-2 sees ~9,000 faulty bits per inference. Here Philox
// blocks are generated 8 at a time with AVX2 and turned into exponentials E = -log(U) with a vectorized
// polynomial log, a few hundred at once; a gap is then one multiply (FaultSampler::gap_from_exponential).
//
// The sequence is a pure function of (seed, stream): variate i uses 32-bit word (i mod 4) of Philox4x32-10
// block i/4 (the block layout of CounterRng: counter {block, stream}, key seed), U = (u + 1/2) 2^-32 in
// (0, 1), E = -log(U). The AVX2 and the portable paths compute bit-identical values (same operations, FMA in
// both), so results depend neither on the machine nor on the batch size nor on the thread count.
// Exactness: U has 2^32 equally likely values, so P(gap >= k) differs from (1-p)^k by at most 2^-32 at every
// k (and E <= 22.9, i.e. gaps beyond 22.9 / -log(1-p) are never drawn: probability 1.2e-10 per draw); the
// polynomial log has a relative error below 1e-15 (tested against std::log).

// E = -log((u[i] + 1/2) 2^-32) for i < n (portable or AVX2 path, same bits).
void exponentials_from_u32(const std::uint32_t* u, double* e, std::size_t n);
// The 4 * n_blocks words of Philox blocks [first_block, first_block + n_blocks) of (seed, stream), in order.
void philox_u32_blocks(std::uint64_t seed, std::uint64_t stream, std::uint64_t first_block, std::size_t n_blocks,
                       std::uint32_t* out);
// Scalar reference of one variate (tests compare the batched paths against it).
double exponential_from_u32_reference(std::uint32_t u);
// True when the AVX2 paths are used on this machine.
bool batched_sampler_uses_avx2();

class ExponentialStream {
 public:
  // Variates are refilled `batch` at a time (a multiple of 32; the first refill is smaller so that short
  // streams stay cheap); the values never depend on it.
  ExponentialStream(std::uint64_t seed, std::uint64_t stream, std::size_t batch = 1024);
  // Restart at variate 0 of (seed, stream), keeping the buffers' memory (the simulator re-keys a bank's stream
  // for every inference).
  void reset(std::uint64_t seed, std::uint64_t stream);

  double next() {
    if (cursor_ == filled_) refill();
    return values_[cursor_++];
  }
  // Index of the next variate in the stream.
  std::uint64_t index() const { return base_ + cursor_; }
  // Hot loops: the buffered variates not yet used (refilled if none), then consume(n) of them.
  std::span<const double> available() {
    if (cursor_ == filled_) refill();
    return {values_.data() + cursor_, filled_ - cursor_};
  }
  void consume(std::size_t n) { cursor_ += n; }

  // Calls on_fault(position) for every faulty position in [0, n) at rate `sampler.p()`, in increasing
  // order, one variate per fault plus the one that overshoots the end; returns the number of faults.
  template <class OnFault>
  std::uint64_t for_each_fault(std::uint64_t n, const FaultSampler& sampler, OnFault&& on_fault) {
    if (sampler.never()) return 0;
    std::uint64_t count = 0;
    for (std::uint64_t pos = 0; pos < n; ++pos, ++count) {
      const std::uint64_t remaining = n - pos;
      const std::uint64_t gap = sampler.gap_from_exponential(next(), remaining);
      if (gap >= remaining) break;
      pos += gap;
      on_fault(pos);
    }
    return count;
  }

 private:
  void refill();

  std::uint64_t seed_, stream_;
  std::size_t batch_;
  std::uint64_t base_ = 0;  // stream index of values_[0]
  std::size_t cursor_ = 0, filled_ = 0;
  std::vector<std::uint32_t> words_;
  std::vector<double> values_;
};

}  // namespace axsim
