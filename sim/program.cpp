#include "sim/program.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>

#include "core/error.hpp"

namespace axsim::sim {

namespace {

using i64 = std::int64_t;

i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

// Distinct input positions along one axis touched by `outputs` consecutive outputs and `taps` kernel taps.
int window_span(int outputs, int taps, int stride) {
  return int(std::min<i64>(i64{outputs} * taps, i64{outputs - 1} * stride + taps));
}

bool same_codes(const FixedPointFormat& a, const FixedPointFormat& b) {
  return a.bits == b.bits && a.is_signed == b.is_signed && a.frac_bits == b.frac_bits &&
         a.explicit_step == b.explicit_step;
}

// Network problems are reported against the network (the deploy artifact), config problems against the
// hardware file.
[[noreturn]] void network_error(const QuantizedNetwork& net, const QLayer& layer, const std::string& expected,
                                const std::string& found) {
  throw_input_error(net.name.empty() ? "<network>" : net.name, "layer '" + layer.name + "'", expected, found);
}

void check_geometry(const QuantizedNetwork& net, const QLayer& l) {
  auto positive = [&](int v, const char* what) {
    if (v < 1) network_error(net, l, std::string(what) + " >= 1", std::to_string(v));
  };
  positive(l.in_c, "in_c");
  positive(l.in_h, "in_h");
  positive(l.in_w, "in_w");
  positive(l.out_c, "out_c");
  positive(l.out_h, "out_h");
  positive(l.out_w, "out_w");
  positive(l.kernel, "kernel");
  positive(l.stride, "stride");
  if (l.padding < 0) network_error(net, l, "padding >= 0", std::to_string(l.padding));
  auto expect_out = [&](int in, int out, const char* axis) {
    const int expected = (in + 2 * l.padding - l.kernel) / l.stride + 1;
    if (in + 2 * l.padding < l.kernel || out != expected)
      network_error(net, l,
                    std::string(axis) + " = (in + 2*padding - kernel) / stride + 1 = " + std::to_string(expected),
                    std::to_string(out));
  };
  switch (l.kind) {
    case QOpKind::dense:
      if (l.in_h != 1 || l.in_w != 1 || l.out_h != 1 || l.out_w != 1 || l.kernel != 1)
        network_error(net, l, "a dense layer with in_h = in_w = out_h = out_w = kernel = 1", "other geometry");
      if (l.weights.size() != std::size_t(l.out_c) * std::size_t(l.in_c))
        network_error(net, l, "out_c * in_c = " + std::to_string(std::size_t(l.out_c) * l.in_c) + " weights",
                      std::to_string(l.weights.size()));
      break;
    case QOpKind::conv2d:
      expect_out(l.in_h, l.out_h, "out_h");
      expect_out(l.in_w, l.out_w, "out_w");
      if (l.weights.size() != std::size_t(l.out_c) * l.in_c * l.kernel * l.kernel)
        network_error(net, l, "out_c * in_c * kernel^2 weights", std::to_string(l.weights.size()));
      break;
    case QOpKind::maxpool:
    case QOpKind::avgpool:
      if (l.out_c != l.in_c) network_error(net, l, "out_c == in_c for pooling", std::to_string(l.out_c));
      if (l.padding * 2 > l.kernel) network_error(net, l, "padding <= kernel / 2", std::to_string(l.padding));
      expect_out(l.in_h, l.out_h, "out_h");
      expect_out(l.in_w, l.out_w, "out_w");
      break;
    case QOpKind::flatten:
      if (l.output_size() != l.input_size())
        network_error(net, l, "a flatten with as many outputs as inputs", std::to_string(l.output_size()));
      break;
  }
  if ((l.kind == QOpKind::dense || l.kind == QOpKind::conv2d) && !l.bias.empty() &&
      l.bias.size() != std::size_t(l.out_c))
    network_error(net, l, std::to_string(l.out_c) + " biases (or none)", std::to_string(l.bias.size()));
}

// A tensor between layers: which layer produced it (-1: the network input) and who reads it.
struct TensorInfo {
  int producer = -1;
  int consumer = -1;
  int c = 0, h = 1, w = 1;
  FixedPointFormat format;
};

Multiplier effective_multiplier(const HardwareConfig& hw, const QLayer& layer) {
  auto it = hw.layers.find(layer.name);
  if (it != hw.layers.end() && it->second.multiplier) return *it->second.multiplier;
  if (hw.pe.multiplier) return *hw.pe.multiplier;
  return layer.multiplier;
}

// The passes of a tile in the mapper's order (n outer, then i, then j), with their reads, cycles and where
// their windows land in the tile's neuron staging.
std::vector<Pass> make_passes(const LayerPlan& plan, const TilePlan& t) {
  std::vector<Pass> out;
  const auto& u = plan.mapping.u;
  const auto& shape = plan.shape;
  const int K = shape.K, S = shape.stride;
  std::int64_t offset = 0;
  for (int n0 = 0; n0 < shape.N; n0 += u.Tn) {
    for (int i0 = 0; i0 < K; i0 += u.Ti) {
      for (int j0 = 0; j0 < K; j0 += u.Tj) {
        Pass p;
        p.n0 = n0, p.tn = std::min(u.Tn, shape.N - n0);
        p.i0 = i0, p.ti = std::min(u.Ti, K - i0);
        p.j0 = j0, p.tj = std::min(u.Tj, K - j0);
        p.rows = window_span(t.tr, p.ti, S);
        p.cols = window_span(t.tc, p.tj, S);
        p.neuron_words = std::int64_t(p.tn) * p.rows * p.cols;
        p.weight_words = t.loads_weights ? std::int64_t(t.tm) * p.tn * p.ti * p.tj : 0;
        p.cycles = std::max({std::int64_t{1}, ceil_div(p.neuron_words, plan.neuron_ports),
                             ceil_div(p.weight_words, plan.kernel_ports)});
        p.staging_offset = offset;
        offset += p.neuron_words;
        out.push_back(p);
      }
    }
  }
  return out;
}

void plan_tiles(LayerPlan& plan, const mapping::ArrayShape& array, const HardwareConfig& hw) {
  const auto& s = plan.shape;
  const auto& u = plan.mapping.u;
  const bool local = plan.mapping.weights_reused_locally;
  i64 cycles = 0, neurons = 0, weights = 0, passes = 0;
  std::map<std::tuple<int, int, int, bool>, int> lists;
  for (int m0 = 0; m0 < s.M; m0 += u.Tm) {
    const int tm = std::min(u.Tm, s.M - m0);
    for (int r0 = 0; r0 < s.R; r0 += u.Tr) {
      const int tr = std::min(u.Tr, s.R - r0);
      for (int c0 = 0; c0 < s.C; c0 += u.Tc) {
        const int tc = std::min(u.Tc, s.C - c0);
        TilePlan t;
        t.m0 = m0, t.tm = tm, t.r0 = r0, t.tr = tr, t.c0 = c0, t.tc = tc;
        t.loads_weights = !local || (r0 == 0 && c0 == 0);
        for (int n0 = 0; n0 < s.N; n0 += u.Tn) {
          const int tn = std::min(u.Tn, s.N - n0);
          for (int i0 = 0; i0 < s.K; i0 += u.Ti) {
            const int ti = std::min(u.Ti, s.K - i0);
            for (int j0 = 0; j0 < s.K; j0 += u.Tj) {
              const int tj = std::min(u.Tj, s.K - j0);
              const i64 nw = i64{tn} * window_span(tr, ti, s.stride) * window_span(tc, tj, s.stride);
              const i64 ww = t.loads_weights ? i64{tm} * tn * ti * tj : 0;
              t.passes += 1;
              t.neuron_words += nw;
              t.weight_words += ww;
              t.cycles +=
                  std::max({i64{1}, ceil_div(nw, array.neuron_read_ports), ceil_div(ww, array.kernel_read_ports)});
            }
          }
        }
        t.macs = i64{tm} * tr * tc * s.N * s.K * s.K;
        const auto key = std::make_tuple(tm, tr, tc, t.loads_weights);
        auto found = lists.find(key);
        if (found == lists.end()) {
          found = lists.emplace(key, int(plan.pass_lists.size())).first;
          plan.pass_lists.push_back(make_passes(plan, t));
        }
        t.pass_list = found->second;
        t.local_store_writes = t.loads_weights ? i64{tm} * s.N * s.K * s.K * tr * tc : 0;
        cycles += t.cycles;
        neurons += t.neuron_words;
        weights += t.weight_words;
        passes += t.passes;
        plan.max_tile_neuron_words = std::max(plan.max_tile_neuron_words, t.neuron_words);
        plan.macs += t.macs;
        plan.local_store_writes += t.local_store_writes;
        plan.tiles.push_back(t);
      }
    }
  }
  // The tiles must add up to the mapper's layer totals: the SRAM banks draw faults on exactly the reads the
  // mapper costs. A mismatch is a bug in one of the two, never an input problem.
  const auto& m = plan.mapping;
  if (cycles + m.fill_cycles != m.cycles || neurons != m.neuron_words_read || weights != m.weight_words_read ||
      passes != m.passes)
    throw std::logic_error("simulator tiling of layer '" + plan.name + "' disagrees with the FlexFlow mapper: cycles " +
                           std::to_string(cycles + m.fill_cycles) + " vs " + std::to_string(m.cycles) +
                           ", neuron reads " + std::to_string(neurons) + " vs " + std::to_string(m.neuron_words_read) +
                           ", weight reads " + std::to_string(weights) + " vs " + std::to_string(m.weight_words_read));
  (void)hw;
}

}  // namespace

std::string_view to_string(Engine engine) {
  switch (engine) {
    case Engine::pe_array:
      return "pe_array";
    case Engine::crossbar:
      return "crossbar";
    case Engine::pooling:
      return "pooling";
    case Engine::reshape:
      return "reshape";
  }
  return "?";
}

Program compile_program(const QuantizedNetwork& net, const HardwareConfig& hw, const VoltageSchedule& schedule) {
  const std::string netname = net.name.empty() ? "<network>" : net.name;
  validate(net, netname);  // the contract every consumer of a QuantizedNetwork relies on
  Program prog;
  prog.input_format = net.input_format;
  prog.classes = net.classes;
  std::set<std::string> seen;
  for (const auto& l : net.layers) {
    if (!seen.insert(l.name).second)
      network_error(net, l, "unique layer names", "a second layer named '" + l.name + "'");
    prog.layer_names.push_back(l.name);
  }

  // Names in the configuration must exist.
  schedule.check_layers(prog.layer_names);
  for (const auto& [name, o] : hw.layers)
    if (!seen.count(name))
      throw_input_error(hw.file, "key layers." + name, "a layer of the network", "'" + name + "'",
                        closest_match(name, prog.layer_names));
  if (hw.crossbar)
    for (const auto& name : hw.crossbar->layers)
      if (!seen.count(name))
        throw_input_error(hw.file, "key crossbar.layers", "layers of the network", "'" + name + "'",
                          closest_match(name, prog.layer_names));

  // Walk the layers: geometry, formats, engines and the tensors between them.
  const auto& last = net.layers.back();
  if (!(last.kind == QOpKind::dense || last.kind == QOpKind::conv2d) || !last.is_output)
    network_error(net, last, "the last layer to be a dense or conv2d output layer (is_output)", std::string(to_string(last.kind)));
  if (net.input_format.bits > 16)
    throw_input_error(netname, "input_format", "an input format of at most 16 bits", net.input_format.to_string());

  const auto& first = net.layers.front();
  std::vector<TensorInfo> tensors;
  tensors.push_back(TensorInfo{-1, -1, first.in_c, first.in_h, first.in_w, net.input_format});
  std::vector<int> input_tensor(net.layers.size()), output_tensor(net.layers.size(), -1);
  for (std::size_t li = 0; li < net.layers.size(); ++li) {
    const QLayer& l = net.layers[li];
    check_geometry(net, l);
    TensorInfo& in = tensors.back();
    const bool flat_reader = l.kind == QOpKind::dense || l.kind == QOpKind::flatten;
    if (std::size_t(in.c) * in.h * in.w != l.input_size() ||
        (!flat_reader && (in.c != l.in_c || in.h != l.in_h || in.w != l.in_w)))
      network_error(
          net, l, "an input of " + std::to_string(l.in_c) + "x" + std::to_string(l.in_h) + "x" + std::to_string(l.in_w),
          std::to_string(in.c) + "x" + std::to_string(in.h) + "x" + std::to_string(in.w) + " from the previous layer");
    if (l.is_output && li + 1 != net.layers.size())
      network_error(net, l, "is_output only on the last layer", "is_output on layer " + std::to_string(li));
    input_tensor[li] = int(tensors.size()) - 1;
    if (l.kind == QOpKind::flatten) continue;  // same storage: C x H x W row-major is the flat order
    if (in.consumer < 0) in.consumer = int(li);
    if (l.kind == QOpKind::dense || l.kind == QOpKind::conv2d) {
      if (!same_codes(l.input_format, in.format))
        network_error(net, l, "input format " + l.input_format.to_string() + " to match the codes it reads",
                      in.format.to_string() + " from " +
                          (in.producer < 0 ? std::string("the network input")
                                           : "layer '" + net.layers[std::size_t(in.producer)].name + "'"));
      if (l.weight_layout().stored_bits() > hw.weight_buffer.word_bits)
        throw_input_error(hw.file, "key weight_buffer.word_bits",
                          "words of at least " + std::to_string(l.weight_layout().stored_bits()) +
                              " bits to hold the weights of layer '" + l.name + "' (format " +
                              l.weight_format.to_string() + ")",
                          std::to_string(hw.weight_buffer.word_bits));
      if (l.is_output) continue;
      if (l.output_format.bits > 16)
        network_error(net, l, "an output format of at most 16 bits", l.output_format.to_string());
      tensors.push_back(TensorInfo{int(li), -1, l.out_c, l.out_h, l.out_w, l.output_format});
    } else {  // pooling keeps the codes' format
      tensors.push_back(TensorInfo{int(li), -1, l.out_c, l.out_h, l.out_w, in.format});
    }
    output_tensor[li] = int(tensors.size()) - 1;
  }

  // Word widths.
  for (const auto& t : tensors) {
    const int stored = t.format.layout().stored_bits();
    if (stored > hw.neuron_buffer.word_bits)
      throw_input_error(hw.file, "key neuron_buffer.word_bits",
                        "words of at least " + std::to_string(stored) + " bits to hold the activations of " +
                            (t.producer < 0 ? std::string("the network input")
                                            : "layer '" + net.layers[std::size_t(t.producer)].name + "'") +
                            " (format " + t.format.to_string() + ")",
                        std::to_string(hw.neuron_buffer.word_bits));
  }

  // Placement: ping-pong halves of the neuron buffer; padding for the consumer.
  const std::uint64_t half = hw.neuron_buffer.words() / 2;
  std::vector<TensorPlacement> placed(tensors.size());
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const TensorInfo& t = tensors[k];
    TensorPlacement p;
    p.base = (k % 2 == 0) ? 0 : half;
    p.channels = t.c, p.height = t.h, p.width = t.w;
    p.format = t.format;
    if (t.consumer >= 0 && net.layers[std::size_t(t.consumer)].kind == QOpKind::conv2d)
      p.pad = net.layers[std::size_t(t.consumer)].padding;
    if (p.words() > half)
      throw_input_error(hw.file, "key neuron_buffer.size",
                        "a neuron buffer whose half (ping-pong) holds the " + std::to_string(p.words()) +
                            " words of the tensor read by layer '" +
                            (t.consumer >= 0 ? net.layers[std::size_t(t.consumer)].name : std::string("?")) + "'",
                        std::to_string(half) + " words per half");
    placed[k] = p;
  }
  // A flatten changes only the view: the flat tensor is the stored C x H x W map.
  prog.input = placed[0];

