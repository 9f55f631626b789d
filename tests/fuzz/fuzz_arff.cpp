// Weka ARFF (workloads/data/arff.hpp). The first byte picks the loader options so option-dependent
// paths (imputation, index encoding, skipped string attributes, a label by index) are reached too.
#include "tests/fuzz/fuzz_common.hpp"
#include "workloads/data/arff.hpp"

extern "C" int AXSIM_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  axsim::DataOptions options;
  const std::uint8_t pick = data[0];
  if (pick & 1) options.missing = axsim::MissingPolicy::impute_mean;
  if (pick & 2) options.nominal = axsim::NominalEncoding::index;
  if (pick & 4) options.ignore_unsupported_attributes = true;
  if (pick & 8) options.label = (pick & 16) ? "0" : "-2";
  if (pick & 32) options.num_classes = 3;
  axsim::fuzz::expect_value_or_input_error([&] {
    const axsim::Dataset d = axsim::parse_arff(axsim::fuzz::as_text(data + 1, size - 1), "fuzz.arff", options);
    d.check_consistent();
  });
  return 0;
}
