// Memory fault channels: measured rates match p within 99.9 % binomial bounds, each channel's
// per-word rule holds (exhaustively for 8-bit words), absent sign bits never fault, per-chip maps
// persist, and results do not depend on the OpenMP thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "models/fault_channel.hpp"
#include "models/fault_sampler.hpp"

using namespace axsim;

namespace {

constexpr double kZ999 = 3.29;  // two-sided 99.9 % normal quantile

bool in_wilson_bounds(std::uint64_t k, std::uint64_t n, double p, double z = kZ999) {
  const double nn = double(n), kk = double(k), z2 = z * z;
  const double center = (kk + z2 / 2) / (nn + z2);
  const double half = z / (nn + z2) * std::sqrt(kk * (nn - kk) / nn + z2 / 4);
  return p >= center - half && p <= center + half;
}

// Random values representable in `layout` (the channels' precondition).
template <class Word>
std::vector<Word> random_words(std::size_t n, WordLayout layout, std::uint64_t seed) {
  CounterRng rng(seed, 99);
  std::vector<Word> words(n);
  for (auto& w : words) {
    if (layout.bits == 1 && layout.has_sign_bit) {
      w = (rng.next_u64() >> 63) ? 1 : -1;
    } else {
      const std::uint32_t code = std::uint32_t(rng.next_u64()) & stored_mask(layout);
      w = Word(decode_word(code, layout));
    }
  }
  return words;
}

std::shared_ptr<const FaultChannel> channel(const char* name) { return make_fault_channel(name); }

const WordLayout kInt8{8, true};
const WordLayout kUint8{8, false};  // activation after ReLU: 7 stored bits

}  // namespace

// ---------------------------------------------------------------- registry and codec

TEST(FaultChannel, RegistryMakesEveryChannelByName) {
  for (std::string_view name : fault_channel_names()) EXPECT_EQ(make_fault_channel(name)->name(), name);
  EXPECT_EQ(fault_channel_names().size(), 5u);
  EXPECT_EQ(channel("stuck_at")->natural_persistence(), Persistence::per_chip);
  EXPECT_EQ(channel("erasure")->unit(), FaultUnit::word);
}

TEST(FaultChannel, UnknownNameListsValidNamesAndClosestMatch) {
  try {
    make_fault_channel("bitmask", "hw.yaml", "line 7, key weight_sram.fault_channel");
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("hw.yaml:line 7"), std::string::npos) << msg;
    for (std::string_view name : fault_channel_names()) EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_EQ(e.info().hint, "bit_mask");
    EXPECT_NE(msg.find("'bitmask'"), std::string::npos) << msg;
  }
  EXPECT_EQ(parse_persistence("per_chip"), Persistence::per_chip);
  EXPECT_EQ(parse_persistence("per_read"), Persistence::per_read);
  try {
    parse_persistence("perchip");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.info().hint, "per_chip");
  }
}

TEST(FaultChannel, WordCodecRoundTrips) {
  for (WordLayout layout : {WordLayout{8, true}, WordLayout{6, true}, WordLayout{16, true}, WordLayout{32, true}}) {
    const std::int64_t lo = -(std::int64_t(1) << (layout.bits - 1)), hi = (std::int64_t(1) << (layout.bits - 1)) - 1;
    for (std::int64_t v : {lo, lo + 1, std::int64_t(-1), std::int64_t(0), std::int64_t(1), hi}) {
      EXPECT_EQ(decode_word(encode_word(v, layout), layout), v) << layout.bits;
      EXPECT_EQ(encode_word(v, layout) & ~((layout.bits == 32) ? ~0u : (1u << layout.bits) - 1), 0u);
    }
  }
  EXPECT_EQ(decode_word(0x80, kInt8), -128);
  EXPECT_EQ(decode_word(0x7F, kUint8), 127);
  EXPECT_EQ(stored_mask(kUint8), 0x7Fu);
  EXPECT_EQ(stored_mask(kInt8), 0xFFu);
  // BinaryConnect weight: stored bit 1 = +1, 0 = -1.
  const WordLayout binary{1, true};
  EXPECT_EQ(encode_word(1, binary), 1u);
  EXPECT_EQ(encode_word(-1, binary), 0u);
  EXPECT_EQ(decode_word(0, binary), -1);
  EXPECT_EQ(decode_word(1, binary), 1);
}

