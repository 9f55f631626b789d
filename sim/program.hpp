// Compiler: QuantizedNetwork + HardwareConfig (+ mapper) -> the program the controller executes for every
// inference (DESIGN section 4, "Mapper/compiler").
//
// Placement. Activations live in the neuron buffer as codes, one per word, in two ping-pong regions (the
// lower and the upper half): layer l reads the tensor in one region and writes the next tensor into the other.
// A tensor is stored C x H x W row-major with a zero border of the padding its consumer needs (the mapper
// counts padding neurons as buffer reads, so the buffer holds the padded map). Flatten is free (C,H,W order is
// already the flattened order). Weights live in the weight buffer as codes, layer after layer, in the
// QLayer layout [out][in][k][k]; if the whole network does not fit, every layer's weights are written again
// before the layer runs at every inference (each layer must fit on its own). Logits of the output layer leave
// through the output port (the host), they are not stored in the neuron buffer.
//
// Tiles. A PE-array layer runs as tiles in the mapper's loop order: output-map tile (Tm') outermost, then
// spatial tiles (Tr' x Tc'); each tile is all reduction passes (Tn', Ti', Tj') of those outputs, so its
// accumulators are final when the tile ends. A tile that loads weights reads its output maps' whole weight
// block (Tm' x N x K x K words) from the weight buffer once; with the PE weight local stores large enough
// (mapper: weights_reused_locally) only the first spatial tile of an output-map tile loads them and the rest
// reuse the same (possibly faulty) values. Neurons are read pass by pass: each pass reads the distinct neurons
// of its window (Tn' maps x span rows x span columns), fresh from the buffer. Per-tile cycles, reads and passes
// follow the mapper's cost model exactly; compile_program checks that the tile sums equal the mapper's layer
// totals, so the simulator and the mapper can never disagree silently.
//
// Instruction stream (identical for both timing modes):
//   load_input; then per layer: begin_layer, the layer's work, end_layer; then output.
//   PE-array layer work: load_tile t, compute_tile t, write_back t-lag ... (write_back lags compute by `lag`
//   tiles so the clocked PE array never drains between tiles; the fast mode executes the same order).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/fixed_point.hpp"
#include "models/quantized_network.hpp"
#include "sim/hw_config.hpp"
#include "sim/mapping/flexflow_mapper.hpp"
#include "sim/schedule.hpp"

namespace axsim::sim {

enum class Engine { pe_array, crossbar, pooling, reshape };
std::string_view to_string(Engine engine);

// A tensor in the neuron buffer.
struct TensorPlacement {
  std::uint64_t base = 0;  // word address of element (0, 0, 0) of the padded map
  int channels = 0, height = 1, width = 1;
  int pad = 0;              // zero border on every side
  FixedPointFormat format;  // the codes' format (the producing layer's output format)

  int stored_height() const { return height + 2 * pad; }
  int stored_width() const { return width + 2 * pad; }
  std::uint64_t words() const { return std::uint64_t(channels) * stored_height() * stored_width(); }
  // Address of (c, y, x) in stored (padded) coordinates.
  std::uint64_t address(int c, int y, int x) const {
    return base + (std::uint64_t(c) * stored_height() + std::uint64_t(y)) * stored_width() + std::uint64_t(x);
  }
};

struct TilePlan {
  int m0 = 0, tm = 1, r0 = 0, tr = 1, c0 = 0, tc = 1;
  bool loads_weights = true;
  std::int64_t passes = 0;
  std::int64_t cycles = 0;              // sum of the passes' cycles (pipeline fill is per layer)
  std::int64_t neuron_words = 0;        // neuron buffer words read
  std::int64_t weight_words = 0;        // weight buffer words read
  std::int64_t macs = 0;                // useful multiply-accumulates
  std::int64_t local_store_writes = 0;  // weight words written into PE local stores (with replication)
  int pass_list = -1;                   // index into LayerPlan::pass_lists (tiles of equal shape share one)
};

// One reduction pass of a tile: input maps [n0, n0+tn), kernel rows [i0, i0+ti), kernel columns [j0, j0+tj).
// Its window is the distinct input rows {r*S + i} x columns {c*S + j} of the tile's outputs (stored
// coordinates), read as tn x rows x cols words in that order.
struct Pass {
  int n0 = 0, tn = 1, i0 = 0, ti = 1, j0 = 0, tj = 1;
  int rows = 1, cols = 1;  // window extent (distinct rows/columns)
  std::int64_t neuron_words = 0, weight_words = 0, cycles = 1;
  std::int64_t staging_offset = 0;  // where its window starts in the tile's neuron staging
};

struct LayerPlan {
  int index = 0;  // position in QuantizedNetwork::layers
  std::string name;
  QOpKind kind = QOpKind::dense;
  Engine engine = Engine::pe_array;
  Multiplier multiplier;  // effective (config override or the network's)
  bool is_output = false;
  TensorPlacement input, output;  // output unused when is_output (logits go to the output port)

