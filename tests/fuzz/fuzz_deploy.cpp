// The deploy artifact loader (workloads/artifact/deploy.hpp): a valid safetensors container whose
// metadata (network JSON, hardware, training) and tensors are checked against each other, and the
// stored quantized network (read_quantized_network). The loader
// takes a path, so each input is written to a private file under /dev/shm (or TMPDIR) first.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/fuzz/fuzz_common.hpp"
#include "workloads/artifact/deploy.hpp"

namespace {
std::string scratch_path() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  return (dir / ("axsim-fuzz-deploy-" + std::to_string(::getpid()) + ".safetensors")).string();
}
}  // namespace

extern "C" int AXSIM_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  static const std::string path = scratch_path();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  axsim::fuzz::expect_value_or_input_error([&] { (void)axsim::artifact::load_trained_model(path); });
  // The stored integer network is read independently of the float one (`axsim sim` reads it).
  axsim::fuzz::expect_value_or_input_error([&] { (void)axsim::artifact::read_quantized_network(path); });
  return 0;
}
