#include "sim/sram.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace axsim::sim {

namespace {
// Stream tags: every random stream of a buffer is (seed, stream_id({tag, buffer kind, trial, bank})).
constexpr std::uint64_t kPerReadTag = 0x5245414Full;  // "READ"
constexpr std::uint64_t kPerChipTag = 0x43484950ull;  // "CHIP"
}  // namespace

template <class Word>
SramBuffer<Word>::SramBuffer(sc_core::sc_module_name name, const BufferConfig& config, const Technology& technology,
                             EnergyLedger& ledger, EnergyComponent component)
    : sc_core::sc_module(name),
      socket("socket"),
      config_(config),
      technology_(technology),
      ledger_(ledger),
      component_(component),
      storage_(config.words(), Word(0)),
      banks_(std::size_t(config.banks)),
      write_generation_(std::size_t(config.banks), 0),
      reads_since_write_(std::size_t(config.banks), 0) {
  socket.register_b_transport(this, &SramBuffer::b_transport);
  if (config_.fault) channel_ = make_fault_channel(config_.fault->channel);
  for (auto& b : banks_) b.leakage_source = ledger_.add_leakage_source(component_, 0.0);
  set_voltage(technology_.nominal_voltage());
}

template <class Word>
double SramBuffer<Word>::rate_at(double volts) const {
  if (!channel_) return 0.0;
  if (config_.fault->fixed_rate) return *config_.fault->fixed_rate;
  return std::min(technology_.bit_error_curve(memory_domain(config_.domain)).p_at(volts), channel_->max_rate());
}

template <class Word>
void SramBuffer<Word>::begin_trial(std::uint64_t seed, std::uint64_t trial, double max_rate) {
  std::fill(storage_.begin(), storage_.end(), Word(0));
  chip_maps_.clear();
  active_.clear();
  images_.clear();
  seed_ = seed;
  trial_ = trial;
  begin_inferences(0, 1);
  if (!channel_) return;
  const std::uint64_t kind = std::uint64_t(component_);
  for (int b = 0; b < config_.banks; ++b) {
    if (config_.fault->persistence == Persistence::per_chip) {
      // All physical cells of the word: a narrower value only sees the cells of its stored bits.
      chip_maps_.push_back(channel_->draw_map(config_.bank_words(), WordLayout{config_.word_bits, true}, max_rate, seed,
                                              stream_id({kPerChipTag, kind, trial, std::uint64_t(b)})));
    }
  }
}

template <class Word>
void SramBuffer<Word>::begin_inferences(std::uint64_t first, int copies) {
  copy_faults_.assign(std::size_t(copies), FaultStats{});
  presampled_reads_.clear();
  presample_cursor_ = 0;
  if (!channel_ || config_.fault->persistence != Persistence::per_read) return;
  const std::size_t banks = std::size_t(config_.banks);
  while (streams_.size() < std::size_t(copies) * banks) streams_.emplace_back(seed_, 0);
  const std::uint64_t kind = std::uint64_t(component_);
  for (int c = 0; c < copies; ++c)
    for (int b = 0; b < config_.banks; ++b)
      stream(c, b).reset(seed_, stream_id({kPerReadTag, kind, trial_, std::uint64_t(b), first + std::uint64_t(c)}));
}

template <class Word>
void SramBuffer<Word>::presample(const std::vector<BlockRead>& reads, int copies) {
  presampled_reads_.clear();
  presample_cursor_ = 0;
  if (!(channel_ && config_.fault->persistence == Persistence::per_read && rate_ > 0)) return;
  if (copies > int(copy_faults_.size()))
    throw std::logic_error(std::string(name()) + ": presample before begin_inferences");
  presampled_reads_ = reads;
  presample_rate_ = rate_;
  if (presampled_.size() < reads.size()) presampled_.resize(reads.size());
  for (std::size_t r = 0; r < reads.size(); ++r) {
    presampled_[r].resize(std::size_t(copies));
    for (auto& c : presampled_[r]) c.clear();
  }
  const std::uint64_t bank_words = config_.bank_words();
  const int banks = config_.banks;
  stats_scratch_.assign(std::size_t(copies) * std::size_t(banks), FaultStats{});
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && copies > 1)
  for (int c = 0; c < copies; ++c) {
    for (std::size_t r = 0; r < reads.size(); ++r) {
      const BlockRead& read = reads[r];
      std::vector<WordChange>& out = presampled_[r][std::size_t(c)];
      for (std::uint64_t done = 0; done < read.count;) {
        const std::uint64_t address = read.address + done;
        const int bank = int(address / bank_words);
        const std::uint64_t offset = address % bank_words;
        const std::uint64_t n = std::min(read.count - done, bank_words - offset);
        const std::size_t first_new = out.size();
        stats_scratch_[std::size_t(c) * std::size_t(banks) + std::size_t(bank)] += channel_->sample_changes(
            std::span<const Word>(storage_.data() + address, n), read.layout, rate_, stream(c, bank), out);
        for (std::size_t i = first_new; i < out.size(); ++i) out[i].word += done;
        done += n;
      }
    }
  }
  for (int c = 0; c < copies; ++c)
    for (int b = 0; b < banks; ++b)
      add_faults(b, c, stats_scratch_[std::size_t(c) * std::size_t(banks) + std::size_t(b)]);
}

