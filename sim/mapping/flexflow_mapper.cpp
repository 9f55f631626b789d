#include "sim/mapping/flexflow_mapper.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <set>
#include <tuple>

#include "core/error.hpp"

namespace axsim::mapping {

namespace {

using i64 = std::int64_t;

i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

std::string layer_location(const LayerShape& layer) { return "layer '" + layer.name + "'"; }

// ---- Tiles of one loop dimension ----------------------------------------------------------------------
// Cutting an extent into chunks of `factor` gives at most three kinds of tile: the first one (weights are
// loaded while it runs), full middle ones, and a possibly smaller last one. Costing one tile per kind and
// weighting it by the count keeps evaluation O(1) in the layer size.
struct TileClass {
  int size = 0;
  i64 count = 0;
  bool first = false;
};

struct TileClasses {
  std::array<TileClass, 3> items{};
  int n = 0;
  void add(int size, i64 count, bool first) {
    if (count > 0) items[n++] = TileClass{size, count, first};
  }
  const TileClass* begin() const { return items.data(); }
  const TileClass* end() const { return items.data() + n; }
};

TileClasses tile_classes(int extent, int factor, bool split_first) {
  TileClasses t;
  const i64 q = ceil_div(extent, factor);
  const int last = static_cast<int>(extent - (q - 1) * factor);
  if (!split_first) {
    t.add(factor, q - 1, false);
    t.add(last, 1, false);
  } else if (q == 1) {
    t.add(last, 1, true);
  } else {
    t.add(factor, 1, true);
    t.add(factor, q - 2, false);
    t.add(last, 1, false);
  }
  return t;
}

// Distinct input positions touched along one axis by `outputs` consecutive outputs and `taps` consecutive
// kernel taps at stride S: windows overlap (one contiguous run) when taps >= S, else they are disjoint.
i64 span(int outputs, int taps, int stride) {
  return std::min<i64>(i64{outputs} * taps, i64{outputs - 1} * stride + taps);
}

// One spatial axis (rows: output tile x kernel-row tile; columns likewise) as classes of passes.
struct AxisClass {
  i64 span = 0;  // distinct neurons along this axis per input map
  int taps = 0;  // kernel taps of the tile (Ti' or Tj')
  bool first = false;
  i64 count = 0;
};

struct AxisClasses {
  std::array<AxisClass, 6> items{};
  int n = 0;
  const AxisClass* begin() const { return items.data(); }
  const AxisClass* end() const { return items.data() + n; }
};

AxisClasses axis_classes(int out_extent, int out_factor, int kernel, int kernel_factor, int stride) {
  AxisClasses a;
  for (const TileClass& o : tile_classes(out_extent, out_factor, true)) {
    for (const TileClass& k : tile_classes(kernel, kernel_factor, false)) {
      a.items[a.n++] = AxisClass{span(o.size, k.size, stride), k.size, o.first, o.count * k.count};
    }
  }
  return a;
}

i64 axis_span_sum(int out_extent, int out_factor, int kernel, int kernel_factor, int stride) {
  i64 sum = 0;
  for (const AxisClass& c : axis_classes(out_extent, out_factor, kernel, kernel_factor, stride))
    sum += c.span * c.count;
  return sum;
}

// ---- Cost of one unrolling ----------------------------------------------------------------------------
struct Cost {
  i64 passes = 0;
  i64 cycles = 0;  // including fill
  i64 neuron_reads = 0;
  i64 weight_reads = 0;
  i64 stall_cycles = 0;
  bool weights_local = false;
};

// Precomputes what does not depend on the unrolling, so the search costs each tuple in O(1).
class CostModel {
 public:
  CostModel(const LayerShape& layer, const ArrayShape& array)
      : layer_(layer), array_(array), fill_(array.fill_cycles()) {
    const int max_tr = std::min(layer.R, array.rows), max_tc = std::min(layer.C, array.rows);
    const int max_tk = std::min(layer.K, array.cols);
    row_span_sum_.assign(static_cast<size_t>(max_tr + 1) * (max_tk + 1), 0);
    col_span_sum_.assign(static_cast<size_t>(max_tc + 1) * (max_tk + 1), 0);
    for (int t = 1; t <= max_tr; ++t)
      for (int k = 1; k <= max_tk; ++k)
        row_span_sum_[t * (max_tk + 1) + k] = axis_span_sum(layer.R, t, layer.K, k, layer.stride);
    for (int t = 1; t <= max_tc; ++t)
      for (int k = 1; k <= max_tk; ++k)
        col_span_sum_[t * (max_tk + 1) + k] = axis_span_sum(layer.C, t, layer.K, k, layer.stride);
    stride_k_ = max_tk + 1;
  }

