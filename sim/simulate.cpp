#include "sim/simulate.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

#include "core/error.hpp"
#include "sim/accelerator.hpp"
#include "sim/mapping/flexflow_mapper.hpp"
#include "sim/program.hpp"

namespace axsim::sim {

namespace {

std::vector<std::string> ledger_rows(const QuantizedNetwork& network) {
  std::vector<std::string> rows;
  for (const auto& l : network.layers) rows.push_back(l.name);
  rows.push_back("io");
  return rows;
}

std::unique_ptr<sc_core::sc_clock> make_clock(const HardwareConfig& hw) {
  if (hw.timing != TimingMode::cycle) return nullptr;
  return std::make_unique<sc_core::sc_clock>("clock", sc_core::sc_time(hw.clock_period_s(), sc_core::SC_SEC));
}

// A SystemC context can be elaborated and run once: start a fresh one if this process already simulated.
void prepare_systemc() {
  ::setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  if (sc_core::sc_get_curr_simcontext()->elaboration_done()) {
    sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();  // the old context is leaked on purpose
    sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
  }
  // sc_stop() reports "Simulation stopped by user." as an info of the generic kernel type: not news here.
  sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
}

std::string channel_of(const BufferConfig& b) { return b.fault ? b.fault->channel : std::string(); }
std::string persistence_of(const BufferConfig& b) {
  return b.fault ? std::string(to_string(b.fault->persistence)) : std::string();
}

template <class Buffer>
void collect_banks(const Buffer& buffer, const EnergyLedger& ledger, SimulationResult& r) {
  const BufferConfig& c = buffer.config();
  for (std::size_t b = 0; b < buffer.banks().size(); ++b) {
    const BankStats& s = buffer.banks()[b];
    BankResult out;
    out.buffer = c.name;
    out.bank = int(b);
    out.domain = std::string(to_string(c.domain));
    out.capacity_bytes = c.bank_bytes();
    out.word_bits = c.word_bits;
    out.fault_channel = channel_of(c);
    out.persistence = persistence_of(c);
    out.reads = s.reads;
    out.writes = s.writes;
    out.bits_read = s.faults.bits_read;
    out.faulty_bits = s.faults.faulty_bits;
    out.faulty_words = s.faults.faulty_words;
    out.words_changed = s.faults.words_changed;
    out.measured_rate = s.faults.bits_read ? double(s.faults.faulty_bits) / double(s.faults.bits_read) : 0.0;
    out.dynamic_j = s.dynamic_j;
    out.leakage_j = ledger.leakage_energy_of(s.leakage_source);
    r.banks.push_back(out);
  }
}

}  // namespace

Accelerator::Accelerator(sc_core::sc_module_name name, const Program& program, const QuantizedNetwork& network,
                         const HardwareConfig& hw, const VoltageSchedule& schedule, const Dataset& inputs,
                         const SimOptions& options, RunRecord& record)
    : sc_core::sc_module(name),
      clock(make_clock(hw)),
      ledger(ledger_rows(network)),
      weight_buffer("weight_buffer", hw.weight_buffer, *hw.technology, ledger, EnergyComponent::weight_buffer),
      neuron_buffer("neuron_buffer", hw.neuron_buffer, *hw.technology, ledger, EnergyComponent::neuron_buffer),
      regulator("regulator", schedule, program.layer_names, hw.technology->nominal_voltage()),
      pe_array("pe_array", program, network, hw, clock.get()),
      crossbar(program, network, hw, ledger),
      controller("controller", program, network, hw, schedule, inputs, options,
                 Controller::Parts{pe_array, weight_buffer, neuron_buffer, regulator, crossbar, ledger}, record) {
  controller.weight_socket.bind(weight_buffer.socket);
  controller.neuron_socket.bind(neuron_buffer.socket);
  regulator.set_event_limit(options.max_voltage_events);
  regulator.add_listener(hw.weight_buffer.domain, [this](double v) { weight_buffer.set_voltage(v); });
  regulator.add_listener(hw.neuron_buffer.domain, [this](double v) { neuron_buffer.set_voltage(v); });
  regulator.add_listener(VoltageDomain::crossbar, [this](double v) { crossbar.set_voltage(v); });
  // Leakage of the logic (PE array, controller) and of the PE local stores.
  const Technology& tech = *hw.technology;
  const double pes = double(hw.pe.rows) * double(hw.pe.cols);
  const int pe_leak = ledger.add_leakage_source(EnergyComponent::pe_array, 0.0);
  const int ctrl_leak = ledger.add_leakage_source(EnergyComponent::controller, 0.0);
  regulator.add_listener(VoltageDomain::logic, [this, pe_leak, ctrl_leak, pes, &tech](double v) {
    ledger.set_leakage_power(pe_leak, pes * tech.leakage_power(Component::pe(), v));
    ledger.set_leakage_power(ctrl_leak, tech.leakage_power(Component::controller(), v));
  });
  if (hw.pe.local_store_words > 0) {
    const std::uint64_t bytes =
        std::max<std::uint64_t>(1, std::uint64_t(hw.pe.local_store_words) * hw.weight_buffer.word_bits / 8);
    const int local_leak = ledger.add_leakage_source(EnergyComponent::local_store, 0.0);
    regulator.add_listener(hw.pe.local_store_domain, [this, local_leak, pes, bytes, &tech](double v) {
      ledger.set_leakage_power(local_leak, pes * tech.leakage_power(Component::sram(bytes), v));
    });
  }
}

SimulationResult simulate(const QuantizedNetwork& network, const HardwareConfig& hw, const VoltageSchedule& schedule,
                          const Dataset& inputs, const SimOptions& options) {
  if (options.trials < 1) throw_input_error("<options>", "trials", "at least 1 trial", std::to_string(options.trials));
  if (!(options.ci_half_width >= 0 && options.ci_half_width < 1))
    throw_input_error("<options>", "ci", "a confidence-interval half-width in (0, 1)",
                      std::to_string(options.ci_half_width));
  if (options.ci_half_width > 0 && (options.max_trials < 2 || options.min_trials > options.max_trials))
    throw_input_error("<options>", "max_trials", "max_trials >= 2 and >= min_trials",
                      std::to_string(options.max_trials));

  const Program program = compile_program(network, hw, schedule);

  const TensorPlacement& in = program.input;
  const std::size_t features = std::size_t(in.channels) * in.height * in.width;
  const std::string source = inputs.source.empty() ? inputs.name : inputs.source;
  if (inputs.feature_count() != features)
    throw_input_error(source, "features",
                      std::to_string(features) + " features per sample (the network input " +
                          std::to_string(in.channels) + "x" + std::to_string(in.height) + "x" +
                          std::to_string(in.width) + ")",
                      std::to_string(inputs.feature_count()));
  if (inputs.size == 0) throw_input_error(source, "samples", "at least one sample", "none");
  for (std::size_t i = 0; i < inputs.size; ++i)
    if (inputs.labels[i] < 0 || inputs.labels[i] >= std::max(network.classes, 1))
      throw_input_error(source, "sample " + std::to_string(i),
                        "a label in [0, " + std::to_string(network.classes) + ") (the network's classes)",
                        std::to_string(inputs.labels[i]));
  const std::uint64_t n = options.inferences ? std::min<std::uint64_t>(options.inferences, inputs.size) : inputs.size;

  prepare_systemc();
  RunRecord record;
  record.inferences_per_trial = n;
  // Deterministic: no memory can fault at any voltage the schedule reaches and no analog layer adds noise.
  {
    const double nominal = hw.technology->nominal_voltage();
    auto can_fault = [&](const BufferConfig& b) {
      if (!b.fault) return false;
      if (b.fault->fixed_rate) return *b.fault->fixed_rate > 0;
      return hw.technology->bit_error_curve(memory_domain(b.domain)).p_at(schedule.lowest_voltage(b.domain, nominal)) >
             0;
    };
    bool analog = false;
    for (const auto& plan : program.layers) analog = analog || plan.engine == Engine::crossbar;
    record.deterministic = !can_fault(hw.weight_buffer) && !can_fault(hw.neuron_buffer) && !analog;
  }
  auto top = std::make_unique<Accelerator>("axsim", program, network, hw, schedule, inputs, options, record);
  const auto wall_start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  sc_core::sc_start();
  const double cpu = double(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (record.error) {
    top.reset();
    std::rethrow_exception(record.error);
  }

  SimulationResult r;
  r.network = network.name;
  r.hardware = hw.name;
  r.schedule = schedule.name;
  r.timing = hw.timing == TimingMode::cycle ? "cycle" : "fast";
  r.block = record.block;
  r.seed = options.seed;
  r.trials = int(record.correct.size());
  r.inferences_per_trial = n;
  r.inferences_total = n * record.correct.size();
  r.correct_per_trial = record.correct;
  r.accuracy = record.accuracy;
  r.clock_hz = hw.clock_hz;
  r.total_cycles = record.total_cycles;
  r.simulated_seconds = record.simulated_seconds;
  r.cycles_per_inference = r.inferences_total ? double(r.total_cycles) / double(r.inferences_total) : 0.0;
  r.io_cycles_per_inference = program.input_load_cycles;
  const EnergyLedger& ledger = top->ledger;
  for (std::size_t k = 0; k < program.layers.size(); ++k) {
    const LayerPlan& plan = program.layers[k];
    LayerResult l;
    l.name = plan.name;
    l.kind = std::string(to_string(plan.kind));
    l.engine = std::string(to_string(plan.engine));
    if (plan.engine == Engine::pe_array) {
      l.multiplier = plan.multiplier.name();
      l.unrolling = mapping::to_string(plan.mapping.u);
      l.passes = plan.mapping.passes;
      l.utilization = plan.mapping.utilization;
      l.weights_reused_locally = plan.mapping.weights_reused_locally;
    }
    l.mapped_cycles = plan.cycles;
    l.total_cycles = record.layer_cycles[k];
    l.cycles_per_inference = r.inferences_total ? double(record.layer_cycles[k]) / double(r.inferences_total) : 0;
    l.busy_cycles_per_inference =
        r.inferences_total ? double(record.layer_busy_cycles[k]) / double(r.inferences_total) : 0;
    l.macs = plan.macs;
    l.neuron_reads = plan.neuron_reads;
    l.weight_reads = plan.weight_reads;
    l.neuron_writes = plan.neuron_writes;
    l.weight_writes = plan.weight_writes;
    for (int c = 0; c < kEnergyComponents; ++c) l.energy[std::size_t(c)] = ledger.at(plan.index, EnergyComponent(c));
    l.energy_total = ledger.row_total(plan.index);
    r.layers.push_back(l);
  }
  collect_banks(top->weight_buffer, ledger, r);
  collect_banks(top->neuron_buffer, ledger, r);
  for (int row = 0; row < ledger.rows(); ++row) {
    r.energy_rows.push_back(ledger.row_name(row));
    std::array<EnergySplit, kEnergyComponents> cells{};
    for (int c = 0; c < kEnergyComponents; ++c) cells[std::size_t(c)] = ledger.at(row, EnergyComponent(c));
    r.energy_matrix.push_back(cells);
  }
  for (int c = 0; c < kEnergyComponents; ++c)
    r.energy_by_component[std::size_t(c)] = ledger.component_total(EnergyComponent(c));
  r.energy_total = ledger.total();
  r.energy_breakdown = summarize_energy(ledger, network, hw, program);
  r.energy_per_inference_j = r.inferences_total ? r.energy_total.total() / double(r.inferences_total) : 0;
  r.wall_seconds = wall;
  r.inferences_per_second = wall > 0 ? double(r.inferences_total) / wall : 0;
  r.cpu_seconds = cpu;
  r.inferences_per_cpu_second = cpu > 0 ? double(r.inferences_total) / cpu : 0;
  r.hardware_yaml = to_yaml(hw);
  r.schedule_yaml = to_yaml(schedule);
  r.voltage_events = top->regulator.events();
  r.voltage_changes = top->regulator.changes();
  r.crossbar_vmms = top->crossbar.vmms();
  r.logits = std::move(record.logits);
  r.predictions = std::move(record.predictions);
  r.per_inference = std::move(record.per_inference);
  top.reset();
  return r;
}

}  // namespace axsim::sim

// libsystemc defines main(), which calls sc_main(); axsim programs have their own main() and start simulations
// through simulate(), so this is never called. It lives here so that every program using the simulator links.
int sc_main(int, char*[]) {
  std::fputs("axsim: sc_main() is not an entry point; use axsim::sim::simulate()\n", stderr);
  return 1;
}
