#include "workloads/quant/executor.hpp"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "models/drum.hpp"
#include "models/fault_sampler.hpp"
#include "models/fixed_point.hpp"
#include "workloads/quant/input_codes.hpp"

namespace axsim::quant {

namespace {

// Largest transformed magnitude over the magnitudes 0..max_magnitude.
std::int64_t max_transformed(std::uint32_t max_magnitude, int k) {
  std::uint32_t best = 0;
  for (std::uint32_t m = 0; m <= max_magnitude; ++m) best = std::max(best, drum_transform(m, k));
  return best;
}

std::size_t fan_in(const QLayer& l) { return std::size_t(l.in_c) * l.kernel * l.kernel; }

// Looks up a per-layer rate; unknown names were rejected by set_faults.
double rate_of(const std::string& name, double fallback, const std::map<std::string, double>& rates) {
  const auto it = rates.find(name);
  return it == rates.end() ? fallback : it->second;
}

void check_rate(const FaultChannel& channel, double rate, const std::string& location) {
  try {
    channel.check_rate(rate);
  } catch (const std::invalid_argument&) {
    throw_input_error("<faults>", location,
                      "a fault rate in [0, " + std::to_string(channel.max_rate()) + "] for channel '" +
                          std::string(channel.name()) + "'",
                      std::to_string(rate));
  }
}

// Below this many elementary operations a parallel region costs more (fork/join, and much more when the
// machine is oversubscribed) than it saves; such loops run on the calling thread. Results are the same.
constexpr double kMinParallelWork = 32768;
constexpr double kMinParallelMacs = 1 << 20;

// One input's bias + accumulators in NCHW order. acc is positions x out_c (as the GEMM writes it).
// For dense layers (positions = 1) the layouts agree and out may be acc itself.
void add_bias_nchw(const std::int32_t* acc, const std::int32_t* bias, int out_c, int positions, std::int32_t* out) {
  if (positions == 1) {  // dense: same layout, one vectorizable pass
    for (int o = 0; o < out_c; ++o) out[o] = acc[o] + (bias ? bias[o] : 0);
    return;
  }
  for (int o = 0; o < out_c; ++o) {
    const std::int32_t bias_o = bias ? bias[o] : 0;
    for (int p = 0; p < positions; ++p) out[std::size_t(o) * positions + p] = bias_o + acc[std::size_t(p) * out_c + o];
  }
}

std::int32_t argmax(const std::int32_t* values, int count) {
  int best = 0;
  for (int i = 1; i < count; ++i)
    if (values[i] > values[best]) best = i;
  return best;
}

// The byte-wise kernel over rows [0, m), split into row ranges over nt threads when that pays.
void run_quad(int m, const std::uint8_t* a, int lda, const kernels::PackedQuadWeights& w,
              const kernels::QuadEpilogue& epilogue, int nt) {
  const double macs = double(m) * w.k() * w.n();
  if (nt <= 1 || macs < kMinParallelMacs || m < 8 || omp_in_parallel()) {
    kernels::gemm_u7s8_fused(m, a, lda, w, epilogue);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), threads = omp_get_num_threads();
    const int begin = int(static_cast<long long>(m) * t / threads),
              end = int(static_cast<long long>(m) * (t + 1) / threads);
    kernels::QuadEpilogue part = epilogue;
    if (part.c) part.c += std::ptrdiff_t(begin) * part.ldc;
    if (part.codes) part.codes += std::ptrdiff_t(begin) * part.ldcodes;
    kernels::gemm_u7s8_fused(end - begin, a + std::ptrdiff_t(begin) * lda, lda, w, part);
  }
}

}  // namespace

std::int64_t accumulator_bound(const QLayer& layer) {
  const int k = layer.multiplier.transform_k();
  // Stored signed words of `bits` hold -2^(bits-1) .. 2^(bits-1)-1, so a faulty read can have magnitude
  // 2^(bits-1) even though the symmetric format never stores it.
  const std::int64_t weight =
      layer.binary_weights ? 1 : max_transformed(std::uint32_t(1) << (layer.weight_format.bits - 1), k);
  const std::int64_t activation = max_transformed(std::uint32_t(layer.input_format.max_code()), k);
  return std::int64_t(fan_in(layer)) * weight * activation;
}

QuantizedExecutor::QuantizedExecutor(QuantizedNetwork net, ExecutorOptions options)
    : net_(std::move(net)), options_(options) {
  const std::string origin = "quantized network " + net_.name;
  validate(net_, origin);
  if (options_.batch < 1)
    throw_input_error("<executor options>", "batch", "a batch of at least 1", std::to_string(options_.batch));
  if (options_.threads < 0)
    throw_input_error("<executor options>", "threads", "0 (all) or a positive thread count",
                      std::to_string(options_.threads));
  layers_.resize(net_.layers.size());
  for (std::size_t i = 0; i < net_.layers.size(); ++i) {
    const QLayer& l = net_.layers[i];
    if (!l.input_format.codes_fit<std::uint8_t>())
      throw_input_error(origin, "layer " + l.name, "activation codes that fit 8 stored bits (unsigned, at most 9 bits)",
                        l.input_format.to_string());
    if (!l.has_weights()) continue;
    if (fan_in(l) > std::size_t(kernels::kMaxInt8GemmK))
      throw_input_error(origin, "layer " + l.name,
                        "at most " + std::to_string(kernels::kMaxInt8GemmK) + " inputs per output",
                        std::to_string(fan_in(l)));
    std::int64_t max_bias = 0;
    for (std::int32_t b : l.bias) max_bias = std::max<std::int64_t>(max_bias, b < 0 ? -std::int64_t(b) : b);
    const std::int64_t bound = accumulator_bound(l);
    if (max_bias + bound > std::numeric_limits<std::int32_t>::max())
      throw_input_error(origin, "layer " + l.name, "|bias| + sum of products within int32 (2^31 - 1)",
                        std::to_string(max_bias) + " + " + std::to_string(bound));
    LayerState& s = layers_[i];
    s.activation_k = l.multiplier.is_exact() ? 32 : l.multiplier.transform_k();
    if (s.activation_k < 32 && drum_transform(0u, s.activation_k) != 0)  // run_chunk skips zero codes
      throw std::logic_error("QuantizedExecutor: the DRUM transform of 0 is not 0");
    // Dense layers whose (transformed) activations never exceed 127, faulty reads included (an unsigned
    // code's sign bit is not stored), run on the byte-wise kernel with the fused epilogue.
    s.quad = l.kind == QOpKind::dense &&
             max_transformed(std::uint32_t(l.input_format.max_code()), s.activation_k) <= kernels::kMaxQuadActivation;
    s.stored = l.weights;
    prepare_weights(i);
  }
}

