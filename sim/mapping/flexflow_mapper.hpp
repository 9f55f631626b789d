// FlexFlow mapper (Lu et al., HPCA 2017): chooses, per layer, how a convolution is unrolled onto a
// D_r x D_c PE array and what that costs in cycles and buffer reads. Plain C++ (no SystemC): the SystemC
// model and the report code both call it, so the cycle count and the reads the SRAM banks draw faults on
// come from this one model.
//
// ---- Array and unrolling -------------------------------------------------------------------------------
// PE row = one output neuron (m, r, c); PE column = one reduction operand (n, i, j). In a pass, PE
// (row (m,r,c), column (n,i,j)) multiplies weight W[m][n][i][j] by neuron I[n][r*S+i][c*S+j] and each row's
// adder tree sums its columns into the row accumulator. Unrolling <Tm,Tn,Tr,Tc,Ti,Tj> must satisfy
//   1 <= Tm <= M, 1 <= Tn <= N, 1 <= Tr <= R, 1 <= Tc <= C, 1 <= Ti <= K, 1 <= Tj <= K,
//   Tm*Tr*Tc <= D_r,  Tn*Ti*Tj <= D_c.
// Passes P = ceil(M/Tm)*ceil(N/Tn)*ceil(R/Tr)*ceil(C/Tc)*ceil(K/Ti)*ceil(K/Tj);
// utilization U = M*N*R*C*K^2 / (P*D_r*D_c). Edge tiles are smaller (e.g. R=5, Tr=2 -> tiles 2,2,1) and
// every count below uses the true edge-tile sizes Tm',Tn',...
//
// ---- Loop order (fixed) --------------------------------------------------------------------------------
//   for each output-map tile (Tm')           outermost
//     for each output-row tile (Tr'), output-column tile (Tc')      = "spatial tile"
//       for each input-map tile (Tn'), kernel-row tile (Ti'), kernel-column tile (Tj')  = reduction passes
// The reduction is innermost, so each output neuron is finished in its row accumulator and written to the
// neuron buffer exactly once: output_words_written = M*R*C. Write-back uses the buffer's write port and
// overlaps the next passes.
//
// ---- Buffer reads per pass (what the SRAM model must count) ---------------------------------------------
// Neurons: a neuron read from the neuron buffer is broadcast over the buses to every PE of the pass that
//   needs it (the Tm' rows that differ only in m, and overlapping windows of neighbouring outputs), so a
//   pass reads each DISTINCT neuron once:
//     neuron reads = Tn' * span(Tr',Ti') * span(Tc',Tj'),  span(t,k) = min(t*k, (t-1)*S + k)
//   (distinct input rows touched by t outputs x k kernel rows at stride S; windows overlap iff k >= S).
//   Neurons are not kept across passes: the neuron local store only stages one pass of operands, so a
//   neuron needed in two passes (another output-map tile, a halo shared by two spatial tiles) is read twice.
// Weights: one weight W[m][n][i][j] feeds the Tr'*Tc' PEs of its rows (replicated in place), so a pass
//   needs Tm'*Tn'*Ti'*Tj' distinct weights. Each PE sees the same weight sequence (one per reduction pass,
//   Q = ceil(N/Tn)*ceil(K/Ti)*ceil(K/Tj) weights) for every spatial tile of an output-map tile. If the PE
//   weight local store holds Q words (Q <= weight_local_words), weights are read from the kernel buffer only
//   during the first spatial tile of each output-map tile and then reused from the local store, so
//   weight_words_read = M*N*K^2 (each weight once). Otherwise every pass re-reads its weights:
//   weight_words_read = M*N*K^2 * ceil(R/Tr)*ceil(C/Tc).
//
// ---- Cycles ---------------------------------------------------------------------------------------------
// A pass costs max(1, ceil(neuron reads / neuron_read_ports), ceil(weight reads / kernel_read_ports))
// cycles (the two buffers have separate ports and are read in parallel; a pass issues when its operands
// have arrived). stall_cycles = sum over passes of (pass cycles - 1).
// Pipeline fill is charged ONCE PER LAYER: passes issue back to back (the next pass enters the multipliers
// while the previous one is in the adder tree), so the pipeline only fills at the start of a layer; its drain
// at the end has the same length and is what the fill term stands for.
//   fill_cycles = multiplier_stages + ceil(log2 D_c) (adder tree) + writeback_cycles
//   cycles      = sum over passes of pass cycles + fill_cycles = P + stall_cycles + fill_cycles.
//
// ---- Search ----------------------------------------------------------------------------------------------
// map_layer enumerates every valid tuple and keeps the best by: fewest cycles, then highest utilization
// (= fewest passes), then fewest buffer reads (neuron + weight), then the lexicographically smallest tuple.
// It is exact: a tuple is costed in full only when its lower bound
//   max(P, ceil(total neuron reads / neuron ports), ceil(total weight reads / kernel ports)) + fill
// does not exceed the best cycle count found so far; the bound and the full cost are O(1) per tuple (tiles of
// equal size are costed once, weighted by their count). The 32 tuples with the lowest bounds are costed first
// so that a strong incumbent prunes the full pass early.
// Chaining (FlexFlow's rule, optional): layer l's <Tm,Tr,Tc> equals layer l+1's <Tn,Ti,Tj>, so a layer's
// outputs land in the neuron buffer in the order the next layer reads them. map_network solves it exactly by
// dynamic programming over the layer sequence, state = the layer's <Tm,Tr,Tc>, minimizing the network's
// (total cycles, total passes, total reads); ties keep the lexicographically smallest unrolling of the later
// layer, so the result is deterministic.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/mapping/layer_shape.hpp"

