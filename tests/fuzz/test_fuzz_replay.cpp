// Replays every kept fuzz input -- the seed corpus and the crashes found and fixed, all under
// tests/fuzz/corpus/<target>/ -- through the fuzz targets' own entry functions, in the ordinary
// (GCC, and sanitized) test suite. A regression aborts the test process with the parser's message.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#define AXSIM_DECLARE_FUZZ_ENTRY(target) extern "C" int axsim_fuzz_##target(const std::uint8_t* data, std::size_t size);
AXSIM_DECLARE_FUZZ_ENTRY(idx)
AXSIM_DECLARE_FUZZ_ENTRY(arff)
AXSIM_DECLARE_FUZZ_ENTRY(csv)
AXSIM_DECLARE_FUZZ_ENTRY(safetensors)
AXSIM_DECLARE_FUZZ_ENTRY(deploy)
AXSIM_DECLARE_FUZZ_ENTRY(train_config)
AXSIM_DECLARE_FUZZ_ENTRY(technology)
AXSIM_DECLARE_FUZZ_ENTRY(hw_config)
AXSIM_DECLARE_FUZZ_ENTRY(schedule)
AXSIM_DECLARE_FUZZ_ENTRY(experiment)

namespace {

using Entry = int (*)(const std::uint8_t*, std::size_t);

// Runs every file of tests/fuzz/corpus/<target>/ and returns how many there were.
std::size_t replay(const std::string& target, Entry entry) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(AXSIM_SOURCE_DIR) / "tests/fuzz/corpus" / target;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    entry(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  return files.size();
}

}  // namespace

#define AXSIM_REPLAY_TEST(target) \
  TEST(FuzzCorpus, target) { EXPECT_GT(replay(#target, &axsim_fuzz_##target), 0u); }
AXSIM_REPLAY_TEST(idx)
AXSIM_REPLAY_TEST(arff)
AXSIM_REPLAY_TEST(csv)
AXSIM_REPLAY_TEST(safetensors)
AXSIM_REPLAY_TEST(deploy)
AXSIM_REPLAY_TEST(train_config)
AXSIM_REPLAY_TEST(technology)
AXSIM_REPLAY_TEST(hw_config)
AXSIM_REPLAY_TEST(schedule)
AXSIM_REPLAY_TEST(experiment)
