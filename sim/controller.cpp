#include "sim/controller.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "models/fixed_point.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace axsim::sim {

using sc_core::sc_time;

namespace {

// Loosely-timed quantum: long enough that the controller rarely yields, short enough for progress to flow.
const sc_time kQuantum(1, sc_core::SC_MS);

std::int64_t ceil_cycles(const sc_time& t, const sc_time& period) { return std::int64_t(std::ceil(t / period - 1e-9)); }

}  // namespace

Controller::Controller(sc_core::sc_module_name name, const Program& program, const QuantizedNetwork& network,
                       const HardwareConfig& hw, const VoltageSchedule& schedule, const Dataset& inputs,
                       const SimOptions& options, Parts parts, RunRecord& record)
    : sc_core::sc_module(name),
      weight_socket("weight_socket"),
      neuron_socket("neuron_socket"),
      program_(program),
      network_(network),
      hw_(hw),
      schedule_(schedule),
      inputs_(inputs),
      options_(options),
      parts_(parts),
      record_(record),
      cycle_mode_(hw.timing == TimingMode::cycle),
      period_(hw.clock_period_s(), sc_core::SC_SEC),
      io_row_(int(network.layers.size())),
      row_(int(network.layers.size())) {
  access_ = new AccessExtension;
  payload_.set_extension(access_);
  payload_.set_byte_enable_ptr(nullptr);
  payload_.set_dmi_allowed(false);
  record_.layer_cycles.assign(program.layers.size(), 0);
  record_.layer_busy_cycles.assign(program.layers.size(), 0);
  tile_serial_.assign(std::size_t(program.slots), 0);
  slot_wslot_.assign(std::size_t(program.slots), 0);
  energies_.assign(program.layers.size(), ActionEnergies{});
  const double nominal = hw.technology->nominal_voltage();
  max_rate_weights_ = parts.weights.rate_at(schedule.lowest_voltage(hw.weight_buffer.domain, nominal));
  max_rate_neurons_ = parts.neurons.rate_at(schedule.lowest_voltage(hw.neuron_buffer.domain, nominal));
  // Any change of the logic or local-store voltage changes the per-action energies.
  for (VoltageDomain d : {VoltageDomain::logic, hw.pe.local_store_domain})
    parts.regulator.add_listener(d, [this](double) {
      for (auto& e : energies_) e.valid = false;
    });
  int threads = options.threads;
#ifdef _OPENMP
  if (threads <= 0) threads = omp_get_max_threads();
#endif
  threads = std::max(1, threads);
  parts.weights.set_threads(threads);
  parts.neurons.set_threads(threads);
  parts.weights.set_copy_tracking(options.record_per_inference);
  parts.neurons.set_copy_tracking(options.record_per_inference);
  if (block_mode_allowed()) {
    block_ = std::make_unique<BlockDatapath>(program, network, threads);
    for (const auto& entries : schedule.domains)
      for (const auto& e : entries)
        if (e.trigger == ScheduleEntry::Trigger::inference) block_splits_.push_back(e.after);
    std::sort(block_splits_.begin(), block_splits_.end());
    for (const Instruction& ins : program.instructions) {
      if (ins.op != Instruction::Op::load_tile) continue;
      const LayerPlan& plan = program.layers[std::size_t(ins.layer)];
      const TilePlan& t = plan.tiles[std::size_t(ins.tile)];
      const std::uint64_t N = std::uint64_t(plan.shape.N);
      block_reads_.push_back(WeightBuffer::BlockRead{plan.weight_base + std::uint64_t(t.m0) * N,
                                                     std::uint64_t(t.tm) * N,
                                                     network.layers[std::size_t(plan.index)].weight_layout()});
    }
  }
  SC_THREAD(run);
}

// ---------------------------------------------------------------------------------------------------------
// time and energy

sc_time Controller::now() const { return cycle_mode_ ? sc_core::sc_time_stamp() : qk_.get_current_time(); }

void Controller::mark() {
  const sc_time t = now();
  if (t > last_mark_) parts_.ledger.advance(row_, (t - last_mark_).to_seconds());
  last_mark_ = t;
}

void Controller::spend(const sc_time& t) {
  if (t == sc_core::SC_ZERO_TIME) return;
  if (cycle_mode_) {
    sc_core::wait(t);
  } else {
    qk_.inc(t);
    if (qk_.need_sync()) qk_.sync();
  }
}

