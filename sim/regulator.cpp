#include "sim/regulator.hpp"

#include <algorithm>

namespace axsim::sim {

using sc_core::sc_time;

VoltageRegulator::VoltageRegulator(sc_core::sc_module_name name, const VoltageSchedule& schedule,
                                   const std::vector<std::string>& layer_names, double nominal_volts)
    : sc_core::sc_module(name), schedule_(schedule), nominal_(nominal_volts), layer_names_(layer_names) {
  for (std::size_t i = 0; i < layer_names.size(); ++i) layer_index_[layer_names[i]] = int(i);
  in_force_.fill(nominal_volts);
  SC_METHOD(on_timer);
  sensitive << timer_;
  dont_initialize();
}

void VoltageRegulator::add_listener(VoltageDomain domain, Listener listener) {
  listeners_[std::size_t(domain)].push_back(std::move(listener));
}

void VoltageRegulator::apply(VoltageDomain domain, const ScheduleEntry& entry) {
  DomainState& s = state_[std::size_t(domain)];
  if (entry.voltage) s.base = *entry.voltage;
  if (entry.layers) {
    s.per_layer.clear();
    for (const auto& lv : *entry.layers) s.per_layer[layer_index_.at(lv.layer)] = lv.volts;
  }
}

bool VoltageRegulator::refresh(const sc_time& now) {
  bool any = false;
  for (int d = 0; d < kVoltageDomainCount; ++d) {
    const DomainState& s = state_[std::size_t(d)];
    double v = s.base;
    if (layer_ >= 0) {
      auto it = s.per_layer.find(layer_);
      if (it != s.per_layer.end()) v = it->second;
    }
    if (v == in_force_[std::size_t(d)]) continue;
    in_force_[std::size_t(d)] = v;
    any = true;
    ++changes_;
    for (auto& l : listeners_[std::size_t(d)]) l(v);
    if (events_.size() < event_limit_) {
      events_.push_back(VoltageEvent{trial_, (now - trial_start_).to_seconds(), inference_,
                                     layer_ >= 0 ? layer_names_[std::size_t(layer_)] : std::string(), VoltageDomain(d),
                                     v});
    }
  }
  return any;
}

void VoltageRegulator::begin_trial(std::uint64_t trial) {
  trial_ = trial;
  trial_start_ = sc_core::sc_time_stamp();
  inference_ = -1;
  layer_ = -1;
  timed_.clear();
  next_timed_ = 0;
  timer_.cancel();
  for (int d = 0; d < kVoltageDomainCount; ++d) {
    state_[std::size_t(d)] = DomainState{nominal_, {}};
    for (const auto& e : schedule_.entries(VoltageDomain(d))) {
      if (e.trigger == ScheduleEntry::Trigger::start) apply(VoltageDomain(d), e);
      if (e.trigger == ScheduleEntry::Trigger::time)
        timed_.push_back(
            Timed{trial_start_ + sc_time(e.at_s + schedule_.settling_s, sc_core::SC_SEC), VoltageDomain(d), &e});
    }
  }
  std::stable_sort(timed_.begin(), timed_.end(), [](const Timed& a, const Timed& b) { return a.effect < b.effect; });
  // Tell every listener the starting level (a new chip may follow a trial that ended undervolted).
  in_force_.fill(-1.0);
  refresh(trial_start_);
  if (!timed_.empty()) timer_.notify(timed_.front().effect - sc_core::sc_time_stamp());
}

sc_time VoltageRegulator::enter_inference(std::uint64_t index, const sc_time& now) {
  inference_ = std::int64_t(index);
  for (int d = 0; d < kVoltageDomainCount; ++d)
    for (const auto& e : schedule_.entries(VoltageDomain(d)))
      if (e.trigger == ScheduleEntry::Trigger::inference && e.after == index) apply(VoltageDomain(d), e);
  return refresh(now) ? sc_time(schedule_.settling_s, sc_core::SC_SEC) : sc_core::SC_ZERO_TIME;
}

sc_time VoltageRegulator::enter_layer(int layer, const sc_time& now) {
  layer_ = layer;
  return refresh(now) ? sc_time(schedule_.settling_s, sc_core::SC_SEC) : sc_core::SC_ZERO_TIME;
}

void VoltageRegulator::apply_due(const sc_time& now) {
  bool applied = false;
  while (next_timed_ < timed_.size() && timed_[next_timed_].effect <= now) {
    apply(timed_[next_timed_].domain, *timed_[next_timed_].entry);
    ++next_timed_;
    applied = true;
  }
  if (applied) refresh(now);
}

sc_time VoltageRegulator::next_change() const {
  return next_timed_ < timed_.size() ? timed_[next_timed_].effect : sc_core::sc_max_time();
}

void VoltageRegulator::on_timer() {
  apply_due(sc_core::sc_time_stamp());
  if (next_timed_ < timed_.size()) timer_.notify(timed_[next_timed_].effect - sc_core::sc_time_stamp());
}

}  // namespace axsim::sim
