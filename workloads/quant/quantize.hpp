// Post-training quantization of a trained float network into the deployed integer form
// (models/quantized_network.hpp), the network `axsim eval` runs and the simulator must reproduce.
//
// Steps: fold (fold.hpp: BN into the preceding dense/conv weights and bias, ReLU fused, Dropout
// dropped) -> per layer:
//  - weights: signed symmetric dynamic fixed point of weight_bits with the finest power-of-two step whose
//    range covers max|w| of the folded layer (FixedPointFormat::covering), round half to even;
//    weight_bits = 1 is BinaryConnect: codes sign(w) = -1/+1, step 1 (weight_format s2f0), one stored bit
//    per weight, so the quantized layer computes exactly what the BinaryConnect forward pass computes;
//  - bias: at the accumulator step 2^-(weight_frac + input_frac), clamped so that no accumulator can
//    overflow int32 (accumulator_bound in executor.hpp; never binds for sane networks);
//  - activations: unsigned activation_bits words (the sign bit is not stored: 8 bits -> codes 0..127), per
//    layer the finest power-of-two step covering the calibration range of that layer's output after ReLU.
//    The range is the maximum over all calibration outputs (activation_quantile = 1, the default: no
//    calibration value saturates, and a rare large activation is usually informative in a classifier), or
//    a quantile of all its output values (e.g. 0.9999, zeros included) to trade range for resolution;
//  - the network input: features in [0, 1] become codes of input_format (default u8f7: codes 0..127,
//    step 2^-7; 1.0 saturates to 127/128);
//  - a multiplier per dense/conv layer (o.multiplier, overridden by name in o.layer_multipliers).
// Residual blocks and global_avgpool are not supported in the quantized path (InputError naming the layer).
#pragma once

#include <map>
#include <string>

#include "models/quantized_network.hpp"
#include "workloads/nn/network.hpp"
#include "workloads/quant/fold.hpp"

namespace axsim::quant {

struct QuantizeOptions {
  int weight_bits = 8;      // 2..8 (signed, symmetric), or 1 for BinaryConnect sign weights
  int activation_bits = 8;  // 2..9, unsigned (9 stores codes 0..255 in 8 bits)
  FixedPointFormat input_format = FixedPointFormat::power_of_two(8, 7, false);
  double activation_quantile = 1.0;  // (0, 1]: 1 = the maximum over the calibration set
  Multiplier multiplier = Multiplier::exact(8);
  std::map<std::string, Multiplier> layer_multipliers;  // by dense/conv layer name
};

// calib_x: calib_n samples of the network's input size (features in [0, 1]); calib_n >= 1.
// Throws InputError for unsupported layers, bad options or unknown layer names in layer_multipliers.
QuantizedNetwork quantize_network(nn::Network& net, const float* calib_x, int calib_n, const QuantizeOptions& o = {});

// The same from an already folded network (fold_network with binarize_weights = (o.weight_bits == 1)).
QuantizedNetwork quantize_folded(const FoldedNetwork& folded, const float* calib_x, int calib_n,
                                 const QuantizeOptions& o = {});

}  // namespace axsim::quant