  int fill() const { return fill_; }

  i64 passes(const Unrolling& u) const {
    return ceil_div(layer_.M, u.Tm) * ceil_div(layer_.N, u.Tn) * ceil_div(layer_.R, u.Tr) * ceil_div(layer_.C, u.Tc) *
           ceil_div(layer_.K, u.Ti) * ceil_div(layer_.K, u.Tj);
  }

  bool weights_fit(const Unrolling& u) const {
    const i64 per_pe = ceil_div(layer_.N, u.Tn) * ceil_div(layer_.K, u.Ti) * ceil_div(layer_.K, u.Tj);
    return per_pe <= array_.weight_local_words;
  }

  i64 total_weight_reads(const Unrolling& u, bool fits) const {
    const i64 spatial_tiles = ceil_div(layer_.R, u.Tr) * ceil_div(layer_.C, u.Tc);
    return layer_.weight_count() * (fits ? 1 : spatial_tiles);
  }

  // Valid only for tuples within the array bounds (the span tables cover Tr, Tc <= D_r and Ti, Tj <= D_c).
  i64 total_neuron_reads(const Unrolling& u) const {
    return ceil_div(layer_.M, u.Tm) * layer_.N * row_span_sum_[u.Tr * stride_k_ + u.Ti] *
           col_span_sum_[u.Tc * stride_k_ + u.Tj];
  }

  // Sum over passes of max(a_p, b_p, c_p) >= max of the sums: a valid bound, exact when no pass stalls.
  i64 lower_bound_cycles(const Unrolling& u) const {
    const bool fits = weights_fit(u);
    const i64 bound = std::max({passes(u), ceil_div(total_neuron_reads(u), array_.neuron_read_ports),
                                ceil_div(total_weight_reads(u, fits), array_.kernel_read_ports)});
    return bound + fill_;
  }

  Cost evaluate(const Unrolling& u) const {
    Cost cost;
    cost.weights_local = weights_fit(u);
    const TileClasses m_tiles = tile_classes(layer_.M, u.Tm, false);
    const TileClasses n_tiles = tile_classes(layer_.N, u.Tn, false);
    const AxisClasses rows = axis_classes(layer_.R, u.Tr, layer_.K, u.Ti, layer_.stride);
    const AxisClasses cols = axis_classes(layer_.C, u.Tc, layer_.K, u.Tj, layer_.stride);
    i64 pass_cycles = 0;
    for (const TileClass& m : m_tiles) {
      for (const TileClass& n : n_tiles) {
        for (const AxisClass& r : rows) {
          for (const AxisClass& c : cols) {
            const i64 count = m.count * n.count * r.count * c.count;
            const i64 neurons = i64{n.size} * r.span * c.span;
            // Weights come from the kernel buffer in every pass unless the PE weight stores keep them, in which
            // case only the first spatial tile of each output-map tile loads them.
            const bool loads_weights = !cost.weights_local || (r.first && c.first);
            const i64 weights = loads_weights ? i64{m.size} * n.size * r.taps * c.taps : 0;
            const i64 cycles = std::max(
                {i64{1}, ceil_div(neurons, array_.neuron_read_ports), ceil_div(weights, array_.kernel_read_ports)});
            cost.passes += count;
            pass_cycles += count * cycles;
            cost.neuron_reads += count * neurons;
            cost.weight_reads += count * weights;
          }
        }
      }
    }
    cost.stall_cycles = pass_cycles - cost.passes;
    cost.cycles = pass_cycles + fill_;
    return cost;
  }

  LayerMapping to_mapping(const Unrolling& u, const Cost& cost) const {
    LayerMapping m;
    m.layer = layer_.name;
    m.u = u;
    m.passes = cost.passes;
    m.utilization = static_cast<double>(layer_.macs()) /
                    (static_cast<double>(cost.passes) * array_.rows * static_cast<double>(array_.cols));
    m.cycles = cost.cycles;
    m.neuron_words_read = cost.neuron_reads;
    m.weight_words_read = cost.weight_reads;
    m.output_words_written = layer_.output_count();
    m.stall_cycles = cost.stall_cycles;
    m.fill_cycles = fill_;
    m.weights_reused_locally = cost.weights_local;
    return m;
  }

