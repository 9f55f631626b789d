#include "workloads/nn/rop.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "workloads/kernels/gemm.hpp"

namespace axsim::nn {

namespace {

using kernels::sgemm;
using kernels::Trans;

inline float sign_of(float v) { return float(v > 0.0f) - float(v < 0.0f); }

// C (m x n) = op(A) op(B) (+ C if accumulate), row-major, tight leading dimensions.
void matmul(bool ta, bool tb, int m, int n, int k, const float* a, const float* b, float* c, bool accumulate) {
  sgemm(ta ? Trans::yes : Trans::no, tb ? Trans::yes : Trans::no, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n,
        accumulate ? 1.0f : 0.0f, c, n);
}

}  // namespace

// What one layer needs between the passes. Geometry is per sample; buffers hold every pick.
struct SensitivityEngine::Stage {
  enum class Kind { dense, conv, relu, maxpool, avgpool, flatten } kind;
  Parameter* weight = nullptr;
  Parameter* bias = nullptr;
  int weight_index = -1, bias_index = -1;  // into params_
  // dense: in, out. conv/pool: input (c, h, w), output (oc, oh, ow), kernel, stride, padding.
  int in = 0, out = 0;
  int c = 0, h = 0, w = 0, oc = 0, oh = 0, ow = 0, k = 1, stride = 1, pad = 0;
  std::vector<float> abs_w, sign_w;
  std::vector<float> a_abs, dy_abs, prod;  // dense: |A|, |DY|, |A||W|^T
  std::vector<float> cols, rcols, v;       // conv: im2col of a and R{a} per pick, V per pick
  std::vector<int> argmax;                 // maxpool: flat input index per output

  int ckk() const { return c * k * k; }
  int pixels() const { return oh * ow; }

