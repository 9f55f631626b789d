#include "workloads/kernels/cpu_features.hpp"

#include <array>
#include <cstdlib>
#include <stdexcept>

#include "core/error.hpp"

namespace axsim::kernels {
namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
#endif
  return f;
}

constexpr std::array<std::string_view, 3> kIsaNames = {"scalar", "avx2", "avx512"};

std::string supported_list() {
  std::string list;
  for (Isa isa : supported_isas()) list += (list.empty() ? "" : ", ") + std::string(isa_name(isa));
  return list;
}

Isa isa_from_environment() {
  const char* value = std::getenv("AXSIM_ISA");
  if (value == nullptr || *value == '\0') return best_isa();
  const Isa isa = parse_isa(value, "AXSIM_ISA");
  if (!isa_supported(isa)) {
    throw_input_error("<environment>", "AXSIM_ISA", "an ISA this CPU supports (" + supported_list() + ")", value);
  }
  return isa;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::automatic:
    case Isa::scalar:
      return true;
    case Isa::avx2:
      return f.avx2 && f.fma;
    case Isa::avx512:
      return f.avx512f && f.avx512bw && f.avx512vl && f.avx2 && f.fma;
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (isa_supported(isa)) isas.push_back(isa);
  }
  return isas;
}

Isa best_isa() { return supported_isas().back(); }

Isa default_isa() {
  static const Isa isa = isa_from_environment();
  return isa;
}

Isa resolve_isa(Isa requested) {
  if (requested == Isa::automatic) return default_isa();
  if (!isa_supported(requested)) {
    throw std::invalid_argument("kernels: ISA '" + std::string(isa_name(requested)) +
                                "' is not supported by this CPU (supported: " + supported_list() + ")");
  }
  return requested;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::automatic:
      return "automatic";
    case Isa::scalar:
      return kIsaNames[0];
    case Isa::avx2:
      return kIsaNames[1];
    case Isa::avx512:
      return kIsaNames[2];
  }
  return "?";
}

Isa parse_isa(std::string_view name, const std::string& where) {
  if (name == "scalar") return Isa::scalar;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw_input_error("<environment>", where, "one of scalar, avx2, avx512", std::string(name),
                    closest_match(std::string(name), kIsaNames));
}

}  // namespace axsim::kernels
