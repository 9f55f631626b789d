// The FlexFlow PE array (DESIGN section 4): D_r x D_c processing elements, each row reducing its columns
// through an adder tree into one output accumulator.
//
// Operands arrive from the buffers (with whatever faults the reads drew) into staging memory: the neuron
// operands of a tile's passes, in read order, and the weight block of an output-map tile, which stands for the
// PE weight local stores (a weight read once and reused from the local store is the same value, faulty or
// not, for every output and pass that uses it). Operands are DRUM-transformed once when they enter the array
// (models/drum.hpp: drum(a, b) = Ds(a) * Ds(b), so the products are exact integer products of transformed
// operands); accumulators start at the bias and sum exact products (the QuantizedNetwork semantics).
//
// Two timing modes over the same staging and the same instruction stream:
//   fast   compute_tile() runs the whole tile in plain C++ (vectorized dot products); the controller then
//          charges the tile's cycles from the mapper model once.
//   cycle  enqueue_tile() hands the tile to a clocked process that steps the PE objects one cycle at a time:
//          each pass spends its operand-fetch cycles (ports-limited), then every active PE multiplies its
//          operands, the adder trees reduce the rows, and the sums reach the accumulators multiplier_stages +
//          adder_stages cycles later; a tile's outputs are final writeback_cycles after its last pass.
//          Passes issue back to back across tiles (the write-back of tile t is awaited only `lag` tiles later),
//          so the pipeline fills once per layer, as the mapper assumes.
// Slots: tiles in flight use staging slot (tile mod slots); weight blocks use a ring of `slots` blocks indexed by
// how many blocks the layer has loaded, so a block is never overwritten while a tile in flight still uses it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <systemc>
#include <vector>

#include "models/drum.hpp"
#include "models/fault_channel.hpp"
#include "models/quantized_network.hpp"
#include "sim/program.hpp"

namespace axsim::sim {

// One processing element: operand registers, the multiplier (on transformed operands) and its product.
struct ProcessingElement {
  std::int32_t weight = 0;
  std::int32_t neuron = 0;
  std::int64_t product = 0;
  void multiply() { product = std::int64_t(weight) * std::int64_t(neuron); }
};

class PeArray : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(PeArray);
  // clock: required in cycle mode (the array steps on its rising edges), ignored in fast mode.
  PeArray(sc_core::sc_module_name name, const Program& program, const QuantizedNetwork& network,
          const HardwareConfig& hw, sc_core::sc_clock* clock);

  // ---- staging (filled by the controller's buffer reads) ----
  std::int16_t* neuron_staging(int slot) { return neurons_[std::size_t(slot)].data(); }
  // Weight codes as read from the weight buffer into weight slot `wslot` (the PE local stores).
  std::int8_t* weight_staging(int wslot) { return weights_[std::size_t(wslot)].data(); }
  // After the read: DRUM-transform the `count` codes of `wslot` if the multiplier changes them (into int16:
  // a faulty -128 transforms to 9 bits); exact products use the int8 codes as they are.
  void prepare_weights(int wslot, std::size_t count, const Multiplier& multiplier);
  // ---- sparse weight faults (fast mode; dense layers and whole-kernel passes, see supports_sparse) ----
  // Instead of a copy of the block with its faults, weight slot `wslot` uses the `count` stored (clean) codes
  // at `stored` plus the words that read back different, filled by the weight buffer's sparse read into
  // weight_changes(wslot). The tile then computes clean products (DRUM-transformed once per stored block and
  // cached until stored_weights_changed()) and adds, per changed word, (T(w') - T(w)) * x for every input x
  // that weight multiplies: exactly the sums of the copying path, at a cost that follows the faults.
  static bool supports_sparse(const LayerPlan& plan);
  std::vector<WordChange>& weight_changes(int wslot) { return changes_[std::size_t(wslot)]; }
  void use_stored_weights(int wslot, const std::int8_t* stored, std::size_t count, const Multiplier& multiplier);
  // The weight buffer was written: cached transforms of stored blocks are stale.
  void stored_weights_changed() { clean_transformed_.clear(); }

  // DRUM-transform `count` staged neuron operands of `slot` in place.
  void transform_neurons(int slot, std::size_t count, const Multiplier& multiplier);
  // Accumulators of a tile: (m, r, c) of the tile at index (m * tr + r) * tc + c.
  const std::int64_t* accumulators(int slot) const { return accumulators_[std::size_t(slot)].data(); }