int QuantizedExecutor::threads() const { return options_.threads > 0 ? options_.threads : omp_get_max_threads(); }

bool QuantizedExecutor::has_fault_source() const {
  for (const LayerState& s : layers_)
    if (s.weight_rate > 0.0 || s.activation_rate > 0.0) return true;
  return false;
}

void QuantizedExecutor::prepare_weights(std::size_t layer) {
  const QLayer& l = net_.layers[layer];
  LayerState& s = layers_[layer];
  const std::size_t n = s.stored.size();
  s.transformed.resize(n);
  // Widening transform: accepts -128, which only a faulty read produces.
  drum_transform_batch(std::span<const std::int8_t>(s.stored), std::span<std::int16_t>(s.transformed),
                       l.multiplier.transform_k());
  std::vector<std::int8_t> packable(n);
  s.overflow.clear();
  for (std::size_t i = 0; i < n; ++i) {
    const int t = s.transformed[i];
    const int saturated = std::clamp(t, -128, 127);
    packable[i] = std::int8_t(saturated);
    if (t != saturated) s.overflow.push_back({std::uint32_t(i), t - saturated});
  }
  const int k = int(fan_in(l));
  if (s.quad)
    s.quad_packed = kernels::PackedQuadWeights(k, l.out_c, packable.data(), k);
  else
    s.packed = kernels::PackedWeightsS8(kernels::Trans::yes, k, l.out_c, packable.data(), k);
}

void QuantizedExecutor::set_faults(const FaultInjection& faults) {
  auto weight_channel = make_fault_channel(faults.weight_channel, "<faults>", "weight_channel");
  auto activation_channel = make_fault_channel(faults.activation_channel, "<faults>", "activation_channel");
  std::vector<std::string> names;
  for (const QLayer& l : net_.layers)
    if (l.has_weights()) names.push_back(l.name);
  auto check_names = [&](const std::map<std::string, double>& rates, const std::string& what) {
    for (const auto& [name, rate] : rates)
      if (std::find(names.begin(), names.end(), name) == names.end())
        throw_input_error("<faults>", what + "." + name, "the name of a dense/conv2d layer of " + net_.name,
                          "'" + name + "'", closest_match(name, names));
  };
  check_names(faults.weight_rates, "weight_rates");
  check_names(faults.activation_rates, "activation_rates");
  check_rate(*weight_channel, faults.weight_rate, "weight_rate");
  check_rate(*activation_channel, faults.activation_rate, "activation_rate");
  for (const auto& [name, rate] : faults.weight_rates) check_rate(*weight_channel, rate, "weight_rates." + name);
  for (const auto& [name, rate] : faults.activation_rates)
    check_rate(*activation_channel, rate, "activation_rates." + name);

  faults_ = faults;
  weight_channel_ = std::move(weight_channel);
  activation_channel_ = std::move(activation_channel);
  for (std::size_t i = 0; i < net_.layers.size(); ++i) {
    const QLayer& l = net_.layers[i];
    if (!l.has_weights()) continue;
    LayerState& s = layers_[i];
    s.weight_rate = rate_of(l.name, faults.weight_rate, faults.weight_rates);
    s.activation_rate = rate_of(l.name, faults.activation_rate, faults.activation_rates);
    if (s.faulty) {  // back to the fault-free codes; begin_trial draws new faults
      s.stored = l.weights;
      prepare_weights(i);
      s.faulty = false;
    }
  }
  weight_totals_ = {};
  activation_totals_ = {};
  trial_ = 0;
  trial_ready_ = false;
  corrections_layer_ = SIZE_MAX;
}

void QuantizedExecutor::begin_trial(std::uint64_t trial) {
  if (trial_ready_ && trial == trial_) return;
  trial_ = trial;
  trial_ready_ = true;
  corrections_layer_ = SIZE_MAX;
  if (faults_.weight_draw != WeightFaultDraw::per_trial) return;
  for (std::size_t i = 0; i < net_.layers.size(); ++i) {
    const QLayer& l = net_.layers[i];
    LayerState& s = layers_[i];
    if (!l.has_weights() || s.weight_rate <= 0.0) continue;
    s.stored = l.weights;
    weight_totals_ += weight_channel_->apply(std::span<std::int8_t>(s.stored), l.weight_layout(), s.weight_rate,
                                             faults_.seed, stream_id({kWeightTrialStream, trial, i}));
    s.faulty = true;
    prepare_weights(i);
  }
}

std::span<const std::int8_t> QuantizedExecutor::stored_weights(std::size_t layer) const {
  if (layer >= layers_.size() || !net_.layers[layer].has_weights())
    throw std::out_of_range("QuantizedExecutor::stored_weights: layer " + std::to_string(layer) + " has no weights");
  return layers_[layer].stored;
}