  // Column matrix (c*k*k x oh*ow) of one sample, same layout as Conv2d: row (ci, ki, kj).
  void im2col(const float* x, float* col) const {
    const int p = pixels();
    for (int row = 0; row < ckk(); ++row) {
      const int ci = row / (k * k), ki = (row / k) % k, kj = row % k;
      float* d = col + std::size_t(row) * p;
      for (int oy = 0; oy < oh; ++oy) {
        const int iy = oy * stride - pad + ki;
        for (int ox = 0; ox < ow; ++ox) {
          const int ix = ox * stride - pad + kj;
          d[oy * ow + ox] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x[(std::size_t(ci) * h + iy) * w + ix] : 0.0f;
        }
      }
    }
  }
  // dx (c, h, w) += scatter of a column matrix (the transpose of im2col).
  void col2im(const float* col, float* dx) const {
    const int p = pixels();
    for (int row = 0; row < ckk(); ++row) {
      const int ci = row / (k * k), ki = (row / k) % k, kj = row % k;
      const float* s = col + std::size_t(row) * p;
      for (int oy = 0; oy < oh; ++oy) {
        const int iy = oy * stride - pad + ki;
        if (iy < 0 || iy >= h) continue;
        for (int ox = 0; ox < ow; ++ox) {
          const int ix = ox * stride - pad + kj;
          if (ix >= 0 && ix < w) dx[(std::size_t(ci) * h + iy) * w + ix] += s[oy * ow + ox];
        }
      }
    }
  }
};

SensitivityEngine::~SensitivityEngine() = default;

SensitivityEngine::SensitivityEngine(Network& net) {
  params_ = net.parameters();
  auto index_of = [&](Parameter* p) { return int(std::find(params_.begin(), params_.end(), p) - params_.begin()); };
  Shape shape = net.spec().input;
  for (const LayerPtr& lp : net.layers()) {
    Layer* l = lp.get();
    auto st = std::make_unique<Stage>();
    const Shape out = l->output_shape(shape);
    if (auto* d = dynamic_cast<Dense*>(l)) {
      st->kind = Stage::Kind::dense;
      st->in = d->in_features();
      st->out = d->out_features();
      st->weight = &d->weight();
      st->bias = d->bias();
    } else if (auto* cv = dynamic_cast<Conv2d*>(l)) {
      st->kind = Stage::Kind::conv;
      st->k = cv->kernel();
      st->stride = cv->stride();
      st->pad = cv->padding();
      st->weight = &cv->weight();
      st->bias = cv->bias();
    } else if (auto* pl = dynamic_cast<Pool2d*>(l)) {
      st->kind = pl->pool_kind() == PoolKind::max ? Stage::Kind::maxpool : Stage::Kind::avgpool;
      st->k = pl->kernel();
      st->stride = pl->stride();
    } else if (dynamic_cast<ReLU*>(l)) {
      st->kind = Stage::Kind::relu;
    } else if (dynamic_cast<Flatten*>(l)) {
      st->kind = Stage::Kind::flatten;
    } else {
      throw_input_error("network", "layer " + l->name(),
                        "a layer the R-operator supports (dense, conv2d, relu, maxpool, avgpool, flatten)",
                        "'" + l->kind() + "'", "AxTrain-act supports the MLP and LeNet-5 layer types");
    }
    if (shape.size() == 3) {
      st->c = shape[0], st->h = shape[1], st->w = shape[2];
    }
    if (out.size() == 3) {
      st->oc = out[0], st->oh = out[1], st->ow = out[2];
    }
    if (st->weight) st->weight_index = index_of(st->weight);
    if (st->bias) st->bias_index = index_of(st->bias);
    layers_.push_back(l);
    stages_.push_back(std::move(st));
    shape = out;
  }
  acts_.resize(layers_.size());
  dys_.resize(layers_.size());
  racts_.resize(layers_.size());
}

double SensitivityEngine::compute(const Tensor& x, std::span<const OutputPick> picks, SensitivityGradient* grad,
                                  bool compute_hvp) {
  const int rows = int(picks.size());
  const std::size_t layers = layers_.size();
  if (grad) {
    grad->first.resize(params_.size());
    grad->hvp.resize(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      grad->first[i].resize(params_[i]->value.shape());
      grad->first[i].zero();
      grad->hvp[i].resize(params_[i]->value.shape());
      grad->hvp[i].zero();
    }
  }
  if (rows == 0 || layers == 0) return 0.0;

  // The picked samples as a batch of rows (a sample picked for m outputs appears m times).
  Shape shape = x.shape();
  const std::size_t f = x.sample_size();
  shape[0] = rows;
  rows_.resize(shape);
  for (int r = 0; r < rows; ++r) {
    const int n = picks[std::size_t(r)].sample;
    if (n < 0 || n >= x.batch()) throw std::out_of_range("SensitivityEngine: pick of sample " + std::to_string(n));
    std::copy_n(x.data() + std::size_t(n) * f, f, rows_.data() + std::size_t(r) * f);
  }
  auto input_of = [&](std::size_t i) -> const Tensor& { return i == 0 ? rows_ : acts_[i - 1]; };

  // 1. Forward with the layers' own kernels (effective weights).
  ForwardContext ctx;
  for (std::size_t i = 0; i < layers; ++i) {
    ctx.layer_index = int(i);
    layers_[i]->forward(input_of(i), acts_[i], ctx);
  }
  const int outputs = int(acts_.back().sample_size());

  // Linear backward of the weight-free layers (also the R-backward: their routing does not depend on v).
  auto route_backward = [&](std::size_t i, const Tensor& dy, Tensor& dx) {
    const Stage& st = *stages_[i];
    const Tensor& in = input_of(i);
    dx.resize(in.shape());
    const std::size_t n = in.size();
    if (st.kind == Stage::Kind::flatten) {
      std::copy_n(dy.data(), n, dx.data());
    } else if (st.kind == Stage::Kind::relu) {
      const float* y = acts_[i].data();
      for (std::size_t j = 0; j < n; ++j) dx[j] = y[j] > 0.0f ? dy[j] : 0.0f;
    } else {  // pooling
      dx.zero();
      const std::size_t planes = std::size_t(rows) * st.c, op = std::size_t(st.oh) * st.ow,
                        ip = std::size_t(st.h) * st.w;
      const float inv = 1.0f / float(st.k * st.k);
      for (std::size_t pl = 0; pl < planes; ++pl)
        for (int oy = 0; oy < st.oh; ++oy)
          for (int ox = 0; ox < st.ow; ++ox) {
            const std::size_t o = pl * op + std::size_t(oy) * st.ow + ox;
            if (st.kind == Stage::Kind::maxpool) {
              dx[pl * ip + std::size_t(st.argmax[o])] += dy[o];
              continue;
            }
            for (int i2 = 0; i2 < st.k; ++i2)
              for (int j2 = 0; j2 < st.k; ++j2)
                dx[pl * ip + std::size_t(oy * st.stride + i2) * st.w + ox * st.stride + j2] += dy[o] * inv;
          }
    }
  };
  // Linear forward of the weight-free layers applied to R{x}.
  auto route_forward = [&](std::size_t i, const Tensor& rx, Tensor& ry) {
    const Stage& st = *stages_[i];
    ry.resize(acts_[i].shape());
    const std::size_t n = ry.size();
    if (st.kind == Stage::Kind::flatten) {
      std::copy_n(rx.data(), n, ry.data());
    } else if (st.kind == Stage::Kind::relu) {
      const float* y = acts_[i].data();
      for (std::size_t j = 0; j < n; ++j) ry[j] = y[j] > 0.0f ? rx[j] : 0.0f;
    } else {
      const std::size_t planes = std::size_t(rows) * st.c, op = std::size_t(st.oh) * st.ow,
                        ip = std::size_t(st.h) * st.w;
      const float inv = 1.0f / float(st.k * st.k);
      for (std::size_t pl = 0; pl < planes; ++pl)
        for (int oy = 0; oy < st.oh; ++oy)
          for (int ox = 0; ox < st.ow; ++ox) {
            const std::size_t o = pl * op + std::size_t(oy) * st.ow + ox;
            if (st.kind == Stage::Kind::maxpool) {
              ry[o] = rx[pl * ip + std::size_t(st.argmax[o])];
              continue;
            }
            float s = 0.0f;
            for (int i2 = 0; i2 < st.k; ++i2)
              for (int j2 = 0; j2 < st.k; ++j2)
                s += rx[pl * ip + std::size_t(oy * st.stride + i2) * st.w + ox * st.stride + j2];
            ry[o] = s * inv;
          }
    }
  };

  // Max-pool routing from the forward input (same rule as Pool2d: first strictly larger value wins).
  for (std::size_t i = 0; i < layers; ++i) {
    Stage& st = *stages_[i];
    if (st.kind != Stage::Kind::maxpool) continue;
    const Tensor& in = input_of(i);
    const std::size_t planes = std::size_t(rows) * st.c, op = std::size_t(st.oh) * st.ow, ip = std::size_t(st.h) * st.w;
    st.argmax.resize(planes * op);
    for (std::size_t pl = 0; pl < planes; ++pl)
      for (int oy = 0; oy < st.oh; ++oy)
        for (int ox = 0; ox < st.ow; ++ox) {
          float best = -std::numeric_limits<float>::infinity();
          int arg = oy * st.stride * st.w + ox * st.stride;
          for (int i2 = 0; i2 < st.k; ++i2)
            for (int j2 = 0; j2 < st.k; ++j2) {
              const int idx = (oy * st.stride + i2) * st.w + ox * st.stride + j2;
              if (in[pl * ip + std::size_t(idx)] > best) {
                best = in[pl * ip + std::size_t(idx)];
                arg = idx;
              }
            }
          st.argmax[pl * op + std::size_t(oy) * st.ow + ox] = arg;
        }
  }

  // 2. Backward of O_k: dys_[i] = dO_k / d(output of layer i), one-hot at the last layer.
  dys_[layers - 1].resize(acts_.back().shape());
  dys_[layers - 1].zero();
  for (int r = 0; r < rows; ++r) {
    const int k = picks[std::size_t(r)].output;
    if (k < 0 || k >= outputs) throw std::out_of_range("SensitivityEngine: pick of output " + std::to_string(k));
    dys_[layers - 1][std::size_t(r) * outputs + std::size_t(k)] = 1.0f;
  }
  for (std::size_t i = layers - 1; i >= 1; --i) {
    Stage& st = *stages_[i];
    Tensor& dx = dys_[i - 1];
    const Tensor& dy = dys_[i];
    if (st.kind == Stage::Kind::dense) {
      dx.resize(input_of(i).shape());
      matmul(false, false, rows, st.in, st.out, dy.data(), st.weight->effective().data(), dx.data(), false);
    } else if (st.kind == Stage::Kind::conv) {
      dx.resize(input_of(i).shape());
      dx.zero();
      const int ckk = st.ckk(), p = st.pixels();
#pragma omp parallel
      {
        std::vector<float> col(std::size_t(ckk) * p);
#pragma omp for schedule(static)
        for (int r = 0; r < rows; ++r) {
          matmul(true, false, ckk, p, st.oc, st.weight->effective().data(), dy.data() + std::size_t(r) * st.oc * p,
                 col.data(), false);
          st.col2im(col.data(), dx.data() + std::size_t(r) * st.c * st.h * st.w);
        }
      }
    } else {
      route_backward(i, dy, dx);
    }
  }

  // 3. Sensitivity and the first gradient term per weight layer; what the R passes need.
  double sensitivity = 0.0;
  for (std::size_t i = 0; i < layers; ++i) {
    Stage& st = *stages_[i];
    if (!st.weight) continue;
    const std::vector<float>& wv = st.weight->effective().vec();
    st.abs_w.resize(wv.size());
    st.sign_w.resize(wv.size());
    for (std::size_t j = 0; j < wv.size(); ++j) {
      st.abs_w[j] = std::fabs(wv[j]);
      st.sign_w[j] = sign_of(wv[j]);
    }
    const Tensor& a = input_of(i);
    const Tensor& dy = dys_[i];
    if (st.kind == Stage::Kind::dense) {
      st.a_abs.resize(a.size());
      st.dy_abs.resize(dy.size());
      st.prod.resize(std::size_t(rows) * st.out);
      for (std::size_t j = 0; j < a.size(); ++j) st.a_abs[j] = std::fabs(a[j]);
      for (std::size_t j = 0; j < dy.size(); ++j) st.dy_abs[j] = std::fabs(dy[j]);
      matmul(false, true, rows, st.out, st.in, st.a_abs.data(), st.abs_w.data(), st.prod.data(), false);
      double s = 0.0;
      for (std::size_t j = 0; j < st.prod.size(); ++j) s += double(st.dy_abs[j]) * st.prod[j];
      sensitivity += s;
      if (grad) {
        float* g = grad->first[std::size_t(st.weight_index)].data();
        matmul(true, false, st.out, st.in, rows, st.dy_abs.data(), st.a_abs.data(), g, false);
        for (std::size_t j = 0; j < wv.size(); ++j) g[j] *= st.sign_w[j];
      }
    } else {  // conv: per pick, G = dy (oc x p) col^T (p x ckk); then V = |W| o sign(G)
      const int ckk = st.ckk(), p = st.pixels();
      const std::size_t wsize = wv.size();
      st.cols.resize(std::size_t(rows) * ckk * p);
      st.v.resize(std::size_t(rows) * wsize);
      std::vector<double> per_row(std::size_t(rows), 0.0);
#pragma omp parallel for schedule(static)
      for (int r = 0; r < rows; ++r) {
        float* col = st.cols.data() + std::size_t(r) * ckk * p;
        float* g = st.v.data() + std::size_t(r) * wsize;
        st.im2col(a.data() + std::size_t(r) * st.c * st.h * st.w, col);
        matmul(false, true, st.oc, ckk, p, dy.data() + std::size_t(r) * st.oc * p, col, g, false);
        double s = 0.0;
        for (std::size_t j = 0; j < wsize; ++j) s += double(st.abs_w[j]) * std::fabs(g[j]);
        per_row[std::size_t(r)] = s;
      }
      for (double s : per_row) sensitivity += s;  // in pick order: independent of the thread count
      if (grad) {
        float* first = grad->first[std::size_t(st.weight_index)].data();
        for (int r = 0; r < rows; ++r) {
          const float* g = st.v.data() + std::size_t(r) * wsize;
          for (std::size_t j = 0; j < wsize; ++j) first[j] += st.sign_w[j] * std::fabs(g[j]);
        }
      }
      for (int r = 0; r < rows; ++r) {
        float* g = st.v.data() + std::size_t(r) * wsize;
        for (std::size_t j = 0; j < wsize; ++j) g[j] = st.abs_w[j] * sign_of(g[j]);
      }
    }
  }
  if (!grad || !compute_hvp) return sensitivity;

  // 4. R-forward: racts_[i] = R_v{output of layer i}; R{input} = 0. `live` is false while R{a} is zero.
  bool live = false;
  for (std::size_t i = 0; i < layers; ++i) {
    Stage& st = *stages_[i];
    Tensor& ry = racts_[i];
    const Tensor* rx = i == 0 ? nullptr : &racts_[i - 1];
    if (st.kind == Stage::Kind::dense) {
      ry.resize(acts_[i].shape());
      const Tensor& dy = dys_[i];
      for (std::size_t j = 0; j < ry.size(); ++j) ry[j] = sign_of(dy[j]) * st.prod[j];  // V a
      if (live)
        matmul(false, true, rows, st.out, st.in, rx->data(), st.weight->effective().data(), ry.data(),
               true);  // + W R{a}
      live = true;
    } else if (st.kind == Stage::Kind::conv) {
      ry.resize(acts_[i].shape());
      const int ckk = st.ckk(), p = st.pixels();
      const std::size_t wsize = st.abs_w.size();
      st.rcols.resize(live ? std::size_t(rows) * ckk * p : 0);
      const bool rlive = live;
#pragma omp parallel for schedule(static)
      for (int r = 0; r < rows; ++r) {
        float* out = ry.data() + std::size_t(r) * st.oc * p;
        const float* col = st.cols.data() + std::size_t(r) * ckk * p;
        matmul(false, false, st.oc, p, ckk, st.v.data() + std::size_t(r) * wsize, col, out, false);
        if (rlive) {
          float* rcol = st.rcols.data() + std::size_t(r) * ckk * p;
          st.im2col(rx->data() + std::size_t(r) * st.c * st.h * st.w, rcol);
          matmul(false, false, st.oc, p, ckk, st.weight->effective().data(), rcol, out, true);
        }
      }
      live = true;
    } else if (live) {
      route_forward(i, *rx, ry);
    } else {
      ry.resize(acts_[i].shape());
      ry.zero();
    }
  }

  // 5. R-backward: rdy_ = R{dO_k/d(output)}, zero at the output (O_k is linear in the last layer's output).
  rdy_.resize(acts_.back().shape());
  rdy_.zero();
  bool rdy_live = false;
  for (std::size_t i = layers; i-- > 0;) {
    Stage& st = *stages_[i];
    const Tensor& a = input_of(i);
    const Tensor& dy = dys_[i];
    const bool rx_live = i > 0 && [&] {  // R{input} nonzero: some weight layer precedes this one
      for (std::size_t j = 0; j < i; ++j)
        if (stages_[j]->weight) return true;
      return false;
    }();
    if (st.kind == Stage::Kind::dense) {
      float* hw = grad->hvp[std::size_t(st.weight_index)].data();
      // R{dO/dW} = R{dy}^T a + dy^T R{a}
      if (rdy_live) matmul(true, false, st.out, st.in, rows, rdy_.data(), a.data(), hw, true);
      if (rx_live) matmul(true, false, st.out, st.in, rows, dy.data(), racts_[i - 1].data(), hw, true);
      if (st.bias && rdy_live) {
        float* hb = grad->hvp[std::size_t(st.bias_index)].data();
        for (int r = 0; r < rows; ++r)
          for (int o = 0; o < st.out; ++o) hb[o] += rdy_[std::size_t(r) * st.out + o];
      }
      if (i == 0) break;
      // R{dx} = R{dy} W + dy V = R{dy} W + sign(a) o (|dy| |W|)
      rdx_.resize(a.shape());
      matmul(false, false, rows, st.in, st.out, st.dy_abs.data(), st.abs_w.data(), rdx_.data(), false);
      for (std::size_t j = 0; j < rdx_.size(); ++j) rdx_[j] *= sign_of(a[j]);
      if (rdy_live)
        matmul(false, false, rows, st.in, st.out, rdy_.data(), st.weight->effective().data(), rdx_.data(), true);
      rdy_live = true;
    } else if (st.kind == Stage::Kind::conv) {
      const int ckk = st.ckk(), p = st.pixels();
      const std::size_t wsize = st.abs_w.size();
      float* hw = grad->hvp[std::size_t(st.weight_index)].data();
      for (int r = 0; r < rows; ++r) {  // in pick order: the sums do not depend on the thread count
        const float* col = st.cols.data() + std::size_t(r) * ckk * p;
        if (rdy_live) matmul(false, true, st.oc, ckk, p, rdy_.data() + std::size_t(r) * st.oc * p, col, hw, true);
        if (rx_live)
          matmul(false, true, st.oc, ckk, p, dy.data() + std::size_t(r) * st.oc * p,
                 st.rcols.data() + std::size_t(r) * ckk * p, hw, true);
      }
      if (st.bias && rdy_live) {
        float* hb = grad->hvp[std::size_t(st.bias_index)].data();
        for (int r = 0; r < rows; ++r)
          for (int o = 0; o < st.oc; ++o) {
            const float* g = rdy_.data() + (std::size_t(r) * st.oc + o) * p;
            double s = 0.0;
            for (int q = 0; q < p; ++q) s += g[q];
            hb[o] += float(s);
          }
      }
      if (i == 0) break;
      // R{dx} = col2im(W^T R{dy} + V^T dy) per pick
      rdx_.resize(a.shape());
      rdx_.zero();
      const bool live_in = rdy_live;
#pragma omp parallel
      {
        std::vector<float> col(std::size_t(ckk) * p);
#pragma omp for schedule(static)
        for (int r = 0; r < rows; ++r) {
          matmul(true, false, ckk, p, st.oc, st.v.data() + std::size_t(r) * wsize,
                 dy.data() + std::size_t(r) * st.oc * p, col.data(), false);
          if (live_in)
            matmul(true, false, ckk, p, st.oc, st.weight->effective().data(), rdy_.data() + std::size_t(r) * st.oc * p,
                   col.data(), true);
          st.col2im(col.data(), rdx_.data() + std::size_t(r) * st.c * st.h * st.w);
        }
      }
      rdy_live = true;
    } else {
      if (i == 0) break;
      if (rdy_live)
        route_backward(i, rdy_, rdx_);
      else {
        rdx_.resize(a.shape());
        rdx_.zero();
      }
    }
    std::swap(rdy_, rdx_);
  }
  return sensitivity;
}

}  // namespace axsim::nn
