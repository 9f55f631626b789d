// Project-owned GoogleTest main. libsystemc defines its own main(); linking gtest_main after it would
// silently run no test, so every test binary links this file instead.
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