std::vector<WeightFault> QuantizedExecutor::draw_inference_faults(std::size_t layer, std::uint64_t inference,
                                                                  FaultStats& stats) const {
  const QLayer& l = net_.layers[layer];
  const LayerState& s = layers_[layer];
  std::vector<WeightFault> result;
  if (faults_.weight_draw != WeightFaultDraw::per_inference || s.weight_rate <= 0.0) return result;
  // Exactly what FaultChannel::apply(words, layout, p, rng) does to a full copy of the weights, drawn
  // with the same sampler and the same sequence of random numbers (the tests check the equality), but
  // only the faulty words are visited and reported: O(faults) instead of O(weights) per inference.
  const FaultChannel& channel = *weight_channel_;
  const WordLayout layout = l.weight_layout();
  const std::uint64_t n = s.stored.size();
  CounterRng rng(faults_.seed, stream_id({kWeightInferenceStream, trial_, layer, inference}));
  const FaultSampler sampler(s.weight_rate);
  auto read_faulty = [&](std::uint64_t word, std::uint32_t faulty, std::uint32_t stuck_ones) {
    const std::int8_t stored = s.stored[word];
    const std::int64_t read = channel.corrupt(stored, faulty, stuck_ones, layout);
    ++stats.faulty_words;
    if (read != stored) {
      ++stats.words_changed;
      result.push_back({std::uint32_t(word), std::int8_t(read)});
    }
  };
  stats.words_read += n;
  stats.bits_read += n * std::uint64_t(layout.stored_bits());
  if (channel.unit() == FaultUnit::word) {
    const std::uint32_t whole_word = stored_mask(layout) ? stored_mask(layout) : 1u;  // the channel's contract
    sampler.for_each_faulty_word(n, rng, [&](std::uint64_t word) { read_faulty(word, whole_word, 0); });
    return result;
  }
  // Faulty cells arrive sorted by (word, bit); a word is corrupted once with all its faulty cells.
  constexpr std::uint64_t kNone = ~std::uint64_t(0);
  const bool draw_stuck = channel.draws_stuck_values();
  std::uint64_t current = kNone;
  std::uint32_t faulty = 0, stuck_ones = 0;
  stats.faulty_bits += sampler.for_each_faulty_bit(n, layout.stored_bits(), rng, [&](std::uint64_t word, unsigned bit) {
    const bool stuck_one = draw_stuck && (rng.next_u64() >> 63) != 0;
    if (word != current) {
      if (current != kNone) read_faulty(current, faulty, stuck_ones);
      current = word;
      faulty = stuck_ones = 0;
    }
    faulty |= std::uint32_t(1) << bit;
    if (stuck_one) stuck_ones |= std::uint32_t(1) << bit;
  });
  if (current != kNone) read_faulty(current, faulty, stuck_ones);
  return result;
}

std::vector<WeightFault> QuantizedExecutor::inference_weight_faults(std::size_t layer, std::uint64_t inference) const {
  if (layer >= layers_.size() || !net_.layers[layer].has_weights())
    throw std::out_of_range("QuantizedExecutor::inference_weight_faults: layer " + std::to_string(layer) +
                            " has no weights");
  FaultStats ignored;
  return draw_inference_faults(layer, inference, ignored);
}

FaultStats QuantizedExecutor::apply_activation_faults(std::size_t layer, std::uint64_t inference,
                                                      std::span<std::uint8_t> codes) const {
  if (layer >= layers_.size() || !net_.layers[layer].has_weights())
    throw std::out_of_range("QuantizedExecutor::apply_activation_faults: layer " + std::to_string(layer) +
                            " has no weights");
  const LayerState& s = layers_[layer];
  const WordLayout layout = net_.layers[layer].input_layout();
  if (s.activation_rate <= 0.0) return {};
  CounterRng rng(faults_.seed, stream_id({kActivationStream, trial_, layer, inference}));
  if (layout.bits <= 8) {  // codes 0..127 read the same as int8
    return activation_channel_->apply(
        std::span<std::int8_t>(reinterpret_cast<std::int8_t*>(codes.data()), codes.size()), layout, s.activation_rate,
        rng);
  }
  std::vector<std::int16_t> wide(codes.begin(), codes.end());
  const FaultStats stats = activation_channel_->apply(std::span<std::int16_t>(wide), layout, s.activation_rate, rng);
  std::copy(wide.begin(), wide.end(), codes.begin());
  return stats;
}

void QuantizedExecutor::run(const float* features, std::size_t n, std::uint64_t first, std::int32_t* logits,
                            std::int32_t* predictions) {
  const std::size_t in = input_size();
  run_batches(n, first, logits, predictions, [&](std::size_t begin, std::size_t m, std::uint8_t* codes) {
    quantize_input_codes(net_.input_format, features + begin * in, m * in, codes);
  });
}

void QuantizedExecutor::run_codes(const std::uint8_t* codes, std::size_t n, std::uint64_t first, std::int32_t* logits,
                                  std::int32_t* predictions) {
  // Validate everything up front: nothing may throw inside the parallel region.
  const std::size_t in = input_size();
  const std::int32_t max_code = net_.input_format.max_code();
  std::uint8_t largest = 0;
  for (std::size_t i = 0; i < n * in; ++i) largest = std::max(largest, codes[i]);  // vectorizes
  if (largest > max_code) {
    const std::size_t i =
        std::size_t(std::find_if(codes, codes + n * in, [&](std::uint8_t c) { return c > max_code; }) - codes);
    throw_input_error("<input codes>",
                      "input " + std::to_string(first + i / in) + ", feature " + std::to_string(i % in),
                      "a code of " + net_.input_format.to_string() + " (0.." + std::to_string(max_code) + ")",
                      std::to_string(codes[i]));
  }
  run_batches(n, first, logits, predictions, [&](std::size_t begin, std::size_t m, std::uint8_t* chunk_codes) {
    std::copy(codes + begin * in, codes + (begin + m) * in, chunk_codes);
  });
}

