#include "tools/cli/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace axsim::cli {

namespace {
std::string format_seconds(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return buf;
}
}  // namespace

Progress::Progress(std::string label, std::uint64_t total, std::string unit, bool quiet)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(isatty(STDERR_FILENO) != 0),
      quiet_(quiet), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_) finish();
}

void Progress::update(std::uint64_t done, const std::string& status) {
  done_ = done;
  status_ = status;
  const auto now = std::chrono::steady_clock::now();
  // Redraw a bar at most 10 times a second; print a plain line at most every 10 s.
  const auto every = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(10000);
  if (now - last_draw_ >= every) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish(const std::string& status) {
  if (finished_) return;
  finished_ = true;
  if (!status.empty()) status_ = status;
  done_ = std::max(done_, total_);
  draw(true);
}

void Progress::draw(bool final) {
  if (quiet_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? double(done_) / elapsed : 0.0;
  const double frac = total_ ? double(done_) / double(total_) : 1.0;
  const double eta = rate > 0 && total_ > done_ ? double(total_ - done_) / rate : 0.0;
  char line[512];
  if (tty_) {
    constexpr int kWidth = 28;
    std::string bar(std::size_t(frac * kWidth + 0.5), '#');
    bar.resize(kWidth, '.');
    std::snprintf(line, sizeof line, "\r%s [%s] %3.0f%% %llu/%llu %.3g %s/s %s %s\x1b[K", label_.c_str(), bar.c_str(),
                  frac * 100, (unsigned long long)done_, (unsigned long long)total_, rate, unit_.c_str(),
                  final ? format_seconds(elapsed).c_str() : ("ETA " + format_seconds(eta)).c_str(), status_.c_str());
    std::fputs(line, stderr);
    if (final) std::fputc('\n', stderr);
  } else {
    std::snprintf(line, sizeof line, "%s: %llu/%llu (%.0f%%) %.3g %s/s elapsed %s %s\n", label_.c_str(),
                  (unsigned long long)done_, (unsigned long long)total_, frac * 100, rate, unit_.c_str(),
                  format_seconds(elapsed).c_str(), status_.c_str());
    std::fputs(line, stderr);
  }
  std::fflush(stderr);
}

}  // namespace axsim::cli
