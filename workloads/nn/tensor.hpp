// A dense float tensor for the trainer: row-major, batch first (N, C, H, W) for images and (N, F)
// for features. Storage is reused across mini-batches (resize keeps capacity), so the training
// loop does not allocate in steady state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <numeric>
#include <string>
#include <vector>

namespace axsim::nn {

using Shape = std::vector<int>;

inline std::size_t shape_size(const Shape& s) {
  std::size_t n = 1;
  for (int d : s) n *= std::size_t(d);
  return n;
}
std::string shape_string(const Shape& s);  // "[128, 1, 28, 28]"

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape, float fill = 0.0f) : shape_(std::move(shape)), data_(shape_size(shape_), fill) {}

  void resize(const Shape& shape) {
    shape_ = shape;
    data_.resize(shape_size(shape_));
  }
  void zero() { std::fill(data_.begin(), data_.end(), 0.0f); }

  const Shape& shape() const { return shape_; }
  int dim(std::size_t i) const { return shape_[i]; }
  int batch() const { return shape_.empty() ? 0 : shape_[0]; }
  std::size_t size() const { return data_.size(); }
  std::size_t sample_size() const { return shape_.empty() || shape_[0] == 0 ? 0 : data_.size() / std::size_t(shape_[0]); }
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  float& operator[](std::size_t i) { return data_[i]; }
  float operator[](std::size_t i) const { return data_[i]; }
  std::vector<float>& vec() { return data_; }
  const std::vector<float>& vec() const { return data_; }

 private:
  Shape shape_;
  std::vector<float> data_;
};

}  // namespace axsim::nn
