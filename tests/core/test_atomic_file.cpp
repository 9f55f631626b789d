#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
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

// A full disk, simulated without root or a tiny mount: RLIMIT_FSIZE makes write() fail with EFBIG
// past the limit, exactly where a full disk fails with ENOSPC. The previous file must survive
// unchanged and no temporary file may be left behind.
TEST(AtomicFile, AFailedWriteKeepsThePreviousFileAndLeavesNoTemporary) {
  const fs::path dir = fs::temp_directory_path() / ("axsim_atomic_full_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ensure_directory(dir.string());
  const std::string path = (dir / "results.json").string();
  write_file_atomic(path, "previous valid result");

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // else the process is killed at the limit
  rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    write_file_atomic(path, std::string(100000, 'x'));
  } catch (const OutputError& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_NE(message.find("cannot write " + path), std::string::npos) << message;
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "previous valid result");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  fs::remove_all(dir);
}
