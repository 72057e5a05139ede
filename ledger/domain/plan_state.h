#ifndef AUDITLEDGER_LEDGER_DOMAIN_PLAN_STATE_H_
#define AUDITLEDGER_LEDGER_DOMAIN_PLAN_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "auditledger/v1/event.pb.h"

// The write model: just enough current state to validate a command. It is
// rebuilt from the log at start and advanced by every appended event; the
// richer read models live in projections/.
namespace auditledger::domain {

struct PlanEntity {
  uint64_t version = 0;
  std::string title;
  int recommendations = 0;
  // Each recommendation's number, to the first recommendation given it.
  absl::flat_hash_map<int, std::string> recommendation_numbers;
  uint64_t since_us = 0;  // effective time of the event that created it
  // Its closed periods: a change taking effect before one closed alters
  // what that period's report says when produced again (InClosedPeriods).
  struct Closed {
    std::string period;
    uint64_t closed_us = 0;
    uint64_t position = 0;  // of the close
  };
  std::vector<Closed> closed;
};

struct RecommendationEntity {
  uint64_t version = 0;
  int number = 0;
  uint64_t since_us = 0;  // effective time of the event that created it
};

// An action's narrative for one period as the state now shows it (the
// latest recorded update's, or its correction's), kept as a hash of its
// text: equal hashes are confirmed against the log (see DecideRecordUpdate).
struct NarrativeMark {
  std::string period;
  size_t text_hash = 0;
  uint64_t position = 0;      // the update that set it
  uint64_t corrected_by = 0;  // the correction whose text it is, if any
};

struct ActionEntity {
  uint64_t version = 0;
  std::string description;
  v1::TargetDate target_date;
  std::string owner;
  v1::ActionStatus status = v1::NOT_STARTED;
  // Positions of the events that set each current value, so that a
  // correction of that event changes the current value and a correction of
  // an older one only the history.
  uint64_t description_position = 0;
  uint64_t target_date_position = 0;
  uint64_t status_position = 0;
  // Of each field, the event whose value holds now on the effective clock
  // (the latest by effective time, then position), its time and its value:
  // a change back-dated before it is history there, which is worth a
  // warning (BehindALaterChange).
  struct EffectiveSetter {
    uint64_t position = 0;
    uint64_t us = 0;
    // Whether an event at (other_us, other_position) would hold instead.
    bool YieldsTo(uint64_t other_us, uint64_t other_position) const {
      return other_us > us || (other_us == us && other_position >= position);
    }
  };
  EffectiveSetter status_setter, target_date_setter, owner_setter, description_setter;
  v1::ActionStatus effective_status = v1::NOT_STARTED;
  v1::TargetDate effective_target_date;
  std::string effective_owner;
  uint64_t since_us = 0;                  // effective time of the event that created it
  std::vector<NarrativeMark> narratives;  // one a period it has an update in
  // Of each of its events corrected, the latest correction: what the event
  // says now, so that a correction to that is refused as changing nothing.
  absl::flat_hash_map<uint64_t, uint64_t> latest_correction;
};

size_t NarrativeHash(absl::string_view text);

struct PeriodEntity {
  uint64_t version = 0;
  std::string title;
  bool open = false;
  uint64_t since_us = 0;  // effective time of the event that created it
  // The latest-taking-effect update filed in it, which it cannot close
  // before: its effective time and position.
  uint64_t last_update_us = 0;
  uint64_t last_update_position = 0;
};

struct PlanState {
  absl::flat_hash_map<std::string, PlanEntity> plans;
  absl::flat_hash_map<std::string, RecommendationEntity> recommendations;
  absl::flat_hash_map<std::string, ActionEntity> actions;
  absl::flat_hash_map<std::string, PeriodEntity> periods;
};

// Copy-on-write layer over one table of the state.
template <typename T>
class Layer {
 public:
  explicit Layer(const absl::flat_hash_map<std::string, T>* base) : base_(base) {}

  const T* Find(const std::string& name) const {
    if (auto it = changed_.find(name); it != changed_.end()) return &it->second;
    if (auto it = base_->find(name); it != base_->end()) return &it->second;
    return nullptr;
  }
  T& Mutable(const std::string& name) {
    auto [it, inserted] = changed_.try_emplace(name);
    if (inserted) {
      if (auto b = base_->find(name); b != base_->end()) it->second = b->second;
    }
    return it->second;
  }
  void CommitTo(absl::flat_hash_map<std::string, T>& target) {
    for (auto& [name, value] : changed_) target[name] = std::move(value);
    changed_.clear();
  }

 private:
  const absl::flat_hash_map<std::string, T>* base_;
  absl::flat_hash_map<std::string, T> changed_;
};

// A moment in microseconds since the epoch, as the log keeps its times
// (none before 1970).
uint64_t Micros(const google::protobuf::Timestamp& ts);

// A transaction over the state: commands of one request are decided and
// applied here, and reach the state only when the request as a whole is
// accepted.
class StateTxn {
 public:
  explicit StateTxn(const PlanState& base)
      : plans(&base.plans),
        recommendations(&base.recommendations),
        actions(&base.actions),
        periods(&base.periods) {}

  // The current version of a stream (0 if it does not exist).
  uint64_t StreamVersion(const std::string& stream) const;

  // Advances the state by one event. The event must be valid for the state
  // (it was decided against it, or it was read back from the log).
  void Apply(const v1::Event& event);

  void CommitTo(PlanState& state) {
    plans.CommitTo(state.plans);
    recommendations.CommitTo(state.recommendations);
    actions.CommitTo(state.actions);
    periods.CommitTo(state.periods);
  }

  Layer<PlanEntity> plans;
  Layer<RecommendationEntity> recommendations;
  Layer<ActionEntity> actions;
  Layer<PeriodEntity> periods;
};

}  // namespace auditledger::domain

#endif  // AUDITLEDGER_LEDGER_DOMAIN_PLAN_STATE_H_