template <class FillCodes>
void QuantizedExecutor::run_batches(std::size_t n, std::uint64_t first, std::int32_t* logits, std::int32_t* predictions,
                                    FillCodes&& fill_codes) {
  if (n == 0) return;
  if (!trial_ready_) begin_trial(trial_);
  // Chunks of at most `batch` inputs, at least one per thread. With several chunks, whole chunks run in
  // parallel (one parallel region per call, no per-layer barriers, each thread's data in its own
  // cache); a single chunk parallelises inside its layers instead. Every input is computed alone, so
  // the split never changes a result.
  const int nt = threads();
  const std::size_t per_thread = (n + std::size_t(nt) - 1) / std::size_t(nt);
  const std::size_t chunk = std::max<std::size_t>(1, std::min(std::size_t(options_.batch), per_thread));
  const std::size_t chunks = (n + chunk - 1) / chunk;
  const bool parallel_chunks = nt > 1 && chunks > 1;
  const int inner_threads = parallel_chunks ? 1 : nt;
  if (scratch_.size() < std::size_t(nt)) scratch_.resize(std::size_t(nt));
  std::vector<FaultStats> weight_stats(chunks), activation_stats(chunks);
  const std::size_t in = input_size();
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (parallel_chunks)
  for (long long c = 0; c < static_cast<long long>(chunks); ++c) {
    Scratch& scratch = scratch_[std::size_t(omp_get_thread_num())];
    const std::size_t begin = std::size_t(c) * chunk, m = std::min(chunk, n - begin);
    scratch.codes_a.resize(std::max(scratch.codes_a.size(), m * in));
    fill_codes(begin, m, scratch.codes_a.data());
    run_chunk(scratch.codes_a.data(), m, first + begin, logits ? logits + begin * std::size_t(classes()) : nullptr,
              predictions ? predictions + begin : nullptr, scratch, inner_threads, weight_stats[std::size_t(c)],
              activation_stats[std::size_t(c)]);
  }
  for (std::size_t c = 0; c < chunks; ++c) {
    weight_totals_ += weight_stats[c];
    activation_totals_ += activation_stats[c];
  }
}

