#ifndef AUDITLEDGER_PROJECTIONS_READ_MODELS_H_
#define AUDITLEDGER_PROJECTIONS_READ_MODELS_H_

#include <memory>
#include <string>
#include <vector>

#include "projections/projection.h"

// The read models, each a projection with a column family of its own.
//
// "current"   the state now:
//   'A' action                   -> ActionView
//   'P' plan                     -> PlanView (recommendations, periods)
// "changes"   who changed what, and every action's timeline:
//   'p' position                 -> Change
//   's' stream 0 position        -> ""   (timeline of a resource)
//   'a' actor 0 position         -> ""
//   'y' type 0 position          -> ""
//   'w' stream 0 effective_us position -> ""  (a resource's changes by
//   't' stream 0 recorded_us position  -> ""   either clock)
//   'v' action                   -> ActionView (for before-values)
// "temporal"  the state as of any moment, on both clocks:
//   'r' entity 0 recorded_us position  -> view after that event
//   'e' entity 0 effective_us position -> view of all events up to that
//                                         moment in effective order
//   'l' entity 0 position              -> Event (to re-fold back-dated ones)
// "merkle"    complete subtrees of the Merkle tree over the log
//   'n' level index              -> node hash
// An entity is an action (ActionView) or a plan (PlanView, which takes the
// plan's recommendation and period events). Positions and times are 8-byte
// big-endian so keys sort by them.
namespace auditledger::projections {

inline constexpr char kCurrent[] = "current";
inline constexpr char kChanges[] = "changes";
inline constexpr char kTemporal[] = "temporal";
inline constexpr char kMerkle[] = "merkle";

std::vector<std::unique_ptr<Projection>> DefaultProjections();

// Key builders shared by the projections and the query service.
std::string ActionKey(absl::string_view action);  // current
std::string PlanKey(absl::string_view plan);      // current
std::string ChangeKey(uint64_t position);         // changes
std::string IndexPrefix(char kind, absl::string_view value);  // changes 's' 'a' 'y'
// temporal: kind 'r' or 'e'.
std::string SnapshotPrefix(char kind, absl::string_view entity);
// merkle: 'n' level index -> hash of that complete subtree.
std::string MerkleNodeKey(int level, uint64_t index);
std::string SnapshotKey(char kind, absl::string_view entity, uint64_t micros,
                        uint64_t position);

}  // namespace auditledger::projections

#endif  // AUDITLEDGER_PROJECTIONS_READ_MODELS_H_
