#include "workloads/nn/layers.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "workloads/kernels/gemm.hpp"

namespace axsim::nn {

using kernels::sgemm;
using kernels::Trans;

std::string shape_string(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

namespace {

// Element-wise passes only pay for an OpenMP fork on large tensors (a LeNet conv output, an MLP
// layer at inference batch 1000), not on a 128 x 128 training activation.
constexpr std::size_t kParallelElementwise = std::size_t(1) << 16;

[[noreturn]] void shape_error(const Layer& l, const std::string& expected, const Shape& in) {
  throw_input_error("network", "layer " + l.name(), expected, "input shape " + shape_string(in));
}

Parameter make_param(const std::string& name, Shape shape, bool is_weight, bool decay) {
  Parameter p;
  p.name = name;
  p.value = Tensor(shape);
  p.grad = Tensor(shape);
  p.is_weight = is_weight;
  p.decay = decay;
  return p;
}

// Column sums of a (rows x cols) row-major matrix into out[cols] (bias gradients of Dense).
void column_sums(const float* m, int rows, int cols, float* out) {
  std::fill(out, out + cols, 0.0f);
  for (int r = 0; r < rows; ++r) {
    const float* row = m + std::size_t(r) * cols;
    for (int c = 0; c < cols; ++c) out[c] += row[c];
  }
}

}  // namespace

// ---------------------------------------------------------------- Dense
Dense::Dense(std::string name, int in, int out, bool bias)
    : Layer(std::move(name)), in_(in), out_(out), has_bias_(bias) {
  weight_ = make_param(this->name() + ".weight", {out, in}, true, true);
  if (bias) bias_ = make_param(this->name() + ".bias", {out}, false, false);
}

Shape Dense::output_shape(const Shape& in) const {
  if (in.size() != 1 || in[0] != in_)
    shape_error(*this, "(" + std::to_string(in_) + ") features (add a flatten layer before dense layers)", in);
  return {out_};
}

void Dense::forward(const Tensor& x, Tensor& y, const ForwardContext&) {
  const int n = x.batch();
  y.resize({n, out_});
  sgemm(Trans::no, Trans::yes, n, out_, in_, 1.0f, x.data(), in_, weight_.effective().data(), in_, 0.0f, y.data(),
        out_);
  if (has_bias_) {
    const float* b = bias_.effective().data();
#pragma omp parallel for schedule(static) if (std::size_t(n) * out_ >= kParallelElementwise)
    for (int i = 0; i < n; ++i) {
      float* row = y.data() + std::size_t(i) * out_;
      for (int j = 0; j < out_; ++j) row[j] += b[j];
    }
  }
}

void Dense::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  const int n = x.batch();
  sgemm(Trans::yes, Trans::no, out_, in_, n, 1.0f, dy.data(), out_, x.data(), in_, 0.0f, weight_.grad.data(), in_);
  if (has_bias_) column_sums(dy.data(), n, out_, bias_.grad.data());
  if (dx) {
    dx->resize(x.shape());
    sgemm(Trans::no, Trans::no, n, in_, out_, 1.0f, dy.data(), out_, weight_.effective().data(), in_, 0.0f, dx->data(),
          in_);
  }
}

std::vector<Parameter*> Dense::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

// ---------------------------------------------------------------- Conv2d
Conv2d::Conv2d(std::string name, int in_c, int out_c, int kernel, int stride, int padding, bool bias)
    : Layer(std::move(name)), in_c_(in_c), out_c_(out_c), k_(kernel), stride_(stride), pad_(padding), has_bias_(bias) {
  weight_ = make_param(this->name() + ".weight", {out_c, in_c, kernel, kernel}, true, true);
  if (bias) bias_ = make_param(this->name() + ".bias", {out_c}, false, false);
}

Shape Conv2d::output_shape(const Shape& in) const {
  if (in.size() != 3 || in[0] != in_c_)
    shape_error(*this, "(" + std::to_string(in_c_) + ", H, W) channels-first images", in);
  const int r = (in[1] + 2 * pad_ - k_) / stride_ + 1;
  const int c = (in[2] + 2 * pad_ - k_) / stride_ + 1;
  if (r <= 0 || c <= 0) shape_error(*this, "an image at least as large as the kernel", in);
  return {out_c_, r, c};
}

// Output columns [lo, hi) whose input column ocol*stride - pad + kj lies inside [0, w): the rest read
// the zero padding. Lets im2col/col2im copy runs instead of testing every element.
std::pair<int, int> Conv2d::valid_columns(int kj, int out_cols, int w) const {
  auto ceil_div = [](int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  const int lo = std::clamp(ceil_div(pad_ - kj, stride_), 0, out_cols);
  const int hi = std::clamp(ceil_div(w + pad_ - kj, stride_), lo, out_cols);
  return {lo, hi};
}

std::uint64_t Conv2d::macs_per_sample(const Shape& in) const {
  const Shape o = output_shape(in);
  return std::uint64_t(o[0]) * o[1] * o[2] * in_c_ * k_ * k_;
}

// Writes the im2col matrix of one image: row (ci, ki, kj), column (out_row, out_col), leading
// dimension r*c. Out-of-image taps read the zero padding.
void Conv2d::im2col_image(const float* img, int h, int w, int r, int c, float* col) const {
  const int rc = r * c;
  for (int row = 0; row < in_c_ * k_ * k_; ++row) {
    const int ci = row / (k_ * k_), ki = (row / k_) % k_, kj = row % k_;
    const float* src = img + std::size_t(ci) * h * w;
    float* dst = col + std::size_t(row) * rc;
    const auto [lo, hi] = valid_columns(kj, c, w);
    for (int orow = 0; orow < r; ++orow) {
      const int iy = orow * stride_ - pad_ + ki;
      float* d = dst + std::size_t(orow) * c;
      if (iy < 0 || iy >= h) {
        std::fill(d, d + c, 0.0f);
        continue;
      }
      const float* srow = src + std::size_t(iy) * w;
      // Plain loops, not std::copy/fill: the runs are a few dozen floats, too short for a libc call.
      for (int ocol = 0; ocol < lo; ++ocol) d[ocol] = 0.0f;
      if (stride_ == 1) {
        const float* s1 = srow - pad_ + kj;
        for (int ocol = lo; ocol < hi; ++ocol) d[ocol] = s1[ocol];
      } else {
        for (int ocol = lo; ocol < hi; ++ocol) d[ocol] = srow[ocol * stride_ - pad_ + kj];
      }
      for (int ocol = hi; ocol < c; ++ocol) d[ocol] = 0.0f;
    }
  }
}

// Adds the im2col-shaped gradient of one image back onto its (zeroed) input gradient.
void Conv2d::col2im_image(const float* dcol, int h, int w, int r, int c, float* dimg) const {
  const int rc = r * c;
  for (int row = 0; row < in_c_ * k_ * k_; ++row) {
    const int ci = row / (k_ * k_), ki = (row / k_) % k_, kj = row % k_;
    const float* src = dcol + std::size_t(row) * rc;
    float* dplane = dimg + std::size_t(ci) * h * w;
    const auto [lo, hi] = valid_columns(kj, c, w);
    for (int orow = 0; orow < r; ++orow) {
      const int iy = orow * stride_ - pad_ + ki;
      if (iy < 0 || iy >= h) continue;
      float* drow = dplane + std::size_t(iy) * w - pad_ + kj;
      const float* srow = src + std::size_t(orow) * c;
      if (stride_ == 1)
        for (int ocol = lo; ocol < hi; ++ocol) drow[ocol] += srow[ocol];
      else
        for (int ocol = lo; ocol < hi; ++ocol) drow[ocol * stride_] += srow[ocol];
    }
  }
}

float* Conv2d::thread_scratch() { return scratch_[std::size_t(omp_get_thread_num())].data(); }

void Conv2d::reserve_scratch(std::size_t floats) {
  scratch_.resize(std::max<std::size_t>(scratch_.size(), std::size_t(omp_get_max_threads())));
  for (auto& s : scratch_)
    if (s.size() < floats) s.resize(floats);
}

// One image at a time, images spread over the OpenMP threads: each image's im2col matrix (at most
// 25 x 784 floats for LeNet) stays in the thread's cache and its GEMM writes the NCHW output in place
// (bias pre-filled, beta = 1), instead of a batch-wide im2col matrix and output that go through
// memory several times. Results do not depend on the thread count (each image is computed alone).
void Conv2d::forward(const Tensor& x, Tensor& y, const ForwardContext&) {
  const int n = x.batch(), h = x.dim(2), w = x.dim(3);
  const Shape o = output_shape({x.dim(1), h, w});
  const int r = o[1], c = o[2], rc = r * c;
  const int ckk = in_c_ * k_ * k_;
  y.resize({n, out_c_, r, c});
  reserve_scratch(std::size_t(ckk) * rc);
  const float* wt = weight_.effective().data();
  const float* b = has_bias_ ? bias_.effective().data() : nullptr;
  const std::size_t in_size = std::size_t(in_c_) * h * w, out_size = std::size_t(out_c_) * rc;
#pragma omp parallel for schedule(static) if (n > 1)
  for (int s = 0; s < n; ++s) {
    float* col = thread_scratch();
    im2col_image(x.data() + s * in_size, h, w, r, c, col);
    float* ys = y.data() + s * out_size;
    if (b)
      for (int m = 0; m < out_c_; ++m) std::fill_n(ys + std::size_t(m) * rc, rc, b[m]);
    sgemm(Trans::no, Trans::no, out_c_, rc, ckk, 1.0f, wt, ckk, col, rc, b ? 1.0f : 0.0f, ys, rc);
  }
}

// Per image: dW += dY_s col_s^T (im2col recomputed from x, cheaper than keeping it), db += row sums
// of dY_s, and dX_s = col2im(W^T dY_s). Images are grouped in fixed chunks whose partial dW/db are
// summed in chunk order, so the gradients do not depend on the thread count.
void Conv2d::backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  constexpr int kImagesPerChunk = 4;
  const int n = x.batch(), h = x.dim(2), w = x.dim(3);
  const int r = y.dim(2), c = y.dim(3), rc = r * c;
  const int ckk = in_c_ * k_ * k_;
  const std::size_t wsize = std::size_t(out_c_) * ckk;
  const std::size_t part_size = wsize + std::size_t(out_c_);
  const int chunks = (n + kImagesPerChunk - 1) / kImagesPerChunk;
  partials_.resize(std::size_t(chunks) * part_size);
  const std::size_t col_floats = std::size_t(ckk) * rc;
  reserve_scratch(2 * col_floats);
  if (dx) dx->resize(x.shape());
  const float* wt = weight_.effective().data();
  const std::size_t in_size = std::size_t(in_c_) * h * w, out_size = std::size_t(out_c_) * rc;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int chunk = 0; chunk < chunks; ++chunk) {
    float* col = thread_scratch();
    float* dcol = col + col_floats;
    float* dw = partials_.data() + std::size_t(chunk) * part_size;
    float* db = dw + wsize;
    std::fill_n(db, out_c_, 0.0f);
    const int s0 = chunk * kImagesPerChunk, s1 = std::min(n, s0 + kImagesPerChunk);
    for (int s = s0; s < s1; ++s) {
      const float* dys = dy.data() + s * out_size;
      im2col_image(x.data() + s * in_size, h, w, r, c, col);
      sgemm(Trans::no, Trans::yes, out_c_, ckk, rc, 1.0f, dys, rc, col, rc, s == s0 ? 0.0f : 1.0f, dw, ckk);
      for (int m = 0; m < out_c_; ++m) {
        const float* row = dys + std::size_t(m) * rc;
        float acc = 0.0f;
        for (int i = 0; i < rc; ++i) acc += row[i];
        db[m] += acc;
      }
      if (!dx) continue;
      sgemm(Trans::yes, Trans::no, ckk, rc, out_c_, 1.0f, wt, ckk, dys, rc, 0.0f, dcol, rc);
      float* dxs = dx->data() + s * in_size;
      std::fill_n(dxs, in_size, 0.0f);
      col2im_image(dcol, h, w, r, c, dxs);
    }
  }
  float* gw = weight_.grad.data();
  std::copy_n(partials_.data(), wsize, gw);
  for (int chunk = 1; chunk < chunks; ++chunk) {
    const float* p = partials_.data() + std::size_t(chunk) * part_size;
    for (std::size_t i = 0; i < wsize; ++i) gw[i] += p[i];
  }
  if (has_bias_) {
    float* gb = bias_.grad.data();
    for (int m = 0; m < out_c_; ++m) {
      float acc = 0.0f;
      for (int chunk = 0; chunk < chunks; ++chunk) acc += partials_[std::size_t(chunk) * part_size + wsize + m];
      gb[m] = acc;
    }
  }
}