void Controller::spend_cycles(std::int64_t cycles) {
  if (cycles <= 0) return;
  cycles_ += std::uint64_t(cycles);
  spend(period_ * double(cycles));
}

void Controller::sync_for_voltage() {
  if (now() < parts_.regulator.next_change()) return;
  mark();  // leakage up to here at the old powers
  if (!cycle_mode_) qk_.sync();
  parts_.regulator.apply_due(sc_core::sc_time_stamp());
  last_mark_ = now();
}

const Controller::ActionEnergies& Controller::energies(const LayerPlan& plan) {
  ActionEnergies& e = energies_[std::size_t(&plan - program_.layers.data())];
  if (e.valid) return e;
  const Technology& tech = *hw_.technology;
  const double v_logic = parts_.regulator.voltage(VoltageDomain::logic);
  const double v_local = parts_.regulator.voltage(hw_.pe.local_store_domain);
  const QLayer& l = network_.layers[std::size_t(plan.index)];
  const int act_bits = plan.input.format.bits;
  if (plan.engine == Engine::pe_array) {
    const int width = std::max(l.weight_format.bits, act_bits);
    const Multiplier& m = plan.multiplier;
    e.multiply = tech.energy_of(m.kind == Multiplier::Kind::drum && m.k < width ? Action::multiply_drum(width, m.k)
                                                                                : Action::multiply_exact(width),
                                v_logic);
    e.add = tech.energy_of(Action::add(2 * width), v_logic);  // adder tree on products, then the accumulator
    e.reg = tech.energy_of(Action::register_access(act_bits), v_logic);
    e.weight_reg = tech.energy_of(Action::register_access(hw_.weight_buffer.word_bits), v_logic);
    if (hw_.pe.local_store_words > 0) {
      const std::uint64_t bytes =
          std::max<std::uint64_t>(1, std::uint64_t(hw_.pe.local_store_words) * hw_.weight_buffer.word_bits / 8);
      e.local_read = tech.energy_of(Action::sram_read(bytes, hw_.weight_buffer.word_bits), v_local);
      e.local_write = tech.energy_of(Action::sram_write(bytes, hw_.weight_buffer.word_bits), v_local);
    }
  }
  e.pool_op = tech.energy_of(Action::add(std::max(2, act_bits)), v_logic);
  e.valid = true;
  return e;
}

// ---------------------------------------------------------------------------------------------------------
// TLM transfers

template <class Word, class Socket>
void Controller::transport(Socket& socket, tlm::tlm_command command, std::uint64_t address, Word* data,
                           std::uint64_t count, WordLayout layout, int row) {
  payload_.set_command(command);
  payload_.set_address(address * sizeof(Word));
  payload_.set_data_ptr(reinterpret_cast<unsigned char*>(data));
  payload_.set_data_length(unsigned(count * sizeof(Word)));
  payload_.set_streaming_width(unsigned(count * sizeof(Word)));
  payload_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  access_->layout = layout;
  access_->ledger_row = row;
  access_->copies = copies_;
  access_->accounting_only = accounting_only_;
  sc_time delay = sc_core::SC_ZERO_TIME;
  socket->b_transport(payload_, delay);
  if (payload_.is_response_error()) throw std::logic_error("TLM transfer failed: " + payload_.get_response_string());
}

void Controller::read_neurons(const Runs& runs, std::int16_t* data, WordLayout layout, int row) {
  std::uint64_t at = 0;
  for (const auto& [address, count] : runs.items) {
    transport(neuron_socket, tlm::TLM_READ_COMMAND, address, data + at, count, layout, row);
    at += count;
  }
}

void Controller::write_neurons(const Runs& runs, const std::int16_t* data, int row) {
  std::uint64_t at = 0;
  for (const auto& [address, count] : runs.items) {
    transport(neuron_socket, tlm::TLM_WRITE_COMMAND, address, const_cast<std::int16_t*>(data + at), count,
              WordLayout{16, true}, row);
    at += count;
  }
}

void Controller::write_weights(const LayerPlan& plan, int row) {
  const QLayer& l = network_.layers[std::size_t(plan.index)];
  transport(weight_socket, tlm::TLM_WRITE_COMMAND, plan.weight_base, const_cast<std::int8_t*>(l.weights.data()),
            l.weights.size(), l.weight_layout(), row);
  parts_.pe.stored_weights_changed();
}