// ---------------------------------------------------------------- rates

TEST(FaultChannel, FlipRateMatchesPAndFlipsExactlyTheFaultyBits) {
  const auto flip = channel("flip");
  for (double p : {1e-4, 1e-2, 0.3}) {
    const std::size_t n = p < 1e-3 ? (std::size_t(1) << 22) : (std::size_t(1) << 18);
    const auto original = random_words<std::int8_t>(n, kInt8, 1);
    auto words = original;
    const FaultStats s = flip->apply(std::span(words), kInt8, p, 42, stream_id({1, std::uint64_t(p * 1e6)}));
    EXPECT_EQ(s.words_read, n);
    EXPECT_EQ(s.bits_read, 8 * n);
    EXPECT_TRUE(in_wilson_bounds(s.faulty_bits, s.bits_read, p))
        << "p=" << p << " measured " << double(s.faulty_bits) / double(s.bits_read);
    // Every faulty cell flips its bit, so the Hamming distance equals the faulty-bit count.
    std::uint64_t flipped = 0, changed = 0;
    for (std::size_t i = 0; i < n; ++i) {
      flipped += std::popcount(std::uint8_t(original[i] ^ words[i]));
      changed += original[i] != words[i];
    }
    EXPECT_EQ(flipped, s.faulty_bits);
    EXPECT_EQ(changed, s.words_changed);
    EXPECT_EQ(changed, s.faulty_words);  // flip changes every word with a faulty cell
  }
}

TEST(FaultChannel, FlipMatchesTheSampledPositionsPerWord) {
  const auto flip = channel("flip");
  // Replaying the sampler on the same stream gives the faulty cells; flip must change exactly those.
  auto check = [&](auto word_type, WordLayout layout) {
    using Word = decltype(word_type);
    const std::size_t n = 20000;
    const auto original = random_words<Word>(n, layout, 3);
    auto words = original;
    CounterRng rng(8, 9), replay(8, 9);
    flip->apply(std::span(words), layout, 0.05, rng);
    std::vector<std::uint32_t> expected(n, 0);
    FaultSampler(0.05).for_each_faulty_bit(n, layout.stored_bits(), replay,
                                           [&](std::uint64_t w, unsigned b) { expected[w] |= 1u << b; });
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(encode_word(original[i], layout) ^ encode_word(words[i], layout), expected[i])
          << "word " << i << " layout " << layout.bits << (layout.has_sign_bit ? "s" : "u");
    EXPECT_EQ(rng.index(), replay.index());
  };
  check(std::int8_t{}, kInt8);
  check(std::int8_t{}, WordLayout{6, true});  // sign extension inside a wider container
  check(std::int8_t{}, kUint8);
  check(std::int16_t{}, WordLayout{12, true});
  check(std::int32_t{}, WordLayout{32, true});
  check(std::int32_t{}, WordLayout{20, false});
}

TEST(FaultChannel, FlipWithZeroRateIsIdentity) {
  const auto flip = channel("flip");
  const auto original = random_words<std::int16_t>(100000, WordLayout{16, true}, 4);
  auto words = original;
  CounterRng rng(1, 1);
  const FaultStats s = flip->apply(std::span(words), WordLayout{16, true}, 0.0, rng);
  EXPECT_EQ(words, original);
  EXPECT_EQ(s.bits_read, 1600000u);
  EXPECT_EQ(s.faulty_bits, 0u);
  EXPECT_EQ(s.words_changed, 0u);
  EXPECT_EQ(rng.index(), 0u);  // no draws at p = 0
  flip->apply(std::span(words), WordLayout{16, true}, 0.0, 5, 6);
  EXPECT_EQ(words, original);
}

