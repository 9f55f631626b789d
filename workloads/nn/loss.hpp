// Softmax cross-entropy, the loss of every classifier axsim trains.
#pragma once

#include <cstdint>
#include <vector>

#include "workloads/nn/tensor.hpp"

namespace axsim::nn {

struct LossResult {
  double loss = 0.0;  // mean over the batch
  int correct = 0;    // argmax(logits) == label
};

// dlogits (resized) = (softmax(logits) - onehot(label)) / N, so the loss is the batch mean.
LossResult softmax_cross_entropy(const Tensor& logits, const std::int32_t* labels, Tensor& dlogits);
// Accuracy bookkeeping only (inference).
int count_correct(const Tensor& logits, const std::int32_t* labels);
// Index of the largest logit of each sample (ties: the lowest index, as PyTorch's argmax).
void argmax_rows(const Tensor& logits, std::vector<int>& out);

}  // namespace axsim::nn