void Controller::write_border(const TensorPlacement& t, int row) {
  if (t.pad == 0) return;
  runs_.clear();
  const int sw = t.stored_width();
  for (int c = 0; c < t.channels; ++c) {
    runs_.add(t.address(c, 0, 0), std::uint64_t(t.pad) * sw);
    for (int y = t.pad; y < t.pad + t.height; ++y) {
      runs_.add(t.address(c, y, 0), std::uint64_t(t.pad));
      runs_.add(t.address(c, y, t.pad + t.width), std::uint64_t(t.pad));
    }
    runs_.add(t.address(c, t.pad + t.height, 0), std::uint64_t(t.pad) * sw);
  }
  codes_.assign(runs_.words, 0);
  write_neurons(runs_, codes_.data(), row);
}

// ---------------------------------------------------------------------------------------------------------
// instructions

void Controller::load_input(std::uint64_t index) {
  mark();
  row_ = io_row_;
  const TensorPlacement& t = program_.input;
  const auto features = inputs_.sample(std::size_t(index));
  std::vector<std::int16_t>& codes = input_codes_;
  codes.resize(features.size());
  quantize(program_.input_format, features, std::span<std::int16_t>(codes));
  // The DMA writes the padded map (zero border included) in one burst.
  if (t.pad == 0) {
    transport(neuron_socket, tlm::TLM_WRITE_COMMAND, t.base, codes.data(), codes.size(), WordLayout{16, true}, io_row_);
  } else {
    codes_.assign(t.words(), 0);
    const int sh = t.stored_height(), sw = t.stored_width();
    for (int c = 0; c < t.channels; ++c)
      for (int y = 0; y < t.height; ++y)
        std::copy_n(codes.data() + (std::size_t(c) * t.height + std::size_t(y)) * t.width, t.width,
                    codes_.data() + (std::size_t(c) * sh + std::size_t(y + t.pad)) * sw + std::size_t(t.pad));
    transport(neuron_socket, tlm::TLM_WRITE_COMMAND, t.base, codes_.data(), codes_.size(), WordLayout{16, true},
              io_row_);
  }
  spend_cycles(program_.input_load_cycles);
  record_.io_cycles += std::uint64_t(program_.input_load_cycles);
}

void Controller::begin_layer(const LayerPlan& plan) {
  mark();
  row_ = plan.index;
  layer_start_ = now();
  layer_start_cycles_ = std::int64_t(cycles_);
  const sc_time stall = parts_.regulator.enter_layer(plan.index, now());
  if (stall != sc_core::SC_ZERO_TIME) {
    const std::int64_t c = ceil_cycles(stall, period_);
    spend_cycles(c);
    record_.stall_cycles += std::uint64_t(c);
  }
  last_mark_ = now();
  if (cycle_mode_) parts_.pe.begin_layer_measure();
  if (!plan.is_output) write_border(plan.output, plan.index);
  loads_in_layer_ = 0;
  if (plan.engine == Engine::pe_array && !program_.weights_resident) {
    write_weights(plan, plan.index);
    spend_cycles(plan.weight_load_cycles * copies_);
  }
  if (in_block_) block_->begin_layer(plan);
}

