#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "energy/eta.hpp"

using namespace axsim;

TEST(Eta, KnownValues) {
  EXPECT_DOUBLE_EQ(eta(std::exp(-12.8 * 0.5)), 0.5);
  EXPECT_EQ(eta(0.0), 1.0);  // the reliable memory
  EXPECT_EQ(eta(1.0), 0.0);
  EXPECT_DOUBLE_EQ(eta(0.5), std::log(2.0) / 12.8);
  EXPECT_EQ(eta(1e-8), 1.0);  // -ln(1e-8)/12.8 = 1.44: clamped to 1
  EXPECT_DOUBLE_EQ(eta(std::exp(-3.0), 6.0), 0.5);
  EXPECT_THROW(eta(-1e-3), std::invalid_argument);
  EXPECT_THROW(eta(0.1, 0.0), std::invalid_argument);
}

TEST(Eta, MemoryEnergyOfLayers) {
  const std::vector<double> reliable{0.0, 0.0, 0.0}, n{100, 300, 50};
  EXPECT_EQ(memory_energy(reliable, n, 8.0), 8.0 * 450);
  EXPECT_EQ(memory_energy_normalized(reliable, n, 8.0), 1.0);
  EXPECT_EQ(memory_energy_normalized(reliable, n, 1.0), 1.0);
  // eta = 1, 0.5, 0.25 -> E = zeta * (100 + 150 + 12.5)
  const std::vector<double> p{0.0, std::exp(-6.4), std::exp(-3.2)};
  EXPECT_NEAR(memory_energy(p, n, 1.0), 262.5, 1e-12);
  EXPECT_NEAR(memory_energy(p, n, 8.0), 8 * 262.5, 1e-11);
  EXPECT_NEAR(memory_energy_normalized(p, n, 8.0), 262.5 / 450, 1e-15);
  // LaNMax's p range [1e-4, 0.5]: energy falls as p rises.
  EXPECT_LT(memory_energy_normalized(std::vector<double>{0.5, 0.5, 0.5}, n, 1.0),
            memory_energy_normalized(std::vector<double>{1e-4, 1e-4, 1e-4}, n, 1.0));
  EXPECT_THROW(memory_energy(std::vector<double>{0.0}, n, 1.0), std::invalid_argument);
  EXPECT_THROW(memory_energy(reliable, n, 0.0), std::invalid_argument);
  EXPECT_EQ(memory_energy_normalized(std::vector<double>{}, std::vector<double>{}, 1.0), 0.0);
}
