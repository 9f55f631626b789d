// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11). A draw is a pure function of
// (seed, stream, index), so results depend on what was simulated, never on thread count or on the
// order in which threads ran. Give every independent consumer its own stream id (see stream_id).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace axsim {

// Philox4x32 with 10 rounds: 128-bit counter, 64-bit key -> 128 random bits.
inline std::array<std::uint32_t, 4> philox4x32(std::array<std::uint32_t, 4> ctr, std::array<std::uint32_t, 2> key) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    const std::uint64_t p0 = std::uint64_t(kM0) * ctr[0];
    const std::uint64_t p1 = std::uint64_t(kM1) * ctr[2];
    ctr = {std::uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], std::uint32_t(p1), std::uint32_t(p0 >> 32) ^ ctr[3] ^ key[1],
           std::uint32_t(p0)};
    key[0] += kW0;
    key[1] += kW1;
  }
  return ctr;
}

// A 64-bit finalizer (SplitMix64); used to combine ids into stream numbers.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Combine several ids (layer, trial, inference, bank...) into one stream number.
constexpr std::uint64_t stream_id(std::initializer_list<std::uint64_t> ids) {
  std::uint64_t h = 0x243F6A8885A308D3ull;
  for (std::uint64_t id : ids) h = mix64(h ^ mix64(id));
  return h;
}

// Sequential view of one (seed, stream): draw i is block i/2 of Philox, so skip(n) is O(1).
class CounterRng {
 public:
  CounterRng(std::uint64_t seed, std::uint64_t stream, std::uint64_t start = 0)
      : key_{std::uint32_t(seed), std::uint32_t(seed >> 32)}, stream_(stream), index_(start) {}

  std::uint64_t next_u64() {
    const std::uint64_t block = index_ >> 1;
    if (block != cached_block_) {
      cached_ = philox4x32({std::uint32_t(block), std::uint32_t(block >> 32), std::uint32_t(stream_),
                            std::uint32_t(stream_ >> 32)},
                           key_);
      cached_block_ = block;
    }
    const unsigned half = unsigned(index_ & 1) * 2;
    ++index_;
    return (std::uint64_t(cached_[half + 1]) << 32) | cached_[half];
  }
  std::uint32_t next_u32() { return std::uint32_t(next_u64() >> 32); }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform in (0, 1]: safe for log().
  double uniform_pos() { return double((next_u64() >> 11) + 1) * 0x1.0p-53; }
  // Uniform integer in [0, n) (Lemire's multiply-shift; bias < n / 2^64, negligible here).
  std::uint64_t below(std::uint64_t n) { return std::uint64_t((__uint128_t(next_u64()) * n) >> 64); }
  // Standard normal by Box-Muller (uses two draws, returns one; deterministic per index).
  double normal() {
    const double u1 = uniform_pos(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
  }

  void skip(std::uint64_t n) { index_ += n; }
  std::uint64_t index() const { return index_; }

 private:
  std::array<std::uint32_t, 2> key_;
  std::uint64_t stream_;
  std::uint64_t index_;
  std::uint64_t cached_block_ = ~std::uint64_t(0);
  std::array<std::uint32_t, 4> cached_{};
};

}  // namespace axsim