void QuantizedExecutor::run_chunk(std::uint8_t* codes, std::size_t n, std::uint64_t first, std::int32_t* logits,
                                  std::int32_t* predictions, Scratch& scratch, int nt, FaultStats& weight_stats,
                                  FaultStats& activation_stats, std::size_t first_layer) const {
  auto worth = [&](double work) { return nt > 1 && work >= kMinParallelWork; };
  const long long batch = static_cast<long long>(n);
  // Activation codes ping-pong between the two scratch buffers; `codes` is codes_a's storage.
  std::vector<std::uint8_t>* buffers[2] = {&scratch.codes_a, &scratch.codes_b};
  int current_buffer = 0;
  std::uint8_t* current = codes;
  std::int32_t* out_logits = logits;
  if (!out_logits) {
    scratch.logits.resize(std::max(scratch.logits.size(), n * std::size_t(classes())));
    out_logits = scratch.logits.data();
  }
  const kernels::GemmOptions gemm_options{kernels::Isa::automatic, nt};

  for (std::size_t li = first_layer; li < net_.layers.size(); ++li) {
    const QLayer& l = net_.layers[li];
    const LayerState& s = layers_[li];
    const std::size_t in_size = l.input_size(), out_size = l.output_size();
    if (l.kind == QOpKind::flatten) continue;  // NCHW codes are already the flat vector

    std::uint8_t* next = nullptr;
    if (!l.is_output) {
      std::vector<std::uint8_t>& target = *buffers[1 - current_buffer];  // never the one being read
      target.resize(std::max(target.size(), n * out_size));
      next = target.data();
    }

    if (l.kind == QOpKind::maxpool || l.kind == QOpKind::avgpool) {
      const bool max = l.kind == QOpKind::maxpool;
      const int window = l.kernel * l.kernel;
      const long long planes = batch * l.in_c;
      const bool parallel = worth(double(n) * out_size * window);
#pragma omp parallel for num_threads(nt) schedule(static) if (parallel)
      for (long long plane = 0; plane < planes; ++plane) {
        const std::uint8_t* src = current + std::size_t(plane) * l.in_h * l.in_w;
        std::uint8_t* dst = next + std::size_t(plane) * l.out_h * l.out_w;
        for (int oy = 0; oy < l.out_h; ++oy)
          for (int ox = 0; ox < l.out_w; ++ox) {
            std::int64_t acc = 0;
            for (int i = 0; i < l.kernel; ++i)
              for (int j = 0; j < l.kernel; ++j) {
                const std::uint8_t v = src[(oy * l.stride + i) * l.in_w + ox * l.stride + j];
                acc = max ? std::max<std::int64_t>(acc, v) : acc + v;
              }
            dst[oy * l.out_w + ox] = std::uint8_t(max ? acc : average_codes(acc, window));
          }
      }
    } else {
      // ---- dense / conv2d ----
      if (s.activation_rate > 0.0) {
        scratch.activation_stats.assign(n, FaultStats{});
        const bool parallel = worth(double(n) * in_size);
#pragma omp parallel for num_threads(nt) schedule(static) if (parallel)
        for (long long b = 0; b < batch; ++b)
          scratch.activation_stats[std::size_t(b)] = apply_activation_faults(
              li, first + std::uint64_t(b), std::span<std::uint8_t>(current + std::size_t(b) * in_size, in_size));
        for (const FaultStats& st : scratch.activation_stats) activation_stats += st;
      }
      if (s.activation_k < 32) {
        // DRUM maps 0 to 0 (checked at construction): large inputs (images) are transformed from their
        // first to their last nonzero code only, skipping blank borders; the span is widened to whole
        // 32-byte vectors (the transform loop's scalar remainder costs more than the zeros it would skip).
        if (in_size < 512) {
          drum_transform_batch(std::span<std::uint8_t>(current, n * in_size), s.activation_k);
        } else {
          for (std::size_t b = 0; b < n; ++b) {
            std::uint8_t* input = current + b * in_size;
            const ByteSpan span = nonzero_span(input, in_size);
            if (span.end == span.begin) continue;
            const std::size_t length = std::min(in_size, (span.end - span.begin + 31) / 32 * 32);
            const std::size_t begin = std::min(span.begin, in_size - length);
            drum_transform_batch(std::span<std::uint8_t>(input + begin, length), s.activation_k);
          }
        }
      }

      const int k = int(fan_in(l));
      const int positions = l.out_h * l.out_w;  // 1 for dense
      const std::size_t rows = n * std::size_t(positions);
      const std::uint8_t* a = current;
      if (l.kind == QOpKind::conv2d) {
        scratch.columns.resize(std::max(scratch.columns.size(), rows * std::size_t(k)));
        std::uint8_t* columns = scratch.columns.data();
        const bool parallel = worth(double(rows) * k);
#pragma omp parallel for num_threads(nt) schedule(static) if (parallel)
        for (long long b = 0; b < batch; ++b) {
          const std::uint8_t* image = current + std::size_t(b) * in_size;
          for (int oy = 0; oy < l.out_h; ++oy)
            for (int ox = 0; ox < l.out_w; ++ox) {
              std::uint8_t* row = columns + (std::size_t(b) * positions + std::size_t(oy) * l.out_w + ox) * k;
              for (int c = 0; c < l.in_c; ++c)
                for (int ki = 0; ki < l.kernel; ++ki) {
                  const int iy = oy * l.stride - l.padding + ki;
                  for (int kj = 0; kj < l.kernel; ++kj) {
                    const int ix = ox * l.stride - l.padding + kj;
                    const bool inside = iy >= 0 && iy < l.in_h && ix >= 0 && ix < l.in_w;
                    *row++ = inside ? image[(std::size_t(c) * l.in_h + iy) * l.in_w + ix] : 0;
                  }
                }
            }
        }
        a = columns;
      }
      const bool per_inference = faults_.weight_draw == WeightFaultDraw::per_inference && s.weight_rate > 0.0;
      const std::int32_t* bias = l.bias.empty() ? nullptr : l.bias.data();
      if (s.quad && s.overflow.empty() && !per_inference &&
          (l.is_output || (l.accumulator_shift() >= 1 && l.accumulator_shift() <= 31))) {
        // Nothing to correct: bias and requantization happen in the GEMM's registers, and the uint8
        // codes (or int32 logits) are written where the next layer reads them.
        kernels::QuadEpilogue epilogue;
        epilogue.bias = bias;
        if (l.is_output) {
          epilogue.c = out_logits;
          epilogue.ldc = l.out_c;
        } else {
          epilogue.codes = next;
          epilogue.ldcodes = l.out_c;
          epilogue.shift = l.accumulator_shift();
          epilogue.lo = l.relu ? std::max(0, l.output_format.min_code()) : l.output_format.min_code();
          epilogue.hi = l.output_format.max_code();
        }
        run_quad(int(n), a, k, s.quad_packed, epilogue, nt);
        if (!l.is_output) {
          current_buffer = 1 - current_buffer;
          current = next;
        }
        continue;
      }
      scratch.accumulators.resize(std::max(scratch.accumulators.size(), rows * std::size_t(l.out_c)));
      std::int32_t* acc = scratch.accumulators.data();
      if (s.quad) {
        kernels::QuadEpilogue epilogue;
        epilogue.c = acc;
        epilogue.ldc = l.out_c;
        run_quad(int(rows), a, k, s.quad_packed, epilogue, nt);
      } else {
        kernels::GemmOptions gemm = gemm_options;
        if (double(rows) * k * l.out_c < kMinParallelMacs) gemm.threads = 1;
        kernels::gemm_u8s8s32(int(rows), a, k, s.packed, acc, l.out_c, gemm);
      }

      // Sparse corrections: accumulators of input b += a_T * delta for every listed weight word.
      if (per_inference) scratch.weight_stats.assign(n, FaultStats{});
      if (!s.overflow.empty() || per_inference) {
        // Sampling a fault costs roughly as much as 50 multiply-adds.
        const double expected_faults =
            per_inference ? double(s.stored.size()) * l.weight_layout().stored_bits() * s.weight_rate : 0.0;
        const bool parallel = worth(double(n) * (50.0 * expected_faults + double(s.overflow.size()) * positions));
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (parallel)
        for (long long b = 0; b < batch; ++b) {
          auto correct = [&](std::uint32_t index, std::int32_t delta) {
            const int o = int(index / std::uint32_t(k)), j = int(index % std::uint32_t(k));
            const std::size_t row0 = std::size_t(b) * positions;
            for (int p = 0; p < positions; ++p) {
              std::int32_t& target = acc[(row0 + p) * l.out_c + o];
              target = std::int32_t(std::int64_t(target) + std::int64_t(a[(row0 + p) * k + j]) * delta);
            }
          };
          for (const Correction& c : s.overflow) correct(c.index, c.delta);
          if (per_inference) {
            const auto faults =
                draw_inference_faults(li, first + std::uint64_t(b), scratch.weight_stats[std::size_t(b)]);
            for (const WeightFault& f : faults)
              correct(f.index, l.multiplier.transform(f.code) - s.transformed[f.index]);
          }
        }
      }
      if (per_inference)
        for (const FaultStats& st : scratch.weight_stats) weight_stats += st;

      // Epilogue: bias, then requantize (hidden) or int32 logits (last layer); outputs in NCHW order.
      // |bias + acc| < 2^31 (checked at construction), so the sums stay int32 for requantize_batch.
      const bool parallel = worth(double(n) * out_size);
      std::int32_t* sums = acc;  // dense: acc rows are already NCHW
      if (positions > 1 && !l.is_output) {
        scratch.sums.resize(std::max(scratch.sums.size(), n * out_size));
        sums = scratch.sums.data();
      }
#pragma omp parallel for num_threads(nt) schedule(static) if (parallel)
      for (long long b = 0; b < batch; ++b) {
        const std::int32_t* sample_acc = acc + std::size_t(b) * out_size;
        if (l.is_output) {
          add_bias_nchw(sample_acc, bias, l.out_c, positions, out_logits + std::size_t(b) * out_size);
        } else {
          std::int32_t* sample_sums = sums + std::size_t(b) * out_size;
          add_bias_nchw(sample_acc, bias, l.out_c, positions, sample_sums);  // in place for dense: same layout
          requantize_batch(std::span<const std::int32_t>(sample_sums, out_size), l.accumulator_shift(), l.output_format,
                           l.relu, std::span<std::uint8_t>(next + std::size_t(b) * out_size, out_size));
        }
      }
    }
    if (!l.is_output) {
      current_buffer = 1 - current_buffer;
      current = next;
    }
  }
  if (predictions)
    for (std::size_t b = 0; b < n; ++b) predictions[b] = argmax(out_logits + b * std::size_t(classes()), classes());
}