std::vector<Parameter*> Conv2d::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

// ---------------------------------------------------------------- Pool2d
Pool2d::Pool2d(std::string name, PoolKind kind, int kernel, int stride)
    : Layer(std::move(name)), kind_(kind), k_(kernel), stride_(stride > 0 ? stride : kernel) {}

Shape Pool2d::output_shape(const Shape& in) const {
  if (in.size() != 3) shape_error(*this, "(C, H, W) images", in);
  const int r = (in[1] - k_) / stride_ + 1, c = (in[2] - k_) / stride_ + 1;
  if (r <= 0 || c <= 0) shape_error(*this, "an image at least as large as the pooling window", in);
  return {in[0], r, c};
}

void Pool2d::forward(const Tensor& x, Tensor& y, const ForwardContext&) {
  const int n = x.batch(), ch = x.dim(1), h = x.dim(2), w = x.dim(3);
  const Shape o = output_shape({ch, h, w});
  const int r = o[1], c = o[2];
  y.resize({n, ch, r, c});
  if (kind_ == PoolKind::max) argmax_.resize(y.size());
  const float inv = 1.0f / float(k_ * k_);
  const bool max2x2 = kind_ == PoolKind::max && k_ == 2 && stride_ == 2;
#pragma omp parallel for schedule(static) if (y.size() >= kParallelElementwise / 4)
  for (int plane = 0; plane < n * ch; ++plane) {
    const float* src = x.data() + std::size_t(plane) * h * w;
    float* dst = y.data() + std::size_t(plane) * r * c;
    int* arg_out = kind_ == PoolKind::max ? argmax_.data() + std::size_t(plane) * r * c : nullptr;
    if (max2x2) {  // LeNet's pooling: two input rows per output row, no window loops
      for (int orow = 0; orow < r; ++orow) {
        const float* row0 = src + std::size_t(2 * orow) * w;
        const float* row1 = row0 + w;
        for (int ocol = 0; ocol < c; ++ocol) {
          // Same scan order and strict '>' as the general loop: the first maximum wins ties.
          const int base = 2 * orow * w + 2 * ocol;
          float best = row0[2 * ocol];
          int arg = base;
          if (row0[2 * ocol + 1] > best) best = row0[2 * ocol + 1], arg = base + 1;
          if (row1[2 * ocol] > best) best = row1[2 * ocol], arg = base + w;
          if (row1[2 * ocol + 1] > best) best = row1[2 * ocol + 1], arg = base + w + 1;
          dst[orow * c + ocol] = best;
          arg_out[orow * c + ocol] = arg;
        }
      }
      continue;
    }
    for (int orow = 0; orow < r; ++orow)
      for (int ocol = 0; ocol < c; ++ocol) {
        const int y0 = orow * stride_, x0 = ocol * stride_;
        if (kind_ == PoolKind::max) {
          float best = -std::numeric_limits<float>::infinity();
          int arg = y0 * w + x0;
          for (int i = 0; i < k_; ++i)
            for (int j = 0; j < k_; ++j) {
              const float v = src[(y0 + i) * w + x0 + j];
              if (v > best) {
                best = v;
                arg = (y0 + i) * w + x0 + j;
              }
            }
          dst[orow * c + ocol] = best;
          arg_out[orow * c + ocol] = arg;
        } else {
          float s = 0.0f;
          for (int i = 0; i < k_; ++i)
            for (int j = 0; j < k_; ++j) s += src[(y0 + i) * w + x0 + j];
          dst[orow * c + ocol] = s * inv;
        }
      }
  }
}

