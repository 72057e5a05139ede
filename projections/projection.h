#ifndef AUDITLEDGER_PROJECTIONS_PROJECTION_H_
#define AUDITLEDGER_PROJECTIONS_PROJECTION_H_

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auditledger/v1/event.pb.h"
#include "auditledger/v1/ledger_service.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace auditledger::store {
class EventLog;
}  // namespace auditledger::store

namespace auditledger::projections {

// The writes of one projection step, committed together with the new
// checkpoint. Its reads see the committed model, not the step's own writes
// (no ordered index of the step's keys is kept): a projection that needs
// what it wrote earlier in the step keeps it in memory, or asks for the
// event that needs it to be alone in its step (Projection::NeedsOwnStep).
class ProjectionTxn {
 public:
  // Writes go to `batch`, which the caller owns and passes in empty.
  ProjectionTxn(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, rocksdb::WriteBatch* batch)
      : db_(db), cf_(cf), batch_(batch) {}

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key);
  // Reads and parses a message; false when absent.
  absl::StatusOr<bool> GetMessage(absl::string_view key, google::protobuf::Message* message);
  void Put(absl::string_view key, absl::string_view value);
  void PutMessage(absl::string_view key, const google::protobuf::Message& message);
  void Delete(absl::string_view key);
  // An iterator over the committed model.
  std::unique_ptr<rocksdb::Iterator> NewIterator();

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  rocksdb::WriteBatch* batch_;
  std::string scratch_;  // PutMessage's serialization
};

// Where a projection's worker (re)starts.
struct ProjectionContext {
  const store::EventLog* log = nullptr;
  rocksdb::DB* db = nullptr;
  rocksdb::ColumnFamilyHandle* cf = nullptr;
  uint64_t position = 0;  // the last event the model holds; 0 for none
};

// A read model derived from the log. Apply must be a pure function of the
// events applied so far (no clock, no randomness, no other projection's
// state, and not where the runner's steps begin or end), so that a rebuild
// by replay gives the same bytes.
class Projection {
 public:
  virtual ~Projection() = default;
  virtual std::string name() const = 0;
  // Changes whenever the model's keys or values change meaning; a model of
  // another layout is dropped and built again from the log.
  virtual uint64_t layout() const { return 1; }
  // Whether Apply needs the hash of each event's stored bytes.
  virtual bool NeedsHash() const { return false; }
  // Whether Apply reads the event beyond its position. A projection that
  // does not is given an event with only its position and format set
  // (EventLog::DecodeHeaderInto); the bytes are checked as for a full
  // decode, and a bad event stops it all the same.
  virtual bool NeedsEvent() const { return true; }
  // Whether `event`, the next to apply, must be applied in a step of its
  // own: the events before it committed in an earlier step, none after it
  // in its step. For work that would otherwise read back the step's writes.
  virtual bool NeedsOwnStep(const v1::Event& event) const {
    (void)event;
    return false;
  }
  // Called before the first Apply and whenever the worker restarts: a
  // projection that keeps state in memory reloads it from its model as of
  // `context.position` (an empty model when it is 0).
  virtual absl::Status Open(const ProjectionContext& context) {
    (void)context;
    return absl::OkStatus();
  }
  // Called after the last Apply of a step, before the step is committed.
  virtual absl::Status Finish(ProjectionTxn& txn) {
    (void)txn;
    return absl::OkStatus();
  }
  // `logged` carries the event (its position and format alone without
  // NeedsEvent()),
  // and the hash of its stored bytes when NeedsHash().
  virtual absl::Status Apply(const v1::LoggedEvent& logged, ProjectionTxn& txn) = 0;
};

// The keys of `set` in order (pointers into it), for a projection that
// stages a step's writes in key order: the memtable then inserts each next
// to the one before (its insert hint) rather than searching its skip list
// from the top.
inline std::vector<const std::string*> SortedKeys(const absl::flat_hash_set<std::string>& set) {
  std::vector<const std::string*> keys;
  keys.reserve(set.size());
  for (const std::string& key : set) keys.push_back(&key);
  std::sort(keys.begin(), keys.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  return keys;
}

// Views a projection keeps in memory between steps: each is read from the
// model once and written back once per step, however many events touch it.
// At most `max_views` are kept after a step.
template <typename View>
class ViewCache {
 public:
  explicit ViewCache(size_t max_views) : max_views_(max_views) {}

  void Clear() {
    views_.clear();
    dirty_.clear();
  }

  // The view at `key` for changing (empty when the model has none yet).
  absl::StatusOr<View*> Mutable(ProjectionTxn& txn, const std::string& key) {
    auto it = views_.find(key);
    if (it == views_.end()) {
      View view;
      absl::StatusOr<bool> got = txn.GetMessage(key, &view);
      if (!got.ok()) return got.status();
      it = views_.emplace(key, std::move(view)).first;
    }
    dirty_.insert(key);
    return &it->second;
  }

  // Stages the views changed in this step, in key order (SortedKeys).
  void Flush(ProjectionTxn& txn) {
    for (const std::string* key : SortedKeys(dirty_)) txn.PutMessage(*key, views_.at(*key));
    dirty_.clear();
    if (views_.size() > max_views_) views_.clear();
  }

 private:
  size_t max_views_;
  absl::flat_hash_map<std::string, View> views_;
  absl::flat_hash_set<std::string> dirty_;
};

// Sortable key fragments.
std::string BigEndian64(uint64_t value);
uint64_t ReadBigEndian64(absl::string_view bytes);
// Appends `value` as a varint (protobuf's encoding), for blocks of entries.
void AppendVarint(uint64_t value, std::string* out);
uint64_t Micros(const google::protobuf::Timestamp& ts);

}  // namespace auditledger::projections

#endif  // AUDITLEDGER_PROJECTIONS_PROJECTION_H_
