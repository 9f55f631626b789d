// Faulty weights for training: each mini-batch, every weight layer's forward weights are what a faulty
// memory would return at that layer's rate p_l (fresh faults per read, i.e. per mini-batch). The
// gradient of the loss w.r.t. the faulty weights then updates the real weights (straight-through).
//
// Where the stored words come from:
//  - BinaryConnect nets: the trainer has put sign(w) into forward_value (use_forward_value set) before
//    the method runs. Those 1-bit words go through the channel: `flip` is the BSC of LaNMax
//    (flip_signs), other channels act on the 1-bit layout of models/fixed_point.hpp.
//  - real-valued nets: each layer's weights are quantized to a `bits`-wide fixed-point word with the
//    finest power-of-two step covering max|w| (per layer, per batch), the channel corrupts the codes
//    and the result is dequantized into forward_value. After backward, release() switches the layer
//    back to its real weights, so evaluation and the artifact never see a stale faulty copy.
//  - float erasure (Hacene's regularizer): values are zeroed directly with models' erase(), without
//    quantization, on the BinaryConnect signs or on a copy of the real weights.
// The net is BinaryConnect iff the trainer set use_forward_value before the method ran (see
// binary_connect_active): the method needs no config flag that could disagree with the trainer's.
//
// Random streams: layer l at global step s draws from CounterRng(seed, stream_id({tag, s, l})) chunked
// as in FaultChannel::apply, so faults depend on (seed, step, layer) only, never on thread count.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "models/fault_channel.hpp"
#include "models/fixed_point.hpp"
#include "workloads/nn/network.hpp"

namespace axsim::train {

// True if the trainer filled forward_value with BinaryConnect weights (use_forward_value set on the
// weights of the first weight layer). Only meaningful where a method is called by the trainer.
bool binary_connect_active(const nn::Network& net);

class WeightFaults {
 public:
  enum class Mode {
    stored_words,  // channel on the stored words (1-bit BC or `bits`-bit fixed point)
    float_erasure  // erase() on float values (the erasure regularizer)
  };

  // channel: a models/ fault channel (ignored for float_erasure); bits: fixed-point width for
  // real-valued nets (2..16); stream_tag: distinguishes the streams of different methods.
  WeightFaults(Mode mode, std::shared_ptr<const FaultChannel> channel, int bits, std::uint64_t stream_tag);

  void attach(nn::Network& net);
  std::size_t layers() const { return weights_.size(); }
  const std::vector<std::string>& layer_names() const { return names_; }
  const std::vector<double>& weights_per_layer() const { return counts_; }

  // Corrupts every weight layer's forward weights at rate p[l] (p.size() == layers()).
  void inject(std::span<const double> p, std::uint64_t seed, std::uint64_t step);
  // After backward: real-valued nets compute with their real weights again.
  void release();

  bool binary() const { return binary_; }  // as seen by the last inject()
  // Fault counts per layer since the last reset_stats() (for the measured rate in train.json).
  const std::vector<FaultStats>& stats() const { return stats_; }
  void reset_stats();
  // Measured rate of layer l: faulty bits per stored bit (bit channels) or erased words per word.
  double measured_rate(std::size_t l) const;

  std::string channel_name() const;
  int stored_bits() const { return binary_ ? 1 : bits_; }

 private:
  void inject_layer(std::size_t l, double p, std::uint64_t seed, std::uint64_t stream);

  Mode mode_;
  std::shared_ptr<const FaultChannel> channel_;
  int bits_;
  std::uint64_t tag_;
  std::vector<nn::Parameter*> weights_;
  std::vector<std::string> names_;
  std::vector<double> counts_;
  std::vector<std::vector<std::int16_t>> codes_;  // per layer, reused across batches
  std::vector<FaultStats> stats_;
  bool binary_ = false;
  bool owns_forward_ = false;  // inject() set use_forward_value itself (real-valued net)
};

}  // namespace axsim::train