template <class Run>
EvalResult QuantizedExecutor::evaluate_with(const std::int32_t* labels, std::size_t n, std::uint64_t trial,
                                            Run&& run_some) {
  const FaultStats weights_before = weight_totals_, activations_before = activation_totals_;
  begin_trial(trial);  // per_trial faults drawn here count as this evaluation's weight faults
  EvalResult result;
  result.total = n;
  // Blocks of one chunk per thread (run() splits them), so each block is a single parallel region.
  std::vector<std::int32_t> predictions(std::min<std::size_t>(n, std::size_t(options_.batch) * std::size_t(threads())));
  for (std::size_t done = 0; done < n; done += predictions.size()) {
    const std::size_t m = std::min(predictions.size(), n - done);
    run_some(done, m, predictions.data());
    for (std::size_t i = 0; i < m; ++i) result.correct += predictions[i] == labels[done + i] ? 1 : 0;
  }
  auto difference = [](const FaultStats& after, const FaultStats& before) {
    FaultStats d;
    d.words_read = after.words_read - before.words_read;
    d.bits_read = after.bits_read - before.bits_read;
    d.faulty_bits = after.faulty_bits - before.faulty_bits;
    d.faulty_words = after.faulty_words - before.faulty_words;
    d.words_changed = after.words_changed - before.words_changed;
    return d;
  };
  result.weight_faults = difference(weight_totals_, weights_before);
  result.activation_faults = difference(activation_totals_, activations_before);
  return result;
}

EvalResult QuantizedExecutor::evaluate(const float* features, const std::int32_t* labels, std::size_t n,
                                       std::uint64_t trial) {
  return evaluate_with(labels, n, trial, [&](std::size_t first, std::size_t m, std::int32_t* predictions) {
    run(features + first * input_size(), m, first, nullptr, predictions);
  });
}

EvalResult QuantizedExecutor::evaluate_codes(const std::uint8_t* codes, const std::int32_t* labels, std::size_t n,
                                             std::uint64_t trial) {
  return evaluate_with(labels, n, trial, [&](std::size_t first, std::size_t m, std::int32_t* predictions) {
    run_codes(codes + first * input_size(), m, first, nullptr, predictions);
  });
}

namespace {
// Index of the first dense/conv layer (flatten layers before it only reinterpret the input).
std::size_t first_compute_layer(const QuantizedNetwork& net) {
  for (std::size_t i = 0; i < net.layers.size(); ++i)
    if (net.layers[i].kind != QOpKind::flatten) return i;
  return net.layers.size();
}
}  // namespace

