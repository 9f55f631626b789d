// Delimited text (workloads/data/csv.hpp). The first byte picks delimiter, header mode and options.
#include "tests/fuzz/fuzz_common.hpp"
#include "workloads/data/csv.hpp"

extern "C" int AXSIM_FUZZ_ENTRY(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  axsim::DataOptions options;
  const std::uint8_t pick = data[0];
  static const char kDelimiters[4] = {0, ',', ';', '\t'};
  options.delimiter = kDelimiters[pick & 3];
  options.header = (pick & 4) ? ((pick & 8) ? axsim::HeaderMode::present : axsim::HeaderMode::absent)
                              : axsim::HeaderMode::auto_detect;
  if (pick & 16) options.missing = axsim::MissingPolicy::impute_mean;
  if (pick & 32) options.label = (pick & 64) ? "0" : "-2";
  if (pick & 128) options.num_classes = 4;
  const std::string_view text = axsim::fuzz::as_text(data + 1, size - 1);
  axsim::fuzz::expect_value_or_input_error([&] {
    (void)axsim::detect_csv_delimiter(text);
    const axsim::Dataset d = axsim::parse_csv(text, "fuzz.csv", options);
    d.check_consistent();
  });
  return 0;
}
