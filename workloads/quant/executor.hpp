// Fast CPU inference of a QuantizedNetwork with the integer semantics of models/quantized_network.hpp,
// bit for bit, and optional memory fault injection. It is `axsim eval`'s engine and the reference the
// SystemC simulator must match at nominal voltage.
//
// How a dense/conv layer runs on a batch:
//   input codes --(activation faults, per inference)--> Ds (DRUM transform, once per batch)
//   --(conv: im2col of uint8 codes)--> exact uint8 x int8 -> int32 GEMM with weights packed once per trial
//   --> + sparse corrections --> + bias --> requantize with fused ReLU (or int32 logits for the last layer).
// DRUM is separable (drum(a, w) = Ds(a) Ds(w)), so the weights are transformed once and packed, never
// multiplied through a lookup table. Faults hit the STORED words, before the transform.
//
// Sparse corrections keep the GEMM exact and cheap when a few weights differ from the packed ones:
//   - per_inference weight faults: the batch is multiplied with the trial's weights once, then for every
//     input its own faulty words (drawn sparsely: the same sampler and random sequence as
//     FaultChannel::apply on a full copy, FaultChannel::corrupt on the faulty words only) add
//     a_T * (Ds(faulty) - Ds(stored))
//     to the accumulators they feed: O(faults) per input (dense: one multiply-add; conv: one per output
//     position) instead of a fresh O(weights) copy and a matrix-vector product per input;
//   - a faulty word can read -128 (e.g. -127 with its LSB flipped), whose DRUM transform needs 9 bits:
//     such words are packed saturated to int8 and the remainder is added the same way.
// The accumulators stay exact in int32: the constructor checks |bias| + accumulator_bound(layer) < 2^31.
//
// Threads: OpenMP over samples and inside the GEMM; every result is independent of the thread count.
#pragma once

#include <climits>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "models/fault_channel.hpp"
#include "models/quantized_network.hpp"
#include "workloads/kernels/gemm.hpp"
#include "workloads/kernels/gemm_u8s8s32.hpp"
#include "workloads/quant/fault_injection.hpp"

namespace axsim::quant {

struct ExecutorOptions {
  int threads = 0;  // 0: all OpenMP threads; results are identical for every count
  int batch = 256;  // max inputs per internal chunk (bounds the im2col memory); results do not depend on it
};

// One faulty stored weight word as read by one inference.
struct WeightFault {
  std::uint32_t index = 0;  // position in QLayer::weights
  std::int8_t code = 0;     // the value read (differs from the stored one)
};

// Largest |sum_i Ds(w_i) * Ds(a_i)| of one output of `layer` over every value its stored words can hold,
// faulty ones included (a signed 8-bit word can read -128; Ds(-128) reaches -192 for DRUM k = 2).
std::int64_t accumulator_bound(const QLayer& layer);

class QuantizedExecutor {
 public:
  // Validates the network (models::validate plus: weight codes fit int8, activation codes fit uint8,
  // accumulators fit int32); throws InputError naming the layer.
  explicit QuantizedExecutor(QuantizedNetwork net, ExecutorOptions options = {});

  const QuantizedNetwork& network() const { return net_; }
  const ExecutorOptions& options() const { return options_; }
  std::size_t input_size() const { return net_.layers.front().input_size(); }
  int classes() const { return net_.classes; }

  // Validates channels, rates (per channel maximum) and layer names (InputError with the closest name),
  // resets the fault counters and the trial (to 0, faults drawn).
  void set_faults(const FaultInjection& faults);
  const FaultInjection& faults() const { return faults_; }
  // False when no fault can occur: every result is then deterministic (one Monte Carlo trial suffices).
  bool has_fault_source() const;

  // Chip instance `trial`: draws the per_trial weight faults (once) and keys every later per-inference
  // draw. No work when nothing changes.
  void begin_trial(std::uint64_t trial);
  std::uint64_t trial() const { return trial_; }