std::shared_ptr<const QuantizedExecutor::PreparedSet> QuantizedExecutor::prepare_set(const std::uint8_t* codes,
                                                                                     std::size_t n) {
  auto set = std::make_shared<PreparedSet>();
  const std::size_t in = input_size();
  // run_codes validates the codes; its logits are not needed, but it checks every code once.
  const std::int32_t max_code = net_.input_format.max_code();
  for (std::size_t i = 0; i < n * in; ++i)
    if (codes[i] > max_code)
      throw_input_error("<input codes>", "input " + std::to_string(i / in) + ", feature " + std::to_string(i % in),
                        "a code of " + net_.input_format.to_string() + " (0.." + std::to_string(max_code) + ")",
                        std::to_string(codes[i]));
  set->n = n;
  set->codes.assign(codes, codes + n * in);
  const std::size_t li = first_compute_layer(net_);
  if (li >= net_.layers.size() || n == 0) return set;
  const QLayer& l = net_.layers[li];
  if (l.kind != QOpKind::dense || l.is_output) return set;
  const LayerState& s = layers_[li];
  const int k = int(fan_in(l));
  // Fault-free sums of products Ds(clean w) * Ds(a): the GEMM on the saturated packed codes plus the
  // words whose transform does not fit int8 (as prepare_weights does for any stored codes).
  std::vector<std::int8_t> packable(l.weights.size());
  std::vector<Correction> overflow;
  for (std::size_t i = 0; i < l.weights.size(); ++i) {
    const int t = l.multiplier.transform(l.weights[i]);
    packable[i] = std::int8_t(std::clamp(t, -128, 127));
    if (t != packable[i]) overflow.push_back({std::uint32_t(i), t - packable[i]});
  }
  std::vector<std::uint8_t> transformed(set->codes);
  if (s.activation_k < 32) drum_transform_batch(std::span<std::uint8_t>(transformed), s.activation_k);
  std::vector<std::int32_t> sums(n * std::size_t(l.out_c));
  const kernels::PackedWeightsS8 packed(kernels::Trans::yes, k, l.out_c, packable.data(), k);
  kernels::gemm_u8s8s32(int(n), transformed.data(), k, packed, sums.data(), l.out_c);
  for (const Correction& c : overflow) {
    const std::size_t o = c.index / std::uint32_t(k), j = c.index % std::uint32_t(k);
    for (std::size_t b = 0; b < n; ++b)
      sums[b * l.out_c + o] =
          std::int32_t(std::int64_t(sums[b * l.out_c + o]) + std::int64_t(transformed[b * k + j]) * c.delta);
  }
  constexpr std::size_t kBlock = PreparedSet::kBlock;
  set->features.assign((n + kBlock - 1) / kBlock * kBlock * std::size_t(k), 0);
  set->clean_sums.resize(n * std::size_t(l.out_c));
  for (std::size_t b = 0; b < n; ++b) {
    std::uint8_t* block = set->features.data() + b / kBlock * std::size_t(k) * kBlock + b % kBlock;
    for (int j = 0; j < k; ++j) block[std::size_t(j) * kBlock] = transformed[b * k + std::size_t(j)];
    for (int o = 0; o < l.out_c; ++o) set->clean_sums[std::size_t(o) * n + b] = sums[b * l.out_c + std::size_t(o)];
  }
  set->small_features = *std::max_element(transformed.begin(), transformed.end()) <= kernels::kMaxQuadActivation;
  set->layer = li;
  return set;
}

bool QuantizedExecutor::uses_prepared_shortcut(const PreparedSet& set) const {
  if (set.layer == SIZE_MAX) return false;
  const LayerState& s = layers_[set.layer];
  return s.activation_rate <= 0.0 && !(faults_.weight_draw == WeightFaultDraw::per_inference && s.weight_rate > 0.0);
}

void QuantizedExecutor::collect_corrections(std::size_t layer) {
  if (corrections_layer_ == layer) return;
  const QLayer& l = net_.layers[layer];
  const LayerState& s = layers_[layer];
  const std::size_t k = fan_in(l);
  correction_row_begin_.assign(std::size_t(l.out_c) + 1, 0);
  correction_features_.clear();
  correction_deltas_.clear();
  for (int o = 0; o < l.out_c; ++o) {
    correction_row_begin_[std::size_t(o)] = std::uint32_t(correction_features_.size());
    if (s.faulty) {
      const std::int8_t* stored = s.stored.data() + std::size_t(o) * k;
      const std::int8_t* clean = l.weights.data() + std::size_t(o) * k;
      for (std::size_t j = 0; j < k; ++j)
        if (stored[j] != clean[j]) {  // all flips of one word in one correction
          correction_features_.push_back(std::uint32_t(j));
          correction_deltas_.push_back(l.multiplier.transform(stored[j]) - l.multiplier.transform(clean[j]));
        }
    }
  }
  correction_row_begin_[std::size_t(l.out_c)] = std::uint32_t(correction_features_.size());
  // Fours for the byte-wise kernel: a delta outside int8 (a sign-bit flip of a negative word gives +128,
  // DRUM transforms more) becomes several parts on the same feature; the sum is the same.
  correction_quad_begin_.assign(std::size_t(l.out_c) + 1, 0);
  correction_quad_rows_.clear();
  correction_quad_deltas_.clear();
  for (int o = 0; o < l.out_c; ++o) {
    correction_quad_begin_[std::size_t(o)] = std::uint32_t(correction_quad_rows_.size() / 4);
    for (std::uint32_t e = correction_row_begin_[std::size_t(o)]; e < correction_row_begin_[std::size_t(o) + 1]; ++e)
      for (std::int32_t rest = correction_deltas_[e]; rest != 0;) {
        const std::int32_t part = std::clamp(rest, -128, 127);
        correction_quad_rows_.push_back(correction_features_[e]);
        correction_quad_deltas_.push_back(std::int8_t(part));
        rest -= part;
      }
    while (correction_quad_rows_.size() % 4 != 0) {  // pad with a zero delta on a row already read
      correction_quad_rows_.push_back(correction_quad_rows_.back());
      correction_quad_deltas_.push_back(0);
    }
  }
  correction_quad_begin_[std::size_t(l.out_c)] = std::uint32_t(correction_quad_rows_.size() / 4);
  corrections_layer_ = layer;
}

