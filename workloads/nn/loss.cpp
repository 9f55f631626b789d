#include "workloads/nn/loss.hpp"

#include <algorithm>
#include <cmath>

namespace axsim::nn {

LossResult softmax_cross_entropy(const Tensor& logits, const std::int32_t* labels, Tensor& dlogits) {
  const int n = logits.batch();
  const int k = int(logits.sample_size());
  dlogits.resize(logits.shape());
  LossResult r;
  const float inv_n = 1.0f / float(n);
  for (int i = 0; i < n; ++i) {
    const float* z = logits.data() + std::size_t(i) * k;
    float* d = dlogits.data() + std::size_t(i) * k;
    const float zmax = *std::max_element(z, z + k);
    int arg = int(std::max_element(z, z + k) - z);
    double sum = 0.0;
    for (int j = 0; j < k; ++j) {
      d[j] = std::exp(z[j] - zmax);
      sum += d[j];
    }
    const float inv = float(1.0 / sum);
    for (int j = 0; j < k; ++j) d[j] *= inv;
    r.loss += -(double(z[labels[i]]) - zmax - std::log(sum));
    d[labels[i]] -= 1.0f;
    for (int j = 0; j < k; ++j) d[j] *= inv_n;
    r.correct += arg == labels[i];
  }
  r.loss /= n;
  return r;
}

void argmax_rows(const Tensor& logits, std::vector<int>& out) {
  const int n = logits.batch();
  const int k = int(logits.sample_size());
  out.resize(std::size_t(n));
  for (int i = 0; i < n; ++i) {
    const float* z = logits.data() + std::size_t(i) * k;
    out[std::size_t(i)] = int(std::max_element(z, z + k) - z);
  }
}

int count_correct(const Tensor& logits, const std::int32_t* labels) {
  std::vector<int> arg;
  argmax_rows(logits, arg);
  int c = 0;
  for (std::size_t i = 0; i < arg.size(); ++i) c += arg[i] == labels[i];
  return c;
}

}  // namespace axsim::nn