  // Inference on n inputs whose indices in the evaluated set are first, first + 1, ... (the indices key
  // the per-inference faults, so any split into calls and batches gives the same results).
  // features: n x input_size() values (quantized with the network's input format); logits: n x classes
  // (may be null); predictions: argmax of the logits, lowest index on ties (may be null).
  void run(const float* features, std::size_t n, std::uint64_t first, std::int32_t* logits, std::int32_t* predictions);
  // The same from input codes (n x input_size(), codes of the network's input format).
  void run_codes(const std::uint8_t* codes, std::size_t n, std::uint64_t first, std::int32_t* logits,
                 std::int32_t* predictions);

  // begin_trial(trial), then the whole set (input i has index i): counts argmax == label. The fault
  // counts are those drawn during the call.
  EvalResult evaluate(const float* features, const std::int32_t* labels, std::size_t n, std::uint64_t trial);
  // The same from input codes: quantize a test set once (quantize_inputs) and evaluate it every trial.
  EvalResult evaluate_codes(const std::uint8_t* codes, const std::int32_t* labels, std::size_t n, std::uint64_t trial);
  // n x input_size() features -> codes of the network's input format (what run() does per chunk).
  std::vector<std::uint8_t> quantize_inputs(const float* features, std::size_t n) const;

  // ---- many trials over one fixed input set (Monte Carlo) ----
  // The first dense layer's input does not depend on weight faults, so prepare_set computes its
  // fault-free sums of products for the whole set once (and keeps the inputs feature-major); a trial
  // then adds only the products of its faulty words: for every word whose stored value differs from
  // the network's, (Ds(read) - Ds(clean)) * (that feature over all inputs), a vectorized AXPY. The
  // later layers run as usual (their inputs changed). Results are bit-identical to evaluate_codes /
  // run_codes with the same trial, for any thread count. When the shortcut does not apply (activation
  // faults or per_inference weight faults on that layer, a conv first layer, a one-layer network) the
  // prepared set is evaluated the plain way.
  struct PreparedSet {
    std::size_t n = 0;
    std::vector<std::uint8_t> codes;  // n x input_size(): the inputs
    std::size_t layer = SIZE_MAX;     // the cached layer (SIZE_MAX: none)
    // Ds(codes) in blocks of kBlock inputs, feature-major inside a block: input b's feature j is at
    // features[(b / kBlock) * input_size() * kBlock + j * kBlock + b % kBlock] (zero padded). One block's
    // features (25 KB for MNIST) stay in L1 while every faulty word of every output reads its row.
    static constexpr std::size_t kBlock = 32;
    std::vector<std::uint8_t> features;
    std::vector<std::int32_t> clean_sums;  // out_c x n: fault-free sums of products (bias excluded)
    bool small_features = false;           // every feature <= 127: corrections go four at a time (exact)
  };
  // codes: n x input_size() codes of the network's input format (InputError otherwise).
  std::shared_ptr<const PreparedSet> prepare_set(const std::uint8_t* codes, std::size_t n);
  // Whether evaluating `set` now takes the shortcut (depends on the faults set).
  bool uses_prepared_shortcut(const PreparedSet& set) const;
  // Inputs [first, first + count) of the set with this trial's faults (begin_trial first).
  void run_prepared(const PreparedSet& set, std::size_t first, std::size_t count, std::int32_t* logits,
                    std::int32_t* predictions);
  // begin_trial(trial), then the whole set against labels (set.n of them).
  EvalResult evaluate_prepared(const PreparedSet& set, const std::int32_t* labels, std::uint64_t trial);

  // ---- the fault draws run() uses, exposed for tests and cross-checks ----
  // This trial's stored weight codes of layer `layer` (faulty for per_trial faults).
  std::span<const std::int8_t> stored_weights(std::size_t layer) const;
  // per_inference: the words of layer `layer` that inference `inference` of this trial reads faulty
  // (= the words that FaultChannel::apply(copy, layout, p, CounterRng(seed, <its stream>)) changes).
  std::vector<WeightFault> inference_weight_faults(std::size_t layer, std::uint64_t inference) const;
  // Applies inference `inference`'s faults to the input codes of layer `layer` in place.
  FaultStats apply_activation_faults(std::size_t layer, std::uint64_t inference, std::span<std::uint8_t> codes) const;

