#include "models/fault_sampler.hpp"

#include <limits>
#include <stdexcept>
#include <string>

namespace axsim {

FaultSampler::FaultSampler(double p) : p_(p) {
  if (!(p >= 0.0 && p <= 1.0))  // also rejects NaN
    throw std::invalid_argument("FaultSampler: fault probability must be in [0, 1], got " + std::to_string(p));
  // Below DBL_MIN, 1/log1p(-p) is no longer finite; the expected number of faults in any stream we can
  // index is < 2^64 * DBL_MIN ~ 4e-289, so treating the rate as zero changes nothing measurable.
  never_ = p < DBL_MIN;
  always_ = p == 1.0;
  if (!never_ && !always_) inv_log_q_ = 1.0 / std::log1p(-p);
}

std::vector<std::uint64_t> FaultSampler::fault_positions(std::uint64_t n, CounterRng& rng) const {
  std::vector<std::uint64_t> positions;
  for_each_fault(n, rng, [&](std::uint64_t pos) { positions.push_back(pos); });
  return positions;
}

std::uint64_t FaultSampler::checked_bit_count(std::uint64_t n_words, int stored_bits) {
  if (stored_bits < 0 || stored_bits > 64)
    throw std::invalid_argument("FaultSampler: stored bits per word must be in [0, 64], got " +
                                std::to_string(stored_bits));
  if (stored_bits > 0 && n_words > std::numeric_limits<std::uint64_t>::max() / std::uint64_t(stored_bits))
    throw std::invalid_argument("FaultSampler: block of " + std::to_string(n_words) + " words x " +
                                std::to_string(stored_bits) + " bits exceeds 2^64 bits");
  return n_words * std::uint64_t(stored_bits);
}

}  // namespace axsim
