#include "models/fault_channel.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "core/error.hpp"
#include "models/fault_sampler.hpp"
#include "models/geometric_gaps.hpp"

namespace axsim {

namespace {

constexpr std::uint64_t kNoWord = std::numeric_limits<std::uint64_t>::max();

std::uint32_t low_mask(int bits) { return bits >= 32 ? ~std::uint32_t(0) : (std::uint32_t(1) << bits) - 1; }

bool is_binary(WordLayout layout) { return layout.bits == 1 && layout.has_sign_bit; }

void check_layout(WordLayout layout, int container_bits) {
  if (layout.bits < 1 || layout.bits > container_bits)
    throw std::invalid_argument("fault channel: word layout of " + std::to_string(layout.bits) +
                                " bits does not fit a " + std::to_string(container_bits) + "-bit container");
}

// Below this many expected faults (~50 us of sampling) a parallel region costs more than it saves.
constexpr double kMinFaultsForThreads = 2048;

// Runs body(begin, end, rng) on fixed chunks of n words, chunk c with its own stream, OpenMP over
// chunks; the sum of the per-chunk counts does not depend on the thread count or schedule (and so
// neither on whether the expected number of faults made threads worthwhile).
template <class Body>
FaultStats for_each_chunk(std::uint64_t n, double expected_faults, std::uint64_t seed, std::uint64_t stream,
                          Body&& body) {
  const std::uint64_t n_chunks = (n + kFaultChunkWords - 1) / kFaultChunkWords;
  std::vector<FaultStats> per_chunk(n_chunks);
#pragma omp parallel for schedule(dynamic, 1) if (n_chunks > 1 && expected_faults >= kMinFaultsForThreads)
  for (std::int64_t c = 0; c < std::int64_t(n_chunks); ++c) {
    const std::uint64_t begin = std::uint64_t(c) * kFaultChunkWords;
    const std::uint64_t end = std::min(n, begin + kFaultChunkWords);
    CounterRng rng(seed, stream_id({stream, std::uint64_t(c)}));
    per_chunk[std::size_t(c)] = body(begin, end, rng);
  }
  FaultStats total;
  for (const FaultStats& s : per_chunk) total += s;
  return total;
}

// ---- the channels: each is only its per-word rule; sampling and bookkeeping are shared ----

class FlipChannel final : public FaultChannel {
 public:
  std::string_view name() const override { return "flip"; }
  std::int64_t corrupt(std::int64_t value, std::uint32_t faulty, std::uint32_t, WordLayout layout) const override {
    return decode_word(encode_word(value, layout) ^ faulty, layout);
  }
};

class BitMaskChannel final : public FaultChannel {
 public:
  std::string_view name() const override { return "bit_mask"; }
  std::int64_t corrupt(std::int64_t value, std::uint32_t faulty, std::uint32_t, WordLayout layout) const override {
    // Minerva: faults are detected; a faulty sign bit zeroes the word, other faulty bits take the
    // sign bit's value, which moves the value toward zero (positive: bits cleared; negative two's
    // complement: bits set). Without a stored sign bit the sign is 0, so faulty bits read as 0.
    const std::uint32_t code = encode_word(value, layout);
    if (!layout.has_sign_bit) return decode_word(code & ~faulty, layout);
    const std::uint32_t sign_bit = std::uint32_t(1) << (layout.bits - 1);
    if (faulty & sign_bit) return 0;
    return decode_word((code & sign_bit) ? (code | faulty) : (code & ~faulty), layout);
  }
};

class WordMaskChannel final : public FaultChannel {
 public:
  std::string_view name() const override { return "word_mask"; }
  std::int64_t corrupt(std::int64_t, std::uint32_t, std::uint32_t, WordLayout) const override { return 0; }
};

class ErasureChannel final : public FaultChannel {
 public:
  std::string_view name() const override { return "erasure"; }
  FaultUnit unit() const override { return FaultUnit::word; }
  double max_rate() const override { return 1.0; }
  std::int64_t corrupt(std::int64_t, std::uint32_t, std::uint32_t, WordLayout) const override { return 0; }
};

class StuckAtChannel final : public FaultChannel {
 public:
  std::string_view name() const override { return "stuck_at"; }
  Persistence natural_persistence() const override { return Persistence::per_chip; }
  bool draws_stuck_values() const override { return true; }
  std::int64_t corrupt(std::int64_t value, std::uint32_t faulty, std::uint32_t stuck_ones,
                       WordLayout layout) const override {
    return decode_word((encode_word(value, layout) & ~faulty) | (stuck_ones & faulty), layout);
  }
};

// Replaces one word by its corrupted value; returns 1 if the value changed.
template <class Word>
std::uint64_t corrupt_in_place(const FaultChannel& channel, Word& word, std::uint32_t faulty, std::uint32_t stuck,
                               WordLayout layout) {
  const std::int64_t before = word;
  const std::int64_t after = channel.corrupt(before, faulty, stuck, layout);
  word = Word(after);
  return after != before ? 1 : 0;
}

// Accumulates the faulty cells of one word at a time (cells arrive sorted by word) and corrupts the
// word when the next word starts, so a word is decoded once however many of its cells fail.
template <class Word>
class WordAccumulator {
 public:
  WordAccumulator(const FaultChannel& channel, std::span<Word> words, WordLayout layout, FaultStats& stats)
      : channel_(channel), words_(words), layout_(layout), stats_(stats) {}
  void add(std::uint64_t word, unsigned bit, bool stuck_one) {
    if (word != current_) {
      flush();
      current_ = word;
    }
    faulty_ |= std::uint32_t(1) << bit;
    if (stuck_one) stuck_ |= std::uint32_t(1) << bit;
  }
  void flush() {
    if (current_ == kNoWord) return;
    ++stats_.faulty_words;
    stats_.words_changed += corrupt_in_place(channel_, words_[current_], faulty_, stuck_, layout_);
    current_ = kNoWord;
    faulty_ = stuck_ = 0;
  }

