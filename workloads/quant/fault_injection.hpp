// Which memory faults an evaluation injects, and what an evaluation returns. Faults always go through
// the models/ fault channels (flip, bit_mask, word_mask, erasure, stuck_at); this file only says where,
// how often and with which random streams.
//
// Random streams (core/rng.hpp): every draw is keyed by (seed, trial, layer index, inference index), so
// results are identical for any thread count, batch size or split of the test set into calls:
//   weights, per_trial      stream_id({kWeightTrialStream, trial, layer})             (FaultChannel::apply)
//   weights, per_inference  stream_id({kWeightInferenceStream, trial, layer, inference}) (as FaultChannel::apply
//                           with a CounterRng, visiting only the faulty words)
//   input activations       stream_id({kActivationStream, trial, layer, inference})  (FaultChannel::apply, CounterRng)
//   float weights           stream_id({kFloatWeightStream, trial, layer[, inference]})
// where `layer` is the index in QuantizedNetwork::layers (float: in nn::Network::weight_layers()) and
// `inference` the input's index in the evaluated set.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "models/fault_channel.hpp"

namespace axsim::quant {

inline constexpr std::uint64_t kWeightTrialStream = 0x5157'0001;
inline constexpr std::uint64_t kWeightInferenceStream = 0x5157'0002;
inline constexpr std::uint64_t kActivationStream = 0x5157'0003;
inline constexpr std::uint64_t kFloatWeightStream = 0x5157'0004;

// When stored weights get their faults.
enum class WeightFaultDraw {
  // One chip instance per trial: the weights are faulted once and every input of the trial sees the
  // same faulty weights (the natural model of a voltage-scaled SRAM holding the weights; stuck_at).
  per_trial,
  // Every inference reads the weights through fresh faults (a per-read fault model).
  per_inference,
};
std::string_view to_string(WeightFaultDraw draw);
// "per_trial" | "per_inference"; anything else -> InputError naming file and location.
WeightFaultDraw parse_weight_fault_draw(std::string_view text, const std::string& file = "<faults>",
                                        const std::string& location = "draw");

// Faults for quantized evaluation (QuantizedExecutor). Rates are per dense/conv layer; a layer absent
// from the per-layer map uses the default rate. Input activations of a dense/conv layer (the codes it
// reads, the network input for the first one) get fresh faults on every inference: they are rewritten
// for every input. They are stored unsigned, so their sign bit does not exist and cannot fault.
struct FaultInjection {
  std::uint64_t seed = 0;
  std::string weight_channel = "flip";
  std::string activation_channel = "flip";
  WeightFaultDraw weight_draw = WeightFaultDraw::per_trial;
  double weight_rate = 0.0;
  double activation_rate = 0.0;
  std::map<std::string, double> weight_rates;      // by layer name
  std::map<std::string, double> activation_rates;  // by layer name (the layer whose input it is)

  // True if any rate (default or per layer) is > 0.
  bool any() const;
};

// Faults for float evaluation of an nn::Network (FloatEvaluator): only channels that have a float
// meaning. flip: BSC on BinaryConnect weights (theta -> -theta with probability p; flip_signs), needs
// binary weights; erasure: each weight set to 0 with probability p (erase).
struct FloatFaultInjection {
  std::uint64_t seed = 0;
  std::string channel = "flip";
  WeightFaultDraw draw = WeightFaultDraw::per_trial;
  double rate = 0.0;
  std::map<std::string, double> rates;  // by dense/conv layer name

  bool any() const;
};

// One pass over an evaluation set.
struct EvalResult {
  std::size_t correct = 0;
  std::size_t total = 0;
  FaultStats weight_faults;      // counts of the injected weight faults (see FaultStats)
  FaultStats activation_faults;  // counts of the injected activation faults
  double accuracy() const { return total ? double(correct) / double(total) : 0.0; }
};

}  // namespace axsim::quant
