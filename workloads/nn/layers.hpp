// The trainer's layers: Dense, Conv2d, pooling, BatchNorm, ReLU, Dropout, Flatten, Residual.
// Shapes are per sample (no batch dimension) in output_shape(); tensors carry the batch first.
#pragma once

#include <memory>
#include <vector>

#include "workloads/nn/layer.hpp"

namespace axsim::nn {

// y = x W^T + b, x: (N, in), W: [out, in] (PyTorch layout).
class Dense : public Layer {
 public:
  Dense(std::string name, int in, int out, bool bias = true);
  std::string kind() const override { return "dense"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Parameter*> parameters() override;
  std::uint64_t macs_per_sample(const Shape& in) const override { return std::uint64_t(in_) * out_; }
  int in_features() const { return in_; }
  int out_features() const { return out_; }
  Parameter& weight() { return weight_; }
  Parameter* bias() { return has_bias_ ? &bias_ : nullptr; }

 private:
  int in_, out_;
  bool has_bias_;
  Parameter weight_, bias_;
};

// 2-D convolution, NCHW, weight [out_c, in_c, k, k], square kernel, stride, zero padding. Computed
// image by image (images spread over OpenMP threads) as GEMMs on a per-image im2col matrix
// [in_c*k*k, R*C] that stays in cache: the output-channel count is the GEMM's M, the pixels its N.
class Conv2d : public Layer {
 public:
  Conv2d(std::string name, int in_c, int out_c, int kernel, int stride = 1, int padding = 0, bool bias = true);
  std::string kind() const override { return "conv2d"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Parameter*> parameters() override;
  std::uint64_t macs_per_sample(const Shape& in) const override;
  int in_channels() const { return in_c_; }
  int out_channels() const { return out_c_; }
  int kernel() const { return k_; }
  int stride() const { return stride_; }
  int padding() const { return pad_; }
  Parameter& weight() { return weight_; }
  Parameter* bias() { return has_bias_ ? &bias_ : nullptr; }

 private:
  std::pair<int, int> valid_columns(int kj, int out_cols, int w) const;
  void im2col_image(const float* img, int h, int w, int r, int c, float* col) const;
  void col2im_image(const float* dcol, int h, int w, int r, int c, float* dimg) const;
  void reserve_scratch(std::size_t floats);  // per-thread buffers of at least `floats`
  float* thread_scratch();                   // the calling OpenMP thread's buffer
  int in_c_, out_c_, k_, stride_, pad_;
  bool has_bias_;
  Parameter weight_, bias_;
  std::vector<std::vector<float>> scratch_;  // per OpenMP thread: one image's im2col (+ its gradient)
  std::vector<float> partials_;              // per chunk of images: partial dW and db
};

enum class PoolKind { max, avg };

class Pool2d : public Layer {
 public:
  Pool2d(std::string name, PoolKind kind, int kernel, int stride);
  std::string kind() const override { return kind_ == PoolKind::max ? "maxpool" : "avgpool"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  int kernel() const { return k_; }
  int stride() const { return stride_; }
  PoolKind pool_kind() const { return kind_; }

 private:
  PoolKind kind_;
  int k_, stride_;
  std::vector<int> argmax_;  // flat input index of each max output (max pooling)
};

// Global average pooling: (N, C, H, W) -> (N, C).
class GlobalAvgPool : public Layer {
 public:
  explicit GlobalAvgPool(std::string name) : Layer(std::move(name)) {}
  std::string kind() const override { return "global_avgpool"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
};

// Batch normalization over the channel dimension (dim 1) of (N, C) or (N, C, H, W).
class BatchNorm : public Layer {
 public:
  BatchNorm(std::string name, int channels, float momentum = 0.1f, float eps = 1e-5f, bool affine = true);
  std::string kind() const override { return "batchnorm"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Parameter*> parameters() override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override;
  int channels() const { return c_; }
  float eps() const { return eps_; }
  Tensor& running_mean() { return running_mean_; }
  Tensor& running_var() { return running_var_; }
  Parameter& gamma() { return gamma_; }
  Parameter& beta() { return beta_; }

 private:
  int c_;
  float momentum_, eps_;
  bool affine_;
  Parameter gamma_, beta_;
  Tensor running_mean_, running_var_;
  std::vector<float> mean_, inv_std_, xhat_;  // saved by a training forward for backward
  bool last_training_ = false;
};

class ReLU : public Layer {
 public:
  explicit ReLU(std::string name) : Layer(std::move(name)) {}
  std::string kind() const override { return "relu"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
};

// Inverted dropout: zero with probability p in training, scale the rest by 1/(1-p).
class Dropout : public Layer {
 public:
  Dropout(std::string name, float p);
  std::string kind() const override { return "dropout"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;

 private:
  float p_;
  std::vector<float> mask_;
};

class Flatten : public Layer {
 public:
  explicit Flatten(std::string name) : Layer(std::move(name)) {}
  std::string kind() const override { return "flatten"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
};

// y = relu(body(x) + shortcut(x)); shortcut is the identity when empty. The (Wide)ResNet block.
class Residual : public Layer {
 public:
  Residual(std::string name, std::vector<LayerPtr> body, std::vector<LayerPtr> shortcut, bool relu_after = true);
  std::string kind() const override { return "residual"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Parameter*> parameters() override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override;
  std::uint64_t macs_per_sample(const Shape& in) const override;
  const std::vector<LayerPtr>& body() const { return body_; }
  const std::vector<LayerPtr>& shortcut() const { return shortcut_; }
  // Network::insert_before for layers inside this block; returns false if no sublayer has that name.
  bool insert_before(const std::string& layer_name, LayerPtr& hook);

 private:
  std::vector<LayerPtr> body_, shortcut_;
  bool relu_after_;
  std::vector<Tensor> body_out_, short_out_;  // activations of each sublayer
  Tensor sum_;
};

}  // namespace axsim::nn
