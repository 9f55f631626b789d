// safetensors container (workloads/artifact/safetensors.hpp): header JSON, offsets, dtypes, shapes,
// metadata. Oracles: every accepted tensor converts with the accessors its dtype allows, and the
// file written back by SafetensorsWriter parses to the same tensors and metadata.
#include "tests/fuzz/fuzz_common.hpp"
#include "workloads/artifact/safetensors.hpp"

namespace st = axsim::artifact;

extern "C" int AXSIM_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  axsim::fuzz::expect_value_or_input_error([&] {
    const st::SafetensorsFile file = st::SafetensorsFile::parse(axsim::fuzz::as_text(data, size), "fuzz.safetensors");
    st::SafetensorsWriter writer;
    for (const auto& [name, entry] : file.tensors()) {
      const st::Tensor& t = entry;  // clang 14 lambdas cannot capture structured bindings
      if (t.bytes.size() != std::size_t(t.element_count()) * st::dtype_size(t.dtype))
        axsim::fuzz::round_trip_failed("tensor '" + name + "': bytes disagree with element_count()");
      // Accessors either convert or refuse the dtype with an InputError.
      axsim::fuzz::expect_value_or_input_error([&] { (void)t.as_float(); });
      axsim::fuzz::expect_value_or_input_error([&] { (void)t.as_int64(); });
      writer.add(t);
    }
    for (const auto& [key, value] : file.metadata()) writer.set_metadata(key, value);
    const std::string written = writer.serialize();
    st::SafetensorsFile again = [&] {
      try {
        return st::SafetensorsFile::parse(written, "written.safetensors");
      } catch (const axsim::InputError& e) {
        axsim::fuzz::round_trip_failed(e.what());
      }
    }();
    if (again.metadata() != file.metadata()) axsim::fuzz::round_trip_failed("metadata changed");
    if (again.size() != file.size()) axsim::fuzz::round_trip_failed("tensor count changed");
    for (const auto& [name, t] : file.tensors()) {
      const st::Tensor& u = again.tensor(name);
      if (u.dtype != t.dtype || u.shape != t.shape || u.bytes != t.bytes)
        axsim::fuzz::round_trip_failed("tensor '" + name + "' changed");
    }
  });
  return 0;
}
