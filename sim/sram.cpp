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
  streams_.clear();
  chip_maps_.clear();
  active_.clear();
  images_.clear();
  if (!channel_) return;
  const std::uint64_t kind = std::uint64_t(component_);
  for (int b = 0; b < config_.banks; ++b) {
    streams_.emplace_back(seed, stream_id({kPerReadTag, kind, trial, std::uint64_t(b)}));
    if (config_.fault->persistence == Persistence::per_chip) {
      // All physical cells of the word: a narrower value only sees the cells of its stored bits.
      chip_maps_.push_back(channel_->draw_map(config_.bank_words(), WordLayout{config_.word_bits, true}, max_rate, seed,
                                              stream_id({kPerChipTag, kind, trial, std::uint64_t(b)})));
    }
  }
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
void SramBuffer<Word>::read_segment(int bank, Word* data, std::uint64_t count, std::uint64_t offset_in_bank,
                                    WordLayout layout, std::vector<WordChange>* changes, std::uint64_t index_base) {
  BankStats& b = banks_[std::size_t(bank)];
  const Word* stored = storage_.data() + std::size_t(bank) * config_.bank_words() + offset_in_bank;
  if (!channel_ || (config_.fault->persistence == Persistence::per_read && rate_ == 0.0)) {
    // Nothing can fault: count the read (the sampler would draw nothing).
    b.faults.words_read += count;
    b.faults.bits_read += count * std::uint64_t(std::max(0, layout.stored_bits()));
    return;
  }
  if (!data && config_.fault->persistence == Persistence::per_read) {
    const std::size_t first_new = changes->size();
    b.faults += channel_->sample_changes(std::span<const Word>(stored, count), layout, rate_,
                                         streams_[std::size_t(bank)], *changes);
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
      read_segment(bank, scratch_.data(), count, offset_in_bank, layout, nullptr, 0);
      for (std::uint64_t i = 0; i < count; ++i)
        if (scratch_[i] != stored[i]) changes->push_back(WordChange{i + index_base, std::int32_t(scratch_[i])});
      return;
    }
  }
  std::span<Word> words(data, count);
  if (config_.fault->persistence == Persistence::per_read) {
    b.faults += channel_->apply(words, layout, rate_, streams_[std::size_t(bank)]);
  } else if (const ChipImage* image = chip_image(bank, layout)) {
    if (data) std::memcpy(data, image->words.data() + offset_in_bank, count * sizeof(Word));
    FaultStats st;
    st.words_read = count;
    st.bits_read = count * std::uint64_t(std::max(0, layout.stored_bits()));
    const std::uint64_t cells = count_in(image->cell_words, offset_in_bank, count);
    st.faulty_bits = image->word_unit ? 0 : cells;
    st.faulty_words = count_in(image->faulty_words, offset_in_bank, count);
    st.words_changed = count_in(image->changed_words, offset_in_bank, count);
    b.faults += st;
  } else {
    b.faults += channel_->apply(words, layout, active_map(bank, layout), offset_in_bank);
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
  if (changes) data = nullptr;  // sparse read: nothing is copied
  if (!is_read)
    std::memcpy(storage_.data() + first, data, count * sizeof(Word));
  else if (data)
    std::memcpy(data, storage_.data() + first, count * sizeof(Word));
  // Split at bank boundaries: counts, faults and energy per bank.
  const std::uint64_t bank_words = config_.bank_words();
  double energy = 0;
  for (std::uint64_t done = 0; done < count;) {
    const std::uint64_t address = first + done;
    const int bank = int(address / bank_words);
    const std::uint64_t offset = address % bank_words;
    const std::uint64_t n = std::min(count - done, bank_words - offset);
    BankStats& b = banks_[std::size_t(bank)];
    if (is_read) {
      b.reads += n;
      read_segment(bank, data ? data + done : nullptr, n, offset, ext->layout, changes, done);
      b.dynamic_j += double(n) * read_j_;
      energy += double(n) * read_j_;
    } else {
      b.writes += n;
      ++write_generation_[std::size_t(bank)];
      reads_since_write_[std::size_t(bank)] = 0;
      b.dynamic_j += double(n) * write_j_;
      energy += double(n) * write_j_;
    }
    done += n;
  }
  ledger_.charge(ext->ledger_row, component_, is_read ? EnergyAction::sram_read : EnergyAction::sram_write,
                 double(count), energy, volts_);
  payload.set_response_status(tlm::TLM_OK_RESPONSE);
}

template class SramBuffer<std::int8_t>;
template class SramBuffer<std::int16_t>;

}  // namespace axsim::sim
