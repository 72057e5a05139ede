#ifndef AUDITLEDGER_PROJECTIONS_TEMPORAL_H_
#define AUDITLEDGER_PROJECTIONS_TEMPORAL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auditledger/v1/event.pb.h"
#include "auditledger/v1/query_service.pb.h"
#include "projections/fold.h"
#include "projections/projection.h"
#include "rocksdb/db.h"

// The temporal model: each plan as of any moment, on both clocks.
//
// Instead of a copy of every view after every event, it keeps each plan's
// events in order on both clocks (keys only: the events stay in the log) and,
// every so many events, a checkpoint of the whole plan. A moment's state is
// the checkpoint before it with the few events after it folded in.
//
//   'k' plan                            -> ""   (the plans it has seen)
//   'x' plan 0 …                        -> blocks (recorded_us, position;
//                                            recorded order = log order;
//                                            projections/blocks.h), entries
//                                            marked dated
//   'e' plan 0 effective_us position    -> ""   (dated events only)
//   On the effective clock a plan's order is the 'x' entries of the events
//   that took effect when they were recorded merged with the 'e' entries
//   of the dated ones.
//   'R' plan 0 recorded_us position     -> PlanSnapshot after that event
//   'E' plan 0 effective_us position    -> PlanSnapshot of every event up to
//                                            that key in effective order, or
//                                            "" when it is the 'R' one of the
//                                            same key, byte for byte (as it
//                                            is while no event was dated)
//
// A back-dated event (effective before the newest one already applied)
// invalidates the effective checkpoints after it; they are dropped and made
// again from the one before it. Checkpoints fall every Cadence() index
// entries after the previous one, whatever the runner's step boundaries, so a
// rebuild writes the same bytes.
namespace auditledger::projections {

// A plan's views at one moment.
class PlanState {
 public:
  void Apply(const v1::Event& event);
  // Whether any of the plan's own events has been applied.
  bool exists() const { return plan_.max_position() > 0; }
  // The highest position of an event applied.
  uint64_t max_position() const;
  // Index entries between checkpoints of a state like this one.
  uint64_t Cadence() const;
  std::string Serialize() const;  // a deterministic PlanSnapshot
  absl::Status Parse(absl::string_view bytes);
  // Moves the views out as a snapshot (actions by name).
  v1::PlanSnapshot Release();

 private:
  v1::PlanView plan_;
  std::map<std::string, v1::ActionView> actions_;
};

inline constexpr uint64_t kWholeLedger = UINT64_MAX;

// The plan as of `micros` on the effective clock (`effective`) or the
// recorded one, as the ledger stood at position `known_at`: events after it
// are left out (a back-dated correction recorded since does not change what
// the ledger said then). A state that does not exist() when the plan did
// not exist yet. `it` iterates the temporal column family at a consistent
// snapshot.
absl::StatusOr<PlanState> PlanStateAsOf(rocksdb::Iterator& it, const EventReader& read,
                                        absl::string_view plan, uint64_t micros, bool effective,
                                        uint64_t known_at = kWholeLedger);

std::unique_ptr<Projection> NewTemporalProjection();

}  // namespace auditledger::projections

#endif  // AUDITLEDGER_PROJECTIONS_TEMPORAL_H_
