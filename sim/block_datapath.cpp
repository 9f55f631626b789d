#include "sim/block_datapath.hpp"

#include <algorithm>
#include <stdexcept>

#include "models/drum.hpp"
#include "models/fixed_point.hpp"

namespace axsim::sim {

namespace {

bool is_dense_on_array(const LayerPlan& plan) {
  return plan.engine == Engine::pe_array && plan.kind == QOpKind::dense && plan.shape.R == 1 && plan.shape.C == 1 &&
         plan.shape.K == 1;
}

}  // namespace

bool BlockDatapath::supports(const Program& program) {
  if (program.layers.empty() || program.input.pad != 0) return false;
  for (const auto& plan : program.layers) {
    if (plan.engine == Engine::reshape) continue;  // a flatten: the same words, another view
    if (!is_dense_on_array(plan) || (!plan.is_output && plan.output.pad != 0)) return false;
  }
  return true;
}

BlockDatapath::BlockDatapath(const Program& program, const QuantizedNetwork& network, int threads)
    : program_(program), network_(network), threads_(std::max(1, threads)) {
  if (!supports(program)) throw std::logic_error("BlockDatapath: the program has layers other than dense ones");
  weights_.resize(network.layers.size());
  for (const auto& plan : program.layers) {
    if (plan.engine == Engine::reshape) continue;
    const QLayer& l = network.layers[std::size_t(plan.index)];
    LayerWeights& w = weights_[std::size_t(plan.index)];
    // D(x, k) is the identity on int8 codes for k >= 8 (as in PeArray::use_stored_weights).
    w.k = std::min(plan.multiplier.transform_k(), 8);
    w.transformed.resize(l.weights.size());
    if (w.k < 8)
      drum_transform_batch(std::span<const std::int8_t>(l.weights), std::span<std::int16_t>(w.transformed), w.k);
    else
      std::copy(l.weights.begin(), l.weights.end(), w.transformed.begin());
    const bool fits =
        std::all_of(w.transformed.begin(), w.transformed.end(), [](std::int16_t v) { return v >= -128 && v <= 127; });
    if (fits && plan.shape.N <= kernels::kMaxInt8GemmK) {
      const std::vector<std::int8_t> w8(w.transformed.begin(), w.transformed.end());
      w.packed = kernels::PackedWeightsS8(kernels::Trans::yes, plan.shape.N, plan.shape.M, w8.data(), plan.shape.N);
    }
    if (plan.is_output) classes_ = plan.shape.M;
  }
}

void BlockDatapath::load_inputs(const Dataset& inputs, std::uint64_t first, int copies) {
  copies_ = copies;
  width_ = int(inputs.feature_count());
  codes_.resize(std::size_t(copies) * std::size_t(width_));
  const std::span<const float> features(inputs.features.data() + first * std::size_t(width_), codes_.size());
  quantize(program_.input_format, features, std::span<std::int16_t>(codes_));
  logits_.assign(std::size_t(copies) * std::size_t(classes_), 0);
}

void BlockDatapath::begin_layer(const LayerPlan& plan) {
  if (plan.engine == Engine::reshape) return;
  const int N = plan.shape.N, M = plan.shape.M;
  if (N != width_) throw std::logic_error("BlockDatapath: layer input width disagrees with the previous layer");
  const std::size_t inputs = std::size_t(copies_) * std::size_t(N);
  // The PE array transforms the neuron operands once when they enter it (PeArray::transform_neurons).
  x16_.assign(codes_.begin(), codes_.begin() + std::ptrdiff_t(inputs));
  if (plan.multiplier.transform_k() < 16)
    drum_transform_batch(std::span<std::int16_t>(x16_), plan.multiplier.transform_k());
  const LayerWeights& w = weights_[std::size_t(plan.index)];
  const QLayer& l = network_.layers[std::size_t(plan.index)];
  acc_.resize(std::size_t(copies_) * std::size_t(M));
  const auto [lo, hi] = std::minmax_element(x16_.begin(), x16_.end());
  const bool gemm = !w.packed.empty() && !x16_.empty() && *lo >= 0 && *hi <= 255;
  if (gemm) {
    x8_.assign(x16_.begin(), x16_.end());
    sums_.resize(acc_.size());
    // (gemm_u7s8_fused, the byte-wise kernel for inputs <= 127, measured slower here on 128-input blocks.)
    kernels::GemmOptions options;
    options.threads = threads_;
    kernels::gemm_u8s8s32(copies_, x8_.data(), N, w.packed, sums_.data(), M, options);
    for (int c = 0; c < copies_; ++c)
      for (int m = 0; m < M; ++m) {
        const std::size_t at = std::size_t(c) * std::size_t(M) + std::size_t(m);
        acc_[at] = std::int64_t(l.bias.empty() ? 0 : l.bias[std::size_t(m)]) + sums_[at];
      }
  } else {
    for (int c = 0; c < copies_; ++c) {
      const std::int16_t* x = x16_.data() + std::size_t(c) * std::size_t(N);
      for (int m = 0; m < M; ++m) {
        const std::int16_t* wm = w.transformed.data() + std::size_t(m) * std::size_t(N);
        std::int64_t s = l.bias.empty() ? 0 : l.bias[std::size_t(m)];
        for (int n = 0; n < N; ++n) s += std::int64_t(wm[n]) * std::int64_t(x[n]);
        acc_[std::size_t(c) * std::size_t(M) + std::size_t(m)] = s;
      }
    }
  }
  next_codes_.assign(plan.is_output ? 0 : std::size_t(copies_) * std::size_t(M), 0);
}

std::vector<std::vector<WordChange>>& BlockDatapath::weight_read(int tile, const std::int8_t* stored) {
  if (reads_.size() <= std::size_t(tile)) reads_.resize(std::size_t(tile) + 1);
  TileRead& r = reads_[std::size_t(tile)];
  r.changes.resize(std::size_t(copies_));
  for (auto& c : r.changes) c.clear();
  r.stored = stored;
  return r.changes;
}

void BlockDatapath::end_layer(const LayerPlan& plan) {
  if (plan.engine == Engine::reshape) return;
  const int N = plan.shape.N, M = plan.shape.M;
  const int k = weights_[std::size_t(plan.index)].k;
  const QLayer& l = network_.layers[std::size_t(plan.index)];
  const int shift = l.accumulator_shift();
  if (reads_.size() < plan.tiles.size()) throw std::logic_error("BlockDatapath: a tile's weights were not read");
#pragma omp parallel for num_threads(threads_) schedule(static) if (threads_ > 1 && copies_ > 1)
  for (int c = 0; c < copies_; ++c) {
    const std::int16_t* x = x16_.data() + std::size_t(c) * std::size_t(N);
    std::int64_t* acc = acc_.data() + std::size_t(c) * std::size_t(M);
    for (std::size_t tile = 0; tile < plan.tiles.size(); ++tile) {
      const TileRead& r = reads_[tile];
      std::int64_t* tile_acc = acc + plan.tiles[tile].m0;
      // Changes come sorted by index: the row is tracked without a division per fault (as PeArray::compute).
      std::uint64_t row = 0, row_start = 0;
      for (const WordChange& ch : r.changes[std::size_t(c)]) {
        while (ch.word >= row_start + std::uint64_t(N)) {
          ++row;
          row_start += std::uint64_t(N);
        }
        const std::int64_t delta =
            k < 8 ? std::int64_t(drum_transform_signed(ch.value, k)) - drum_transform_signed(r.stored[ch.word], k)
                  : std::int64_t(ch.value) - r.stored[ch.word];
        tile_acc[row] += delta * x[ch.word - row_start];
      }
    }
    if (plan.is_output) {
      std::copy(acc, acc + M, logits_.data() + std::size_t(c) * std::size_t(classes_));
    } else {
      std::int16_t* out = next_codes_.data() + std::size_t(c) * std::size_t(M);
      for (int m = 0; m < M; ++m) out[m] = std::int16_t(requantize(acc[m], shift, l.output_format, l.relu));
    }
  }
  if (plan.is_output) return;
  codes_.swap(next_codes_);
  width_ = M;
}

}  // namespace axsim::sim
