// Banked SRAM buffer as a TLM-2.0 loosely-timed target (DESIGN section 4, "SRAM banks").
//
// A buffer of `banks` banks, bank b holding the contiguous word addresses [b*W, (b+1)*W), W = words/banks.
// Payloads carry byte addresses and lengths in units of the buffer's word container (int8 for the weight
// buffer, int16 for the neuron buffer: one code per word). A read copies the stored codes into the payload and
// then corrupts them through the bank's fault channel (models/fault_channel.hpp) at the rate in force:
//   per_read  fresh faults on every read, drawn sequentially from the bank's own (seed, trial, bank) stream
//             by geometric skips (cost proportional to the faults, not to the bits; batched variates,
//             models/fault_sampler.hpp ExponentialStream);
//   per_chip  a map of faulty cells drawn once per chip (trial) over all word_bits cells of every word of the
//             bank at the lowest voltage the schedule can reach, thinned to the rate in force (maps are nested:
//             lowering the voltage only adds faulty cells) and re-applied to every read of the same address.
// Only the stored bits of the value's word layout can fault (the AccessExtension says which layout: an
// unsigned activation does not store its sign bit). Writes never fault. Every bank counts reads, writes,
// stored bits read, faulty bits and its energy (dynamic at the voltage in force + leakage).
// The delay argument is not increased: the operand fetch time of a pass is part of the mapper's pass cycles
// (ports-limited), which the PE array charges; bank conflicts are not modelled beyond that.
#pragma once

#include <tlm_utils/simple_target_socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <systemc>
#include <tlm>
#include <utility>
#include <vector>

#include "core/rng.hpp"
#include "energy/technology.hpp"
#include "models/fault_channel.hpp"
#include "sim/energy_ledger.hpp"
#include "sim/hw_config.hpp"

namespace axsim::sim {

// Attached to every payload: how the addressed words are stored and whom to charge.
struct AccessExtension : tlm::tlm_extension<AccessExtension> {
  WordLayout layout{8, true};
  int ledger_row = 0;
  // Sparse read (the PE array computes on the stored values and corrects the few faulty ones): when set on
  // a read, the payload's data is not written; every word that reads back different from the stored value is
  // appended as (index in the transfer, value read). Same draws, counts and energy as a copying read.
  std::vector<WordChange>* changes = nullptr;
  // Block mode (several inferences through one instruction stream): the transfer happens once for each of
  // `copies` inferences (counts and energy times `copies`; copy c is inference first + c of
  // begin_inferences()). A read of several copies is sparse: copy c's changes go to (*copy_changes)[c].
  int copies = 1;
  std::vector<std::vector<WordChange>>* copy_changes = nullptr;
  // The data is not moved (block mode: the PE array's block datapath carries the activations); only counts
  // and energy. Reads must not be able to fault.
  bool accounting_only = false;

