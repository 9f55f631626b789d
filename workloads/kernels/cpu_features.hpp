// Which SIMD instruction sets this CPU offers, and which one the kernels use.
// Kernels for every ISA are compiled into the library (per-function target attributes), and the
// choice is made at run time, so one binary runs everywhere and tests can force each path.
#pragma once

// Function attributes for AVX2 code paths compiled into a portable binary (chosen at run time by
// cpu_features): AXSIM_AVX2 on functions, AXSIM_AVX2_LAMBDA on lambdas inlined into them.
#if defined(__GNUC__)
#define AXSIM_AVX2 __attribute__((target("avx2,fma")))
#define AXSIM_AVX2_LAMBDA __attribute__((target("avx2,fma"), always_inline))
#else
#define AXSIM_AVX2
#define AXSIM_AVX2_LAMBDA
#endif

#include <string>
#include <string_view>
#include <vector>

namespace axsim::kernels {

// `automatic` means "the default": the AXSIM_ISA environment variable if set, else the best
// ISA this CPU supports.
enum class Isa { automatic, scalar, avx2, avx512 };

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
};

// Detected once (cpuid via __builtin_cpu_supports, which also checks that the OS saves the
// wide registers).
const CpuFeatures& cpu_features();

// avx2 needs AVX2+FMA; avx512 needs AVX-512F/BW/VL (the int8 kernel additionally uses VNNI
// when present, see gemm.hpp). scalar and automatic are always supported.
bool isa_supported(Isa isa);
// Every concrete ISA this CPU can run, scalar first.
std::vector<Isa> supported_isas();
Isa best_isa();
// The ISA used for Isa::automatic: AXSIM_ISA (scalar|avx2|avx512) if set, else best_isa().
// A bad or unsupported AXSIM_ISA throws axsim::InputError (location "AXSIM_ISA").
Isa default_isa();
// Maps automatic to default_isa(); throws std::invalid_argument for an ISA the CPU lacks
// (running it would crash with an illegal instruction).
Isa resolve_isa(Isa requested);

std::string_view isa_name(Isa isa);
// Throws axsim::InputError naming `where` (e.g. "AXSIM_ISA") for an unknown name.
Isa parse_isa(std::string_view name, const std::string& where);

}  // namespace axsim::kernels
