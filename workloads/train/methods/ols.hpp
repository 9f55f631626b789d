// Ordinary least squares with an intercept, for LaNMax's numerical gradient: fit
//   y_k ~ b_0 + sum_j b_j x_kj   over the samples k of one epoch
// and return the slopes b_1..b_d. Centering the columns and y removes the intercept exactly; the
// centered system is solved by Householder QR (no normal equations, so a badly scaled regressor does
// not square the condition number).
// Degenerate regressors (a column that is constant or a linear combination of earlier columns, e.g. a
// layer whose perturbed rate stayed clamped at a bound all epoch) carry no information: their slope is 0
// and the other slopes are fitted without them.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace axsim::train {

// x: samples x d row-major (x[k * d + j]); y: one value per sample. Throws std::invalid_argument if
// the sizes disagree or d == 0. With fewer than 2 samples every slope is 0.
std::vector<double> ols_slopes(std::span<const double> x, std::size_t d, std::span<const double> y);

}  // namespace axsim::train