  // Engines and plans.
  const mapping::ArrayShape array = hw.array_shape();
  for (std::size_t li = 0; li < net.layers.size(); ++li) {
    const QLayer& l = net.layers[li];
    LayerPlan plan;
    plan.index = int(li);
    plan.name = l.name;
    plan.kind = l.kind;
    plan.is_output = l.is_output;
    plan.multiplier = effective_multiplier(hw, l);
    plan.input = placed[std::size_t(input_tensor[li])];
    if (l.kind == QOpKind::dense && plan.input.pad != 0)
      throw std::logic_error("dense layer input placed with padding");  // consumers decide padding
    if (output_tensor[li] >= 0) plan.output = placed[std::size_t(output_tensor[li])];
    switch (l.kind) {
      case QOpKind::dense:
      case QOpKind::conv2d:
        plan.engine = hw.on_crossbar(l.name) ? Engine::crossbar : Engine::pe_array;
        break;
      case QOpKind::maxpool:
      case QOpKind::avgpool:
        plan.engine = Engine::pooling;
        break;
      case QOpKind::flatten:
        plan.engine = Engine::reshape;
        break;
    }
    if (l.kind == QOpKind::conv2d && plan.engine == Engine::crossbar)
      throw_input_error(hw.file, "key crossbar.layers",
                        "dense layers only (the crossbar model runs one vector-matrix product per inference)",
                        "conv2d layer '" + l.name + "'");
    if (plan.engine != Engine::pe_array && hw.layers.count(l.name) && hw.layers.at(l.name).unrolling)
      throw_input_error(hw.file, "key layers." + l.name + ".unrolling", "an unrolling only for PE-array layers",
                        "layer '" + l.name + "' runs on the " + std::string(to_string(plan.engine)));
    if (plan.engine == Engine::pe_array) {
      plan.shape = l.kind == QOpKind::dense
                       ? mapping::LayerShape::fully_connected(l.name, l.out_c, l.in_c)
                       : mapping::LayerShape::conv(l.name, l.out_c, l.in_c, l.out_h, l.out_w, l.kernel, l.stride);
      mapping::validate_layer_shape(plan.shape, netname);
      // Products and their sum in the dot kernels: |DRUM(w)| < 2^wbits, activations < 2^abits.
      const long double bound = (long double)(std::uint64_t(l.in_c) * l.kernel * l.kernel) *
                                (long double)(std::uint64_t(1) << (l.weight_format.bits + plan.input.format.bits));
      plan.int32_accumulation = bound < 2147483647.0L;
    }
    prog.layers.push_back(std::move(plan));
  }