  // ---- fast mode ----
  void compute_tile(const LayerPlan& plan, int tile, int slot, int wslot);

  // ---- cycle mode ----
  // Queue a staged tile; `serial` identifies it for wait_tile (unique per simulation).
  void enqueue_tile(const LayerPlan& plan, int tile, int slot, int wslot, std::uint64_t serial);
  // Block the calling SystemC thread until the tile's outputs are final.
  void wait_tile(std::uint64_t serial);
  // Busy window of the current layer in clock cycles (first operand fetch to last write-back).
  void begin_layer_measure();
  std::int64_t layer_cycles() const;
  std::int64_t ticks() const { return tick_; }

 private:
  void init_accumulators(const LayerPlan& plan, const TilePlan& tile, int slot);
  // Sparse slots: the words of the block that read back different, their stored codes and the DRUM k (>= 8:
  // exact products).
  struct Corrections {
    const std::vector<WordChange>* changes = nullptr;
    const std::int8_t* stored = nullptr;
    int k = 8;
    std::int64_t delta(const WordChange& c) const {
      return k < 8 ? std::int64_t(drum_transform_signed(c.value, k)) - drum_transform_signed(stored[c.word], k)
                   : std::int64_t(c.value) - stored[c.word];
    }
  };
  template <class W>
  void compute(const LayerPlan& plan, const TilePlan& tile, const W* weights, const std::int16_t* neurons,
               std::int64_t* acc, const Corrections* corrections = nullptr);
  template <class W>
  void accumulate_passwise(const LayerPlan& plan, const TilePlan& tile, const std::vector<Pass>& passes,
                           const W* weights, const std::int16_t* neurons, std::int64_t* acc);
  void clock_tick();
  // Cycle mode: one pass through the PE objects; returns the row sums (one per output of the tile).
  template <class W>
  void issue_pass(const LayerPlan& plan, const TilePlan& tile, const Pass& pass, const W* weights,
                  const std::int16_t* neurons, std::vector<std::int64_t>& row_sums);

  const Program& program_;
  const QuantizedNetwork& network_;
  int rows_, cols_;
  int pipeline_latency_;  // multiplier + adder-tree stages
  int writeback_cycles_;
  std::vector<std::vector<std::int16_t>> neurons_;      // per slot
  std::vector<std::vector<std::int8_t>> weights_;       // per weight slot: codes as read
  std::vector<std::vector<std::int16_t>> transformed_;  // per weight slot: DRUM-transformed codes
  std::vector<char> wide_;                              // per weight slot: transformed_ holds the operands
  // sparse weight slots
  std::vector<char> sparse_;                             // per weight slot: stored codes + corrections
  std::vector<const std::int8_t*> stored_;               // per weight slot: the stored block
  std::vector<const std::int16_t*> stored_transformed_;  // per weight slot: its DRUM transform (wide_)
  std::vector<std::vector<WordChange>> changes_;         // per weight slot: as read
  std::vector<int> sparse_k_;                            // per weight slot: DRUM k of its multiplier
  std::map<std::pair<const std::int8_t*, int>, std::vector<std::int16_t>> clean_transformed_;
  std::vector<std::vector<std::int64_t>> accumulators_;  // per slot
  std::vector<std::int16_t> im2col_;
  std::vector<ProcessingElement> pes_;

  // cycle mode
  struct Job {
    const LayerPlan* plan;
    int tile, slot, wslot;
    std::uint64_t serial;
    const std::vector<Pass>* passes;
    std::size_t next = 0;
  };
  struct InFlight {
    std::int64_t complete_tick;
    int slot;
    std::vector<std::int64_t> row_sums;
    bool last;
    std::uint64_t serial;
  };
  std::deque<Job> queue_;
  std::deque<InFlight> in_flight_;
  std::deque<std::pair<std::int64_t, std::uint64_t>> writing_back_;  // (done tick, serial)
  std::set<std::uint64_t> done_;
  sc_core::sc_event done_event_;
  std::int64_t fetch_progress_ = 0;
  std::int64_t tick_ = 0;
  std::int64_t layer_first_tick_ = -1, layer_last_tick_ = -1;
};

}  // namespace axsim::sim
