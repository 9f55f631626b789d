#include "workloads/train/methods/ols.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace axsim::train {

std::vector<double> ols_slopes(std::span<const double> x, std::size_t d, std::span<const double> y) {
  if (d == 0) throw std::invalid_argument("ols_slopes: no regressors");
  const std::size_t n = y.size();
  if (x.size() != n * d)
    throw std::invalid_argument("ols_slopes: " + std::to_string(x.size()) + " regressor values for " +
                                std::to_string(n) + " samples of " + std::to_string(d));
  std::vector<double> slopes(d, 0.0);
  if (n < 2) return slopes;

  // Centered copies: a[j] is column j (column-major), r the centered response.
  std::vector<std::vector<double>> a(d, std::vector<double>(n));
  std::vector<double> r(y.begin(), y.end());
  double y_mean = 0;
  for (double v : r) y_mean += v;
  y_mean /= double(n);
  for (double& v : r) v -= y_mean;
  std::vector<double> column_norm(d, 0.0);
  for (std::size_t j = 0; j < d; ++j) {
    double mean = 0;
    for (std::size_t k = 0; k < n; ++k) mean += x[k * d + j];
    mean /= double(n);
    for (std::size_t k = 0; k < n; ++k) {
      a[j][k] = x[k * d + j] - mean;
      column_norm[j] += a[j][k] * a[j][k];
    }
    column_norm[j] = std::sqrt(column_norm[j]);
  }

  // Householder QR, column by column; a column whose remainder (after projecting out the accepted
  // columns) is negligible is dropped. Row `rank` is where the next reflector starts.
  constexpr double kRelativeTolerance = 1e-9;
  std::vector<std::size_t> accepted;
  std::size_t rank = 0;
  for (std::size_t j = 0; j < d && rank < n; ++j) {
    double norm = 0;
    for (std::size_t k = rank; k < n; ++k) norm += a[j][k] * a[j][k];
    norm = std::sqrt(norm);
    if (column_norm[j] == 0.0 || norm <= kRelativeTolerance * column_norm[j]) continue;
    // Reflector v = a[rank:] - alpha e_1 with alpha = -sign(a_rank) * norm (no cancellation).
    const double alpha = a[j][rank] > 0 ? -norm : norm;
    std::vector<double> v(a[j].begin() + std::ptrdiff_t(rank), a[j].end());
    v[0] -= alpha;
    double v_norm2 = 0;
    for (double e : v) v_norm2 += e * e;
    auto reflect = [&](std::vector<double>& col) {
      double dot = 0;
      for (std::size_t k = 0; k < v.size(); ++k) dot += v[k] * col[rank + k];
      const double f = 2.0 * dot / v_norm2;
      for (std::size_t k = 0; k < v.size(); ++k) col[rank + k] -= f * v[k];
    };
    for (std::size_t c = j; c < d; ++c) reflect(a[c]);
    reflect(r);
    accepted.push_back(j);
    ++rank;
  }

  // Back substitution on the accepted columns: R[i][accepted[i]] is the diagonal.
  for (std::size_t i = accepted.size(); i-- > 0;) {
    double s = r[i];
    for (std::size_t k = i + 1; k < accepted.size(); ++k) s -= a[accepted[k]][i] * slopes[accepted[k]];
    slopes[accepted[i]] = s / a[accepted[i]][i];
  }
  return slopes;
}

}  // namespace axsim::train
