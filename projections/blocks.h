#ifndef AUDITLEDGER_PROJECTIONS_BLOCKS_H_
#define AUDITLEDGER_PROJECTIONS_BLOCKS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "auditledger/v1/query_service.pb.h"
#include "projections/projection.h"
#include "rocksdb/db.h"

// Index lists in blocks. A read model's index of one key an entry (an
// actor's changes, an action's timeline, a plan's events in order) costs a
// memtable insert, and a share of every compaction, for each event; in
// blocks it costs one for every kBlockEntries.
//
// A list is a prefix's keys, each a block of up to kBlockEntries entries:
//   prefix time (8 bytes BE) position (8 bytes BE)   -> a full block
//   prefix kOpenBlock                                -> the list's last block
// A full block is keyed by its last entry, so a forward seek to an entry
// lands on the block that holds it: a list is read without stepping back,
// which costs a RocksDB iterator as much as a seek. The last block, the
// only one that grows, is rewritten in place at kOpenBlock, and is keyed by
// its last entry once it is full and the next entry comes.
//
// A block's value holds each of its entries: the first as a varint of its
// time and a varint of its position shifted left one bit, ORed with 1 for
// an entry marked dated; each next one likewise, but as its distances from
// the entry before. Entries are in (time, position) order, positions
// strictly increasing and below 2^63.
namespace auditledger::projections {

inline constexpr size_t kBlockEntries = 128;
// The key suffix of a list's last block: after every entry's.
inline constexpr char kOpenBlock[] =
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";

struct BlockEntry {
  uint64_t time = 0;  // 0 for a list ordered by position alone
  uint64_t position = 0;
  bool dated = false;
  // The 16 bytes a key (and a page token) carries for this entry.
  std::string Suffix() const;
  // The entry a Suffix() gives; none when `suffix` is not 16 bytes. Not
  // dated: the flag is in the block, not in the suffix.
  static std::optional<BlockEntry> FromSuffix(absl::string_view suffix);
};

// The entries of the block whose key ends with `suffix`, appended to `out`.
absl::Status DecodeBlock(absl::string_view suffix, absl::string_view value,
                         std::vector<BlockEntry>* out);

// Reads a list, a block at a time.
class BlockCursor {
 public:
  // `it` iterates the model (and outlives the cursor).
  BlockCursor(rocksdb::Iterator* it, std::string prefix) : it_(it), prefix_(std::move(prefix)) {}
  // To the first entry at or after (time, position).
  absl::Status Seek(uint64_t time, uint64_t position);
  bool Valid() const { return at_ < block_.size(); }
  const BlockEntry& entry() const { return block_[at_]; }
  absl::Status Next();

 private:
  // Decodes the block the iterator is at, if it is one of the prefix's.
  absl::Status Load();
  rocksdb::Iterator* it_;
  std::string prefix_;
  std::vector<BlockEntry> block_;
  size_t at_ = 0;
};

// A projection's writer of lists: it keeps each list's last block in memory
// and writes the blocks it changed once a step.
class BlockLists {
 public:
  // Holds at most `max_lists` lists after a step.
  explicit BlockLists(size_t max_lists) : max_lists_(max_lists) {}
  void Clear() {
    tails_.clear();
    dirty_.clear();
  }
  // Adds `entry`, after every entry the list under `prefix` holds. Reads
  // the list's last block from the model the first time it is touched: the
  // model as committed, which has every entry of it but this step's.
  absl::Status Add(ProjectionTxn& txn, const std::string& prefix, const BlockEntry& entry);
  // Stages the last blocks changed in this step, in key order (SortedKeys).
  void Flush(ProjectionTxn& txn);

 private:
  struct Tail {
    BlockEntry last;
    size_t count = 0;  // 0: the list has no block yet
    std::string value;
  };
  size_t max_lists_;
  absl::flat_hash_map<std::string, Tail> tails_;
  absl::flat_hash_set<std::string> dirty_;  // prefixes changed in this step
};

// The changes model's records, kChangesPerBlock to a key. Every event has
// one, so a block is a run of positions and its key says which:
//   'p' first position (8 bytes BE)  -> each record in turn, as a varint of
//                                       its length and its bytes (a Change)
// Position p is record (p - 1) % kChangesPerBlock of the block keyed by
// ChangeBlockKey(p). One key a block rather than one a record: a rebuild
// of 1M events had spent a third of the model's time putting a key an
// event into its memtable and flushing and compacting them.
inline constexpr uint64_t kChangesPerBlock = 16;

// The key of the block holding the record of `position` (1 or more).
std::string ChangeBlockKey(uint64_t position);
// The first position of a block, from its key; none when `key` is not one.
std::optional<uint64_t> ChangeBlockFirst(absl::string_view key);
// The records of the block keyed by first position `first`, appended to
// `out`: DATA_LOSS unless each decodes and holds its own position.
absl::Status DecodeChangeBlock(uint64_t first, absl::string_view value,
                               std::vector<v1::Change>* out);
// The record of `position` in the block holding it; false when the block
// is too short to hold it.
absl::StatusOr<bool> FindInChangeBlock(absl::string_view value, uint64_t position, v1::Change* out);

// The changes model's writer of records: it keeps the block being filled
// in memory and writes it once a step.
class ChangeBlocks {
 public:
  void Clear() {
    first_ = 0;
    count_ = 0;
    value_.clear();
    dirty_ = false;
  }
  // Readies the block that the record of `position`, the next after the
  // last the model holds, goes into: read from the model the first time (as
  // committed, which has every record before it). Call before a Replace or
  // Get of the same event, so that both see the block in memory.
  absl::Status Prepare(ProjectionTxn& txn, uint64_t position);
  // Appends the record of the position Prepare was given.
  void Add(uint64_t position, const v1::Change& record);
  // The record at an earlier `position`; false when there is none.
  absl::StatusOr<bool> Get(ProjectionTxn& txn, uint64_t position, v1::Change* out);
  // Rewrites the record at an earlier `position` (a corrected change): in
  // memory when its block is the one being filled, else at once.
  absl::Status Replace(ProjectionTxn& txn, uint64_t position, const v1::Change& record);
  // Stages the block being filled, if this step changed it.
  void Flush(ProjectionTxn& txn);

 private:
  uint64_t first_ = 0;  // the first position of the block in memory; 0 for none
  uint64_t count_ = 0;  // records it holds
  std::string value_;
  bool dirty_ = false;
};

}  // namespace auditledger::projections

#endif  // AUDITLEDGER_PROJECTIONS_BLOCKS_H_
