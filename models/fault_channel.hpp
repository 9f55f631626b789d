// Memory fault channels (DESIGN.md section 3): what a word looks like when it is READ from an SRAM
// cell array whose cells fail with probability p. One implementation serves both users:
// - the simulator's SRAM banks corrupt every block they read (per_read), or re-apply a fault map drawn
//   once per chip (per_chip), through FaultyMemory;
// - the trainer corrupts whole weight/activation tensors every mini-batch through the (seed, stream)
//   overloads (chunked, OpenMP, identical results for any thread count) and the float helpers.
// Words are two's-complement codes held sign-extended in int8/int16/int32 containers and described by a
// WordLayout; faults only ever land in stored bits (an unsigned activation's absent sign bit cannot fault).
// Faults are sampled by geometric skips (models/fault_sampler.hpp): cost proportional to the faults.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.hpp"
#include "models/fault_sampler.hpp"
#include "models/word_layout.hpp"

namespace axsim {

// per_read: fresh faults on every read. per_chip: a fault map drawn once per chip instance and
// re-applied on every read of the same addresses (the natural mode for stuck_at).
enum class Persistence { per_read, per_chip };
// What one Bernoulli trial of rate p covers: a stored bit (cell) or a whole word (erasure).
enum class FaultUnit { bit, word };

std::string_view to_string(Persistence persistence);
// "per_read" | "per_chip"; anything else -> InputError (file, location name where the value came from).
Persistence parse_persistence(std::string_view name, const std::string& file = "<fault model>",
                              const std::string& location = "persistence");

// Counts of one or many reads. faulty_bits / bits_read estimates p for bit channels;
// faulty_words / words_read estimates p_e for erasure (which has no faulty cells: faulty_bits = 0).
struct FaultStats {
  std::uint64_t words_read = 0;
  std::uint64_t bits_read = 0;      // stored bits read
  std::uint64_t faulty_bits = 0;    // reads of faulty cells, whether or not they changed the value
  std::uint64_t faulty_words = 0;   // words with at least one faulty cell (erasure: erased words)
  std::uint64_t words_changed = 0;  // words whose value differs from the stored one

  FaultStats& operator+=(const FaultStats& o);
  bool operator==(const FaultStats&) const = default;
};

// Block size (in words) of the chunked (seed, stream) overloads: chunk c of a block uses the stream
// stream_id({stream, c}). Fixed, so results never depend on the number of threads.
inline constexpr std::uint64_t kFaultChunkWords = std::uint64_t(1) << 16;

// Word codec shared by all channels. code = the low layout.bits bits of the two's-complement value;
// decode sign-extends it. Exception: a 1-bit signed layout is a BinaryConnect weight (values -1/+1,
// stored bit 1 = +1, 0 = -1; see word_layout.hpp).
std::uint32_t encode_word(std::int64_t value, WordLayout layout);
std::int64_t decode_word(std::uint32_t code, WordLayout layout);
// Mask of the stored bits of a word (bits 0 .. stored_bits-1).
std::uint32_t stored_mask(WordLayout layout);

// A word of a block that reads back different from the stored value (sparse reads).
struct WordChange {
  std::uint64_t word = 0;  // index in the block
  std::int32_t value = 0;  // the value read
  bool operator==(const WordChange&) const = default;
};

// One faulty cell of a chip.
struct FaultCell {
  std::uint64_t word = 0;  // word index in the region
  float onset = 0;         // the cell is faulty at every rate p > onset (nested maps, see FaultMap::at_rate)
  std::uint16_t bit = 0;   // stored bit index (0 = LSB); 0 for word-level faults
  bool stuck_one = false;  // the value a stuck_at cell reads as
};

// Sparse per-chip fault map over a region of words: faulty cells sorted by (word, bit).
class FaultMap {
 public:
  FaultMap() = default;

  // Each cell (unit bit: each stored bit of each word; unit word: each word) is faulty independently
  // with probability p; stuck values are 0/1 with probability 1/2. Depends only on the arguments.
  static FaultMap draw(std::uint64_t n_words, WordLayout layout, FaultUnit unit, double p, std::uint64_t seed,
                       std::uint64_t stream);
  // A map from explicit cells (a measured chip, a test). Sorts them; throws std::invalid_argument for
  // cells outside the region or outside the stored bits, or duplicates. rate() is then 1.
  static FaultMap from_cells(std::uint64_t n_words, WordLayout layout, FaultUnit unit, std::vector<FaultCell> cells);

