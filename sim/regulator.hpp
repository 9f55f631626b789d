// Voltage regulator: applies a VoltageSchedule (semantics in sim/schedule.hpp) to the voltage domains.
// Time-triggered settings are sc_events at their simulated times; inference- and layer-triggered settings
// are applied when the controller crosses those boundaries. Whenever the voltage in force of a domain
// changes, the listeners of that domain (SRAM buffers: fault rate and access energy; the ledger's leakage
// powers; the crossbar's supply) are told at once, so every access after the change sees the new level.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <systemc>
#include <vector>

#include "sim/schedule.hpp"

namespace axsim::sim {

struct VoltageEvent {
  std::uint64_t trial = 0;
  double time_s = 0;           // simulated time since the trial started
  std::int64_t inference = 0;  // inference running (or about to run) when it took effect
  std::string layer;           // layer running, if any
  VoltageDomain domain = VoltageDomain::logic;
  double volts = 0;
};

class VoltageRegulator : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(VoltageRegulator);
  VoltageRegulator(sc_core::sc_module_name name, const VoltageSchedule& schedule,
                   const std::vector<std::string>& layer_names, double nominal_volts);

  using Listener = std::function<void(double volts)>;
  void add_listener(VoltageDomain domain, Listener listener);

  // A new chip: every domain back to nominal, then the schedule's untriggered entries; timed entries are
  // armed relative to now. Calls every listener.
  void begin_trial(std::uint64_t trial);
  // Before inference `index` (0-based within the trial) / layer `layer` (network layer index) runs: apply
  // the settings triggered there. Returns the stall the controller must wait (settling time, if any voltage
  // in force changed).
  // `now` is the caller's current (possibly temporally decoupled) time, recorded in the event log.
  sc_core::sc_time enter_inference(std::uint64_t index, const sc_core::sc_time& now);
  // A layer's per-layer level holds until the next layer starts (the rail is not toggled for the I/O between).
  sc_core::sc_time enter_layer(int layer, const sc_core::sc_time& now);
  // Apply timed settings whose effect time is <= now (the controller calls it after synchronizing).
  void apply_due(const sc_core::sc_time& now);
  // Absolute simulated time of the next timed setting's effect (sc_max_time() if none).
  sc_core::sc_time next_change() const;

  double voltage(VoltageDomain domain) const { return in_force_[std::size_t(domain)]; }
  const std::vector<VoltageEvent>& events() const { return events_; }
  std::uint64_t changes() const { return changes_; }
  // Only the first `limit` events are kept (a long schedule over many trials would grow without bound).
  void set_event_limit(std::size_t limit) { event_limit_ = limit; }

 private:
  struct DomainState {
    double base = 0;
    std::map<int, double> per_layer;  // network layer index -> volts
  };
  struct Timed {
    sc_core::sc_time effect;
    VoltageDomain domain;
    const ScheduleEntry* entry;
  };
  void apply(VoltageDomain domain, const ScheduleEntry& entry);
  // Recompute the voltages in force; notify listeners of domains that changed. Returns true if any changed.
  bool refresh(const sc_core::sc_time& now);
  void on_timer();

  const VoltageSchedule& schedule_;
  std::map<std::string, int> layer_index_;
  double nominal_;
  std::array<DomainState, kVoltageDomainCount> state_;
  std::array<double, kVoltageDomainCount> in_force_{};
  std::array<std::vector<Listener>, kVoltageDomainCount> listeners_;
  std::vector<Timed> timed_;  // of the current trial, by effect time
  std::size_t next_timed_ = 0;
  sc_core::sc_event timer_;
  sc_core::sc_time trial_start_;
  std::uint64_t trial_ = 0;
  std::int64_t inference_ = -1;
  int layer_ = -1;
  std::vector<std::string> layer_names_;
  std::vector<VoltageEvent> events_;
  std::size_t event_limit_ = 10000;
  std::uint64_t changes_ = 0;
};

}  // namespace axsim::sim