void Controller::load_tile(const LayerPlan& plan, int tile) {
  sync_for_voltage();
  const TilePlan& t = plan.tiles[std::size_t(tile)];
  const int slot = tile % program_.slots;
  const QLayer& l = network_.layers[std::size_t(plan.index)];
  if (t.loads_weights) {
    // The output maps' weight block, once; the PE local stores keep it for the spatial tiles that follow.
    const std::size_t nkk = std::size_t(plan.shape.N) * plan.shape.K * plan.shape.K;
    const std::size_t count = std::size_t(t.tm) * nkk;
    current_wslot_ = loads_in_layer_++ % program_.slots;
    const std::uint64_t address = plan.weight_base + std::uint64_t(t.m0) * nkk;
    // Sparse reads pay one correction per faulty word read; a per_chip bank re-reads one prebuilt corrupted
    // image, which copying serves faster than thousands of corrections per inference.
    const auto& wfault = parts_.weights.config().fault;
    const bool per_chip_weights = wfault && wfault->persistence == Persistence::per_chip;
    if (!cycle_mode_ && options_.sparse_weight_reads && !per_chip_weights && PeArray::supports_sparse(plan)) {
      std::vector<WordChange>& changes = parts_.pe.weight_changes(current_wslot_);
      changes.clear();
      access_->changes = &changes;
      transport(weight_socket, tlm::TLM_READ_COMMAND, address, parts_.pe.weight_staging(current_wslot_), count,
                l.weight_layout(), plan.index);
      access_->changes = nullptr;
      parts_.pe.use_stored_weights(current_wslot_, parts_.weights.contents().data() + address, count, plan.multiplier);
    } else {
      transport(weight_socket, tlm::TLM_READ_COMMAND, address, parts_.pe.weight_staging(current_wslot_), count,
                l.weight_layout(), plan.index);
      parts_.pe.prepare_weights(current_wslot_, count, plan.multiplier);
    }
  }
  slot_wslot_[std::size_t(slot)] = current_wslot_;
  // Neurons: each pass's window, fresh from the buffer, in pass order.
  runs_.clear();
  const TensorPlacement& in = plan.input;
  const int S = plan.shape.stride;
  const auto& passes = plan.passes(t);
  if (plan.kind == QOpKind::dense) {
    // A dense layer reads its input as one flat vector (a flattened C x H x W map is stored unpadded): its
    // passes read consecutive slices, i.e. the whole vector once.
    runs_.add(in.base, std::uint64_t(plan.shape.N));
  } else {
    for (const Pass& p : passes) {
      for (int n = 0; n < p.tn; ++n)
        for (int ri = 0; ri < p.rows; ++ri) {
          const int y = p.ti >= S ? t.r0 * S + p.i0 + ri : (t.r0 + ri / p.ti) * S + p.i0 + ri % p.ti;
          if (p.tj >= S) {
            runs_.add(in.address(p.n0 + n, y, t.c0 * S + p.j0), std::uint64_t(p.cols));
          } else {
            for (int k = 0; k < t.tc; ++k)
              runs_.add(in.address(p.n0 + n, y, (t.c0 + k) * S + p.j0), std::uint64_t(p.tj));
          }
        }
    }
  }
  if (std::int64_t(runs_.words) != t.neuron_words)
    throw std::logic_error("neuron reads of a tile disagree with its plan");
  read_neurons(runs_, parts_.pe.neuron_staging(slot), in.format.layout(), plan.index);
  parts_.pe.transform_neurons(slot, runs_.words, plan.multiplier);
}

void Controller::compute_tile(const LayerPlan& plan, int tile) {
  const TilePlan& t = plan.tiles[std::size_t(tile)];
  const int slot = tile % program_.slots;
  const ActionEnergies& e = energies(plan);
  // Per product: a multiply, an add (adder tree / accumulator), the neuron operand latched in a register, and
  // the weight operand: from the local store when it is reused there, else latched in a register.
  {
    EnergyLedger& ledger = parts_.ledger;
    const double macs = double(t.macs) * copies_, v_logic = parts_.regulator.voltage(VoltageDomain::logic);
    const double latches = plan.uses_local_store ? macs : 2 * macs;
    ledger.charge(plan.index, EnergyComponent::pe_array, EnergyAction::multiply, macs, macs * e.multiply, v_logic);
    ledger.charge(plan.index, EnergyComponent::pe_array, EnergyAction::add, macs, macs * e.add, v_logic);
    ledger.charge(plan.index, EnergyComponent::pe_array, EnergyAction::register_access, latches,
                  macs * (e.reg + (plan.uses_local_store ? 0.0 : e.weight_reg)), v_logic);
    if (plan.uses_local_store) {
      const double v_local = parts_.regulator.voltage(hw_.pe.local_store_domain);
      ledger.charge(plan.index, EnergyComponent::local_store, EnergyAction::local_store_read, macs, macs * e.local_read,
                    v_local);
      ledger.charge(plan.index, EnergyComponent::local_store, EnergyAction::local_store_write,
                    double(t.local_store_writes) * copies_, double(t.local_store_writes) * copies_ * e.local_write,
                    v_local);
    }
  }
  if (in_block_) {
    spend_cycles(t.cycles * copies_);  // the values: BlockDatapath (clean sums at begin_layer, corrections at end)
  } else if (cycle_mode_) {
    tile_serial_[std::size_t(slot)] = ++serial_;
    parts_.pe.enqueue_tile(plan, tile, slot, slot_wslot_[std::size_t(slot)], serial_);
  } else {
    parts_.pe.compute_tile(plan, tile, slot, slot_wslot_[std::size_t(slot)]);
    spend_cycles(t.cycles);
  }
}