TEST(FaultChannel, ErasureWordRateMatchesPe) {
  const auto erasure = channel("erasure");
  for (double p_e : {1e-4, 1e-2, 0.3}) {
    const std::size_t n = p_e < 1e-3 ? (std::size_t(1) << 22) : (std::size_t(1) << 18);
    auto original = random_words<std::int8_t>(n, kInt8, 5);
    for (auto& w : original) w = w == 0 ? 1 : w;  // so that every erased word visibly changes
    auto words = original;
    const FaultStats s = erasure->apply(std::span(words), kInt8, p_e, 7, stream_id({2, std::uint64_t(p_e * 1e6)}));
    EXPECT_TRUE(in_wilson_bounds(s.faulty_words, s.words_read, p_e))
        << "p_e=" << p_e << " measured " << double(s.faulty_words) / double(s.words_read);
    EXPECT_EQ(s.faulty_bits, 0u);
    std::uint64_t zeroed = 0;
    bool zero_or_original = true;
    for (std::size_t i = 0; i < n; ++i) {
      zero_or_original = zero_or_original && (words[i] == 0 || words[i] == original[i]);
      zeroed += words[i] == 0;
    }
    EXPECT_TRUE(zero_or_original);
    EXPECT_EQ(zeroed, s.faulty_words);
    EXPECT_EQ(zeroed, s.words_changed);
  }
  // p_e = 1 erases everything; p_e above 1 is rejected.
  auto words = random_words<std::int8_t>(1000, kInt8, 6);
  CounterRng rng(1, 2);
  EXPECT_EQ(erasure->apply(std::span(words), kInt8, 1.0, rng).faulty_words, 1000u);
  EXPECT_TRUE(std::all_of(words.begin(), words.end(), [](std::int8_t w) { return w == 0; }));
  EXPECT_THROW(erasure->apply(std::span(words), kInt8, 1.01, rng), std::invalid_argument);
}

TEST(FaultChannel, BitRatesAboveOneHalfAreRejected) {
  std::vector<std::int8_t> words(10);
  CounterRng rng(1, 2);
  for (const char* name : {"flip", "bit_mask", "word_mask", "stuck_at"}) {
    EXPECT_NO_THROW(channel(name)->apply(std::span(words), kInt8, 0.5, rng)) << name;
    EXPECT_THROW(channel(name)->apply(std::span(words), kInt8, 0.6, rng), std::invalid_argument) << name;
    EXPECT_THROW(channel(name)->apply(std::span(words), kInt8, -1e-3, rng), std::invalid_argument) << name;
    EXPECT_THROW(channel(name)->apply(std::span(words), kInt8, std::nan(""), 1, 2), std::invalid_argument) << name;
  }
  EXPECT_THROW(channel("flip")->apply(std::span(words), WordLayout{9, true}, 0.1, rng), std::invalid_argument);
  EXPECT_THROW(channel("flip")->apply(std::span(words), WordLayout{0, true}, 0.1, rng), std::invalid_argument);
}

// ---------------------------------------------------------------- per-word rules

