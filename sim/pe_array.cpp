#include "sim/pe_array.hpp"

#include <algorithm>
#include <stdexcept>

#include "models/drum.hpp"

namespace axsim::sim {

namespace {

// Exact dot products of transformed codes: int8 weights (exact products) or int16 weights (DRUM) times int16
// activations. The int32 forms are used when the layer's bound shows no partial sum can overflow
// (LayerPlan::int32_accumulation); they vectorize to vpmaddwd on AVX2 (chosen at run time).
__attribute__((target_clones("avx2", "default"))) std::int32_t dot_s8_i32(const std::int8_t* a, const std::int16_t* b,
                                                                          int n) {
  std::int32_t s = 0;
  for (int i = 0; i < n; ++i) s += std::int32_t(a[i]) * std::int32_t(b[i]);
  return s;
}

__attribute__((target_clones("avx2", "default"))) std::int32_t dot_s16_i32(const std::int16_t* a, const std::int16_t* b,
                                                                           int n) {
  std::int32_t s = 0;
  for (int i = 0; i < n; ++i) s += std::int32_t(a[i]) * std::int32_t(b[i]);
  return s;
}

template <class W>
std::int64_t dot_i64(const W* a, const std::int16_t* b, int n) {
  std::int64_t s = 0;
  for (int i = 0; i < n; ++i) s += std::int64_t(a[i]) * std::int64_t(b[i]);
  return s;
}

inline std::int64_t dot(const std::int8_t* a, const std::int16_t* b, int n, bool int32_ok) {
  return int32_ok ? std::int64_t(dot_s8_i32(a, b, n)) : dot_i64(a, b, n);
}
inline std::int64_t dot(const std::int16_t* a, const std::int16_t* b, int n, bool int32_ok) {
  return int32_ok ? std::int64_t(dot_s16_i32(a, b, n)) : dot_i64(a, b, n);
}

// Index of input row (or column) r*S + i of a tile's window in the window's distinct rows: the window is one
// run when taps >= stride, else `outputs` separate runs of `taps` rows.
inline int window_index(int out_local, int tap_local, int taps, int stride) {
  return taps >= stride ? out_local * stride + tap_local : out_local * taps + tap_local;
}

bool is_vector_layer(const LayerPlan& plan) { return plan.shape.R == 1 && plan.shape.C == 1 && plan.shape.K == 1; }

}  // namespace

PeArray::PeArray(sc_core::sc_module_name name, const Program& program, const QuantizedNetwork& network,
                 const HardwareConfig& hw, sc_core::sc_clock* clock)
    : sc_core::sc_module(name),
      program_(program),
      network_(network),
      rows_(hw.pe.rows),
      cols_(hw.pe.cols),
      pipeline_latency_(hw.array_shape().multiplier_stages + hw.array_shape().adder_stages()),
      writeback_cycles_(hw.pe.writeback_cycles) {
  std::size_t neuron_words = 1, weight_words = 1, outputs = 1, reduction = 1;
  for (const auto& plan : program.layers) {
    if (plan.engine != Engine::pe_array) continue;
    const auto& s = plan.shape;
    neuron_words = std::max(neuron_words, std::size_t(plan.max_tile_neuron_words));
    const std::size_t nkk = std::size_t(s.N) * s.K * s.K;
    weight_words = std::max(weight_words, std::size_t(std::min(plan.mapping.u.Tm, s.M)) * nkk);
    outputs = std::max(outputs, std::size_t(plan.mapping.u.Tm) * plan.mapping.u.Tr * plan.mapping.u.Tc);
    reduction = std::max(reduction, nkk);
  }
  const std::size_t slots = std::size_t(program.slots);
  neurons_.assign(slots, std::vector<std::int16_t>(neuron_words));
  weights_.assign(slots, std::vector<std::int8_t>(weight_words));
  transformed_.assign(slots, {});
  wide_.assign(slots, 0);
  sparse_.assign(slots, 0);
  stored_.assign(slots, nullptr);
  stored_transformed_.assign(slots, nullptr);
  changes_.assign(slots, {});
  sparse_k_.assign(slots, 8);
  accumulators_.assign(slots, std::vector<std::int64_t>(outputs));
  im2col_.resize(reduction);
  pes_.resize(std::size_t(rows_) * std::size_t(cols_));
  if (hw.timing == TimingMode::cycle) {
    if (!clock) throw std::logic_error("PeArray: cycle mode needs a clock");
    SC_METHOD(clock_tick);
    sensitive << clock->posedge_event();
    dont_initialize();
  }
}

bool PeArray::supports_sparse(const LayerPlan& plan) {
  return plan.engine == Engine::pe_array && (is_vector_layer(plan) || plan.merged_reduction);
}

void PeArray::use_stored_weights(int wslot, const std::int8_t* stored, std::size_t count,
                                 const Multiplier& multiplier) {
  const std::size_t w = std::size_t(wslot);
  const int k = multiplier.transform_k();
  sparse_[w] = 1;
  stored_[w] = stored;
  wide_[w] = k < 8;
  sparse_k_[w] = std::min(k, 8);
  if (k < 8) {
    auto it = clean_transformed_.find({stored, k});
    if (it == clean_transformed_.end() || it->second.size() != count) {
      std::vector<std::int16_t> t(count);
      drum_transform_batch(std::span<const std::int8_t>(stored, count), std::span<std::int16_t>(t), k);
      it = clean_transformed_.insert_or_assign({stored, k}, std::move(t)).first;
    }
    stored_transformed_[w] = it->second.data();
  }
}

void PeArray::prepare_weights(int wslot, std::size_t count, const Multiplier& multiplier) {
  sparse_[std::size_t(wslot)] = 0;
  // D(x, k) is the identity on magnitudes below 2^k: int8 codes (|x| <= 128) need no transform for k >= 8.
  const int k = multiplier.transform_k();
  wide_[std::size_t(wslot)] = k < 8;
  if (k >= 8) return;
  auto& out = transformed_[std::size_t(wslot)];
  if (out.size() < weights_[std::size_t(wslot)].size()) out.resize(weights_[std::size_t(wslot)].size());
  // Widening transform: a faulty word may hold -128, whose DRUM transform needs 9 bits.
  drum_transform_batch(std::span<const std::int8_t>(weights_[std::size_t(wslot)].data(), count),
                       std::span<std::int16_t>(out.data(), count), k);
}

void PeArray::transform_neurons(int slot, std::size_t count, const Multiplier& multiplier) {
  if (multiplier.transform_k() >= 16) return;  // identity on int16 codes
  drum_transform_batch(std::span<std::int16_t>(neurons_[std::size_t(slot)].data(), count), multiplier.transform_k());
}

void PeArray::init_accumulators(const LayerPlan& plan, const TilePlan& t, int slot) {
  const QLayer& layer = network_.layers[std::size_t(plan.index)];
  std::int64_t* acc = accumulators_[std::size_t(slot)].data();
  const int per_map = t.tr * t.tc;
  for (int m = 0; m < t.tm; ++m) {
    const std::int64_t bias = layer.bias.empty() ? 0 : layer.bias[std::size_t(t.m0 + m)];
    std::fill(acc + std::size_t(m) * per_map, acc + std::size_t(m + 1) * per_map, bias);
  }
}

template <class W>
void PeArray::accumulate_passwise(const LayerPlan& plan, const TilePlan& t, const std::vector<Pass>& passes,
                                  const W* weights, const std::int16_t* neurons, std::int64_t* acc) {
  const int K = plan.shape.K, S = plan.shape.stride;
  const std::size_t nkk = std::size_t(plan.shape.N) * K * K;
  for (const Pass& p : passes) {
    const std::int16_t* win = neurons + p.staging_offset;
    for (int m = 0; m < t.tm; ++m) {
      const W* wm = weights + std::size_t(m) * nkk;
      for (int r = 0; r < t.tr; ++r)
        for (int c = 0; c < t.tc; ++c) {
          std::int64_t s = 0;
          for (int n = 0; n < p.tn; ++n)
            for (int i = 0; i < p.ti; ++i) {
              const int ri = window_index(r, i, p.ti, S);
              const W* wrow = wm + (std::size_t(p.n0 + n) * K + std::size_t(p.i0 + i)) * K + p.j0;
              const std::int16_t* xrow = win + (std::size_t(n) * p.rows + std::size_t(ri)) * p.cols;
              for (int j = 0; j < p.tj; ++j)
                s += std::int64_t(wrow[j]) * std::int64_t(xrow[window_index(c, j, p.tj, S)]);
            }
          acc[(std::size_t(m) * t.tr + r) * t.tc + c] += s;
        }
    }
  }
}

template <class W>
void PeArray::compute(const LayerPlan& plan, const TilePlan& t, const W* w, const std::int16_t* x, std::int64_t* acc,
                      const Corrections* corrections) {
  const int K = plan.shape.K, S = plan.shape.stride, N = plan.shape.N;
  const int nkk = N * K * K;
  const bool int32_ok = plan.int32_accumulation;
  if (is_vector_layer(plan)) {
    // Dense: the passes of a tile read the input vector once, in order: one dot product per output.
    for (int m = 0; m < t.tm; ++m) acc[m] += dot(w + std::size_t(m) * nkk, x, N, int32_ok);
    // A faulty weight (m, n) read once changes output m by (T(w') - T(w)) * x[n]. Changes come sorted by
    // index, so the row is tracked without a division per fault.
    if (corrections) {
      std::uint64_t row = 0, row_start = 0;
      for (const WordChange& c : *corrections->changes) {
        while (c.word >= row_start + std::uint64_t(N)) {
          ++row;
          row_start += std::uint64_t(N);
        }
        acc[row] += corrections->delta(c) * x[c.word - row_start];
      }
    }
    return;
  }
  if (plan.merged_reduction) {
    // Corrections as (output map, operand index, delta), computed once for all outputs of the tile.
    struct Fix {
      std::uint32_t m, operand;
      std::int64_t delta;
    };
    std::vector<Fix> fixes;
    if (corrections)
      for (const WordChange& k : *corrections->changes)
        fixes.push_back(Fix{std::uint32_t(k.word / std::uint64_t(nkk)), std::uint32_t(k.word % std::uint64_t(nkk)),
                            corrections->delta(k)});
    // Every pass covers the whole kernel, so the concatenated pass windows are one [N][rows][cols] patch.
    const int rows = std::min(t.tr * K, (t.tr - 1) * S + K), cols = std::min(t.tc * K, (t.tc - 1) * S + K);
    std::int16_t* col = im2col_.data();
    for (int r = 0; r < t.tr; ++r)
      for (int c = 0; c < t.tc; ++c) {
        for (int n = 0; n < N; ++n)
          for (int i = 0; i < K; ++i) {
            const std::int16_t* xrow = x + (std::size_t(n) * rows + std::size_t(window_index(r, i, K, S))) * cols;
            for (int j = 0; j < K; ++j) col[(n * K + i) * K + j] = xrow[window_index(c, j, K, S)];
          }
        for (int m = 0; m < t.tm; ++m)
          acc[(std::size_t(m) * t.tr + r) * t.tc + c] += dot(w + std::size_t(m) * nkk, col, nkk, int32_ok);
        // The weight block was read once for the whole tile: a faulty weight is wrong for every output of it.
        for (const Fix& f : fixes) acc[(std::size_t(f.m) * t.tr + r) * t.tc + c] += f.delta * col[f.operand];
      }
    return;
  }
  accumulate_passwise(plan, t, plan.passes(t), w, x, acc);
}

void PeArray::compute_tile(const LayerPlan& plan, int tile, int slot, int wslot) {
  const TilePlan& t = plan.tiles[std::size_t(tile)];
  init_accumulators(plan, t, slot);
  std::int64_t* acc = accumulators_[std::size_t(slot)].data();
  const std::int16_t* x = neurons_[std::size_t(slot)].data();
  const std::size_t w = std::size_t(wslot);
  if (sparse_[w]) {
    if (!supports_sparse(plan)) throw std::logic_error("PeArray: sparse weights on a layer computed pass by pass");
    const Corrections corrections{&changes_[w], stored_[w], sparse_k_[w]};
    if (wide_[w])
      compute(plan, t, stored_transformed_[w], x, acc, &corrections);
    else
      compute(plan, t, stored_[w], x, acc, &corrections);
  } else if (wide_[w]) {
    compute(plan, t, transformed_[w].data(), x, acc);
  } else {
    compute(plan, t, weights_[w].data(), x, acc);
  }
}

// ---------------------------------------------------------------------------------------------------------
// cycle mode

void PeArray::enqueue_tile(const LayerPlan& plan, int tile, int slot, int wslot, std::uint64_t serial) {
  const TilePlan& t = plan.tiles[std::size_t(tile)];
  init_accumulators(plan, t, slot);
  queue_.push_back(Job{&plan, tile, slot, wslot, serial, &plan.passes(t), 0});
}

void PeArray::wait_tile(std::uint64_t serial) {
  while (!done_.count(serial)) sc_core::wait(done_event_);
  done_.erase(serial);
}

void PeArray::begin_layer_measure() {
  layer_first_tick_ = -1;
  layer_last_tick_ = -1;
}

std::int64_t PeArray::layer_cycles() const {
  return layer_first_tick_ < 0 ? 0 : layer_last_tick_ - layer_first_tick_ + 1;
}

template <class W>
void PeArray::issue_pass(const LayerPlan& plan, const TilePlan& t, const Pass& p, const W* weights,
                         const std::int16_t* neurons, std::vector<std::int64_t>& row_sums) {
  const int K = plan.shape.K, S = plan.shape.stride;
  const std::size_t nkk = std::size_t(plan.shape.N) * K * K;
  const std::int16_t* win = neurons + p.staging_offset;
  row_sums.assign(std::size_t(t.tm) * t.tr * t.tc, 0);
  // PE row = output (m, r, c), PE column = operand (n, i, j); the unrolling keeps both inside the array.
  for (int m = 0; m < t.tm; ++m)
    for (int r = 0; r < t.tr; ++r)
      for (int c = 0; c < t.tc; ++c) {
        const int row = (m * t.tr + r) * t.tc + c;
        std::int64_t tree = 0;  // the row's adder tree
        for (int n = 0; n < p.tn; ++n)
          for (int i = 0; i < p.ti; ++i)
            for (int j = 0; j < p.tj; ++j) {
              const int column = (n * p.ti + i) * p.tj + j;
              ProcessingElement& pe = pes_[std::size_t(row) * cols_ + std::size_t(column)];
              pe.weight = weights[std::size_t(m) * nkk + (std::size_t(p.n0 + n) * K + std::size_t(p.i0 + i)) * K +
                                  std::size_t(p.j0 + j)];
              pe.neuron = win[(std::size_t(n) * p.rows + std::size_t(window_index(r, i, p.ti, S))) * p.cols +
                              std::size_t(window_index(c, j, p.tj, S))];
              pe.multiply();
              tree += pe.product;
            }
        row_sums[std::size_t(row)] = tree;
      }
}

void PeArray::clock_tick() {
  ++tick_;
  // Operand fetch and issue: a pass occupies its fetch cycles, then enters the multipliers.
  if (!queue_.empty()) {
    Job& job = queue_.front();
    if (layer_first_tick_ < 0) layer_first_tick_ = tick_;
    const Pass& pass = (*job.passes)[job.next];
    if (++fetch_progress_ >= pass.cycles) {
      fetch_progress_ = 0;
      const TilePlan& t = job.plan->tiles[std::size_t(job.tile)];
      InFlight f{tick_ + pipeline_latency_, job.slot, {}, job.next + 1 == job.passes->size(), job.serial};
      const std::int16_t* x = neurons_[std::size_t(job.slot)].data();
      if (wide_[std::size_t(job.wslot)])
        issue_pass(*job.plan, t, pass, transformed_[std::size_t(job.wslot)].data(), x, f.row_sums);
      else
        issue_pass(*job.plan, t, pass, weights_[std::size_t(job.wslot)].data(), x, f.row_sums);
      in_flight_.push_back(std::move(f));
      if (++job.next == job.passes->size()) queue_.pop_front();
    }
  }
  // Passes leaving the adder trees add into their tile's accumulators.
  while (!in_flight_.empty() && in_flight_.front().complete_tick <= tick_) {
    InFlight& f = in_flight_.front();
    std::int64_t* acc = accumulators_[std::size_t(f.slot)].data();
    for (std::size_t k = 0; k < f.row_sums.size(); ++k) acc[k] += f.row_sums[k];
    if (f.last) writing_back_.emplace_back(tick_ + writeback_cycles_, f.serial);
    in_flight_.pop_front();
  }
  bool notify = false;
  while (!writing_back_.empty() && writing_back_.front().first <= tick_) {
    done_.insert(writing_back_.front().second);
    writing_back_.pop_front();
    layer_last_tick_ = tick_;
    notify = true;
  }
  if (notify) done_event_.notify();
}

}  // namespace axsim::sim