void Pool2d::backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  const int n = x.batch(), ch = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int r = y.dim(2), c = y.dim(3);
  dx->resize(x.shape());
  const float inv = 1.0f / float(k_ * k_);
#pragma omp parallel for schedule(static) if (x.size() >= kParallelElementwise)
  for (int plane = 0; plane < n * ch; ++plane) {
    float* dsrc = dx->data() + std::size_t(plane) * h * w;
    std::fill_n(dsrc, std::size_t(h) * w, 0.0f);  // per plane, while it is in this thread's cache
    const float* g = dy.data() + std::size_t(plane) * r * c;
    for (int orow = 0; orow < r; ++orow)
      for (int ocol = 0; ocol < c; ++ocol) {
        const float gv = g[orow * c + ocol];
        if (kind_ == PoolKind::max) {
          dsrc[argmax_[std::size_t(plane) * r * c + orow * c + ocol]] += gv;
        } else {
          const int y0 = orow * stride_, x0 = ocol * stride_;
          for (int i = 0; i < k_; ++i)
            for (int j = 0; j < k_; ++j) dsrc[(y0 + i) * w + x0 + j] += gv * inv;
        }
      }
  }
}

// ---------------------------------------------------------------- GlobalAvgPool
Shape GlobalAvgPool::output_shape(const Shape& in) const {
  if (in.size() != 3) shape_error(*this, "(C, H, W) images", in);
  return {in[0]};
}