TEST(FaultChannel, BitMaskExhaustiveOnEightBitWords) {
  const auto bit_mask = channel("bit_mask");
  for (WordLayout layout : {kInt8, kUint8, WordLayout{5, true}}) {
    const std::uint32_t stored = stored_mask(layout);
    const std::uint32_t sign = layout.has_sign_bit ? 1u << (layout.bits - 1) : 0u;
    for (std::uint32_t code = 0; code <= stored; ++code) {
      const std::int64_t v = decode_word(code, layout);
      for (std::uint32_t faulty = 1; faulty <= stored; ++faulty) {
        if (faulty & ~stored) continue;
        const std::int64_t r = bit_mask->corrupt(v, faulty, 0, layout);
        ASSERT_LE(std::llabs(r), std::llabs(v)) << "v=" << v << " faulty=" << faulty;
        ASSERT_GE(r * v, 0) << "sign reversed: v=" << v << " faulty=" << faulty;
        // The exact Minerva rule.
        if (faulty & sign) {
          ASSERT_EQ(r, 0);
        } else {
          const std::uint32_t out = encode_word(r, layout);
          const std::uint32_t sign_fill = (code & sign) ? faulty : 0u;
          ASSERT_EQ(out & faulty, sign_fill) << "v=" << v << " faulty=" << faulty;
          ASSERT_EQ(out & ~faulty, code & ~faulty);
        }
      }
    }
  }
  // A faulty BinaryConnect bit is its sign: the weight is masked to 0.
  EXPECT_EQ(bit_mask->corrupt(1, 1, 0, WordLayout{1, true}), 0);
  EXPECT_EQ(bit_mask->corrupt(-1, 1, 0, WordLayout{1, true}), 0);
}

TEST(FaultChannel, BitMaskNeverIncreasesMagnitudeInRandomBlocks) {
  const auto bit_mask = channel("bit_mask");
  auto check = [&](auto word_type, WordLayout layout, double p) {
    using Word = decltype(word_type);
    const auto original = random_words<Word>(200000, layout, 8);
    auto words = original;
    const FaultStats s = bit_mask->apply(std::span(words), layout, p, 3, stream_id({4, std::uint64_t(layout.bits)}));
    EXPECT_GT(s.words_changed, 0u);
    for (std::size_t i = 0; i < words.size(); ++i) {
      ASSERT_LE(std::llabs(words[i]), std::llabs(original[i]));
      ASSERT_GE(std::int64_t(words[i]) * std::int64_t(original[i]), 0);
    }
  };
  check(std::int8_t{}, kInt8, 0.3);
  check(std::int16_t{}, WordLayout{16, true}, 0.01);
  check(std::int32_t{}, WordLayout{20, true}, 0.01);
  check(std::int32_t{}, WordLayout{24, false}, 0.05);
}

TEST(FaultChannel, WordMaskZeroesExactlyTheWordsWithFaultyCells) {
  const auto word_mask = channel("word_mask");
  auto original = random_words<std::int8_t>(100000, kInt8, 9);
  for (auto& w : original) w = w == 0 ? 1 : w;
  auto words = original;
  CounterRng rng(10, 11), replay(10, 11);
  const FaultStats s = word_mask->apply(std::span(words), kInt8, 0.02, rng);
  std::vector<bool> faulty(words.size(), false);
  FaultSampler(0.02).for_each_faulty_bit(words.size(), 8, replay, [&](std::uint64_t w, unsigned) { faulty[w] = true; });
  std::uint64_t zeroed = 0;
  for (std::size_t i = 0; i < words.size(); ++i) {
    ASSERT_EQ(words[i], faulty[i] ? 0 : original[i]) << i;
    zeroed += words[i] == 0;
  }
  EXPECT_EQ(zeroed, s.faulty_words);
  EXPECT_TRUE(in_wilson_bounds(s.faulty_bits, s.bits_read, 0.02));
}