  // Mapping: runs of consecutive PE-array layers (chaining only makes sense between them).
  for (std::size_t a = 0; a < prog.layers.size();) {
    if (prog.layers[a].engine != Engine::pe_array) {
      ++a;
      continue;
    }
    std::size_t b = a;
    std::vector<mapping::LayerShape> shapes;
    mapping::MapperOptions options;
    options.chaining = hw.pe.chaining;
    options.source = hw.file;
    while (b < prog.layers.size() && prog.layers[b].engine == Engine::pe_array) {
      shapes.push_back(prog.layers[b].shape);
      auto it = hw.layers.find(prog.layers[b].name);
      if (it != hw.layers.end() && it->second.unrolling) options.overrides[prog.layers[b].name] = *it->second.unrolling;
      ++b;
    }
    const auto mappings = mapping::map_network(shapes, array, options);
    for (std::size_t k = a; k < b; ++k) {
      LayerPlan& plan = prog.layers[k];
      plan.mapping = mappings[k - a];
      plan.merged_reduction = plan.mapping.u.Ti == plan.shape.K && plan.mapping.u.Tj == plan.shape.K;
      plan.neuron_ports = array.neuron_read_ports;
      plan.kernel_ports = array.kernel_read_ports;
      const auto& u = plan.mapping.u;
      const i64 spatial_tiles = ceil_div(plan.shape.R, u.Tr) * ceil_div(plan.shape.C, u.Tc);
      plan.uses_local_store = plan.mapping.weights_reused_locally && spatial_tiles > 1;
      plan_tiles(plan, array, hw);
    }
    a = b;
  }