template <class Word>
void SramBuffer<Word>::add_faults(int bank, int copy, const FaultStats& stats) {
  banks_[std::size_t(bank)].faults += stats;
  if (track_copies_) copy_faults_[std::size_t(copy)] += stats;
}

template <class Word>
void SramBuffer<Word>::count_only(int bank, std::uint64_t count, WordLayout layout, int copies) {
  if (channel_ && rate_ > 0) throw std::logic_error(std::string(name()) + ": data-less read of a bank that can fault");
  FaultStats st;
  st.words_read = count;
  st.bits_read = count * std::uint64_t(std::max(0, layout.stored_bits()));
  if (track_copies_) {
    for (int c = 0; c < copies; ++c) add_faults(bank, c, st);
  } else {
    st.words_read *= std::uint64_t(copies);
    st.bits_read *= std::uint64_t(copies);
    banks_[std::size_t(bank)].faults += st;
  }
}

template <class Word>
void SramBuffer<Word>::read_copies(int bank, std::uint64_t count, std::uint64_t offset_in_bank, WordLayout layout,
                                   std::vector<std::vector<WordChange>>& changes, std::uint64_t index_base,
                                   int copies) {
  if (!(channel_ && config_.fault->persistence == Persistence::per_read && rate_ > 0)) {
    for (int c = 0; c < copies; ++c)
      read_segment(bank, c, nullptr, count, offset_in_bank, layout, &changes[std::size_t(c)], index_base);
    return;
  }
  // Copies draw from their own streams, so they are sampled in parallel; counts are added in copy order.
  const Word* stored = storage_.data() + std::size_t(bank) * config_.bank_words() + offset_in_bank;
  stats_scratch_.assign(std::size_t(copies), FaultStats{});
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && copies > 1)
  for (int c = 0; c < copies; ++c) {
    std::vector<WordChange>& out = changes[std::size_t(c)];
    const std::size_t first_new = out.size();
    stats_scratch_[std::size_t(c)] =
        channel_->sample_changes(std::span<const Word>(stored, count), layout, rate_, stream(c, bank), out);
    for (std::size_t i = first_new; i < out.size(); ++i) out[i].word += index_base;
  }
  for (int c = 0; c < copies; ++c) add_faults(bank, c, stats_scratch_[std::size_t(c)]);
}

template <class Word>
void SramBuffer<Word>::set_voltage(double volts) {
  volts_ = volts;
  rate_ = rate_at(volts);
  active_.clear();
  images_.clear();
  const std::uint64_t bank_bytes = config_.bank_bytes();
  read_j_ = technology_.energy_of(Action::sram_read(bank_bytes, config_.word_bits), volts);
  write_j_ = technology_.energy_of(Action::sram_write(bank_bytes, config_.word_bits), volts);
  const double leak = technology_.leakage_power(Component::sram(bank_bytes), volts);
  for (auto& b : banks_) ledger_.set_leakage_power(b.leakage_source, leak);
}

template <class Word>
FaultStats SramBuffer<Word>::fault_totals() const {
  FaultStats t;
  for (const auto& b : banks_) t += b.faults;
  return t;
}

template <class Word>
const FaultMap& SramBuffer<Word>::active_map(int bank, WordLayout layout) {
  const auto key = std::make_pair(bank, std::make_pair(layout.bits, layout.has_sign_bit));
  auto it = active_.find(key);
  if (it != active_.end()) return it->second;
  const FaultMap& chip = chip_maps_[std::size_t(bank)];
  if (rate_ > chip.rate())
    throw std::logic_error("per_chip rate " + std::to_string(rate_) + " above the rate the chip map was drawn at (" +
                           std::to_string(chip.rate()) + ")");
  const int stored = layout.stored_bits();
  std::vector<FaultCell> cells;
  for (const FaultCell& c : chip.cells())
    if (channel_->unit() == FaultUnit::word || int(c.bit) < stored) cells.push_back(c);
  // from_cells keeps each cell's onset, so at_rate() thins exactly like the chip map would.
  FaultMap restricted = FaultMap::from_cells(chip.words(), layout, channel_->unit(), std::move(cells));
  return active_.emplace(key, restricted.at_rate(std::min(rate_, 1.0))).first->second;
}