TEST(FaultChannel, StuckAtReadsStuckValuesInFaultyCellsOnly) {
  const auto stuck = channel("stuck_at");
  for (std::int64_t v : {-128, -37, -1, 0, 1, 100, 127})
    for (std::uint32_t faulty : {0x01u, 0x80u, 0x5Au, 0xFFu})
      for (std::uint32_t ones : {0x00u, 0xFFu, 0x0Fu}) {
        const std::uint32_t out = encode_word(stuck->corrupt(v, faulty, ones, kInt8), kInt8);
        EXPECT_EQ(out & faulty, ones & faulty);
        EXPECT_EQ(out & ~faulty & 0xFFu, encode_word(v, kInt8) & ~faulty);
      }
  // per_read stuck_at: half of the faulty cells already hold their stuck value and do not change.
  const auto original = random_words<std::int8_t>(1 << 18, kInt8, 12);
  auto words = original;
  const FaultStats s = stuck->apply(std::span(words), kInt8, 0.1, 13, 14);
  std::uint64_t flipped = 0;
  for (std::size_t i = 0; i < words.size(); ++i) flipped += std::popcount(std::uint8_t(original[i] ^ words[i]));
  EXPECT_TRUE(in_wilson_bounds(s.faulty_bits, s.bits_read, 0.1));
  EXPECT_TRUE(in_wilson_bounds(flipped, s.faulty_bits, 0.5)) << flipped << " of " << s.faulty_bits;
}

TEST(FaultChannel, BinaryWeightsInIntegerWordsFlipSign) {
  const auto flip = channel("flip");
  const WordLayout binary{1, true};
  const auto original = random_words<std::int8_t>(1 << 18, binary, 15);
  auto words = original;
  const FaultStats s = flip->apply(std::span(words), binary, 0.2, 16, 17);
  std::uint64_t negated = 0;
  for (std::size_t i = 0; i < words.size(); ++i) {
    ASSERT_TRUE(words[i] == original[i] || words[i] == -original[i]);
    negated += words[i] == -original[i];
  }
  EXPECT_EQ(negated, s.faulty_bits);
  EXPECT_TRUE(in_wilson_bounds(s.faulty_bits, s.bits_read, 0.2));
}

// ---------------------------------------------------------------- activations

TEST(FaultChannel, ActivationWordsNeverFaultTheirAbsentSignBit) {
  // Unsigned 8-bit activations store 7 bits: bit 7 must never change and values stay in [0, 127].
  for (const char* name : {"flip", "bit_mask", "stuck_at", "word_mask"}) {
    const auto ch = channel(name);
    FaultStats total;
    bool in_range = true, bit7_untouched = true;
    for (std::uint64_t draw = 0; draw < 8; ++draw) {
      const auto original = random_words<std::int8_t>(20000, kUint8, 100 + draw);
      auto words = original;
      total += ch->apply(std::span(words), kUint8, 0.3, 18, stream_id({5, draw}));
      auto map_words = original;
      total += ch->apply(std::span(map_words), kUint8, ch->draw_map(20000, kUint8, 0.3, 19, draw), 0);
      for (const auto* out : {&words, &map_words})
        for (std::size_t i = 0; i < out->size(); ++i) {
          in_range = in_range && (*out)[i] >= 0;  // an int8 >= 0 is in [0, 127]
          bit7_untouched = bit7_untouched && ((std::uint8_t((*out)[i]) ^ std::uint8_t(original[i])) & 0x80u) == 0;
        }
    }
    EXPECT_TRUE(in_range) << name;
    EXPECT_TRUE(bit7_untouched) << name;
    EXPECT_EQ(total.bits_read, 7 * total.words_read) << name;
    EXPECT_TRUE(in_wilson_bounds(total.faulty_bits, total.bits_read, 0.3)) << name;
  }
}

// ---------------------------------------------------------------- per-chip maps

TEST(FaultChannel, ChipMapDensityMatchesP) {
  const auto flip = channel("flip");
  for (double p : {1e-4, 1e-2, 0.3}) {
    const std::uint64_t n_words = p < 1e-3 ? (1u << 23) : (1u << 17);
    const FaultMap map = flip->draw_map(n_words, kInt8, p, 21, 22);
    EXPECT_TRUE(in_wilson_bounds(map.cells().size(), 8 * n_words, p)) << "p=" << p;
    // Stuck values are fair coins.
    const auto ones =
        std::count_if(map.cells().begin(), map.cells().end(), [](const FaultCell& c) { return c.stuck_one; });
    EXPECT_TRUE(in_wilson_bounds(std::uint64_t(ones), map.cells().size(), 0.5)) << "p=" << p;
  }
  // Word-level maps (erasure).
  const FaultMap words = channel("erasure")->draw_map(1 << 20, kInt8, 0.02, 23, 24);
  EXPECT_EQ(words.unit(), FaultUnit::word);
  EXPECT_TRUE(in_wilson_bounds(words.cells().size(), 1 << 20, 0.02));
}