  // Weights: resident if the whole network fits, otherwise rewritten layer by layer at every inference.
  const std::uint64_t capacity = hw.weight_buffer.words();
  for (auto& plan : prog.layers)
    if (plan.engine == Engine::pe_array) prog.weight_words += std::uint64_t(plan.shape.weight_count());
  prog.weights_resident = prog.weight_words <= capacity;
  std::uint64_t next = 0;
  for (auto& plan : prog.layers) {
    if (plan.engine != Engine::pe_array) continue;
    const std::uint64_t count = std::uint64_t(plan.shape.weight_count());
    if (count > capacity)
      throw_input_error(hw.file, "key weight_buffer.size",
                        "a weight buffer that holds the " + std::to_string(count) + " weights of layer '" + plan.name +
                            "' (tile-level weight streaming is not modelled)",
                        std::to_string(capacity) + " words");
    plan.weight_base = prog.weights_resident ? next : 0;
    next += count;
    if (!prog.weights_resident) {
      plan.weight_load_cycles = ceil_div(i64(count), hw.weight_buffer.banks);
      plan.weight_writes = i64(count);
    }
  }

  // Per-inference costs of every layer.
  const i64 np = hw.neuron_buffer.total_read_ports();
  for (auto& plan : prog.layers) {
    const QLayer& l = net.layers[std::size_t(plan.index)];
    const std::int64_t out_words = plan.is_output ? 0 : std::int64_t(l.output_size());
    const std::int64_t border = plan.is_output ? 0 : std::int64_t(plan.output.words()) - out_words;
    switch (plan.engine) {
      case Engine::pe_array:
        plan.cycles = plan.mapping.cycles + plan.weight_load_cycles;
        plan.neuron_reads = plan.mapping.neuron_words_read;
        plan.weight_reads = plan.mapping.weight_words_read;
        plan.neuron_writes = out_words + border;
        break;
      case Engine::pooling: {
        i64 reads = 0;
        const int P = l.padding, S = l.stride, K = l.kernel;
        const int x_lo = 0, x_hi = std::min(l.in_w - 1, (l.out_w - 1) * S - P + K - 1);
        for (int oy = 0; oy < l.out_h; ++oy)
          for (int i = 0; i < K; ++i) {
            const int y = oy * S - P + i;
            if (y >= 0 && y < l.in_h) reads += x_hi - x_lo + 1;
          }
        plan.neuron_reads = reads * l.in_c;
        plan.neuron_writes = out_words + border;
        plan.cycles = std::max<i64>(1, ceil_div(plan.neuron_reads, np)) + 1;
        break;
      }
      case Engine::crossbar: {
        const auto& xb = *hw.crossbar;
        plan.crossbar_tiles = int(ceil_div(l.in_c, xb.rows) * ceil_div(l.out_c, xb.cols));
        plan.crossbar_latency_cycles = std::max<i64>(1, i64(std::ceil(xb.vmm_latency_s * hw.clock_hz - 1e-9)));
        plan.neuron_reads = i64(l.input_size());
        plan.neuron_writes = out_words + border;
        plan.cycles = ceil_div(plan.neuron_reads, np) + plan.crossbar_latency_cycles;
        break;
      }
      case Engine::reshape:
        break;
    }
  }
  prog.input_load_cycles = ceil_div(i64(prog.input.words()), hw.neuron_buffer.banks);