void GlobalAvgPool::forward(const Tensor& x, Tensor& y, const ForwardContext&) {
  const int n = x.batch(), ch = x.dim(1), hw = x.dim(2) * x.dim(3);
  y.resize({n, ch});
  for (int p = 0; p < n * ch; ++p) {
    const float* src = x.data() + std::size_t(p) * hw;
    float s = 0.0f;
    for (int i = 0; i < hw; ++i) s += src[i];
    y[std::size_t(p)] = s / float(hw);
  }
}

void GlobalAvgPool::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  const int n = x.batch(), ch = x.dim(1), hw = x.dim(2) * x.dim(3);
  dx->resize(x.shape());
  for (int p = 0; p < n * ch; ++p) std::fill_n(dx->data() + std::size_t(p) * hw, hw, dy[std::size_t(p)] / float(hw));
}

// ---------------------------------------------------------------- BatchNorm
BatchNorm::BatchNorm(std::string name, int channels, float momentum, float eps, bool affine)
    : Layer(std::move(name)), c_(channels), momentum_(momentum), eps_(eps), affine_(affine) {
  gamma_ = make_param(this->name() + ".weight", {channels}, false, false);
  beta_ = make_param(this->name() + ".bias", {channels}, false, false);
  std::fill(gamma_.value.vec().begin(), gamma_.value.vec().end(), 1.0f);
  running_mean_ = Tensor({channels}, 0.0f);
  running_var_ = Tensor({channels}, 1.0f);
}