void QuantizedExecutor::run_prepared(const PreparedSet& set, std::size_t first, std::size_t count, std::int32_t* logits,
                                     std::int32_t* predictions) {
  if (first > set.n || count > set.n - first)
    throw std::out_of_range("QuantizedExecutor::run_prepared: inputs [" + std::to_string(first) + ", " +
                            std::to_string(first + count) + ") outside the set of " + std::to_string(set.n));
  if (count == 0) return;
  if (!trial_ready_) begin_trial(trial_);
  if (!uses_prepared_shortcut(set)) {
    run_codes(set.codes.data() + first * input_size(), count, first, logits, predictions);
    return;
  }
  const std::size_t li = set.layer;
  const QLayer& l = net_.layers[li];
  collect_corrections(li);
  // Fixed chunks (never depending on the thread count); each input is computed alone anyway.
  constexpr std::size_t kChunk = 256;
  const std::size_t chunks = (count + kChunk - 1) / kChunk;
  const int nt = threads();
  if (scratch_.size() < std::size_t(nt)) scratch_.resize(std::size_t(nt));
  std::vector<FaultStats> weight_stats(chunks), activation_stats(chunks);
  const std::size_t out = std::size_t(l.out_c);
  const int shift = l.accumulator_shift();
  // The fused transpose + requantization covers the shifts the byte-wise kernel's epilogue does (the
  // same rule as requantize_batch there); other shifts take the plain path.
  const bool fused_requantize =
      shift >= 1 && shift <= 31 && l.output_format.min_code() >= 0 && l.output_format.max_code() <= 255;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1 && chunks > 1)
  for (long long c = 0; c < static_cast<long long>(chunks); ++c) {
    Scratch& scratch = scratch_[std::size_t(omp_get_thread_num())];
    const std::size_t begin = first + std::size_t(c) * kChunk, m = std::min(kChunk, first + count - begin);
    scratch.prepared_sums.resize(std::max(scratch.prepared_sums.size(), out * kChunk));
    scratch.sums.resize(std::max(scratch.sums.size(), out * kChunk));
    std::int32_t* sums_t = scratch.prepared_sums.data();  // out x m
    // Block by block (a block's features stay in L1), every output with faulty words adds their
    // products to its clean sums; outputs without read their clean sums directly below.
    constexpr std::size_t kBlock = PreparedSet::kBlock;
    const std::size_t in = input_size();
    for (std::size_t b = begin; b < begin + m;) {
      const std::size_t offset = b % kBlock, len = std::min(kBlock - offset, begin + m - b);
      const std::uint8_t* block = set.features.data() + b / kBlock * in * kBlock + offset;
      for (std::size_t o = 0; o < out; ++o) {
        const std::uint32_t e0 = correction_row_begin_[o], e1 = correction_row_begin_[o + 1];
        if (e0 == e1) continue;
        const std::int32_t* init = set.clean_sums.data() + o * set.n + b;
        std::int32_t* y = sums_t + o * m + (b - begin);
        if (set.small_features) {
          const std::uint32_t q0 = correction_quad_begin_[o], q1 = correction_quad_begin_[o + 1];
          kernels::add_scaled_row_quads(int(len), int(q1 - q0), correction_quad_deltas_.data() + 4 * std::size_t(q0),
                                        correction_quad_rows_.data() + 4 * std::size_t(q0), block,
                                        std::ptrdiff_t(kBlock), init, y);
        } else {
          kernels::add_scaled_rows(int(len), int(e1 - e0), correction_deltas_.data() + e0,
                                   correction_features_.data() + e0, block, std::ptrdiff_t(kBlock), init, y);
        }
      }
      b += len;
    }
    // Bias, back to input-major order, then requantization into the next layer's input codes.
    scratch.codes_a.resize(std::max(scratch.codes_a.size(), m * out));
    if (fused_requantize) {  // transposed and requantized in registers, 8 x 8 at a time
      scratch.columns_ptrs.resize(out);
      for (std::size_t o = 0; o < out; ++o) {
        const bool corrected = correction_row_begin_[o] != correction_row_begin_[o + 1];
        scratch.columns_ptrs[o] = corrected ? sums_t + o * m : set.clean_sums.data() + o * set.n + begin;
      }
      kernels::QuadEpilogue epilogue;
      epilogue.bias = l.bias.empty() ? nullptr : l.bias.data();
      epilogue.codes = scratch.codes_a.data();
      epilogue.ldcodes = std::ptrdiff_t(out);
      epilogue.shift = shift;
      epilogue.lo = l.relu ? std::max(0, l.output_format.min_code()) : l.output_format.min_code();
      epilogue.hi = l.output_format.max_code();
      kernels::requantize_columns(int(m), int(out), scratch.columns_ptrs.data(), epilogue);
    } else {
      std::int32_t* sums = scratch.sums.data();
      constexpr std::size_t kTile = 16;  // transpose in tiles that stay in L1
      for (std::size_t o0 = 0; o0 < out; o0 += kTile)
        for (std::size_t b0 = 0; b0 < m; b0 += kTile)
          for (std::size_t o = o0; o < std::min(out, o0 + kTile); ++o) {
            const bool corrected = correction_row_begin_[o] != correction_row_begin_[o + 1];
            const std::int32_t* column = corrected ? sums_t + o * m : set.clean_sums.data() + o * set.n + begin;
            const std::uint32_t bias_o = std::uint32_t(l.bias.empty() ? 0 : l.bias[o]);
            for (std::size_t b = b0; b < std::min(m, b0 + kTile); ++b)
              sums[b * out + o] = std::int32_t(std::uint32_t(column[b]) + bias_o);
          }
      requantize_batch(std::span<const std::int32_t>(sums, m * out), shift, l.output_format, l.relu,
                       std::span<std::uint8_t>(scratch.codes_a.data(), m * out));
    }
    const std::size_t local = begin - first;
    run_chunk(scratch.codes_a.data(), m, begin, logits ? logits + local * std::size_t(classes()) : nullptr,
              predictions ? predictions + local : nullptr, scratch, 1, weight_stats[std::size_t(c)],
              activation_stats[std::size_t(c)], li + 1);
  }
  for (std::size_t c = 0; c < chunks; ++c) {
    weight_totals_ += weight_stats[c];
    activation_totals_ += activation_stats[c];
  }
}

EvalResult QuantizedExecutor::evaluate_prepared(const PreparedSet& set, const std::int32_t* labels,
                                                std::uint64_t trial) {
  return evaluate_with(labels, set.n, trial, [&](std::size_t first, std::size_t m, std::int32_t* predictions) {
    run_prepared(set, first, m, nullptr, predictions);
  });
}

std::vector<std::uint8_t> QuantizedExecutor::quantize_inputs(const float* features, std::size_t n) const {
  std::vector<std::uint8_t> codes(n * input_size());
  quantize_input_codes(net_.input_format, features, codes.size(), codes.data());
  return codes;
}

}  // namespace axsim::quant
