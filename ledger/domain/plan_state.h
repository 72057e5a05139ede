#ifndef AUDITLEDGER_LEDGER_DOMAIN_PLAN_STATE_H_
#define AUDITLEDGER_LEDGER_DOMAIN_PLAN_STATE_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "auditledger/v1/event.pb.h"

// The write model: just enough current state to validate a command. It is
// rebuilt from the log at start and advanced by every appended event; the
// richer read models live in projections/.
namespace auditledger::domain {

struct PlanEntity {
  uint64_t version = 0;
  std::string title;
  int recommendations = 0;
  uint64_t since_us = 0;  // effective time of the event that created it
};

struct RecommendationEntity {
  uint64_t version = 0;
  int number = 0;
  uint64_t since_us = 0;  // effective time of the event that created it
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
  uint64_t owner_position = 0;
  // When each of those events took effect (a correction keeps the time of
  // the event it corrects): on the effective clock a change back-dated
  // before one of them is history, and that one's value still holds now.
  uint64_t description_us = 0;
  uint64_t target_date_us = 0;
  uint64_t status_us = 0;
  uint64_t owner_us = 0;
  uint64_t since_us = 0;  // effective time of the event that created it
};

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