  // The same chip at a lower rate p <= rate(): keeps the cells with onset < p. Every cell is then
  // faulty with probability p, and the maps are nested (lowering the voltage only adds faulty cells).
  FaultMap at_rate(double p) const;

  std::uint64_t words() const { return words_; }
  WordLayout layout() const { return layout_; }
  FaultUnit unit() const { return unit_; }
  double rate() const { return rate_; }
  std::span<const FaultCell> cells() const { return cells_; }
  // The cells of words [first_word, first_word + count).
  std::span<const FaultCell> cells_in(std::uint64_t first_word, std::uint64_t count) const;

 private:
  std::uint64_t words_ = 0;
  WordLayout layout_{};
  FaultUnit unit_ = FaultUnit::bit;
  double rate_ = 0;
  std::vector<FaultCell> cells_;
};

// A fault channel: how a word with faulty cells reads back. Stateless and thread-safe; get one by name
// with make_fault_channel(). Every apply() returns the counts of that read (accumulate with +=).
// Preconditions for the integer overloads: 1 <= layout.bits <= container bits and every word holds a
// value representable in the layout (a 1-bit signed layout holds -1/+1). Violations of the layout or
// of the rate range throw std::invalid_argument.
class FaultChannel {
 public:
  virtual ~FaultChannel() = default;

  virtual std::string_view name() const = 0;
  virtual FaultUnit unit() const { return FaultUnit::bit; }
  // Largest accepted rate: 0.5 for bit-error rates (a cell that fails more often than not is not a
  // useful memory; the voltage model clamps there), 1 for erasure.
  virtual double max_rate() const { return 0.5; }
  virtual Persistence natural_persistence() const { return Persistence::per_read; }
  // True if per_read faults draw a stuck value per faulty cell (stuck_at).
  virtual bool draws_stuck_values() const { return false; }

  // The value read from a stored `value` whose stored bits `faulty` (non-zero) are faulty cells, with
  // `stuck_ones` giving the stuck values of those cells. For word-level channels `faulty` is
  // stored_mask(layout) (or 1 if the layout stores no bits).
  virtual std::int64_t corrupt(std::int64_t value, std::uint32_t faulty, std::uint32_t stuck_ones,
                               WordLayout layout) const = 0;

  // per_read: fresh faults at rate p, drawn sequentially from rng (a bank's own stream).
  FaultStats apply(std::span<std::int8_t> words, WordLayout layout, double p, CounterRng& rng) const;
  FaultStats apply(std::span<std::int16_t> words, WordLayout layout, double p, CounterRng& rng) const;
  FaultStats apply(std::span<std::int32_t> words, WordLayout layout, double p, CounterRng& rng) const;

  // per_read with batched variates (models/fault_sampler.hpp: ExponentialStream; the simulator's banks).
  // Same fault law as the CounterRng overloads, ~10x cheaper per fault; stuck values use one variate each.
  FaultStats apply(std::span<std::int8_t> words, WordLayout layout, double p, ExponentialStream& stream) const;
  FaultStats apply(std::span<std::int16_t> words, WordLayout layout, double p, ExponentialStream& stream) const;
  // Sparse per_read: `words` (the stored values) are left alone; every word that reads back different is
  // appended to `changes` as (index in the block, value read), in increasing index order. Draws exactly
  // what apply(words, layout, p, stream) draws, so both give the same faults from the same stream state.
  FaultStats sample_changes(std::span<const std::int8_t> words, WordLayout layout, double p, ExponentialStream& stream,
                            std::vector<WordChange>& changes) const;
  FaultStats sample_changes(std::span<const std::int16_t> words, WordLayout layout, double p, ExponentialStream& stream,
                            std::vector<WordChange>& changes) const;

  // per_read over a large block: chunks of kFaultChunkWords words, chunk c drawn from
  // CounterRng(seed, stream_id({stream, c})), OpenMP over chunks. Same result for any thread count.
  FaultStats apply(std::span<std::int8_t> words, WordLayout layout, double p, std::uint64_t seed,
                   std::uint64_t stream) const;
  FaultStats apply(std::span<std::int16_t> words, WordLayout layout, double p, std::uint64_t seed,
                   std::uint64_t stream) const;
  FaultStats apply(std::span<std::int32_t> words, WordLayout layout, double p, std::uint64_t seed,
                   std::uint64_t stream) const;