TEST(FaultChannel, ChipMapIsReappliedOnEveryRead) {
  for (const char* name : {"flip", "bit_mask", "word_mask", "stuck_at", "erasure"}) {
    const auto ch = channel(name);
    const FaultMap map = ch->draw_map(100000, kInt8, 0.01, 31, 32);
    const auto stored = random_words<std::int8_t>(100000, kInt8, 33);
    auto read1 = stored, read2 = stored;
    const FaultStats s1 = ch->apply(std::span(read1), kInt8, map, 0);
    const FaultStats s2 = ch->apply(std::span(read2), kInt8, map, 0);
    EXPECT_EQ(read1, read2) << name;
    EXPECT_EQ(s1, s2) << name;
    EXPECT_GT(s1.words_changed, 0u) << name;
    // A read of a sub-block at an offset sees the same cells as the whole-region read.
    std::vector<std::int8_t> part(stored.begin() + 4321, stored.begin() + 54321);
    ch->apply(std::span(part), kInt8, map, 4321);
    EXPECT_TRUE(std::equal(part.begin(), part.end(), read1.begin() + 4321)) << name;
  }
}

TEST(FaultChannel, DifferentChipsHaveDifferentMaps) {
  const auto flip = channel("flip");
  const FaultMap a = flip->draw_map(100000, kInt8, 0.01, 1, 7);
  const FaultMap b = flip->draw_map(100000, kInt8, 0.01, 2, 7);
  const FaultMap c = flip->draw_map(100000, kInt8, 0.01, 1, 8);
  const FaultMap a2 = flip->draw_map(100000, kInt8, 0.01, 1, 7);
  auto same_cells = [](const FaultMap& x, const FaultMap& y) {
    return std::equal(x.cells().begin(), x.cells().end(), y.cells().begin(), y.cells().end(),
                      [](const FaultCell& u, const FaultCell& v) { return u.word == v.word && u.bit == v.bit; });
  };
  EXPECT_TRUE(same_cells(a, a2));
  EXPECT_FALSE(same_cells(a, b));
  EXPECT_FALSE(same_cells(a, c));
}

TEST(FaultChannel, StuckAtCellsReadAsTheirStuckValue) {
  const auto stuck = channel("stuck_at");
  const WordLayout layout{12, true};
  const FaultMap map = stuck->draw_map(50000, layout, 0.05, 41, 42);
  for (std::uint64_t seed : {43, 44}) {  // whatever was written, faulty cells read their stuck value
    const auto stored = random_words<std::int16_t>(50000, layout, seed);
    auto words = stored;
    stuck->apply(std::span(words), layout, map, 0);
    for (const FaultCell& c : map.cells())
      ASSERT_EQ((encode_word(words[c.word], layout) >> c.bit) & 1u, c.stuck_one ? 1u : 0u);
    std::vector<std::uint32_t> faulty(words.size(), 0);
    for (const FaultCell& c : map.cells()) faulty[c.word] |= 1u << c.bit;
    for (std::size_t i = 0; i < words.size(); ++i)
      ASSERT_EQ(encode_word(words[i], layout) & ~faulty[i], encode_word(stored[i], layout) & ~faulty[i]);
  }
}

