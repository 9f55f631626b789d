#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/rng.hpp"

using namespace axsim;

TEST(Rng, DrawDependsOnlyOnSeedStreamIndex) {
  CounterRng a(42, 7), b(42, 7);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
  CounterRng c(42, 7, 50);
  CounterRng d(42, 7);
  d.skip(50);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(c.next_u64(), d.next_u64());
  CounterRng e(42, 8), f(43, 7);
  CounterRng g(42, 7);
  const auto x = g.next_u64();
  EXPECT_NE(x, e.next_u64());
  EXPECT_NE(x, f.next_u64());
}

TEST(Rng, UniformMomentsAndNormalMoments) {
  CounterRng r(1, stream_id({3, 4}));
  const int n = 200000;
  double s = 0, s2 = 0, ns = 0, ns2 = 0;
  for (int i = 0; i < n; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    s += u;
    s2 += u * u;
    const double z = r.normal();
    ns += z;
    ns2 += z * z;
  }
  // Means within ~5 standard errors.
  EXPECT_NEAR(s / n, 0.5, 5 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(s2 / n - (s / n) * (s / n), 1.0 / 12, 0.002);
  EXPECT_NEAR(ns / n, 0.0, 5 / std::sqrt(double(n)));
  EXPECT_NEAR(ns2 / n, 1.0, 0.02);
}

TEST(Rng, StreamIdsAreDistinct) {
  std::set<std::uint64_t> ids;
  for (std::uint64_t a = 0; a < 50; ++a)
    for (std::uint64_t b = 0; b < 50; ++b) ids.insert(stream_id({a, b}));
  EXPECT_EQ(ids.size(), 2500u);
  EXPECT_NE(stream_id({1, 2}), stream_id({2, 1}));
}