Shape BatchNorm::output_shape(const Shape& in) const {
  if (in.empty() || in[0] != c_) shape_error(*this, std::to_string(c_) + " channels in dimension 1", in);
  return in;
}

void BatchNorm::forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) {
  const int n = x.batch();
  const int spatial = int(x.sample_size() / std::size_t(c_));
  y.resize(x.shape());
  mean_.assign(c_, 0.0f);
  inv_std_.assign(c_, 0.0f);
  last_training_ = ctx.training;
  if (ctx.training) xhat_.resize(x.size());
  const float* g = gamma_.effective().data();
  const float* b = beta_.effective().data();
#pragma omp parallel for schedule(static)
  for (int ch = 0; ch < c_; ++ch) {
    float mean, var;
    if (ctx.training) {
      double s = 0.0, s2 = 0.0;
      for (int i = 0; i < n; ++i) {
        const float* p = x.data() + (std::size_t(i) * c_ + ch) * spatial;
        for (int j = 0; j < spatial; ++j) {
          s += p[j];
          s2 += double(p[j]) * p[j];
        }
      }
      const double count = double(n) * spatial;
      mean = float(s / count);
      var = float(std::max(0.0, s2 / count - (s / count) * (s / count)));
      const double unbiased = count > 1 ? var * count / (count - 1) : var;
      running_mean_[ch] = (1 - momentum_) * running_mean_[ch] + momentum_ * mean;
      running_var_[ch] = float((1 - momentum_) * running_var_[ch] + momentum_ * unbiased);
    } else {
      mean = running_mean_[ch];
      var = running_var_[ch];
    }
    const float inv = 1.0f / std::sqrt(var + eps_);
    mean_[ch] = mean;
    inv_std_[ch] = inv;
    const float scale = affine_ ? g[ch] : 1.0f, shift = affine_ ? b[ch] : 0.0f;
    for (int i = 0; i < n; ++i) {
      const std::size_t off = (std::size_t(i) * c_ + ch) * spatial;
      for (int j = 0; j < spatial; ++j) {
        const float xh = (x[off + j] - mean) * inv;
        if (ctx.training) xhat_[off + j] = xh;
        y[off + j] = xh * scale + shift;
      }
    }
  }
}

