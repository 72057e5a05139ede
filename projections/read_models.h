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
//   'p' position                 -> Change (StoredChange: without a
//                                   narrative update's texts)
//   'a' actor 0 first_position   -> postings (the actor's changes)
//   'y' type 0 first_position    -> postings (the type's changes)
//   Postings: the positions after first_position in the block, each as a
//   varint of its distance from the one before; a block holds up to
//   kPostingBlock positions, and only the last block of a value grows.
//   't' stream 0 recorded_us position  -> "" or kDatedMark
//   'w' stream 0 effective_us position -> ""  (dated events only)
//   A resource's changes by either clock: on the recorded clock 't'; on
//   the effective clock the 't' entries of events that took effect when
//   they were recorded (value "") merged with the 'w' entries of dated
//   ones (value kDatedMark in 't'), whose effective time differs. The
//   recorded clock never goes back along the log, so 't' is also a
//   resource's timeline in log order.
//   'v' action                   -> ActionView (for before-values)
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

// The value of a 't' entry whose event is dated: it has a 'w' entry too.
inline constexpr char kDatedMark[] = "d";

std::vector<std::unique_ptr<Projection>> DefaultProjections();

// Key builders shared by the projections and the query service.
std::string ActionKey(absl::string_view action);  // current
std::string PlanKey(absl::string_view plan);      // current
std::string ChangeKey(uint64_t position);         // changes
// kind, value, 0: the prefix of an index's keys for one value.
std::string IndexPrefix(char kind, absl::string_view value);
// The positions of one posting list ('a' or 'y' of the changes model), in
// order, a block at a time. An index of one key a change would make the
// model's keys and its compactions a third more; blocks make them a key per
// kPostingBlock changes.
inline constexpr size_t kPostingBlock = 128;
// Appends `position` (after every position `block` holds) to a block's value.
void AppendPosting(uint64_t last, uint64_t position, std::string* block);
// The positions of a block whose key ends with `first` (8 bytes, big-endian).
absl::Status DecodePostings(absl::string_view first, absl::string_view block,
                            std::vector<uint64_t>* out);
class PostingCursor {
 public:
  // `it` iterates the changes model; `prefix` is IndexPrefix('a' or 'y', …).
  PostingCursor(std::unique_ptr<rocksdb::Iterator> it, std::string prefix)
      : it_(std::move(it)), prefix_(std::move(prefix)) {}
  // To the first position at or after `from`.
  absl::Status Seek(uint64_t from);
  bool Valid() const { return at_ < block_.size(); }
  uint64_t position() const { return block_[at_]; }
  absl::Status Next();

 private:
  // Decodes the block the iterator is at, if it is one of the prefix's.
  absl::Status Load();
  std::unique_ptr<rocksdb::Iterator> it_;
  std::string prefix_;
  std::vector<uint64_t> block_;
  size_t at_ = 0;
};

// merkle: 'n' level index -> hash of that complete subtree, stored from
// this level up (blocks of 8 events). A smaller subtree is hashed from its
// events, as the log holds them, when a proof needs it: so a proof reads at
// most 7 events of its block, and the model writes a key every 4 events
// rather than two an event.
inline constexpr int kMerkleLowestStoredLevel = 3;
std::string MerkleNodeKey(int level, uint64_t index);

}  // namespace auditledger::projections

#endif  // AUDITLEDGER_PROJECTIONS_READ_MODELS_H_