  tlm::tlm_extension_base* clone() const override { return new AccessExtension(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override { *this = static_cast<const AccessExtension&>(other); }
};

struct BankStats {
  std::uint64_t reads = 0;   // words read
  std::uint64_t writes = 0;  // words written
  FaultStats faults;         // bits_read = stored bits read; faulty_bits = reads of faulty cells
  double dynamic_j = 0;
  int leakage_source = -1;  // in the ledger
};

template <class Word>
class SramBuffer : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<SramBuffer<Word>> socket;

  SramBuffer(sc_core::sc_module_name name, const BufferConfig& config, const Technology& technology,
             EnergyLedger& ledger, EnergyComponent component);

  // A new chip instance: contents zeroed, per_read streams and per_chip maps from (seed, trial). `max_rate` is
  // the highest rate the schedule can reach (per_chip maps are drawn at it).
  void begin_trial(std::uint64_t seed, std::uint64_t trial, double max_rate);
  // The next reads belong to inferences [first, first + copies) of the trial: per_read faults of inference i
  // in bank b come from their own stream (seed, trial, bank, i), whatever the block size or thread count.
  void begin_inferences(std::uint64_t first, int copies);
  // Block mode, per_read faults: draw the faults of the block's coming reads for every copy at once, in one
  // parallel region over the copies (copy c from its own streams, in read order: exactly what the reads would
  // draw one by one), and count them. The block reads with per-copy change lists that follow must be these
  // reads in this order, at the same rate; they then hand the drawn changes out. No-op if nothing can fault.
  struct BlockRead {
    std::uint64_t address = 0, count = 0;  // words
    WordLayout layout{8, true};
  };
  void presample(const std::vector<BlockRead>& reads, int copies);
  // Fault counts of copy c (inference first + c) since begin_inferences().
  const FaultStats& copy_faults(int copy) const { return copy_faults_[std::size_t(copy)]; }
  // Threads for sampling the copies of a block transfer (results do not depend on it).
  void set_threads(int threads) { threads_ = std::max(1, threads); }
  // Per-copy counts (copy_faults) are kept only when asked for (per-inference records).
  void set_copy_tracking(bool on) { track_copies_ = on; }
  // The domain's voltage in force changed: fault rate and energy per access from now on.
  void set_voltage(double volts);

  double voltage() const { return volts_; }
  double rate() const { return rate_; }
  // Bit-error rate at a voltage (the fixed `p` if configured, 0 without a fault channel).
  double rate_at(double volts) const;
  const BufferConfig& config() const { return config_; }
  const std::vector<BankStats>& banks() const { return banks_; }
  FaultStats fault_totals() const;
  const std::vector<Word>& contents() const { return storage_; }

 private:
  void b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  // data == nullptr: sparse read, changes appended to *changes with indices shifted by index_base.
  void read_segment(int bank, int copy, Word* data, std::uint64_t count, std::uint64_t offset_in_bank,
                    WordLayout layout, std::vector<WordChange>* changes, std::uint64_t index_base);
  // Block transfers: every copy's sparse read of one bank segment; counts only (nothing can fault).
  void read_copies(int bank, std::uint64_t count, std::uint64_t offset_in_bank, WordLayout layout,
                   std::vector<std::vector<WordChange>>& changes, std::uint64_t index_base, int copies);
  void count_only(int bank, std::uint64_t count, WordLayout layout, int copies);
  void add_faults(int bank, int copy, const FaultStats& stats);
  ExponentialStream& stream(int copy, int bank) {
    return streams_[std::size_t(copy) * std::size_t(config_.banks) + std::size_t(bank)];
  }
  const FaultMap& active_map(int bank, WordLayout layout);
  // per_chip: a bank read again and again without writes in between (the resident weights) reads the same
  // corrupted values every time, so its corrupted image is built once and read like a reliable bank; the
  // counts come from the sorted word indices of its faulty cells. Exactly what applying the map per read gives.
  struct ChipImage {
    std::uint64_t generation = 0;
    std::vector<Word> words;
    std::vector<std::uint64_t> cell_words;     // word of every faulty cell (sorted)
    std::vector<std::uint64_t> faulty_words;   // distinct words with faulty cells
    std::vector<std::uint64_t> changed_words;  // words whose value differs from the stored one
    bool word_unit = false;
  };
  const ChipImage* chip_image(int bank, WordLayout layout);

  BufferConfig config_;
  const Technology& technology_;
  EnergyLedger& ledger_;
  EnergyComponent component_;
  std::shared_ptr<const FaultChannel> channel_;  // null: reliable
  std::vector<Word> storage_;
  std::vector<BankStats> banks_;
  std::vector<ExponentialStream> streams_;  // per_read, per (copy, bank) of the current block (batched variates)
  std::vector<FaultStats> copy_faults_;     // per copy of the current block
  std::vector<FaultStats> stats_scratch_;   // read_copies, presample
  std::vector<BlockRead> presampled_reads_;
  std::vector<std::vector<std::vector<WordChange>>> presampled_;  // [read][copy]
  std::size_t presample_cursor_ = 0;
  double presample_rate_ = 0;
  std::uint64_t seed_ = 0, trial_ = 0;
  int threads_ = 1;
  bool track_copies_ = true;
  std::vector<Word> scratch_;        // sparse per_chip reads before the bank's image exists
  std::vector<FaultMap> chip_maps_;  // per_chip, one per bank, all cells of the word
  // per_chip maps restricted to a layout's stored bits and thinned to the rate in force, per (bank, layout).
  std::map<std::pair<int, std::pair<int, bool>>, FaultMap> active_;
  std::map<std::pair<int, std::pair<int, bool>>, ChipImage> images_;
  std::vector<std::uint64_t> write_generation_;   // per bank: bumped by every write
  std::vector<std::uint64_t> reads_since_write_;  // per bank
  double volts_ = 0;
  double rate_ = 0;
  double read_j_ = 0, write_j_ = 0;  // per word at the voltage in force
};

extern template class SramBuffer<std::int8_t>;
extern template class SramBuffer<std::int16_t>;
using WeightBuffer = SramBuffer<std::int8_t>;
using NeuronBuffer = SramBuffer<std::int16_t>;

}  // namespace axsim::sim