void Controller::write_back(const LayerPlan& plan, int tile) {
  const TilePlan& t = plan.tiles[std::size_t(tile)];
  const int slot = tile % program_.slots;
  if (cycle_mode_) parts_.pe.wait_tile(tile_serial_[std::size_t(slot)]);
  const std::int64_t* acc = parts_.pe.accumulators(slot);
  const QLayer& l = network_.layers[std::size_t(plan.index)];
  const int R = plan.shape.R, C = plan.shape.C;
  if (plan.is_output) {
    logits_.resize(std::size_t(l.out_c) * R * C);
    for (int m = 0; m < t.tm; ++m)
      for (int r = 0; r < t.tr; ++r)
        for (int c = 0; c < t.tc; ++c)
          logits_[(std::size_t(t.m0 + m) * R + std::size_t(t.r0 + r)) * C + std::size_t(t.c0 + c)] =
              acc[(std::size_t(m) * t.tr + r) * t.tc + c];
    return;
  }
  const int shift = l.accumulator_shift();
  const TensorPlacement& out = plan.output;
  runs_.clear();
  codes_.resize(std::size_t(t.tm) * t.tr * t.tc);
  std::size_t k = 0;
  for (int m = 0; m < t.tm; ++m)
    for (int r = 0; r < t.tr; ++r) {
      runs_.add(out.address(t.m0 + m, out.pad + t.r0 + r, out.pad + t.c0), std::uint64_t(t.tc));
      for (int c = 0; c < t.tc; ++c, ++k) codes_[k] = std::int16_t(requantize(acc[k], shift, l.output_format, l.relu));
    }
  write_neurons(runs_, codes_.data(), plan.index);
}

void Controller::end_layer(const LayerPlan& plan) {
  const std::size_t k = std::size_t(&plan - program_.layers.data());
  if (plan.engine == Engine::pe_array) {
    if (cycle_mode_)
      record_.layer_busy_cycles[k] += std::uint64_t(parts_.pe.layer_cycles());
    else
      spend_cycles(plan.mapping.fill_cycles * copies_);  // the pipeline drains once per layer
  }
  mark();
  const std::int64_t spent = cycle_mode_ ? std::int64_t(std::llround((now() - layer_start_) / period_))
                                         : std::int64_t(cycles_) - layer_start_cycles_;
  record_.layer_cycles[k] += std::uint64_t(spent);
  if (in_block_) block_->end_layer(plan);
}

void Controller::pool(const LayerPlan& plan) {
  sync_for_voltage();
  const QLayer& l = network_.layers[std::size_t(plan.index)];
  const TensorPlacement& in = plan.input;
  const TensorPlacement& out = plan.output;
  const int K = l.kernel, S = l.stride, P = l.padding;
  const int x_hi = std::min(l.in_w - 1, (l.out_w - 1) * S - P + K - 1);
  const int row_words = x_hi + 1;
  const bool is_max = l.kind == QOpKind::maxpool;
  std::vector<std::int16_t> result(std::size_t(l.out_w));
  std::uint64_t ops = 0;
  pool_rows_.resize(std::size_t(K) * row_words);
  for (int c = 0; c < l.in_c; ++c)
    for (int oy = 0; oy < l.out_h; ++oy) {
      // Read the input row segments this output row's windows cover (each once per output row).
      runs_.clear();
      std::vector<int> valid_rows;
      for (int i = 0; i < K; ++i) {
        const int y = oy * S - P + i;
        if (y < 0 || y >= l.in_h) continue;
        runs_.add(in.address(c, in.pad + y, in.pad), std::uint64_t(row_words));
        valid_rows.push_back(i);
      }
      // Rows of one channel are not contiguous in general, so read them one by one (runs may have merged).
      read_neurons(runs_, pool_rows_.data(), in.format.layout(), plan.index);
      for (int ox = 0; ox < l.out_w; ++ox) {
        std::int64_t acc = is_max ? INT64_MIN : 0;
        bool any = false;
        for (std::size_t vr = 0; vr < valid_rows.size(); ++vr)
          for (int j = 0; j < K; ++j) {
            const int x = ox * S - P + j;
            if (x < 0 || x > x_hi) continue;
            const std::int64_t v = pool_rows_[vr * std::size_t(row_words) + std::size_t(x)];
            acc = is_max ? std::max(acc, v) : acc + v;
            any = true;
            ++ops;
          }
        // Max ignores the padding (it is never larger than a real value); average counts it as zeros
        // (divisor kernel^2, PyTorch's count_include_pad default).
        result[std::size_t(ox)] = std::int16_t(is_max ? (any ? acc : 0) : average_codes(acc, K * K));
      }
      Runs w;
      w.add(out.address(c, out.pad + oy, out.pad), std::uint64_t(l.out_w));
      write_neurons(w, result.data(), plan.index);
    }
  parts_.ledger.charge(plan.index, EnergyComponent::pe_array, EnergyAction::pool_op, double(ops),
                       double(ops) * energies(plan).pool_op, parts_.regulator.voltage(VoltageDomain::logic));
  spend_cycles(plan.cycles);
}