TEST(FaultChannel, ThinnedChipMapsAreNestedWithTheRightDensity) {
  const FaultMap full = channel("flip")->draw_map(1 << 18, kInt8, 0.1, 51, 52);
  const FaultMap low = full.at_rate(0.01);
  EXPECT_TRUE(in_wilson_bounds(low.cells().size(), 8u << 18, 0.01));
  EXPECT_TRUE(std::includes(
      full.cells().begin(), full.cells().end(), low.cells().begin(), low.cells().end(),
      [](const FaultCell& a, const FaultCell& b) { return a.word != b.word ? a.word < b.word : a.bit < b.bit; }));
  EXPECT_EQ(full.at_rate(0.1).cells().size(), full.cells().size());
  EXPECT_EQ(full.at_rate(0.0).cells().size(), 0u);
  EXPECT_THROW(full.at_rate(0.2), std::invalid_argument);
}

TEST(FaultChannel, MapsFromExplicitCellsAndMismatchesAreChecked) {
  const auto flip = channel("flip");
  const FaultMap map =
      FaultMap::from_cells(4, kInt8, FaultUnit::bit, {{2, 0, 7, false}, {0, 0, 1, true}, {2, 0, 0, false}});
  std::vector<std::int8_t> words{0, 0, 0, 0};
  const FaultStats s = flip->apply(std::span(words), kInt8, map, 0);
  EXPECT_EQ(words, (std::vector<std::int8_t>{2, 0, -127, 0}));
  EXPECT_EQ(s.faulty_bits, 3u);
  EXPECT_EQ(s.faulty_words, 2u);
  EXPECT_EQ(s.words_changed, 2u);
  EXPECT_THROW(FaultMap::from_cells(4, kInt8, FaultUnit::bit, {{4, 0, 0, false}}), std::invalid_argument);
  EXPECT_THROW(FaultMap::from_cells(4, kUint8, FaultUnit::bit, {{0, 0, 7, false}}), std::invalid_argument);
  EXPECT_THROW(FaultMap::from_cells(4, kInt8, FaultUnit::bit, {{1, 0, 3, false}, {1, 0, 3, true}}),
               std::invalid_argument);
  // Wrong unit, wrong stored bits, block outside the region.
  EXPECT_THROW(channel("erasure")->apply(std::span(words), kInt8, map, 0), std::invalid_argument);
  EXPECT_THROW(flip->apply(std::span(words), kUint8, map, 0), std::invalid_argument);
  EXPECT_THROW(flip->apply(std::span(words), kInt8, map, 1), std::invalid_argument);
}

TEST(FaultyMemory, PerChipRepeatsAndPerReadRedraws) {
  const auto stored = random_words<std::int8_t>(4096, kInt8, 61);
  FaultyMemory chip(channel("flip"), Persistence::per_chip, kInt8, 4096, 0.02, 62, 63, /*max_rate=*/0.1);
  FaultyMemory fresh(channel("flip"), Persistence::per_read, kInt8, 4096, 0.02, 62, 63);
  std::vector<std::int8_t> a(stored.begin() + 1024, stored.begin() + 2048), b = a, c = a, d = a;
  chip.read(std::span(a), 1024);
  chip.read(std::span(b), 1024);
  fresh.read(std::span(c), 1024);
  fresh.read(std::span(d), 1024);
  EXPECT_EQ(a, b);
  EXPECT_NE(c, d);
  EXPECT_EQ(chip.totals().words_read, 2048u);
  EXPECT_EQ(chip.totals().faulty_bits, 2 * chip.chip_map().cells_in(1024, 1024).size());
  // Lowering the voltage (higher rate) keeps every cell that was already faulty.
  const auto before = chip.chip_map().cells().size();
  chip.set_rate(0.1);
  EXPECT_GT(chip.chip_map().cells().size(), before);
  EXPECT_THROW(chip.set_rate(0.2), std::invalid_argument);  // above the map's rate
  EXPECT_NO_THROW(fresh.set_rate(0.5));
  std::vector<std::int8_t> outside(10);
  EXPECT_THROW(chip.read(std::span(outside), 4090), std::invalid_argument);
  EXPECT_THROW(fresh.read(std::span(outside), 4090), std::invalid_argument);
}