  // PE array.
  mapping::LayerShape shape;
  mapping::LayerMapping mapping;
  std::vector<TilePlan> tiles;
  std::int64_t max_tile_neuron_words = 0;
  std::uint64_t weight_base = 0;           // word address of the layer's weights in the weight buffer
  std::int64_t weight_load_cycles = 0;     // > 0 when the weights are rewritten at every inference
  bool merged_reduction = false;           // Ti = Tj = K: the passes of a tile tile the input maps exactly
  bool int32_accumulation = true;          // products can be summed in int32 without overflow
  int neuron_ports = 1, kernel_ports = 1;  // buffer words per cycle (the mapper's ArrayShape)
  // Weights are staged in the PE local stores only when they are reused there (several spatial tiles per
  // output-map tile); otherwise they go straight into the PEs' operand registers (energy accounting).
  bool uses_local_store = false;

  // Per inference.
  std::int64_t cycles = 0;  // PE: mapper cycles + weight load; pooling/crossbar: their model
  std::int64_t neuron_reads = 0, weight_reads = 0, neuron_writes = 0, weight_writes = 0;
  std::int64_t macs = 0, local_store_writes = 0;

  // Crossbar.
  int crossbar_tiles = 0;
  std::int64_t crossbar_latency_cycles = 0;

  // Passes of a tile in the mapper's order (n outer, then i, then j), with staging offsets. Tiles of the same
  // size and weight-loading role have the same passes: a layer has at most a handful of distinct lists.
  const std::vector<Pass>& passes(const TilePlan& tile) const { return pass_lists[std::size_t(tile.pass_list)]; }
  std::vector<std::vector<Pass>> pass_lists;
};

struct Instruction {
  enum class Op { load_input, begin_layer, load_tile, compute_tile, write_back, end_layer, pool, crossbar, output };
  Op op = Op::load_input;
  int layer = -1;  // index into Program::layers
  int tile = -1;
};

struct Program {
  std::vector<LayerPlan> layers;
  std::vector<std::string> layer_names;  // every network layer, for schedules and reports
  TensorPlacement input;                 // where load_input writes the quantized sample
  FixedPointFormat input_format;         // network input format (features in [0,1] -> codes)
  int classes = 0;
  int output_layer = -1;           // index into layers
  std::uint64_t weight_words = 0;  // weights of all PE-array layers
  bool weights_resident = true;    // all weights fit and are written once per chip (trial)
  std::int64_t input_load_cycles = 0;
  int lag = 1;                            // tiles between compute_tile t and write_back t
  int slots = 3;                          // staging slots = lag + 2
  std::vector<Instruction> instructions;  // one inference
};

// Throws InputError before anything is simulated: a layer that cannot be mapped (unknown kind for its
// engine, crossbar on a conv layer, invalid unrolling), formats wider than the buffer words, tensors or
// weights that do not fit, schedules or overrides naming layers that do not exist, inconsistent geometry.
Program compile_program(const QuantizedNetwork& network, const HardwareConfig& hw, const VoltageSchedule& schedule);

}  // namespace axsim::sim