void Controller::crossbar(const LayerPlan& plan, std::uint64_t trial, std::uint64_t index) {
  sync_for_voltage();
  const QLayer& l = network_.layers[std::size_t(plan.index)];
  runs_.clear();
  runs_.add(plan.input.base, l.input_size());
  std::vector<std::int16_t>& x = pool_rows_;
  x.resize(l.input_size());
  read_neurons(runs_, x.data(), plan.input.format.layout(), plan.index);
  std::vector<std::int16_t> y;
  parts_.crossbar.run(plan, x, options_.seed, trial, index, y, logits_);
  if (!plan.is_output) {
    // Dense outputs: out_c maps of 1 x 1.
    runs_.clear();
    for (int m = 0; m < l.out_c; ++m) runs_.add(plan.output.address(m, plan.output.pad, plan.output.pad), 1);
    write_neurons(runs_, y.data(), plan.index);
  }
  spend_cycles(plan.cycles);
}

int predicted_class(const std::vector<std::int64_t>& logits) {
  int best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[std::size_t(best)]) best = int(i);
  return best;
}

void Controller::output(std::uint64_t trial, std::uint64_t index) {
  const int predicted = predicted_class(logits_);
  if (predicted == inputs_.labels[std::size_t(index)]) ++correct_in_trial_;
  if (options_.record_outputs && trial == 0) {
    record_.logits.push_back(logits_);
    record_.predictions.push_back(predicted);
  }
}

void Controller::execute(const Instruction& ins, std::uint64_t trial, std::uint64_t index) {
  using Op = Instruction::Op;
  switch (ins.op) {
    case Op::load_input:
      load_input(index);
      break;
    case Op::begin_layer:
      begin_layer(program_.layers[std::size_t(ins.layer)]);
      break;
    case Op::load_tile:
      load_tile(program_.layers[std::size_t(ins.layer)], ins.tile);
      break;
    case Op::compute_tile:
      compute_tile(program_.layers[std::size_t(ins.layer)], ins.tile);
      break;
    case Op::write_back:
      write_back(program_.layers[std::size_t(ins.layer)], ins.tile);
      break;
    case Op::end_layer:
      end_layer(program_.layers[std::size_t(ins.layer)]);
      break;
    case Op::pool:
      pool(program_.layers[std::size_t(ins.layer)]);
      break;
    case Op::crossbar:
      crossbar(program_.layers[std::size_t(ins.layer)], trial, index);
      break;
    case Op::output:
      output(trial, index);
      break;
  }
}

// ---------------------------------------------------------------------------------------------------------
// trials and inferences

void Controller::begin_trial(std::uint64_t trial) {
  if (!cycle_mode_) qk_.sync();
  mark();
  row_ = io_row_;
  parts_.weights.begin_trial(options_.seed, trial, max_rate_weights_);
  parts_.neurons.begin_trial(options_.seed, trial, max_rate_neurons_);
  parts_.regulator.begin_trial(trial);
  parts_.crossbar.program_chip(options_.seed, trial);
  // Program the chip: resident weights are written once.
  if (program_.weights_resident)
    for (const auto& plan : program_.layers)
      if (plan.engine == Engine::pe_array) write_weights(plan, io_row_);
  correct_in_trial_ = 0;
}

void Controller::record_faults(std::uint64_t trial, std::uint64_t first, int count) {
  if (!options_.record_per_inference) return;
  for (int c = 0; c < count; ++c) {
    const FaultStats& w = parts_.weights.copy_faults(c);
    const FaultStats& n = parts_.neurons.copy_faults(c);
    record_.per_inference.push_back(
        InferenceFaults{trial, first + std::uint64_t(c), w.bits_read, w.faulty_bits, n.bits_read, n.faulty_bits});
  }
}