 private:
  const FaultChannel& channel_;
  std::span<Word> words_;
  WordLayout layout_;
  FaultStats& stats_;
  std::uint64_t current_ = kNoWord;
  std::uint32_t faulty_ = 0, stuck_ = 0;
};

std::uint32_t word_fault_mask(WordLayout layout) {
  const std::uint32_t m = stored_mask(layout);
  return m ? m : 1u;
}

// Sparse faults land far apart (p = 1e-3: one every 125 bytes of int8 words, one every 4 KiB of
// floats), so each touches a cold cache line or page. The queue prefetches a fault's word when it is
// sampled and hands the fault on kLookahead faults later, overlapping the memory latency with the
// sampling of the next faults. FIFO, so the order of processing (and the result) is unchanged.
constexpr std::size_t kLookahead = 16;
constexpr std::size_t kPrefetchDistanceCells = 16;

template <class Item>
class PrefetchQueue {
 public:
  template <class Consume>
  void push(const Item& item, const void* address, Consume&& consume) {
    __builtin_prefetch(address, 1);
    if (size_ == kLookahead) {
      consume(items_[head_]);
      items_[head_] = item;
      head_ = (head_ + 1) % kLookahead;
    } else {
      items_[(head_ + size_++) % kLookahead] = item;
    }
  }
  template <class Consume>
  void drain(Consume&& consume) {
    for (; size_ > 0; --size_, head_ = (head_ + 1) % kLookahead) consume(items_[head_]);
  }