template <class Word>
const typename SramBuffer<Word>::ChipImage* SramBuffer<Word>::chip_image(int bank, WordLayout layout) {
  const auto key = std::make_pair(bank, std::make_pair(layout.bits, layout.has_sign_bit));
  const std::uint64_t generation = write_generation_[std::size_t(bank)];
  auto it = images_.find(key);
  if (it != images_.end() && it->second.generation == generation) return &it->second;
  // Only worth building for a bank that is read repeatedly between writes.
  if (++reads_since_write_[std::size_t(bank)] < 2) return nullptr;
  const FaultMap& map = active_map(bank, layout);
  ChipImage image;
  image.generation = generation;
  image.word_unit = channel_->unit() == FaultUnit::word;
  const std::uint64_t bank_words = config_.bank_words();
  const Word* stored = storage_.data() + std::size_t(bank) * bank_words;
  image.words.assign(stored, stored + bank_words);
  channel_->apply(std::span<Word>(image.words), layout, map, 0);
  for (const FaultCell& c : map.cells()) {
    image.cell_words.push_back(c.word);
    if (image.faulty_words.empty() || image.faulty_words.back() != c.word) {
      image.faulty_words.push_back(c.word);
      if (image.words[c.word] != stored[c.word]) image.changed_words.push_back(c.word);
    }
  }
  return &images_.insert_or_assign(key, std::move(image)).first->second;
}

namespace {
std::uint64_t count_in(const std::vector<std::uint64_t>& sorted, std::uint64_t first, std::uint64_t count) {
  return std::uint64_t(std::lower_bound(sorted.begin(), sorted.end(), first + count) -
                       std::lower_bound(sorted.begin(), sorted.end(), first));
}
}  // namespace

template <class Word>
void SramBuffer<Word>::read_segment(int bank, int copy, Word* data, std::uint64_t count, std::uint64_t offset_in_bank,
                                    WordLayout layout, std::vector<WordChange>* changes, std::uint64_t index_base) {
  const Word* stored = storage_.data() + std::size_t(bank) * config_.bank_words() + offset_in_bank;
  if (!channel_ || (config_.fault->persistence == Persistence::per_read && rate_ == 0.0)) {
    // Nothing can fault: count the read (the sampler would draw nothing).
    FaultStats st;
    st.words_read = count;
    st.bits_read = count * std::uint64_t(std::max(0, layout.stored_bits()));
    add_faults(bank, copy, st);
    return;
  }
  if (!data && config_.fault->persistence == Persistence::per_read) {
    const std::size_t first_new = changes->size();
    add_faults(
        bank, copy,
        channel_->sample_changes(std::span<const Word>(stored, count), layout, rate_, stream(copy, bank), *changes));
    for (std::size_t i = first_new; i < changes->size(); ++i) (*changes)[i].word += index_base;
    return;
  }
  if (!data) {
    if (const ChipImage* image = chip_image(bank, layout)) {
      // The changed words of the image in this range, then the counts as a copying read.
      const auto lo = std::lower_bound(image->changed_words.begin(), image->changed_words.end(), offset_in_bank);
      const auto hi = std::lower_bound(lo, image->changed_words.end(), offset_in_bank + count);
      for (auto it = lo; it != hi; ++it)
        changes->push_back(WordChange{*it - offset_in_bank + index_base, std::int32_t(image->words[*it])});
    } else {
      // First read of the bank's contents: apply the map to a copy and report the differences.
      scratch_.assign(stored, stored + count);
      read_segment(bank, copy, scratch_.data(), count, offset_in_bank, layout, nullptr, 0);
      for (std::uint64_t i = 0; i < count; ++i)
        if (scratch_[i] != stored[i]) changes->push_back(WordChange{i + index_base, std::int32_t(scratch_[i])});
      return;
    }
  }
  std::span<Word> words(data, count);
  if (config_.fault->persistence == Persistence::per_read) {
    add_faults(bank, copy, channel_->apply(words, layout, rate_, stream(copy, bank)));
  } else if (const ChipImage* image = chip_image(bank, layout)) {
    if (data) std::memcpy(data, image->words.data() + offset_in_bank, count * sizeof(Word));
    FaultStats st;
    st.words_read = count;
    st.bits_read = count * std::uint64_t(std::max(0, layout.stored_bits()));
    const std::uint64_t cells = count_in(image->cell_words, offset_in_bank, count);
    st.faulty_bits = image->word_unit ? 0 : cells;
    st.faulty_words = count_in(image->faulty_words, offset_in_bank, count);
    st.words_changed = count_in(image->changed_words, offset_in_bank, count);
    add_faults(bank, copy, st);
  } else {
    add_faults(bank, copy, channel_->apply(words, layout, active_map(bank, layout), offset_in_bank));
  }
}