void Controller::run_inference(std::uint64_t trial, std::uint64_t index) {
  mark();
  row_ = io_row_;
  parts_.weights.begin_inferences(index, 1);
  parts_.neurons.begin_inferences(index, 1);
  const sc_time stall = parts_.regulator.enter_inference(index, now());
  if (stall != sc_core::SC_ZERO_TIME) {
    const std::int64_t c = ceil_cycles(stall, period_);
    spend_cycles(c);
    record_.stall_cycles += std::uint64_t(c);
  }
  for (const Instruction& ins : program_.instructions) execute(ins, trial, index);
  record_faults(trial, index, 1);
}

// ---------------------------------------------------------------------------------------------------------
// block mode

bool Controller::block_mode_allowed() const {
  if (cycle_mode_ || !options_.sparse_weight_reads || options_.block <= 1) return false;
  if (!BlockDatapath::supports(program_)) return false;
  // Neuron words are not stored in block mode (the block datapath carries them): their reads must not fault.
  if (max_rate_neurons_ > 0) return false;
  // A per_chip weight buffer reads one corrupted image per chip, which the one-at-a-time path copies faster
  // than a block would apply the same ~p * bits corrections to every inference.
  const auto& wfault = hw_.weight_buffer.fault;
  if (wfault && wfault->persistence == Persistence::per_chip && max_rate_weights_ > 0) return false;
  // Settings by simulated time or per layer would take effect inside a block: those schedules run one
  // inference at a time. Inference-indexed settings split the blocks instead (block_end).
  for (const auto& entries : schedule_.domains)
    for (const auto& e : entries)
      if (e.trigger == ScheduleEntry::Trigger::time || e.layers) return false;
  return true;
}

std::uint64_t Controller::block_end(std::uint64_t first, std::uint64_t n) const {
  std::uint64_t end = std::min(n, first + std::uint64_t(options_.block));
  const auto next = std::upper_bound(block_splits_.begin(), block_splits_.end(), first);
  if (next != block_splits_.end()) end = std::min(end, *next);
  return end;
}

void Controller::block_load_input(std::uint64_t first) {
  mark();
  row_ = io_row_;
  block_->load_inputs(inputs_, first, copies_);
  const TensorPlacement& t = program_.input;
  accounting_only_ = true;  // the DMA's burst, counted; the codes stay in the block datapath
  transport(neuron_socket, tlm::TLM_WRITE_COMMAND, t.base, parts_.pe.neuron_staging(0), t.words(), WordLayout{16, true},
            io_row_);
  accounting_only_ = false;
  spend_cycles(program_.input_load_cycles * copies_);
  record_.io_cycles += std::uint64_t(program_.input_load_cycles) * std::uint64_t(copies_);
}

void Controller::block_load_tile(const LayerPlan& plan, int tile) {
  sync_for_voltage();
  const TilePlan& t = plan.tiles[std::size_t(tile)];
  const QLayer& l = network_.layers[std::size_t(plan.index)];
  if (t.loads_weights) {
    const std::size_t count = std::size_t(t.tm) * std::size_t(plan.shape.N);
    const std::uint64_t address = plan.weight_base + std::uint64_t(t.m0) * std::uint64_t(plan.shape.N);
    access_->copy_changes = &block_->weight_read(tile, parts_.weights.contents().data() + address);
    transport(weight_socket, tlm::TLM_READ_COMMAND, address, parts_.pe.weight_staging(0), count, l.weight_layout(),
              plan.index);  // sparse: nothing copied
    access_->copy_changes = nullptr;
  } else {
    throw std::logic_error("block mode: a dense tile that does not load its weights");
  }
  // A dense layer's passes read the input vector once (as load_tile): counted, carried by the block datapath.
  runs_.clear();
  runs_.add(plan.input.base, std::uint64_t(plan.shape.N));
  if (std::int64_t(runs_.words) != t.neuron_words)
    throw std::logic_error("neuron reads of a tile disagree with its plan");
  accounting_only_ = true;
  read_neurons(runs_, parts_.pe.neuron_staging(0), plan.input.format.layout(), plan.index);  // no data moves
  accounting_only_ = false;
}

void Controller::block_write_back(const LayerPlan& plan, int tile) {
  // The values are final at end_layer (BlockDatapath); the write-back's traffic is charged here.
  const TilePlan& t = plan.tiles[std::size_t(tile)];
  if (plan.is_output) return;
  runs_.clear();
  for (int m = 0; m < t.tm; ++m) runs_.add(plan.output.address(t.m0 + m, 0, 0), 1);
  accounting_only_ = true;
  write_neurons(runs_, parts_.pe.neuron_staging(0), plan.index);  // no data moves
  accounting_only_ = false;
}