 private:
  const LayerShape& layer_;
  const ArrayShape& array_;
  int fill_;
  int stride_k_ = 1;
  std::vector<i64> row_span_sum_, col_span_sum_;  // indexed [Tr or Tc][Ti or Tj]
};

// Search order: fewest cycles, then fewest passes (= highest utilization), then fewest buffer reads.
struct Score {
  i64 cycles = 0, passes = 0, reads = 0;
  auto operator<=>(const Score&) const = default;
  Score operator+(const Score& o) const { return Score{cycles + o.cycles, passes + o.passes, reads + o.reads}; }
};

Score score_of(const Cost& c) { return Score{c.cycles, c.passes, c.neuron_reads + c.weight_reads}; }

// <Tm,Tr,Tc> (a PE-row grouping) and <Tn,Ti,Tj> (a PE-column grouping).
using Triple = std::array<int, 3>;

std::vector<Triple> row_triples(const LayerShape& l, const ArrayShape& a) {
  std::vector<Triple> out;
  for (int tm = 1; tm <= std::min(l.M, a.rows); ++tm)
    for (int tr = 1; tr <= std::min(l.R, a.rows / tm); ++tr)
      for (int tc = 1; tc <= std::min(l.C, a.rows / (tm * tr)); ++tc) out.push_back({tm, tr, tc});
  return out;
}

std::vector<Triple> col_triples(const LayerShape& l, const ArrayShape& a) {
  std::vector<Triple> out;
  for (int tn = 1; tn <= std::min(l.N, a.cols); ++tn)
    for (int ti = 1; ti <= std::min(l.K, a.cols / tn); ++ti)
      for (int tj = 1; tj <= std::min(l.K, a.cols / (tn * ti)); ++tj) out.push_back({tn, ti, tj});
  return out;
}

Unrolling combine(const Triple& row, const Triple& col) {
  return Unrolling{row[0], col[0], row[1], row[2], col[1], col[2]};
}
Triple row_of(const Unrolling& u) { return {u.Tm, u.Tr, u.Tc}; }
Triple col_of(const Unrolling& u) { return {u.Tn, u.Ti, u.Tj}; }

const Unrolling* find_override(const MapperOptions& options, const std::string& name) {
  auto it = options.overrides.find(name);
  return it == options.overrides.end() ? nullptr : &it->second;
}

void check_unrolling(const LayerShape& layer, const ArrayShape& array, const Unrolling& u, const std::string& source) {
  if (auto violation = unrolling_violation(layer, array, u)) {
    throw_input_error(source, layer_location(layer),
                      "an unrolling <Tm,Tn,Tr,Tc,Ti,Tj> with every factor between 1 and its dimension, "
                      "Tm*Tr*Tc <= D_r = " +
                          std::to_string(array.rows) + " and Tn*Ti*Tj <= D_c = " + std::to_string(array.cols),
                      to_string(u) + ": " + *violation);
  }
}

// Exact best unrolling of one layer (see the header for the order and the pruning argument).
LayerMapping search_layer(const LayerShape& layer, const ArrayShape& array) {
  const CostModel model(layer, array);
  const std::vector<Triple> rows = row_triples(layer, array), cols = col_triples(layer, array);
  bool have_best = false;
  Score best_score;
  Unrolling best_u;
  Cost best_cost;
  auto consider = [&](const Unrolling& u) {
    if (have_best && model.passes(u) + model.fill() > best_score.cycles) return;
    if (have_best && model.lower_bound_cycles(u) > best_score.cycles) return;
    const Cost cost = model.evaluate(u);
    const Score s = score_of(cost);
    if (!have_best || s < best_score || (s == best_score && u < best_u)) {
      have_best = true;
      best_score = s;
      best_u = u;
      best_cost = cost;
    }
  };
  // Seed: cost the few tuples with the lowest bounds first. The optimum is usually among them, and a strong
  // incumbent early lets the bound skip almost everything in the full pass (memory stays O(kSeeds)).
  constexpr size_t kSeeds = 32;
  std::vector<std::pair<i64, Unrolling>> seeds;  // max-heap on (bound, tuple): the worst seed is on top
  for (const Triple& row : rows) {
    for (const Triple& col : cols) {
      const Unrolling u = combine(row, col);
      const std::pair<i64, Unrolling> candidate{model.lower_bound_cycles(u), u};
      if (seeds.size() < kSeeds) {
        seeds.push_back(candidate);
        std::push_heap(seeds.begin(), seeds.end());
      } else if (candidate < seeds.front()) {
        std::pop_heap(seeds.begin(), seeds.end());
        seeds.back() = candidate;
        std::push_heap(seeds.begin(), seeds.end());
      }
    }
  }
  for (const auto& seed : seeds) consider(seed.second);
  for (const Triple& row : rows)
    for (const Triple& col : cols) consider(combine(row, col));
  // Every valid layer has at least <1,1,1,1,1,1> on a valid array, so the search always finds one.
  return model.to_mapping(best_u, best_cost);
}

// ---- Chaining: dynamic programming over the layer sequence -----------------------------------------------
struct ChainState {
  Score total;    // best network score of layers 0..l ending in this <Tm,Tr,Tc>
  Unrolling u;    // this layer's unrolling on that best path
  Cost cost;      // its cost
  Triple prev{};  // previous layer's <Tm,Tr,Tc> on that path
};

std::vector<LayerMapping> map_chained(const std::vector<LayerShape>& layers, const ArrayShape& array,
                                      const MapperOptions& options) {
  const size_t L = layers.size();
  std::vector<std::map<Triple, ChainState>> dp(L);
  for (size_t l = 0; l < L; ++l) {
    const LayerShape& layer = layers[l];
    const CostModel model(layer, array);
    std::vector<Triple> rows, cols;
    if (const Unrolling* fixed = find_override(options, layer.name)) {
      check_unrolling(layer, array, *fixed, options.source);
      rows = {row_of(*fixed)};
      cols = {col_of(*fixed)};
    } else {
      rows = row_triples(layer, array);
      cols = col_triples(layer, array);
    }
    // This layer's <Tm,Tr,Tc> becomes the next layer's <Tn,Ti,Tj>: drop groupings the next layer cannot take.
    if (l + 1 < L) {
      const LayerShape& next = layers[l + 1];
      std::erase_if(rows, [&](const Triple& t) {
        return t[0] > next.N || t[1] > next.K || t[2] > next.K || i64{t[0]} * t[1] * t[2] > array.cols;
      });
    }
    for (const Triple& row : rows) {
      bool found = false;
      ChainState best;
      for (const Triple& col : cols) {
        Score base;
        if (l > 0) {
          auto it = dp[l - 1].find(col);
          if (it == dp[l - 1].end()) continue;
          base = it->second.total;
        }
        const Unrolling u = combine(row, col);
        if (found && base.cycles + model.lower_bound_cycles(u) > best.total.cycles) continue;
        const Cost cost = model.evaluate(u);
        const Score total = base + score_of(cost);
        if (!found || total < best.total || (total == best.total && u < best.u)) {
          found = true;
          best = ChainState{total, u, cost, col};
        }
      }
      if (found) dp[l][row] = best;
    }
    if (dp[l].empty()) {
      const std::string prev_name = l > 0 ? layers[l - 1].name : std::string();
      std::string expected = l > 0 ? "an unrolling whose <Tn,Ti,Tj> equals the <Tm,Tr,Tc> of the previous layer '" +
                                         prev_name + "' (FlexFlow chaining rule)"
                                   : "an unrolling whose <Tm,Tr,Tc> can be the <Tn,Ti,Tj> of the next layer '" +
                                         layers[1].name + "' (FlexFlow chaining rule)";
      std::string found =
          "none exists on a " + std::to_string(array.rows) + "x" + std::to_string(array.cols) + " array";
      if (find_override(options, layer.name) || (l > 0 && find_override(options, prev_name)) ||
          (l + 1 < L && find_override(options, layers[l + 1].name))) {
        found += " with the given overrides";
      }
      throw_input_error(options.source, layer_location(layer), expected, found);
    }
  }
  // Best final state, then walk the predecessors back.
  auto best_it = dp[L - 1].begin();
  for (auto it = dp[L - 1].begin(); it != dp[L - 1].end(); ++it) {
    const ChainState& s = it->second;
    const ChainState& b = best_it->second;
    if (s.total < b.total || (s.total == b.total && s.u < b.u)) best_it = it;
  }
  std::vector<LayerMapping> out(L);
  Triple key = best_it->first;
  for (size_t l = L; l-- > 0;) {
    const ChainState& s = dp[l].at(key);
    out[l] = CostModel(layers[l], array).to_mapping(s.u, s.cost);
    key = s.prev;
  }
  return out;
}

}  // namespace

// ---- Public API ---------------------------------------------------------------------------------------------

int ArrayShape::adder_stages() const {
  int stages = 0;
  while ((i64{1} << stages) < cols) ++stages;
  return stages;
}

int ArrayShape::fill_cycles() const { return multiplier_stages + adder_stages() + writeback_cycles; }

void validate_array_shape(const ArrayShape& a, const std::string& source) {
  // The search enumerates O(D log^2 D) groupings per side; 4096 keeps it bounded and is far beyond FlexFlow.
  constexpr int kMaxSide = 4096;
  auto check = [&](int value, int lo, int hi, const char* what) {
    if (value < lo || value > hi) {
      throw_input_error(source, "PE array",
                        std::string(what) + " between " + std::to_string(lo) + " and " + std::to_string(hi),
                        std::to_string(value));
    }
  };
  check(a.rows, 1, kMaxSide, "rows D_r");
  check(a.cols, 1, kMaxSide, "columns D_c");
  check(a.neuron_read_ports, 1, 1 << 24, "neuron buffer read ports (words/cycle)");
  check(a.kernel_read_ports, 1, 1 << 24, "kernel buffer read ports (words/cycle)");
  check(a.multiplier_stages, 0, 1 << 16, "multiplier pipeline stages");
  check(a.writeback_cycles, 0, 1 << 16, "write-back cycles");
  check(a.weight_local_words, 0, 1 << 30, "weight local store words per PE");
}

std::string to_string(const Unrolling& u) {
  return "<" + std::to_string(u.Tm) + "," + std::to_string(u.Tn) + "," + std::to_string(u.Tr) + "," +
         std::to_string(u.Tc) + "," + std::to_string(u.Ti) + "," + std::to_string(u.Tj) + ">";
}

std::optional<std::string> unrolling_violation(const LayerShape& layer, const ArrayShape& array, const Unrolling& u) {
  const std::array<std::tuple<const char*, int, const char*, int>, 6> factors{{{"Tm", u.Tm, "M", layer.M},
                                                                               {"Tn", u.Tn, "N", layer.N},
                                                                               {"Tr", u.Tr, "R", layer.R},
                                                                               {"Tc", u.Tc, "C", layer.C},
                                                                               {"Ti", u.Ti, "K", layer.K},
                                                                               {"Tj", u.Tj, "K", layer.K}}};
  for (const auto& [factor, value, dim, extent] : factors) {
    if (value < 1) return std::string(factor) + " = " + std::to_string(value) + " is below 1";
    if (value > extent) {
      return std::string(factor) + " = " + std::to_string(value) + " exceeds " + dim + " = " + std::to_string(extent);
    }
  }
  const i64 rows = i64{u.Tm} * u.Tr * u.Tc, cols = i64{u.Tn} * u.Ti * u.Tj;
  if (rows > array.rows) {
    return "Tm*Tr*Tc = " + std::to_string(rows) + " exceeds D_r = " + std::to_string(array.rows);
  }
  if (cols > array.cols) {
    return "Tn*Ti*Tj = " + std::to_string(cols) + " exceeds D_c = " + std::to_string(array.cols);
  }
  return std::nullopt;
}

LayerMapping evaluate_unrolling(const LayerShape& layer, const ArrayShape& array, const Unrolling& u,
                                const std::string& source) {
  validate_layer_shape(layer, source);
  validate_array_shape(array, source);
  check_unrolling(layer, array, u, source);
  const CostModel model(layer, array);
  return model.to_mapping(u, model.evaluate(u));
}

std::vector<Unrolling> valid_unrollings(const LayerShape& layer, const ArrayShape& array) {
  std::vector<Unrolling> out;
  const std::vector<Triple> rows = row_triples(layer, array), cols = col_triples(layer, array);
  for (const Triple& row : rows)
    for (const Triple& col : cols) out.push_back(combine(row, col));
  std::sort(out.begin(), out.end());
  return out;
}

LayerMapping map_layer(const LayerShape& layer, const ArrayShape& array, const MapperOptions& options) {
  validate_layer_shape(layer, options.source);
  validate_array_shape(array, options.source);
  if (const Unrolling* fixed = find_override(options, layer.name)) {
    return evaluate_unrolling(layer, array, *fixed, options.source);
  }
  return search_layer(layer, array);
}

std::vector<LayerMapping> map_network(const std::vector<LayerShape>& layers, const ArrayShape& array,
                                      const MapperOptions& options) {
  validate_array_shape(array, options.source);
  std::set<std::string> names;
  for (const LayerShape& layer : layers) {
    validate_layer_shape(layer, options.source);
    names.insert(layer.name);
  }
  for (const auto& [name, u] : options.overrides) {
    if (!names.count(name)) {
      throw_input_error(options.source, "mapping override '" + name + "'", "the name of a layer of the network",
                        "'" + name + "'", closest_match(name, names));
    }
  }
  if (layers.empty()) return {};
  if (options.chaining) return map_chained(layers, array, options);
  std::vector<LayerMapping> out;
  out.reserve(layers.size());
  for (const LayerShape& layer : layers) out.push_back(map_layer(layer, array, options));
  return out;
}

}  // namespace axsim::mapping
