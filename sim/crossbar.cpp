#include "sim/crossbar.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/rng.hpp"

namespace axsim::sim {

namespace {
constexpr std::uint64_t kProgrammingTag = 0x50524F47ull;  // "PROG"
constexpr std::uint64_t kNoiseTag = 0x4E4F4953ull;        // "NOIS"
}  // namespace

CrossbarTiles::CrossbarTiles(const Program& program, const QuantizedNetwork& network, const HardwareConfig& hw,
                             EnergyLedger& ledger)
    : program_(program), network_(network), hw_(hw), ledger_(ledger) {
  const Technology& tech = *hw.technology;
  for (std::size_t k = 0; k < program.layers.size(); ++k) {
    const LayerPlan& plan = program.layers[k];
    if (plan.engine != Engine::crossbar) continue;
    const QLayer& l = network.layers[std::size_t(plan.index)];
    Layer layer;
    layer.plan = int(k);
    bool reads_network_input = true;
    for (int i = 0; i < plan.index; ++i)
      if (network.layers[std::size_t(i)].kind != QOpKind::flatten) reads_network_input = false;
    AnalogLayerParams& p = layer.params;
    p.i_max_na = hw.crossbar->i_max_na;
    p.bandwidth_hz = tech.crossbar().noise_bandwidth_hz;
    p.i_res_na = tech.crossbar().programming_resolution_na;
    p.first_layer = reads_network_input;
    // Merged-DAC first layer: features in [0, 1] (x_max = 1, the paper's pixel / 256); current-mode layers:
    // the full scale of the input activation format.
    p.x_max = reads_network_input ? 1.0 : l.input_format.max_value();
    p.input_bits = hw.crossbar->dac_bits;
    p.vdd = tech.nominal_voltage();
    p.validate();
    layer.nominal_weights.resize(std::size_t(l.in_c) * l.out_c);
    const double step = l.weight_format.step();
    for (int o = 0; o < l.out_c; ++o)
      for (int i = 0; i < l.in_c; ++i)
        layer.nominal_weights[std::size_t(i) * l.out_c + o] = float(l.weights[std::size_t(o) * l.in_c + i] * step);
    tiles_ += plan.crossbar_tiles;
    layers_.push_back(std::move(layer));
  }
  if (!layers_.empty()) leakage_source_ = ledger_.add_leakage_source(EnergyComponent::crossbar, 0.0);
  set_voltage(tech.nominal_voltage());
}

CrossbarTiles::Layer* CrossbarTiles::find(int plan_index) {
  for (auto& l : layers_)
    if (l.plan == plan_index) return &l;
  return nullptr;
}

void CrossbarTiles::program_chip(std::uint64_t seed, std::uint64_t trial) {
  for (auto& layer : layers_) {
    const LayerPlan& plan = program_.layers[std::size_t(layer.plan)];
    const QLayer& l = network_.layers[std::size_t(plan.index)];
    layer.programmed_weights = layer.nominal_weights;
    std::vector<float>& w = layer.programmed_weights;
    apply_programming_noise(layer.params, w.data(), w.size(), seed,
                            stream_id({kProgrammingTag, trial, std::uint64_t(plan.index)}));
    layer.vmm = std::make_unique<AnalogVmmLayer>(layer.params, w.data(), std::size_t(l.in_c), std::size_t(l.out_c));
  }
}

void CrossbarTiles::set_voltage(double volts) {
  volts_ = volts;
  if (layers_.empty()) return;
  const Technology& tech = *hw_.technology;
  adc_j_ = tech.energy_of(Action::adc_conversion(hw_.crossbar->adc_bits), volts);
  ledger_.set_leakage_power(leakage_source_, tiles_ * tech.leakage_power(Component::crossbar_tile(), volts));
}

void CrossbarTiles::run(const LayerPlan& plan, std::span<const std::int16_t> input_codes, std::uint64_t seed,
                        std::uint64_t trial, std::uint64_t inference, std::vector<std::int16_t>& codes,
                        std::vector<std::int64_t>& logits) {
  const int plan_index = int(&plan - program_.layers.data());
  Layer* layer = find(plan_index);
  if (!layer || !layer->vmm) throw std::logic_error("crossbar layer '" + plan.name + "' is not programmed");
  const QLayer& l = network_.layers[std::size_t(plan.index)];
  const std::size_t in = std::size_t(l.in_c), out = std::size_t(l.out_c);
  const double in_step = l.input_format.step();
  x_.resize(in);
  for (std::size_t i = 0; i < in; ++i) x_[i] = float(input_codes[i] * in_step);
  if (layer->params.first_layer) quantize_first_layer_inputs(layer->params, x_.data(), in);
  const double acc_step = l.weight_format.step() * in_step;
  // Y = X W + bias in software units (the programmed weights), then the shot noise of this pass.
  std::vector<double> acc(out, 0.0);
  for (std::size_t i = 0; i < in; ++i) {
    const double xi = x_[i];
    if (xi == 0.0) continue;
    const float* wrow = layer->programmed_weights.data() + i * out;
    for (std::size_t o = 0; o < out; ++o) acc[o] += xi * wrow[o];
  }
  y_.resize(out);
  for (std::size_t o = 0; o < out; ++o) y_[o] = float(acc[o] + (l.bias.empty() ? 0.0 : l.bias[o] * acc_step));
  layer->vmm->add_noise(x_.data(), 1, y_.data(), seed, stream_id({kNoiseTag, trial, std::uint64_t(plan.index)}),
                        inference);
  ++vmms_;
  // Energy of this VMM: supply x cell currents x latency, plus the ADC conversions.
  const double current_a = layer->vmm->mean_current_na(x_.data(), 1) * 1e-9;
  const double row_tiles = std::ceil(double(in) / hw_.crossbar->rows);
  ledger_.charge(plan.index, EnergyComponent::crossbar, EnergyAction::crossbar_array, 1.0,
                 volts_ * current_a * hw_.crossbar->vmm_latency_s, volts_);
  ledger_.charge(plan.index, EnergyComponent::crossbar, EnergyAction::adc_conversion, double(out) * row_tiles,
                 double(out) * row_tiles * adc_j_, volts_);
  if (plan.is_output) {
    logits.resize(out);
    for (std::size_t o = 0; o < out; ++o) logits[o] = std::llround(double(y_[o]) / acc_step);
    return;
  }
  // ADC: adc_bits levels over the output format's range ([0, max] after ReLU, [-max, max] otherwise).
  const FixedPointFormat& f = l.output_format;
  const double full_scale = f.max_value();
  const double lo = l.relu ? 0.0 : -full_scale;
  const double adc_step = (full_scale - lo) / double((std::int64_t(1) << hw_.crossbar->adc_bits) - 1);
  codes.resize(out);
  for (std::size_t o = 0; o < out; ++o) {
    double v = std::clamp(double(y_[o]), lo, full_scale);
    v = lo + std::nearbyint((v - lo) / adc_step) * adc_step;
    codes[o] = std::int16_t(f.quantize(l.relu ? std::max(v, 0.0) : v));
  }
}

}  // namespace axsim::sim
