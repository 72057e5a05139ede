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
//   'p' first position           -> a block of kChangesPerBlock records,
//                                   each a Change (StoredChange: a
//                                   narrative update without what its
//                                   event says); projections/blocks.h
//   'a' actor 0 …                -> blocks (the actor's changes, by
//                                   position; time 0)
//   'y' type 0 …                 -> blocks (the type's changes)
//   't' stream 0 …               -> blocks (recorded_us, position), entries
//                                   marked dated
//   'w' stream 0 effective_us position -> ""  (dated events only)
//   'v' action                   -> ActionView of narrative marks alone:
//                                   each period's narrative with the
//                                   position that set it and corrected_by,
//                                   no texts (a narrative update's
//                                   before_position)
//   'a', 'y' and 't' are lists in blocks (projections/blocks.h). A
//   resource's changes by either clock: on the recorded clock 't'; on the
//   effective clock the 't' entries of events that took effect when they
//   were recorded merged with the 'w' entries of dated ones, whose
//   effective time differs. The recorded clock never goes back along the
//   log, so 't' is also a resource's timeline in log order.
// "temporal"  each plan as of any moment, on both clocks (see temporal.h)
// "merkle"    complete subtrees of the Merkle tree over the log, of
//             2^kMerkleLowestStoredLevel leaves or more
//   'n' level index              -> node hash
// Positions and times are 8-byte big-endian so keys sort by them.
namespace auditledger::projections {

inline constexpr char kCurrent[] = "current";
inline constexpr char kChanges[] = "changes";
inline constexpr char kTemporal[] = "temporal";
inline constexpr char kMerkle[] = "merkle";

std::vector<std::unique_ptr<Projection>> DefaultProjections();

// Key builders shared by the projections and the query service.
std::string ActionKey(absl::string_view action);  // current
std::string PlanKey(absl::string_view plan);      // current
// kind, value, 0: the prefix of an index's keys for one value.
std::string IndexPrefix(char kind, absl::string_view value);
// merkle: 'n' level index -> hash of that complete subtree, stored from
// this level up (blocks of 8 events). A smaller subtree is hashed from its
// events, as the log holds them, when a proof needs it: so a proof reads at
// most 7 events of its block, and the model writes a key every 4 events
// rather than two an event.
inline constexpr int kMerkleLowestStoredLevel = 3;
std::string MerkleNodeKey(int level, uint64_t index);

}  // namespace auditledger::projections

#endif  // AUDITLEDGER_PROJECTIONS_READ_MODELS_H_