template <class Word>
void SramBuffer<Word>::b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  (void)delay;
  AccessExtension* ext = nullptr;
  payload.get_extension(ext);
  const std::uint64_t first = payload.get_address() / sizeof(Word);
  const std::uint64_t count = payload.get_data_length() / sizeof(Word);
  if (!ext || payload.get_address() % sizeof(Word) != 0 || payload.get_data_length() % sizeof(Word) != 0 ||
      first > storage_.size() || count > storage_.size() - first) {
    payload.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    throw std::logic_error(std::string(name()) + ": access of " + std::to_string(count) + " words at word " +
                           std::to_string(first) + " outside " + std::to_string(storage_.size()) + " words");
  }
  Word* data = reinterpret_cast<Word*>(payload.get_data_ptr());
  const bool is_read = payload.get_command() == tlm::TLM_READ_COMMAND;
  std::vector<WordChange>* changes = is_read ? ext->changes : nullptr;
  const int copies = std::max(1, ext->copies);
  if (changes || ext->accounting_only || copies > 1) data = nullptr;  // sparse / block transfers copy nothing
  if (is_read && copies > 1 && !ext->accounting_only && !ext->copy_changes)
    throw std::logic_error(std::string(name()) + ": a block read needs per-copy change lists");
  if (copies > int(copy_faults_.size()))
    throw std::logic_error(std::string(name()) + ": block transfer of more copies than begin_inferences() set up");
  if (!is_read && !ext->accounting_only)
    std::memcpy(storage_.data() + first, reinterpret_cast<Word*>(payload.get_data_ptr()), count * sizeof(Word));
  else if (data)
    std::memcpy(data, storage_.data() + first, count * sizeof(Word));
  // A block read whose faults were drawn by presample(): hand them out (the counts are already in).
  const bool presampled = is_read && ext->copy_changes && presample_cursor_ < presampled_reads_.size();
  if (presampled) {
    const BlockRead& r = presampled_reads_[presample_cursor_];
    if (r.address != first || r.count != count || r.layout != ext->layout || rate_ != presample_rate_)
      throw std::logic_error(std::string(name()) + ": block read differs from the presampled one");
    for (int c = 0; c < copies; ++c)
      (*ext->copy_changes)[std::size_t(c)].swap(presampled_[presample_cursor_][std::size_t(c)]);
    ++presample_cursor_;
  }
  // Split at bank boundaries: counts, faults and energy per bank.
  const std::uint64_t bank_words = config_.bank_words();
  double energy = 0;
  for (std::uint64_t done = 0; done < count;) {
    const std::uint64_t address = first + done;
    const int bank = int(address / bank_words);
    const std::uint64_t offset = address % bank_words;
    const std::uint64_t n = std::min(count - done, bank_words - offset);
    BankStats& b = banks_[std::size_t(bank)];
    const double words = double(n) * double(copies);
    if (is_read) {
      b.reads += n * std::uint64_t(copies);
      if (ext->accounting_only)
        count_only(bank, n, ext->layout, copies);
      else if (presampled)
        ;  // counted by presample()
      else if (ext->copy_changes)
        read_copies(bank, n, offset, ext->layout, *ext->copy_changes, done, copies);
      else
        read_segment(bank, 0, data ? data + done : nullptr, n, offset, ext->layout, changes, done);
      b.dynamic_j += words * read_j_;
      energy += words * read_j_;
    } else {
      b.writes += n * std::uint64_t(copies);
      ++write_generation_[std::size_t(bank)];
      reads_since_write_[std::size_t(bank)] = 0;
      b.dynamic_j += words * write_j_;
      energy += words * write_j_;
    }
    done += n;
  }
  ledger_.charge(ext->ledger_row, component_, is_read ? EnergyAction::sram_read : EnergyAction::sram_write,
                 double(count) * double(copies), energy, volts_);
  payload.set_response_status(tlm::TLM_OK_RESPONSE);
}

template class SramBuffer<std::int8_t>;
template class SramBuffer<std::int16_t>;

}  // namespace axsim::sim