  // Counts since set_faults() (or construction).
  const FaultStats& weight_fault_totals() const { return weight_totals_; }
  const FaultStats& activation_fault_totals() const { return activation_totals_; }

 private:
  struct Correction {
    std::uint32_t index;  // weight word
    std::int32_t delta;   // added to its transformed value
  };
  struct LayerState {
    double weight_rate = 0.0, activation_rate = 0.0;
    int activation_k = 32;                   // DRUM k for activation codes (32: exact)
    std::vector<std::int8_t> stored;         // this trial's stored weight codes
    std::vector<std::int16_t> transformed;   // Ds(stored)
    bool quad = false;                       // byte-wise kernel (activations <= 127) instead of `packed`
    kernels::PackedWeightsS8 packed;         // Ds(stored) saturated to int8 (int16 kernel)
    kernels::PackedQuadWeights quad_packed;  // the same for the byte-wise kernel
    std::vector<Correction> overflow;        // Ds(stored) - packed, where it does not fit int8
    bool faulty = false;                     // stored differs from the network's codes
  };
  struct Scratch {  // buffers reused across chunks (no allocation in steady state)
    std::vector<std::uint8_t> codes_a, codes_b, columns;
    std::vector<std::int32_t> accumulators, sums, logits, prepared_sums;
    std::vector<const std::int32_t*> columns_ptrs;           // run_prepared: each output's sums
    std::vector<FaultStats> weight_stats, activation_stats;  // per sample, summed in order
  };

  void prepare_weights(std::size_t layer);
  std::vector<WeightFault> draw_inference_faults(std::size_t layer, std::uint64_t inference, FaultStats& stats) const;
  template <class FillCodes>
  void run_batches(std::size_t n, std::uint64_t first, std::int32_t* logits, std::int32_t* predictions,
                   FillCodes&& fill_codes);
  // One chunk on the calling thread, with up to nt threads inside its layers; adds its fault counts.
  // Starts at layer first_layer (its input codes in `codes`, which is scratch.codes_a's storage).
  void run_chunk(std::uint8_t* codes, std::size_t n, std::uint64_t first, std::int32_t* logits,
                 std::int32_t* predictions, Scratch& scratch, int nt, FaultStats& weight_stats,
                 FaultStats& activation_stats, std::size_t first_layer = 0) const;
  // The corrections of this trial's faulty words of layer `layer`, grouped by output (CSR).
  // Also groups them in fours per output for kernels::add_scaled_row_quads.
  void collect_corrections(std::size_t layer);
  int threads() const;
  template <class Run>
  EvalResult evaluate_with(const std::int32_t* labels, std::size_t n, std::uint64_t trial, Run&& run_some);

  QuantizedNetwork net_;
  ExecutorOptions options_;
  FaultInjection faults_;
  std::shared_ptr<const FaultChannel> weight_channel_, activation_channel_;
  std::vector<LayerState> layers_;
  std::uint64_t trial_ = 0;
  bool trial_ready_ = false;  // per_trial faults of trial_ are in place
  FaultStats weight_totals_, activation_totals_;
  std::vector<Scratch> scratch_;  // one per thread
  // collect_corrections: for output o, entries [row_begin[o], row_begin[o+1]) of (feature, delta).
  std::size_t corrections_layer_ = SIZE_MAX;
  std::uint64_t corrections_trial_ = 0;
  std::vector<std::uint32_t> correction_row_begin_, correction_features_;
  std::vector<std::int32_t> correction_deltas_;
  // The same corrections in fours per output (kernels::add_scaled_row_quads): for output o, quads
  // [quad_begin[o], quad_begin[o+1]); deltas split into int8 parts, unused slots have delta 0.
  std::vector<std::uint32_t> correction_quad_begin_, correction_quad_rows_;
  std::vector<std::int8_t> correction_quad_deltas_;
};

}  // namespace axsim::quant