 private:
  std::array<Item, kLookahead> items_{};
  std::size_t head_ = 0, size_ = 0;
};

struct BitFault {
  std::uint64_t word;
  unsigned bit;
  bool stuck_one;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string_view to_string(Persistence persistence) {
  return persistence == Persistence::per_chip ? "per_chip" : "per_read";
}

Persistence parse_persistence(std::string_view name, const std::string& file, const std::string& location) {
  if (name == "per_read") return Persistence::per_read;
  if (name == "per_chip") return Persistence::per_chip;
  const std::vector<std::string> valid{"per_read", "per_chip"};
  throw_input_error(file, location, "a fault persistence (per_read, per_chip)", "'" + std::string(name) + "'",
                    closest_match(std::string(name), valid));
}

FaultStats& FaultStats::operator+=(const FaultStats& o) {
  words_read += o.words_read;
  bits_read += o.bits_read;
  faulty_bits += o.faulty_bits;
  faulty_words += o.faulty_words;
  words_changed += o.words_changed;
  return *this;
}

std::uint32_t stored_mask(WordLayout layout) { return low_mask(std::max(0, layout.stored_bits())); }

std::uint32_t encode_word(std::int64_t value, WordLayout layout) {
  if (is_binary(layout)) return value > 0 ? 1u : 0u;
  return std::uint32_t(std::uint64_t(value)) & low_mask(layout.bits);
}

std::int64_t decode_word(std::uint32_t code, WordLayout layout) {
  if (is_binary(layout)) return (code & 1u) ? 1 : -1;
  code &= low_mask(layout.bits);
  if (layout.has_sign_bit && ((code >> (layout.bits - 1)) & 1u))
    return std::int64_t(code) - (std::int64_t(1) << layout.bits);
  return std::int64_t(code);
}

// ---- FaultMap ----

FaultMap FaultMap::draw(std::uint64_t n_words, WordLayout layout, FaultUnit unit, double p, std::uint64_t seed,
                        std::uint64_t stream) {
  FaultMap map;
  map.words_ = n_words;
  map.layout_ = layout;
  map.unit_ = unit;
  map.rate_ = p;
  const FaultSampler sampler(p);
  CounterRng rng(seed, stream);
  // One extra draw per cell: the top bit is the stuck value, the next 24 bits the onset fraction.
  auto add = [&](std::uint64_t word, unsigned bit) {
    const std::uint64_t r = rng.next_u64();
    FaultCell cell;
    cell.word = word;
    cell.bit = std::uint16_t(bit);
    cell.stuck_one = (r >> 63) != 0;
    cell.onset = float(double((r >> 39) & 0xFFFFFF) * 0x1.0p-24 * p);
    map.cells_.push_back(cell);
  };
  if (unit == FaultUnit::word)
    sampler.for_each_faulty_word(n_words, rng, [&](std::uint64_t w) { add(w, 0); });
  else
    sampler.for_each_faulty_bit(n_words, layout.stored_bits(), rng, add);
  return map;
}

FaultMap FaultMap::from_cells(std::uint64_t n_words, WordLayout layout, FaultUnit unit, std::vector<FaultCell> cells) {
  std::sort(cells.begin(), cells.end(),
            [](const FaultCell& a, const FaultCell& b) { return a.word != b.word ? a.word < b.word : a.bit < b.bit; });
  const int bits = unit == FaultUnit::word ? 1 : layout.stored_bits();
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const FaultCell& c = cells[i];
    if (c.word >= n_words || int(c.bit) >= bits)
      throw std::invalid_argument("FaultMap: cell (word " + std::to_string(c.word) + ", bit " + std::to_string(c.bit) +
                                  ") outside a region of " + std::to_string(n_words) + " words x " +
                                  std::to_string(bits) + (unit == FaultUnit::word ? " word cell" : " stored bits"));
    if (i > 0 && cells[i - 1].word == c.word && cells[i - 1].bit == c.bit)
      throw std::invalid_argument("FaultMap: duplicate cell (word " + std::to_string(c.word) + ", bit " +
                                  std::to_string(c.bit) + ")");
  }
  FaultMap map;
  map.words_ = n_words;
  map.layout_ = layout;
  map.unit_ = unit;
  map.rate_ = 1.0;
  map.cells_ = std::move(cells);
  return map;
}

FaultMap FaultMap::at_rate(double p) const {
  if (!(p >= 0.0 && p <= rate_))
    throw std::invalid_argument("FaultMap::at_rate: rate " + std::to_string(p) + " outside [0, " +
                                std::to_string(rate_) + "], the rate the map was drawn at");
  if (p == rate_) return *this;
  FaultMap thinned = *this;
  thinned.rate_ = p;
  thinned.cells_.clear();
  for (const FaultCell& c : cells_)
    if (double(c.onset) < p) thinned.cells_.push_back(c);
  return thinned;
}

std::span<const FaultCell> FaultMap::cells_in(std::uint64_t first_word, std::uint64_t count) const {
  auto by_word = [](const FaultCell& c, std::uint64_t w) { return c.word < w; };
  const auto begin = std::lower_bound(cells_.begin(), cells_.end(), first_word, by_word);
  const std::uint64_t last = count > words_ - std::min(first_word, words_) ? words_ : first_word + count;
  const auto end = std::lower_bound(begin, cells_.end(), last, by_word);
  return {begin, end};
}

// ---- FaultChannel ----

void FaultChannel::check_rate(double p) const {
  if (!(p >= 0.0 && p <= max_rate()))
    throw std::invalid_argument("fault channel '" + std::string(name()) + "': rate must be in [0, " +
                                std::to_string(max_rate()) + "], got " + std::to_string(p));
}

template <class Word>
FaultStats FaultChannel::apply_fresh(std::span<Word> words, WordLayout layout, double p, CounterRng& rng) const {
  check_layout(layout, int(8 * sizeof(Word)));
  check_rate(p);
  const int stored_bits = layout.stored_bits();
  FaultStats stats;
  stats.words_read = words.size();
  stats.bits_read = FaultSampler::checked_bit_count(words.size(), stored_bits);
  const FaultSampler sampler(p);
  if (unit() == FaultUnit::word) {
    const std::uint32_t faulty = word_fault_mask(layout);
    PrefetchQueue<std::uint64_t> queue;
    auto erase_word = [&](std::uint64_t w) {
      stats.words_changed += corrupt_in_place(*this, words[w], faulty, 0, layout);
    };
    stats.faulty_words =
        sampler.for_each_faulty_word(words.size(), rng, [&](std::uint64_t w) { queue.push(w, &words[w], erase_word); });
    queue.drain(erase_word);
    return stats;
  }
  WordAccumulator<Word> acc(*this, words, layout, stats);
  PrefetchQueue<BitFault> queue;
  auto add = [&](const BitFault& f) { acc.add(f.word, f.bit, f.stuck_one); };
  const bool draw_stuck = draws_stuck_values();
  stats.faulty_bits = sampler.for_each_faulty_bit(words.size(), stored_bits, rng, [&](std::uint64_t w, unsigned b) {
    const bool stuck_one = draw_stuck && (rng.next_u64() >> 63) != 0;
    queue.push(BitFault{w, b, stuck_one}, &words[w], add);
  });
  queue.drain(add);
  acc.flush();
  return stats;
}

template <class Word>
FaultStats FaultChannel::apply_chunked(std::span<Word> words, WordLayout layout, double p, std::uint64_t seed,
                                       std::uint64_t stream) const {
  // Validate here: an exception must not escape the OpenMP region.
  check_layout(layout, int(8 * sizeof(Word)));
  check_rate(p);
  if (FaultSampler(p).never()) {
    FaultStats stats;
    stats.words_read = words.size();
    stats.bits_read = FaultSampler::checked_bit_count(words.size(), layout.stored_bits());
    return stats;
  }
  const double expected_faults =
      p * double(words.size()) * (unit() == FaultUnit::word ? 1.0 : double(layout.stored_bits()));
  return for_each_chunk(words.size(), expected_faults, seed, stream,
                        [&](std::uint64_t begin, std::uint64_t end, CounterRng& rng) {
                          return apply_fresh(words.subspan(begin, end - begin), layout, p, rng);
                        });
}

template <class Word>
FaultStats FaultChannel::apply_map(std::span<Word> words, WordLayout layout, const FaultMap& map,
                                   std::uint64_t word_offset) const {
  check_layout(layout, int(8 * sizeof(Word)));
  if (map.unit() != unit())
    throw std::invalid_argument("fault channel '" + std::string(name()) + "': fault map was drawn for " +
                                (map.unit() == FaultUnit::word ? "word" : "bit") + " faults, channel needs " +
                                (unit() == FaultUnit::word ? "word" : "bit") + " faults");
  if (unit() == FaultUnit::bit && map.layout().stored_bits() != layout.stored_bits())
    throw std::invalid_argument("fault channel '" + std::string(name()) + "': fault map has " +
                                std::to_string(map.layout().stored_bits()) + " stored bits per word, block has " +
                                std::to_string(layout.stored_bits()));
  if (word_offset > map.words() || words.size() > map.words() - word_offset)
    throw std::invalid_argument("fault channel '" + std::string(name()) + "': block of " +
                                std::to_string(words.size()) + " words at word " + std::to_string(word_offset) +
                                " exceeds the fault map's region of " + std::to_string(map.words()) + " words");
  FaultStats stats;
  stats.words_read = words.size();
  stats.bits_read = FaultSampler::checked_bit_count(words.size(), layout.stored_bits());
  const auto cells = map.cells_in(word_offset, words.size());
  // The cells stream sequentially; prefetch the words a few cells ahead (see PrefetchQueue).
  auto prefetch_ahead = [&](std::size_t i) {
    if (i + kPrefetchDistanceCells < cells.size())
      __builtin_prefetch(&words[cells[i + kPrefetchDistanceCells].word - word_offset], 1);
  };
  if (unit() == FaultUnit::word) {
    const std::uint32_t faulty = word_fault_mask(layout);
    for (std::size_t i = 0; i < cells.size(); ++i) {
      prefetch_ahead(i);
      ++stats.faulty_words;
      stats.words_changed += corrupt_in_place(*this, words[cells[i].word - word_offset], faulty, 0, layout);
    }
    return stats;
  }
  WordAccumulator<Word> acc(*this, words, layout, stats);
  for (std::size_t i = 0; i < cells.size(); ++i) {
    prefetch_ahead(i);
    acc.add(cells[i].word - word_offset, cells[i].bit, cells[i].stuck_one);
  }
  acc.flush();
  stats.faulty_bits = cells.size();
  return stats;
}

// Batched per_read sampling: the faulty cells of each word are gathered (cells arrive sorted) and the word's
// read value is computed once; on_change(index, value) is called for words whose value changes.
template <class Word, class OnChange>
FaultStats FaultChannel::sample_batched(std::span<const Word> words, WordLayout layout, double p,
                                        ExponentialStream& stream, OnChange&& on_change) const {
  check_layout(layout, int(8 * sizeof(Word)));
  check_rate(p);
  const int stored_bits = layout.stored_bits();
  FaultStats stats;
  stats.words_read = words.size();
  stats.bits_read = FaultSampler::checked_bit_count(words.size(), stored_bits);
  const FaultSampler sampler(p);
  if (unit() == FaultUnit::word) {
    const std::uint32_t faulty = word_fault_mask(layout);
    stats.faulty_words = stream.for_each_fault(words.size(), sampler, [&](std::uint64_t w) {
      const std::int64_t after = corrupt(words[w], faulty, 0, layout);
      if (after != words[w]) {
        ++stats.words_changed;
        on_change(w, after);
      }
    });
    return stats;
  }
  if (stored_bits <= 0) return stats;
  // Flip on a plain two's-complement layout is an XOR of the code: done inline (no virtual call per word).
  const bool inline_flip = name() == "flip" && !is_binary(layout);
  const std::uint32_t code_mask = low_mask(layout.bits);
  const std::int64_t sign_bit = layout.has_sign_bit ? std::int64_t(1) << (layout.bits - 1) : 0;
  const bool draw_stuck = draws_stuck_values();
  constexpr double kLn2 = 0.6931471805599453;  // P(E > ln 2) = 1/2: a stuck value from one variate
  std::uint64_t current = kNoWord;
  std::uint32_t faulty = 0, stuck = 0;
  auto flush = [&] {
    ++stats.faulty_words;
    const std::int64_t before = words[current];
    std::int64_t after;
    if (inline_flip) {
      const std::int64_t code = std::int64_t((std::uint32_t(std::uint64_t(before)) & code_mask) ^ faulty);
      after = (code ^ sign_bit) - sign_bit;  // sign-extend (no-op without a sign bit)
    } else {
      after = corrupt(before, faulty, stuck, layout);
    }
    if (after != before) {
      ++stats.words_changed;
      on_change(current, after);
    }
  };
  const std::uint64_t n_bits = stats.bits_read;
  const auto bits = std::uint64_t(stored_bits);
  const bool pow2 = std::has_single_bit(bits);
  const int shift = std::countr_zero(bits);
  if (inline_flip && pow2 && !sampler.never() && !sampler.always()) {
    // The hot case (flip on 8/16-bit words): the same draws as the general loop below, on the stream's
    // buffered variates directly, with the counters in registers.
    const double scale = sampler.gap_scale();
    const std::uint64_t bit_mask = bits - 1;
    std::uint64_t pos = 0, faults = 0, faulty_words = 0, changed = 0;
    auto emit = [&] {
      ++faulty_words;
      const std::int64_t before = words[current];
      const std::int64_t code = std::int64_t((std::uint32_t(std::uint64_t(before)) & code_mask) ^ faulty);
      const std::int64_t after = (code ^ sign_bit) - sign_bit;
      if (after != before) {
        ++changed;
        on_change(current, after);
      }
    };
    for (bool done = false; !done;) {
      const std::span<const double> v = stream.available();
      std::size_t i = 0;
      for (; i < v.size(); ++i) {
        if (pos >= n_bits) {  // the last position was faulty: no overshooting draw (as for_each_fault)
          done = true;
          break;
        }
        const double gap = v[i] * scale;
        if (gap >= double(n_bits - pos)) {
          done = true;
          ++i;
          break;
        }
        pos += std::uint64_t(gap);
        const std::uint64_t word = pos >> shift;
        if (word != current) {
          if (current != kNoWord) emit();
          current = word;
          faulty = 0;
        }
        faulty |= std::uint32_t(1) << (pos & bit_mask);
        ++faults;
        ++pos;
      }
      stream.consume(i);
    }
    if (current != kNoWord) emit();
    stats.faulty_bits = faults;
    stats.faulty_words = faulty_words;
    stats.words_changed = changed;
    return stats;
  }
  stats.faulty_bits = stream.for_each_fault(n_bits, sampler, [&](std::uint64_t pos) {
    const std::uint64_t word = pow2 ? pos >> shift : pos / bits;
    const unsigned bit = unsigned(pow2 ? pos & (bits - 1) : pos % bits);
    if (word != current) {
      if (current != kNoWord) flush();
      current = word;
      faulty = stuck = 0;
    }
    faulty |= std::uint32_t(1) << bit;
    if (draw_stuck && stream.next() > kLn2) stuck |= std::uint32_t(1) << bit;
  });
  if (current != kNoWord) flush();
  return stats;
}

#define AXSIM_FAULT_CHANNEL_BATCHED(Word)                                                                       \
  FaultStats FaultChannel::apply(std::span<Word> words, WordLayout layout, double p, ExponentialStream& stream) \
      const {                                                                                                   \
    return sample_batched(std::span<const Word>(words), layout, p, stream,                                      \
                          [&](std::uint64_t w, std::int64_t value) { words[w] = Word(value); });                \
  }                                                                                                             \
  FaultStats FaultChannel::sample_changes(std::span<const Word> words, WordLayout layout, double p,             \
                                          ExponentialStream& stream, std::vector<WordChange>& changes) const {  \
    return sample_batched(words, layout, p, stream, [&](std::uint64_t w, std::int64_t value) {                  \
      changes.push_back(WordChange{w, std::int32_t(value)});                                                    \
    });                                                                                                         \
  }
AXSIM_FAULT_CHANNEL_BATCHED(std::int8_t)
AXSIM_FAULT_CHANNEL_BATCHED(std::int16_t)
#undef AXSIM_FAULT_CHANNEL_BATCHED

#define AXSIM_FAULT_CHANNEL_OVERLOADS(Word)                                                                   \
  FaultStats FaultChannel::apply(std::span<Word> words, WordLayout layout, double p, CounterRng& rng) const { \
    return apply_fresh(words, layout, p, rng);                                                                \
  }                                                                                                           \
  FaultStats FaultChannel::apply(std::span<Word> words, WordLayout layout, double p, std::uint64_t seed,      \
                                 std::uint64_t stream) const {                                                \
    return apply_chunked(words, layout, p, seed, stream);                                                     \
  }                                                                                                           \
  FaultStats FaultChannel::apply(std::span<Word> words, WordLayout layout, const FaultMap& map,               \
                                 std::uint64_t word_offset) const {                                           \
    return apply_map(words, layout, map, word_offset);                                                        \
  }                                                                                                           \
  FaultStats FaultyMemory::read(std::span<Word> words, std::uint64_t word_offset) {                           \
    return read_impl(words, word_offset);                                                                     \
  }
AXSIM_FAULT_CHANNEL_OVERLOADS(std::int8_t)
AXSIM_FAULT_CHANNEL_OVERLOADS(std::int16_t)
AXSIM_FAULT_CHANNEL_OVERLOADS(std::int32_t)
#undef AXSIM_FAULT_CHANNEL_OVERLOADS

FaultMap FaultChannel::draw_map(std::uint64_t n_words, WordLayout layout, double p, std::uint64_t seed,
                                std::uint64_t stream) const {
  check_rate(p);
  return FaultMap::draw(n_words, layout, unit(), p, seed, stream);
}

// ---- registry ----

const std::vector<std::string_view>& fault_channel_names() {
  static const std::vector<std::string_view> names{"flip", "bit_mask", "word_mask", "erasure", "stuck_at"};
  return names;
}

std::shared_ptr<const FaultChannel> make_fault_channel(std::string_view name, const std::string& file,
                                                       const std::string& location) {
  if (name == "flip") return std::make_shared<FlipChannel>();
  if (name == "bit_mask") return std::make_shared<BitMaskChannel>();
  if (name == "word_mask") return std::make_shared<WordMaskChannel>();
  if (name == "erasure") return std::make_shared<ErasureChannel>();
  if (name == "stuck_at") return std::make_shared<StuckAtChannel>();
  std::string valid;
  for (std::string_view n : fault_channel_names()) valid += (valid.empty() ? "" : ", ") + std::string(n);
  throw_input_error(file, location, "a fault channel (" + valid + ")", "'" + std::string(name) + "'",
                    closest_match(std::string(name), fault_channel_names()));
}

// ---- FaultyMemory ----

FaultyMemory::FaultyMemory(std::shared_ptr<const FaultChannel> channel, Persistence persistence, WordLayout layout,
                           std::uint64_t region_words, double rate, std::uint64_t seed, std::uint64_t stream,
                           double max_rate)
    : channel_(std::move(channel)),
      persistence_(persistence),
      layout_(layout),
      region_words_(region_words),
      rng_(seed, stream) {
  if (!channel_) throw std::invalid_argument("FaultyMemory: no fault channel");
  check_layout(layout, 32);
  channel_->check_rate(rate);
  max_rate_ = max_rate < 0 ? rate : max_rate;
  channel_->check_rate(max_rate_);
  if (persistence_ == Persistence::per_chip)
    full_map_ = channel_->draw_map(region_words, layout, max_rate_, seed, stream);
  set_rate(rate);
}

void FaultyMemory::set_rate(double p) {
  channel_->check_rate(p);
  if (persistence_ == Persistence::per_chip) {
    if (p > max_rate_)
      throw std::invalid_argument("FaultyMemory: per_chip rate " + std::to_string(p) +
                                  " exceeds the rate the chip's fault map was drawn at (" + std::to_string(max_rate_) +
                                  "); pass a larger max_rate");
    active_map_ = full_map_.at_rate(p);
  }
  rate_ = p;
}

template <class Word>
FaultStats FaultyMemory::read_impl(std::span<Word> words, std::uint64_t word_offset) {
  if (word_offset > region_words_ || words.size() > region_words_ - word_offset)
    throw std::invalid_argument("FaultyMemory: read of " + std::to_string(words.size()) + " words at word " +
                                std::to_string(word_offset) + " outside a region of " + std::to_string(region_words_) +
                                " words");
  const FaultStats stats = persistence_ == Persistence::per_chip
                               ? channel_->apply(words, layout_, active_map_, word_offset)
                               : channel_->apply(words, layout_, rate_, rng_);
  totals_ += stats;
  return stats;
}

// ---- float helpers (trainer) ----

namespace {

// Shared by flip_signs and erase: sample word faults at p and transform each faulty value.
template <class Transform>
FaultStats float_faults(std::span<float> x, double p, CounterRng& rng, Transform&& transform) {
  FaultStats stats;
  stats.words_read = x.size();
  stats.bits_read = x.size();
  PrefetchQueue<std::uint64_t> queue;
  auto apply = [&](std::uint64_t i) {
    const float before = x[i];
    x[i] = transform(before);
    stats.words_changed += x[i] != before ? 1 : 0;
  };
  stats.faulty_words =
      FaultSampler(p).for_each_faulty_word(x.size(), rng, [&](std::uint64_t i) { queue.push(i, &x[i], apply); });
  queue.drain(apply);
  return stats;
}

// float_faults with the batched sampler (models/geometric_gaps.hpp): the same faults as float_faults on
// CounterRng(seed, stream) from draw 0, at ~2 ns per draw instead of ~30 (LaNMax's learned p reaches
// 0.1-0.3, i.e. tens of thousands of flips per mini-batch).
template <class Transform>
FaultStats float_faults_batched(std::span<float> x, double p, std::uint64_t seed, std::uint64_t stream,
                                Transform&& transform) {
  FaultStats stats;
  stats.words_read = x.size();
  stats.bits_read = x.size();
  const FaultSampler sampler(p);
  GeometricGapStream gaps(sampler, seed, stream, p * double(x.size()) + 1.0);
  stats.faulty_words = gaps.for_each_fault(x.size(), [&](std::uint64_t i) {
    const float before = x[i];
    x[i] = transform(before);
    stats.words_changed += x[i] != before ? 1 : 0;
  });
  return stats;
}

// The stream of the chunk that starts at word `begin` in for_each_chunk.
std::uint64_t chunk_stream(std::uint64_t stream, std::uint64_t begin) {
  return stream_id({stream, begin / kFaultChunkWords});
}

void check_float_rate(const char* what, double p, double max) {
  if (!(p >= 0.0 && p <= max))
    throw std::invalid_argument(std::string(what) + ": rate must be in [0, " + std::to_string(max) + "], got " +
                                std::to_string(p));
}

}  // namespace

FaultStats flip_signs(std::span<float> w, double p, CounterRng& rng) {
  check_float_rate("flip_signs", p, 0.5);
  FaultStats stats = float_faults(w, p, rng, [](float v) { return -v; });
  stats.faulty_bits = stats.faulty_words;  // one stored bit per BinaryConnect weight
  return stats;
}

FaultStats flip_signs(std::span<float> w, double p, std::uint64_t seed, std::uint64_t stream) {
  check_float_rate("flip_signs", p, 0.5);
  return for_each_chunk(
      w.size(), p * double(w.size()), seed, stream, [&](std::uint64_t begin, std::uint64_t end, CounterRng&) {
        // Chunk c's faults come from CounterRng(seed, stream_id({stream, c})), drawn batched.
        FaultStats stats = float_faults_batched(w.subspan(begin, end - begin), p, seed, chunk_stream(stream, begin),
                                                [](float v) { return -v; });
        stats.faulty_bits = stats.faulty_words;
        return stats;
      });
}

FaultStats erase(std::span<float> x, double p_e, CounterRng& rng) {
  check_float_rate("erase", p_e, 1.0);
  FaultStats stats = float_faults(x, p_e, rng, [](float) { return 0.0f; });
  stats.bits_read = 0;  // word-level model: no cells, like the erasure channel (faulty_bits = 0)
  return stats;
}

FaultStats erase(std::span<float> x, double p_e, std::uint64_t seed, std::uint64_t stream) {
  check_float_rate("erase", p_e, 1.0);
  return for_each_chunk(
      x.size(), p_e * double(x.size()), seed, stream, [&](std::uint64_t begin, std::uint64_t end, CounterRng&) {
        FaultStats stats = float_faults_batched(x.subspan(begin, end - begin), p_e, seed, chunk_stream(stream, begin),
                                                [](float) { return 0.0f; });
        stats.bits_read = 0;
        return stats;
      });
}

}  // namespace axsim
