// Block datapath of the PE array (fast mode): the values of a BLOCK of inferences computed at once.
//
// Why: the simulator's cost per inference was the instruction stream (TLM transfers, tile bookkeeping, one
// matrix-vector product per tile) rather than the arithmetic. Cycle counts, reads and energies of a layer do
// not depend on the data at a fixed mapping, so the controller can run the instruction stream once for B
// inferences and charge everything B times, while this class carries the B inferences' values: per dense
// layer one exact uint8 x int8 GEMM of the block's transformed activations with the layer's transformed
// stored weights (workloads/kernels, packed once), then, per tile, every inference's own faulty weight reads
// as sparse corrections (T(w') - T(w)) * x (the same rule as PeArray's sparse reads), then requantization.
// Results are bit-identical to PeArray::compute_tile on the same reads: the sums are exact integers.
//
// Scope: programs whose layers are dense layers on the PE array and flattens (supports()); activations whose
// transformed codes leave [0, 255] or weights whose transform leaves int8 take a plain int64 loop instead of
// the GEMM (same values).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "models/fault_channel.hpp"
#include "models/quantized_network.hpp"
#include "sim/program.hpp"
#include "workloads/data/dataset.hpp"
#include "workloads/kernels/gemm.hpp"

namespace axsim::sim {

class BlockDatapath {
 public:
  // Every layer of the program is a dense (vector) layer mapped to the PE array.
  static bool supports(const Program& program);

  // threads: OpenMP threads of the GEMM (results do not depend on it).
  BlockDatapath(const Program& program, const QuantizedNetwork& network, int threads);

  // Samples [first, first + copies) quantized with the program's input format: the first layer's input codes.
  void load_inputs(const Dataset& inputs, std::uint64_t first, int copies);
  // The layer starts: DRUM-transform the block's input codes for its multiplier, then the clean sums
  // bias + sum_n T(w[m][n]) T(x[n]) of every output of every inference.
  void begin_layer(const LayerPlan& plan);
  // Tile `tile`'s weight block (stored codes at `stored`) is read into the returned lists: entry c gets the
  // words inference c reads back different (index within the block); they correct outputs [m0, m0 + tm).
  std::vector<std::vector<WordChange>>& weight_read(int tile, const std::int8_t* stored);
  // The layer's outputs are final: every tile's corrections (one parallel region over the block's inferences:
  // each corrects only its own sums), then requantization into the next layer's input codes (or logits).
  void end_layer(const LayerPlan& plan);

  int copies() const { return copies_; }
  // Logits of inference c of the block (output layer, after its write-backs).
  std::span<const std::int64_t> logits(int copy) const {
    return {logits_.data() + std::size_t(copy) * std::size_t(classes_), std::size_t(classes_)};
  }

 private:
  struct LayerWeights {
    std::vector<std::int16_t> transformed;  // out x in: T(stored weight)
    kernels::PackedWeightsS8 packed;        // the same as int8, if every value fits
    int k = 8;                              // DRUM k of the weights (>= 8: exact)
  };

  const Program& program_;
  const QuantizedNetwork& network_;
  int threads_;
  std::vector<LayerWeights> weights_;  // per network layer
  int copies_ = 0;
  int width_ = 0;  // input width of the layer running (codes_ is copies x width)
  int classes_ = 0;
  std::vector<std::int16_t> codes_, next_codes_;  // untransformed activation codes, copy-major
  std::vector<std::int16_t> x16_;                 // transformed inputs of the layer running
  std::vector<std::uint8_t> x8_;                  // the same as uint8 (GEMM)
  std::vector<std::int32_t> sums_;                // copies x out: GEMM results
  std::vector<std::int64_t> acc_;                 // copies x out
  std::vector<std::int64_t> logits_;              // copies x classes
  struct TileRead {
    std::vector<std::vector<WordChange>> changes;  // per copy
    const std::int8_t* stored = nullptr;
  };
  std::vector<TileRead> reads_;  // per tile of the layer running
};

}  // namespace axsim::sim