void BatchNorm::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  const int n = x.batch();
  const int spatial = int(x.sample_size() / std::size_t(c_));
  const double count = double(n) * spatial;
  if (dx) dx->resize(x.shape());
  const float* g = gamma_.effective().data();
#pragma omp parallel for schedule(static)
  for (int ch = 0; ch < c_; ++ch) {
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int i = 0; i < n; ++i) {
      const std::size_t off = (std::size_t(i) * c_ + ch) * spatial;
      for (int j = 0; j < spatial; ++j) {
        const float xh = last_training_ ? xhat_[off + j] : (x[off + j] - mean_[ch]) * inv_std_[ch];
        sum_dy += dy[off + j];
        sum_dy_xhat += double(dy[off + j]) * xh;
      }
    }
    gamma_.grad[ch] = affine_ ? float(sum_dy_xhat) : 0.0f;
    beta_.grad[ch] = affine_ ? float(sum_dy) : 0.0f;
    if (!dx) continue;
    const float scale = (affine_ ? g[ch] : 1.0f) * inv_std_[ch];
    for (int i = 0; i < n; ++i) {
      const std::size_t off = (std::size_t(i) * c_ + ch) * spatial;
      for (int j = 0; j < spatial; ++j) {
        if (last_training_) {
          const float xh = xhat_[off + j];
          (*dx)[off + j] = scale * float(dy[off + j] - sum_dy / count - xh * sum_dy_xhat / count);
        } else {
          (*dx)[off + j] = scale * dy[off + j];  // inference statistics are constants
        }
      }
    }
  }
}

std::vector<Parameter*> BatchNorm::parameters() {
  if (!affine_) return {};
  return {&gamma_, &beta_};
}

std::vector<std::pair<std::string, Tensor*>> BatchNorm::buffers() {
  return {{name() + ".running_mean", &running_mean_}, {name() + ".running_var", &running_var_}};
}

// ---------------------------------------------------------------- ReLU

void ReLU::forward(const Tensor& x, Tensor& y, const ForwardContext&) {
  y.resize(x.shape());
  const std::ptrdiff_t n = std::ptrdiff_t(x.size());
  const float* s = x.data();
  float* d = y.data();
#pragma omp parallel for schedule(static) if (std::size_t(n) >= kParallelElementwise)
  for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = s[i] > 0.0f ? s[i] : 0.0f;
}

void ReLU::backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  dx->resize(x.shape());
  const std::ptrdiff_t n = std::ptrdiff_t(x.size());
  const float* yy = y.data();
  const float* g = dy.data();
  float* d = dx->data();
#pragma omp parallel for schedule(static) if (std::size_t(n) >= kParallelElementwise)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    // Both loads unconditional, so the select vectorizes (a branch here mispredicts on half the
    // elements: it was 7 % of LeNet training time).
    const float gi = g[i], yi = yy[i];
    d[i] = yi > 0.0f ? gi : 0.0f;
  }
}

// ---------------------------------------------------------------- Dropout
Dropout::Dropout(std::string name, float p) : Layer(std::move(name)), p_(p) {
  if (!(p >= 0.0f && p < 1.0f))
    throw_input_error("network", "layer " + this->name(), "a dropout rate in [0, 1)", std::to_string(p));
}

void Dropout::forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) {
  y.resize(x.shape());
  if (!ctx.training || p_ == 0.0f) {
    std::copy_n(x.data(), x.size(), y.data());
    return;
  }
  mask_.resize(x.size());
  CounterRng rng(ctx.seed, stream_id({0xD80u, std::uint64_t(ctx.layer_index), ctx.step}));
  const float keep_scale = 1.0f / (1.0f - p_);
  for (std::size_t i = 0; i < x.size(); ++i) {
    mask_[i] = rng.uniform() < p_ ? 0.0f : keep_scale;
    y[i] = x[i] * mask_[i];
  }
}

void Dropout::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  dx->resize(x.shape());
  if (mask_.size() != x.size()) {  // forward ran in inference mode
    std::copy_n(dy.data(), dy.size(), dx->data());
    return;
  }
  for (std::size_t i = 0; i < x.size(); ++i) (*dx)[i] = dy[i] * mask_[i];
}

// ---------------------------------------------------------------- Flatten
Shape Flatten::output_shape(const Shape& in) const { return {int(shape_size(in))}; }

void Flatten::forward(const Tensor& x, Tensor& y, const ForwardContext&) {
  y.resize({x.batch(), int(x.sample_size())});
  std::copy_n(x.data(), x.size(), y.data());
}