// ---------------------------------------------------------------- float helpers and threads

TEST(FloatFaults, FlipSignsIsBscOnBinaryWeights) {
  for (double p : {1e-4, 1e-2, 0.3}) {
    std::vector<float> w(p < 1e-3 ? (1u << 23) : (1u << 18));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = (i % 3) ? 1.0f : -1.0f;
    const auto original = w;
    const FaultStats s = flip_signs(std::span(w), p, 71, stream_id({6, std::uint64_t(p * 1e6)}));
    std::uint64_t negated = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      ASSERT_TRUE(w[i] == original[i] || w[i] == -original[i]);
      negated += w[i] != original[i];
    }
    EXPECT_EQ(negated, s.faulty_bits);
    EXPECT_EQ(negated, s.words_changed);
    EXPECT_TRUE(in_wilson_bounds(s.faulty_bits, w.size(), p)) << "p=" << p;
  }
  std::vector<float> w(1000, 1.0f);
  CounterRng rng(1, 2);
  EXPECT_EQ(flip_signs(std::span(w), 0.0, rng).words_changed, 0u);
  EXPECT_EQ(rng.index(), 0u);
  EXPECT_THROW(flip_signs(std::span(w), 0.7, rng), std::invalid_argument);
}

TEST(FloatFaults, EraseRateMatchesPe) {
  for (double p_e : {1e-4, 1e-2, 0.3}) {
    std::vector<float> x(p_e < 1e-3 ? (1u << 23) : (1u << 18), 0.5f);
    const FaultStats s = erase(std::span(x), p_e, 72, stream_id({7, std::uint64_t(p_e * 1e6)}));
    const auto zeros = std::uint64_t(std::count(x.begin(), x.end(), 0.0f));
    EXPECT_EQ(zeros, s.faulty_words);
    EXPECT_EQ(zeros, s.words_changed);
    EXPECT_TRUE(in_wilson_bounds(zeros, x.size(), p_e)) << "p_e=" << p_e;
  }
  std::vector<float> x(1000, 2.0f);
  CounterRng rng(3, 4);
  EXPECT_EQ(erase(std::span(x), 1.0, rng).faulty_words, 1000u);
  EXPECT_THROW(erase(std::span(x), 1.5, rng), std::invalid_argument);
}

TEST(FaultThreads, ResultsDoNotDependOnThreadCount) {
  const int saved = omp_get_max_threads();
  const std::size_t n = 20 * kFaultChunkWords + 123;  // many chunks and a partial one
  const auto original = random_words<std::int8_t>(n, kInt8, 81);
  struct Run {
    std::vector<std::int8_t> flipped, stuck;
    std::vector<float> signs, erased;
    FaultStats s1, s2, s3, s4;
  };
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    Run r{original, original, std::vector<float>(n, 1.0f), std::vector<float>(n, 1.0f), {}, {}, {}, {}};
    r.s1 = channel("flip")->apply(std::span(r.flipped), kInt8, 0.01, 82, 83);
    r.s2 = channel("stuck_at")->apply(std::span(r.stuck), kInt8, 0.01, 82, 84);
    r.s3 = flip_signs(std::span(r.signs), 0.05, 82, 85);
    r.s4 = erase(std::span(r.erased), 0.05, 82, 86);
    return r;
  };
  const Run one = run(1), two = run(2);
  omp_set_num_threads(saved);
  EXPECT_EQ(one.flipped, two.flipped);
  EXPECT_EQ(one.stuck, two.stuck);
  EXPECT_EQ(one.signs, two.signs);
  EXPECT_EQ(one.erased, two.erased);
  EXPECT_EQ(one.s1, two.s1);
  EXPECT_EQ(one.s2, two.s2);
  EXPECT_EQ(one.s3, two.s3);
  EXPECT_EQ(one.s4, two.s4);
  EXPECT_GT(one.s1.words_changed, 0u);
  EXPECT_NE(one.flipped, original);
}