void Controller::block_output(std::uint64_t trial, std::uint64_t first) {
  for (int c = 0; c < copies_; ++c) {
    const auto logits = block_->logits(c);
    logits_.assign(logits.begin(), logits.end());
    output(trial, first + std::uint64_t(c));
  }
}

void Controller::run_block(std::uint64_t trial, std::uint64_t first, int count) {
  mark();
  row_ = io_row_;
  parts_.weights.begin_inferences(first, count);
  parts_.neurons.begin_inferences(first, count);
  // Settings at inference indices only ever fall on a block's first inference (block_end), so a stall can
  // only come from there; the others are entered for the regulator's bookkeeping.
  for (int c = 0; c < count; ++c) {
    const sc_time stall = parts_.regulator.enter_inference(first + std::uint64_t(c), now());
    if (stall != sc_core::SC_ZERO_TIME) {
      const std::int64_t cycles = ceil_cycles(stall, period_);
      spend_cycles(cycles);
      record_.stall_cycles += std::uint64_t(cycles);
    }
  }
  // Every fault of the block's weight reads, drawn at once over the inferences (the rate holds for the block).
  parts_.weights.presample(block_reads_, count);
  copies_ = count;
  in_block_ = true;
  record_.block = std::max(record_.block, count);
  using Op = Instruction::Op;
  for (const Instruction& ins : program_.instructions) {
    const LayerPlan& plan = program_.layers[std::size_t(std::max(ins.layer, 0))];
    switch (ins.op) {
      case Op::load_input:
        block_load_input(first);
        break;
      case Op::load_tile:
        block_load_tile(plan, ins.tile);
        break;
      case Op::write_back:
        block_write_back(plan, ins.tile);
        break;
      case Op::output:
        block_output(trial, first);
        break;
      case Op::begin_layer:
      case Op::compute_tile:
      case Op::end_layer:
        execute(ins, trial, first);
        break;
      case Op::pool:
      case Op::crossbar:
        throw std::logic_error("block mode: a pool or crossbar instruction in a dense-only program");
    }
  }
  in_block_ = false;
  copies_ = 1;
  record_faults(trial, first, count);
}

double Controller::run_trial(std::uint64_t trial) {
  begin_trial(trial);
  const std::uint64_t n = record_.inferences_per_trial;
  for (std::uint64_t i = 0; i < n;) {
    const std::uint64_t end = block_ ? block_end(i, n) : i + 1;
    if (block_)
      run_block(trial, i, int(end - i));
    else
      run_inference(trial, i);
    const std::uint64_t before = done_;
    done_ += end - i;
    i = end;
    if (options_.progress && done_ / 256 != before / 256) options_.progress(done_, planned_);
  }
  record_.correct.push_back(correct_in_trial_);
  return double(correct_in_trial_) / double(n);
}

void Controller::run() {
  try {
    tlm_utils::tlm_quantumkeeper::set_global_quantum(kQuantum);
    qk_.reset();
    last_mark_ = sc_core::sc_time_stamp();
    quant::McOptions mc;
    mc.fault_free = record_.deterministic;
    if (options_.ci_half_width > 0) {
      mc.min_trials = options_.min_trials;
      mc.max_trials = options_.max_trials;
      mc.ci_half_width = options_.ci_half_width;
    } else {  // exactly `trials` trials
      mc.min_trials = mc.max_trials = options_.trials;
      mc.ci_half_width = 0;
    }
    planned_ = options_.ci_half_width > 0
                   ? 0
                   : record_.inferences_per_trial * std::uint64_t(record_.deterministic ? 1 : options_.trials);
    record_.accuracy = quant::monte_carlo([this](std::uint64_t trial) { return run_trial(trial); }, mc);
    mark();
    if (!cycle_mode_) qk_.sync();
    record_.simulated_seconds = sc_core::sc_time_stamp().to_seconds();
    record_.total_cycles = cycle_mode_ ? std::uint64_t(std::llround(sc_core::sc_time_stamp() / period_)) : cycles_;
    if (options_.progress) options_.progress(done_, done_);
  } catch (...) {
    record_.error = std::current_exception();
  }
  sc_core::sc_stop();
}

}  // namespace axsim::sim