void Flatten::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  dx->resize(x.shape());
  std::copy_n(dy.data(), dy.size(), dx->data());
}

// ---------------------------------------------------------------- Residual
Residual::Residual(std::string name, std::vector<LayerPtr> body, std::vector<LayerPtr> shortcut, bool relu_after)
    : Layer(std::move(name)), body_(std::move(body)), shortcut_(std::move(shortcut)), relu_after_(relu_after) {
  body_out_.resize(body_.size());
  short_out_.resize(shortcut_.size());
}

Shape Residual::output_shape(const Shape& in) const {
  Shape b = in, s = in;
  for (const auto& l : body_) b = l->output_shape(b);
  for (const auto& l : shortcut_) s = l->output_shape(s);
  if (b != s)
    shape_error(*this,
                "body and shortcut with equal output shapes, body gives " + shape_string(b) + " and shortcut " +
                    shape_string(s),
                in);
  return b;
}

std::uint64_t Residual::macs_per_sample(const Shape& in) const {
  std::uint64_t m = 0;
  Shape b = in, s = in;
  for (const auto& l : body_) {
    m += l->macs_per_sample(b);
    b = l->output_shape(b);
  }
  for (const auto& l : shortcut_) {
    m += l->macs_per_sample(s);
    s = l->output_shape(s);
  }
  return m;
}

void Residual::forward(const Tensor& x, Tensor& y, const ForwardContext& ctx) {
  const Tensor* cur = &x;
  for (std::size_t i = 0; i < body_.size(); ++i) {
    body_[i]->forward(*cur, body_out_[i], ctx);
    cur = &body_out_[i];
  }
  const Tensor* sc = &x;
  for (std::size_t i = 0; i < shortcut_.size(); ++i) {
    shortcut_[i]->forward(*sc, short_out_[i], ctx);
    sc = &short_out_[i];
  }
  y.resize(cur->shape());
  sum_.resize(cur->shape());
  for (std::size_t i = 0; i < y.size(); ++i) {
    sum_[i] = (*cur)[i] + (*sc)[i];
    y[i] = relu_after_ ? std::max(0.0f, sum_[i]) : sum_[i];
  }
}

void Residual::backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) {
  Tensor dsum(dy.shape());
  for (std::size_t i = 0; i < dy.size(); ++i) dsum[i] = (!relu_after_ || sum_[i] > 0.0f) ? dy[i] : 0.0f;
  Tensor g = dsum, gprev;
  for (std::size_t i = body_.size(); i-- > 0;) {
    const Tensor& in = i == 0 ? x : body_out_[i - 1];
    body_[i]->backward(in, body_out_[i], g, &gprev);
    std::swap(g, gprev);
  }
  Tensor gs = dsum;
  for (std::size_t i = shortcut_.size(); i-- > 0;) {
    const Tensor& in = i == 0 ? x : short_out_[i - 1];
    shortcut_[i]->backward(in, short_out_[i], gs, &gprev);
    std::swap(gs, gprev);
  }
  if (dx) {
    dx->resize(x.shape());
    for (std::size_t i = 0; i < dx->size(); ++i) (*dx)[i] = g[i] + gs[i];
  }
}

bool Residual::insert_before(const std::string& layer_name, LayerPtr& hook) {
  for (auto* branch : {&body_, &shortcut_}) {
    for (std::size_t i = 0; i < branch->size(); ++i) {
      if ((*branch)[i]->name() == layer_name) {
        branch->insert(branch->begin() + long(i), std::move(hook));
        body_out_.resize(body_.size());
        short_out_.resize(shortcut_.size());
        return true;
      }
      if (auto* inner = dynamic_cast<Residual*>((*branch)[i].get()))
        if (inner->insert_before(layer_name, hook)) return true;
    }
  }
  return false;
}

std::vector<Parameter*> Residual::parameters() {
  std::vector<Parameter*> out;
  for (auto& l : body_)
    for (auto* p : l->parameters()) out.push_back(p);
  for (auto& l : shortcut_)
    for (auto* p : l->parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Residual::buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& l : body_)
    for (auto& b : l->buffers()) out.push_back(b);
  for (auto& l : shortcut_)
    for (auto& b : l->buffers()) out.push_back(b);
  return out;
}

}  // namespace axsim::nn