namespace axsim::mapping {

struct ArrayShape {
  int rows = 16;                // D_r: PE rows = output neurons computed per pass
  int cols = 16;                // D_c: PE columns = reduction operands per output per pass
  int neuron_read_ports = 16;   // words per cycle the neuron buffer delivers to the buses
  int kernel_read_ports = 16;   // words per cycle the kernel (weight) buffer delivers
  int multiplier_stages = 1;    // multiplier pipeline depth
  int writeback_cycles = 1;     // accumulator -> neuron buffer
  int weight_local_words = 64;  // weight local store per PE (0: weights are never kept across passes)

  int adder_stages() const;  // ceil(log2 D_c)
  int fill_cycles() const;   // multiplier_stages + adder_stages() + writeback_cycles
};

// Throws axsim::InputError naming `source` for a non-positive size or port count, or a negative depth.
void validate_array_shape(const ArrayShape& array, const std::string& source);

struct Unrolling {
  int Tm = 1, Tn = 1, Tr = 1, Tc = 1, Ti = 1, Tj = 1;
  // Lexicographic in the order Tm, Tn, Tr, Tc, Ti, Tj (the search's last tie-break).
  auto operator<=>(const Unrolling&) const = default;
};

std::string to_string(const Unrolling& u);  // "<Tm,Tn,Tr,Tc,Ti,Tj>", e.g. "<2,1,1,2,1,4>"

struct LayerMapping {
  std::string layer;
  Unrolling u;
  std::int64_t passes = 0;
  double utilization = 0;  // useful MACs / (passes * D_r * D_c), in (0, 1]
  std::int64_t cycles = 0;
  std::int64_t neuron_words_read = 0;     // neuron buffer reads (see the model above)
  std::int64_t weight_words_read = 0;     // kernel buffer reads
  std::int64_t output_words_written = 0;  // neuron buffer writes (M*R*C)
  std::int64_t stall_cycles = 0;          // cycles passes wait for buffer ports
  std::int64_t fill_cycles = 0;           // pipeline fill, once per layer
  bool weights_reused_locally = false;    // weights read once and reused from the PE weight stores
};

struct MapperOptions {
  bool chaining = false;                       // enforce FlexFlow's chaining rule between consecutive layers
  std::map<std::string, Unrolling> overrides;  // fixed unrolling per layer name (validated, not searched)
  std::string source = "<mapping>";            // file named in error messages (e.g. the hardware config)
};

// The first violated constraint, e.g. "Tm*Tr*Tc = 18 exceeds D_r = 16", or nullopt if `u` is valid.
std::optional<std::string> unrolling_violation(const LayerShape& layer, const ArrayShape& array, const Unrolling& u);

// Cost of one given unrolling. Throws InputError (file `source`, location the layer) if the layer, the array
// or the unrolling is invalid, naming the violated constraint.
LayerMapping evaluate_unrolling(const LayerShape& layer, const ArrayShape& array, const Unrolling& u,
                                const std::string& source = "<mapping>");

// Every valid unrolling of the layer, in lexicographic order (for tests, reports and design-space plots).
std::vector<Unrolling> valid_unrollings(const LayerShape& layer, const ArrayShape& array);

// Best unrolling of one layer (or its override from options.overrides, validated). Chaining is ignored here:
// it is a property of a layer sequence, see map_network.
LayerMapping map_layer(const LayerShape& layer, const ArrayShape& array, const MapperOptions& options = {});

// One mapping per layer, in order. With options.chaining, consecutive layers satisfy the chaining rule
// (throws InputError naming the pair of layers if no unrolling can). An override naming no layer is an error.
std::vector<LayerMapping> map_network(const std::vector<LayerShape>& layers, const ArrayShape& array,
                                      const MapperOptions& options = {});

}  // namespace axsim::mapping
