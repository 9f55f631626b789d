#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

using namespace axsim;
namespace fs = std::filesystem;

TEST(AtomicFile, WritesAndReplacesWithoutTemporaries) {
  const fs::path dir = fs::temp_directory_path() / "axsim_atomic_test";
  fs::remove_all(dir);
  ensure_directory(dir.string());
  const std::string path = (dir / "out.json").string();
  write_file_atomic(path, "first");
  write_file_atomic(path, [](std::ostream& o) { o << "second"; });
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "second");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  fs::remove_all(dir);
}

TEST(AtomicFile, UnwritableDirectoryIsAClearError) {
  try {
    write_file_atomic("/nonexistent_dir_axsim/x.json", "data");
    FAIL() << "expected OutputError";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent_dir_axsim/x.json"), std::string::npos);
  }
}
