// The inference form of a trained float network, before quantization: BatchNorm folded into the
// dense/conv layer before it (with its inference statistics), ReLU fused, Dropout dropped (identity at
// inference), Flatten and pooling kept. quantize_network() quantizes exactly this network, and
// calibrates its activation ranges by running it (forward_folded), so calibration sees the same
// arithmetic the quantized network approximates.
//
// Supported layer sequences: dense|conv2d [batchnorm] [relu] [dropout]..., maxpool, avgpool, flatten,
// relu on already non-negative values (no-op), dropout anywhere. Residual blocks, global_avgpool, a
// batchnorm that does not directly follow a dense/conv2d layer, and hidden dense/conv2d layers without
// a ReLU (their outputs would be signed, but activations are stored unsigned) are InputErrors naming
// the layer.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "models/quantized_network.hpp"
#include "workloads/nn/network.hpp"

namespace axsim::quant {

struct FoldedLayer {
  std::string name;       // the dense/conv/pool/flatten layer's name in the training network
  std::string batchnorm;  // name of the folded BatchNorm layer ("" if none)
  QOpKind kind = QOpKind::dense;
  int in_c = 0, in_h = 1, in_w = 1;
  int out_c = 0, out_h = 1, out_w = 1;
  int kernel = 1, stride = 1, padding = 0;
  std::vector<float> weights;  // [out_c][in_c][k][k] (dense: [out][in]), BN folded in
  std::vector<float> bias;     // [out_c]; empty when the layer has neither bias nor BN
  bool relu = false;
  bool is_output = false;
  bool binary_weights = false;  // weights are sign(w) in {-1, +1} (BinaryConnect)

  std::size_t input_size() const { return std::size_t(in_c) * in_h * in_w; }
  std::size_t output_size() const { return std::size_t(out_c) * out_h * out_w; }
  bool has_weights() const { return kind == QOpKind::dense || kind == QOpKind::conv2d; }
};

struct FoldedNetwork {
  std::string name;
  nn::Shape input;  // per-sample input shape
  int classes = 0;
  std::vector<FoldedLayer> layers;
};

struct FoldOptions {
  // BinaryConnect: use binarize(w) = +1 if w >= 0 else -1 instead of w. A binary layer followed by a
  // batchnorm is an InputError: folding the BN scale would make the weights non-binary.
  bool binarize_weights = false;
};

// Reads the real weights (Parameter::value, not a forward_value a training method may have left).
FoldedNetwork fold_network(nn::Network& net, const FoldOptions& options = {});

// Float inference of a folded network on n samples (x: n x input size). `logits` gets n x classes.
// on_layer(i, values) is called after layer i with its n x output_size outputs (after ReLU).
using FoldedLayerObserver = std::function<void(std::size_t layer, const std::vector<float>& values)>;
void forward_folded(const FoldedNetwork& net, const float* x, std::size_t n, std::vector<float>& logits,
                    const FoldedLayerObserver& on_layer = {});

}  // namespace axsim::quant
