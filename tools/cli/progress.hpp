// Progress for long jobs: a redrawn bar with rate and ETA on a terminal, plain periodic lines
// otherwise (CI logs, pipes), nothing at all when quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace axsim::cli {

class Progress {
 public:
  Progress(std::string label, std::uint64_t total, std::string unit = "it", bool quiet = false);
  ~Progress();
  void update(std::uint64_t done, const std::string& status = {});
  void finish(const std::string& status = {});

 private:
  void draw(bool final);
  std::string label_, unit_, status_;
  std::uint64_t total_, done_ = 0;
  bool tty_, quiet_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace axsim::cli
