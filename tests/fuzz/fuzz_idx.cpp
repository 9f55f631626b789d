// IDX images/labels (workloads/data/idx.hpp), gzip-compressed input included.
#include <vector>

#include "tests/fuzz/fuzz_common.hpp"
#include "workloads/data/file_bytes.hpp"
#include "workloads/data/idx.hpp"

extern "C" int AXSIM_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  axsim::fuzz::expect_value_or_input_error([&] {
    const axsim::IdxFile idx = axsim::parse_idx(
        axsim::decode_file_bytes(std::vector<unsigned char>(data, data + size), "fuzz.idx"), "fuzz.idx");
    const std::vector<float> values = idx.to_float(true);
    if (values.size() != idx.count()) axsim::fuzz::round_trip_failed("to_float size != count()");
    if (idx.type != axsim::IdxType::f32 && idx.type != axsim::IdxType::f64) (void)idx.to_int32();
  });
  return 0;
}