  // per_chip: re-apply `map` to a block that starts at word `word_offset` of the map's region. The map
  // must have been drawn for this channel's unit and this layout's stored bits.
  FaultStats apply(std::span<std::int8_t> words, WordLayout layout, const FaultMap& map,
                   std::uint64_t word_offset) const;
  FaultStats apply(std::span<std::int16_t> words, WordLayout layout, const FaultMap& map,
                   std::uint64_t word_offset) const;
  FaultStats apply(std::span<std::int32_t> words, WordLayout layout, const FaultMap& map,
                   std::uint64_t word_offset) const;

  // The fault map of one chip for a region of n_words words (FaultMap::draw with this channel's unit).
  FaultMap draw_map(std::uint64_t n_words, WordLayout layout, double p, std::uint64_t seed, std::uint64_t stream) const;

  // Throws std::invalid_argument unless 0 <= p <= max_rate().
  void check_rate(double p) const;

 private:
  template <class Word>
  FaultStats apply_fresh(std::span<Word> words, WordLayout layout, double p, CounterRng& rng) const;
  template <class Word, class OnChange>
  FaultStats sample_batched(std::span<const Word> words, WordLayout layout, double p, ExponentialStream& stream,
                            OnChange&& on_change) const;
  template <class Word>
  FaultStats apply_chunked(std::span<Word> words, WordLayout layout, double p, std::uint64_t seed,
                           std::uint64_t stream) const;
  template <class Word>
  FaultStats apply_map(std::span<Word> words, WordLayout layout, const FaultMap& map, std::uint64_t word_offset) const;
};

// The registered channels: flip, bit_mask, word_mask, erasure, stuck_at.
const std::vector<std::string_view>& fault_channel_names();
// Unknown name -> InputError naming `file`/`location`, listing the valid names and the closest match.
std::shared_ptr<const FaultChannel> make_fault_channel(std::string_view name,
                                                       const std::string& file = "<fault channel>",
                                                       const std::string& location = "channel");

// One faulty memory region (an SRAM bank, or a layer's weights in training) with its channel,
// persistence, layout and current rate. per_read draws fresh faults from its own stream on every read
// (reads must happen in a deterministic order); per_chip draws the chip's map once at max_rate and
// thins it when the rate changes. Not thread-safe: one per bank.
class FaultyMemory {
 public:
  // max_rate < 0 means "= rate". Throws std::invalid_argument on a bad rate or layout.
  FaultyMemory(std::shared_ptr<const FaultChannel> channel, Persistence persistence, WordLayout layout,
               std::uint64_t region_words, double rate, std::uint64_t seed, std::uint64_t stream, double max_rate = -1);

  // A new rate (voltage change). per_chip: must not exceed max_rate (the map cannot grow).
  void set_rate(double p);
  double rate() const { return rate_; }

  // Corrupt a block read from word `word_offset` of the region (block must lie inside the region).
  FaultStats read(std::span<std::int8_t> words, std::uint64_t word_offset);
  FaultStats read(std::span<std::int16_t> words, std::uint64_t word_offset);
  FaultStats read(std::span<std::int32_t> words, std::uint64_t word_offset);

  const FaultStats& totals() const { return totals_; }
  const FaultChannel& channel() const { return *channel_; }
  Persistence persistence() const { return persistence_; }
  const FaultMap& chip_map() const { return active_map_; }  // per_chip: the cells faulty at rate()

 private:
  template <class Word>
  FaultStats read_impl(std::span<Word> words, std::uint64_t word_offset);

  std::shared_ptr<const FaultChannel> channel_;
  Persistence persistence_;
  WordLayout layout_;
  std::uint64_t region_words_;
  double rate_ = 0;
  double max_rate_ = 0;
  CounterRng rng_;
  FaultMap full_map_;    // per_chip: drawn once at max_rate
  FaultMap active_map_;  // per_chip: full_map_ thinned to rate_
  FaultStats totals_;
};

// Trainer helpers on float tensors, same sampler. flip_signs: BSC on BinaryConnect weights
// (theta -> -theta with probability p <= 0.5), i.e. the flip channel on 1-bit words. erase: each value
// set to 0 with probability p_e <= 1 (the erasure channel). Both return the counts: flip_signs counts
// one stored bit per weight; erase is word-level (bits_read = faulty_bits = 0, faulty_words = erased
// values, words_changed excludes values that were already 0). The (seed, stream) overloads chunk like
// FaultChannel::apply.
FaultStats flip_signs(std::span<float> w, double p, CounterRng& rng);
FaultStats flip_signs(std::span<float> w, double p, std::uint64_t seed, std::uint64_t stream);
FaultStats erase(std::span<float> x, double p_e, CounterRng& rng);
FaultStats erase(std::span<float> x, double p_e, std::uint64_t seed, std::uint64_t stream);

}  // namespace axsim
