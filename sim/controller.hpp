// Controller / instruction decoder: one SC_THREAD that executes the compiled instruction stream (program.hpp)
// for every inference of every trial. It moves data with TLM-2.0 blocking transactions to the weight and
// neuron buffers (loosely timed: a tlm_quantumkeeper keeps a local time offset in fast mode and synchronizes
// once per quantum, or before a scheduled voltage change so that the change takes effect at its simulated time),
// hands tiles to the PE array, charges the energy ledger and records what the results need.
//
// Time: fast mode charges each tile's mapper cycles when it is computed and the pipeline fill at the end of a
// layer; cycle mode lets the clocked PE array take the time it takes. Leakage is charged to the ledger row
// running at each instruction boundary, at the powers in force (a timed voltage change inside a long
// instruction is charged from the next boundary on).
#pragma once

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/tlm_quantumkeeper.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <systemc>
#include <tlm>
#include <utility>
#include <vector>

#include "sim/block_datapath.hpp"
#include "sim/crossbar.hpp"
#include "sim/energy_ledger.hpp"
#include "sim/pe_array.hpp"
#include "sim/program.hpp"
#include "sim/regulator.hpp"
#include "sim/simulate.hpp"
#include "sim/sram.hpp"

namespace axsim::sim {

// What the controller measures during the run (read after sc_start returns).
struct RunRecord {
  std::vector<std::uint64_t> correct;  // per trial
  quant::McResult accuracy;
  bool deterministic = false;  // no fault or noise source: one trial is exact
  std::exception_ptr error;    // an exception thrown inside the simulation, rethrown by simulate()
  std::uint64_t inferences_per_trial = 0;
  std::vector<std::uint64_t> layer_cycles;       // per program layer, all inferences
  std::vector<std::uint64_t> layer_busy_cycles;  // cycle mode: PE busy windows
  std::uint64_t io_cycles = 0, stall_cycles = 0, total_cycles = 0;
  double simulated_seconds = 0;
  std::vector<std::vector<std::int64_t>> logits;
  std::vector<int> predictions;
  std::vector<InferenceFaults> per_inference;
  int block = 1;  // largest block run
};

class Controller : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Controller);
  tlm_utils::simple_initiator_socket<Controller> weight_socket;
  tlm_utils::simple_initiator_socket<Controller> neuron_socket;

  struct Parts {
    PeArray& pe;
    WeightBuffer& weights;
    NeuronBuffer& neurons;
    VoltageRegulator& regulator;
    CrossbarTiles& crossbar;
    EnergyLedger& ledger;
  };

  Controller(sc_core::sc_module_name name, const Program& program, const QuantizedNetwork& network,
             const HardwareConfig& hw, const VoltageSchedule& schedule, const Dataset& inputs,
             const SimOptions& options, Parts parts, RunRecord& record);

 private:
  // Coalesced word runs (address, count) in transfer order.
  struct Runs {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> items;
    std::uint64_t words = 0;
    void clear() {
      items.clear();
      words = 0;
    }
    void add(std::uint64_t address, std::uint64_t count) {
      if (!items.empty() && items.back().first + items.back().second == address)
        items.back().second += count;
      else
        items.emplace_back(address, count);
      words += count;
    }
  };
  // Per-layer energies of one action at the voltages in force (recomputed when a voltage changes).
  struct ActionEnergies {
    double multiply = 0, add = 0, reg = 0, weight_reg = 0, local_read = 0, local_write = 0, pool_op = 0;
    bool valid = false;
  };

  void run();
  double run_trial(std::uint64_t trial);
  void begin_trial(std::uint64_t trial);
  void run_inference(std::uint64_t trial, std::uint64_t index);
  // Block mode (SimOptions::block): inferences [first, first + count) through one pass of the instruction
  // stream; every transfer, cycle and action is charged `count` times, the values live in block_.
  bool block_mode_allowed() const;
  std::uint64_t block_end(std::uint64_t first, std::uint64_t n) const;
  void run_block(std::uint64_t trial, std::uint64_t first, int count);
  void block_load_input(std::uint64_t first);
  void block_load_tile(const LayerPlan& plan, int tile);
  void block_write_back(const LayerPlan& plan, int tile);
  void block_output(std::uint64_t trial, std::uint64_t first);
  void record_faults(std::uint64_t trial, std::uint64_t first, int count);
  void execute(const Instruction& ins, std::uint64_t trial, std::uint64_t index);

  void load_input(std::uint64_t index);
  void begin_layer(const LayerPlan& plan);
  void load_tile(const LayerPlan& plan, int tile);
  void compute_tile(const LayerPlan& plan, int tile);
  void write_back(const LayerPlan& plan, int tile);
  void end_layer(const LayerPlan& plan);
  void pool(const LayerPlan& plan);
  void crossbar(const LayerPlan& plan, std::uint64_t trial, std::uint64_t index);
  void output(std::uint64_t trial, std::uint64_t index);
  void write_weights(const LayerPlan& plan, int row);
  void write_output_codes(const LayerPlan& plan, const std::vector<std::int16_t>& codes);
  void write_border(const TensorPlacement& t, int row);

  // TLM transfers of `runs`, data in run order.
  void read_neurons(const Runs& runs, std::int16_t* data, WordLayout layout, int row);
  void write_neurons(const Runs& runs, const std::int16_t* data, int row);
  template <class Word, class Socket>
  void transport(Socket& socket, tlm::tlm_command command, std::uint64_t address, Word* data, std::uint64_t count,
                 WordLayout layout, int row);

  // Time.
  sc_core::sc_time now() const;
  void spend_cycles(std::int64_t cycles);
  void spend(const sc_core::sc_time& t);
  void mark();  // charge leakage since the last mark to the current row
  void sync_for_voltage();
  const ActionEnergies& energies(const LayerPlan& plan);

  const Program& program_;
  const QuantizedNetwork& network_;
  const HardwareConfig& hw_;
  const VoltageSchedule& schedule_;
  const Dataset& inputs_;
  const SimOptions& options_;
  Parts parts_;
  RunRecord& record_;
  const bool cycle_mode_;
  const sc_core::sc_time period_;
  const int io_row_;
  tlm_utils::tlm_quantumkeeper qk_;
  tlm::tlm_generic_payload payload_;
  AccessExtension* access_ = nullptr;  // owned by payload_

  int row_;  // ledger row running now
  sc_core::sc_time last_mark_;
  sc_core::sc_time layer_start_;
  std::int64_t layer_start_cycles_ = 0;
  std::uint64_t cycles_ = 0;  // fast mode cycle counter (all trials)
  std::uint64_t serial_ = 0;  // cycle mode tile ids
  std::vector<std::uint64_t> tile_serial_;
  std::vector<int> slot_wslot_;  // weight slot used by the tile in each staging slot
  int loads_in_layer_ = 0;
  int current_wslot_ = 0;
  std::vector<ActionEnergies> energies_;
  double max_rate_weights_ = 0, max_rate_neurons_ = 0;

  std::vector<std::int16_t> input_codes_, codes_, pool_rows_;
  std::vector<std::int64_t> logits_;
  Runs runs_;
  std::uint64_t correct_in_trial_ = 0;
  std::uint64_t done_ = 0, planned_ = 0;  // progress
  // block mode
  std::unique_ptr<BlockDatapath> block_;  // null: one inference at a time
  bool in_block_ = false;
  int copies_ = 1;                                    // inferences each transfer and action stands for
  bool accounting_only_ = false;                      // transfers move no data (block mode neuron traffic)
  std::vector<std::uint64_t> block_splits_;           // inference indices where a schedule setting applies
  std::vector<WeightBuffer::BlockRead> block_reads_;  // the weight reads of one pass of the program
};

}  // namespace axsim::sim