  // Output layer and the instruction stream.
  prog.output_layer = int(prog.layers.size()) - 1;
  prog.lag = array.fill_cycles() + 1;
  prog.slots = prog.lag + 2;
  using Op = Instruction::Op;
  auto& code = prog.instructions;
  code.push_back({Op::load_input, -1, -1});
  for (std::size_t k = 0; k < prog.layers.size(); ++k) {
    const LayerPlan& plan = prog.layers[k];
    const int li = int(k);
    code.push_back({Op::begin_layer, li, -1});
    switch (plan.engine) {
      case Engine::pe_array: {
        const int n = int(plan.tiles.size());
        for (int t = 0; t < n; ++t) {
          code.push_back({Op::load_tile, li, t});
          code.push_back({Op::compute_tile, li, t});
          if (t - prog.lag >= 0) code.push_back({Op::write_back, li, t - prog.lag});
        }
        for (int t = std::max(0, n - prog.lag); t < n; ++t) code.push_back({Op::write_back, li, t});
        break;
      }
      case Engine::pooling:
        code.push_back({Op::pool, li, -1});
        break;
      case Engine::crossbar:
        code.push_back({Op::crossbar, li, -1});
        break;
      case Engine::reshape:
        break;
    }
    code.push_back({Op::end_layer, li, -1});
  }
  code.push_back({Op::output, prog.output_layer, -1});
  return prog;
}

}  // namespace axsim::sim
