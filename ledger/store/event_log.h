#ifndef AUDITLEDGER_LEDGER_STORE_EVENT_LOG_H_
#define AUDITLEDGER_LEDGER_STORE_EVENT_LOG_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auditledger/v1/event.pb.h"
#include "auditledger/v1/ledger_service.pb.h"
#include "rocksdb/db.h"

// The append-only event log in RocksDB.
//
// Column families:
//   events    position (8 bytes, big-endian) -> serialized v1::Event
//   streams   stream '\0' version (8 bytes BE) -> position (8 bytes BE)
//   requests  caller '\0' request_id -> fingerprint (32) + CommandResponse
// plus one column family per projection (see projections/).
//
// Each event names the SHA-256 of the stored bytes of the event before it, so
// the log is a hash chain. Every write is synced (WAL fsync) before Commit
// returns. Positions are gapless and start at 1.
namespace auditledger::store {

struct LogOptions {
  // Tests and the benchmark may turn the sync off; ledgerd never does.
  bool sync = true;
  // For fault injection; nullptr means the default environment.
  rocksdb::Env* env = nullptr;
  // ledgerd's allocations are mostly the block cache and the memtables
  // (about 100 MiB of the 190-225 MiB resident at 1M events; its bound is
  // 256 MiB).
  size_t block_cache_bytes = 48 << 20;
  // All memtables together.
  size_t write_buffer_bytes = 64 << 20;
};

// An event as stored, with the hash of its stored bytes.
using LoggedEvent = v1::LoggedEvent;

std::string EncodePosition(uint64_t position);

// A failed read of stored data as a status to answer with: DATA_LOSS when
// RocksDB found it damaged (a checksum that fails), which no retry mends;
// UNAVAILABLE otherwise.
absl::Status ReadFailure(const rocksdb::Status& s, absl::string_view what = "");
uint64_t DecodePosition(absl::string_view bytes);

class EventLog {
 public:
  // Opens (creating if needed) the log in `dir`. Fails with
  // FAILED_PRECONDITION if another process holds the directory.
  static absl::StatusOr<std::unique_ptr<EventLog>> Open(const std::string& dir,
                                                        const LogOptions& options);
  // Opens an existing log (e.g. a backup) without changing it.
  static absl::StatusOr<std::unique_ptr<EventLog>> OpenReadOnly(const std::string& dir);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Writes staged by the single writer and committed atomically.
  class Batch {
   public:
    // Assigns the event its position and previous hash and stores it (the
    // batch keeps it, moved rather than copied, until it is committed);
    // returns it as stored.
    const v1::Event& Add(v1::Event event);
    void PutRequest(absl::string_view key, absl::string_view value);
    // The position the next added event will get.
    uint64_t next_position() const { return next_position_; }
    size_t size() const { return events_.size(); }
    // An event added to this batch and not yet committed, or nullptr.
    const v1::Event* Find(uint64_t position) const;

   private:
    friend class EventLog;
    Batch(EventLog* log, uint64_t next_position, std::string previous_hash);
    EventLog* log_;
    rocksdb::WriteBatch write_batch_;
    uint64_t next_position_;
    std::string previous_hash_;
    // Its events in order, from first_position_ (positions are gapless).
    uint64_t first_position_;
    std::deque<v1::Event> events_;
  };

  // Only one batch may be open at a time (one writer).
  Batch NewBatch();
  // Writes the batch durably. On failure nothing of it is visible and the
  // log refuses every later commit: a failed sync leaves the WAL in an
  // unknown state, and going on could open a hole.
  absl::Status Commit(Batch& batch);

  struct Head {
    uint64_t position = 0;
    std::string hash;  // of the event at `position`; zeros for an empty log
  };
  uint64_t head_position() const { return head_position_.load(); }
  std::string head_hash() const { return head().hash; }
  // Position and hash read together.
  Head head() const;

  // Reads one event; NOT_FOUND if there is none at `position`.
  absl::StatusOr<LoggedEvent> Read(uint64_t position) const;
  // The stored bytes of one event, as hashed; NOT_FOUND if there is none.
  absl::StatusOr<std::string> ReadStored(uint64_t position) const;
  // Up to `max` events from `from` on, in order.
  absl::Status ReadRange(uint64_t from, size_t max, std::vector<LoggedEvent>* out) const;
  // An event as stored: the position in its key, and its bytes.
  struct StoredEvent {
    uint64_t position = 0;
    std::string bytes;
  };
  // As ReadRange, but stopping after the event that brings their stored
  // bytes to `max_bytes`, and leaving the events undecoded (see DecodeInto):
  // a reader that goes through them one at a time holds the stored bytes
  // only, and decodes each into the same message.
  absl::Status ReadStoredRange(uint64_t from, size_t max, size_t max_bytes,
                               std::vector<StoredEvent>* out) const;
  // Decodes a stored event into `out`, reusing the memory `out` already
  // holds; with `with_hash`, also sets its hash. DATA_LOSS if the bytes do
  // not decode or are of a newer format than this ledgerd reads.
  absl::Status DecodeInto(const StoredEvent& stored, bool with_hash, LoggedEvent* out) const;
  // As DecodeInto, for a reader that needs only where the event is: sets
  // the event's position and format alone (the other fields are skipped,
  // not parsed), and its hash with `with_hash`. The same checks hold:
  // DATA_LOSS if the bytes are not a well-formed message or are of a newer
  // format.
  absl::Status DecodeHeaderInto(const StoredEvent& stored, bool with_hash, LoggedEvent* out) const;
  // Up to `max` events of `stream` with version >= from_version.
  absl::Status ReadStream(const std::string& stream, uint64_t from_version, size_t max,
                          std::vector<LoggedEvent>* out) const;
  // Calls `fn` with the position in each event's key and its stored bytes,
  // in key order from `from`, until it returns false. Meant for scans: it
  // reads ahead.
  // With `at`, as of that snapshot (as the two below).
  absl::Status ForEachStored(
      uint64_t from, const std::function<bool(uint64_t key_position, absl::string_view bytes)>& fn,
      const rocksdb::Snapshot* at = nullptr) const;
  // The position the stream index holds for (stream, version); NOT_FOUND if
  // none.
  absl::StatusOr<uint64_t> IndexedPosition(const std::string& stream, uint64_t version,
                                           const rocksdb::Snapshot* at = nullptr) const;
  // How many entries the stream index holds.
  absl::StatusOr<uint64_t> CountIndexed(const rocksdb::Snapshot* at = nullptr) const;
  // A snapshot of the database and the head as of it, taken together: the
  // snapshot holds every event up to the head (and perhaps a few appended
  // since, whose commit had not moved the head yet). Release it with
  // db()->ReleaseSnapshot.
  std::pair<const rocksdb::Snapshot*, Head> SnapshotWithHead() const;
  // The stored value for an idempotency key, if any.
  absl::StatusOr<std::optional<std::string>> GetRequest(absl::string_view key) const;

  // Blocks until head_position() >= position, the deadline passes, (with
  // `wake_on_close`) the log is closing, or `*cancel` is true when a
  // WakeWaiters() call comes. Returns whether the position was reached. The
  // read models pass false: commands in flight still complete while the
  // server shuts down, and the models follow them.
  bool WaitForPosition(uint64_t position, absl::Time deadline, bool wake_on_close = true,
                       const std::atomic<bool>* cancel = nullptr) const;
  // Has every waiter look at its `cancel` again (set it first).
  void WakeWaiters() const;
  // Wakes every waiter; later waits return at once.
  void BeginClose();
  bool closing() const;
  // Why the log could not be read to its end when opened (a damaged block
  // where its head is stored): its head is then the last event readable
  // from the start. OK when nothing stopped it.
  absl::Status damage_at_open() const;

  // For projections: their own column families in the same database.
  absl::StatusOr<rocksdb::ColumnFamilyHandle*> ColumnFamily(const std::string& name);
  absl::Status DropColumnFamily(const std::string& name);
  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* events_cf() const { return events_; }
  const rocksdb::WriteOptions& write_options() const { return write_options_; }

  // The hash of the stored bytes of an event.
  static std::string HashOf(absl::string_view stored_bytes);
  static std::string ZeroHash();

 private:
  EventLog() = default;
  absl::Status LoadHead();
  absl::Status open_damage_ ABSL_GUARDED_BY(mu_);
  static absl::Status FinishDecode(const StoredEvent& stored, bool decoded, bool with_hash,
                                   LoggedEvent* out);

  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::ColumnFamilyHandle* streams_ = nullptr;
  rocksdb::ColumnFamilyHandle* requests_ = nullptr;
  rocksdb::WriteOptions write_options_;
  rocksdb::ColumnFamilyOptions cf_options_;

  std::atomic<uint64_t> head_position_{0};
  mutable absl::Mutex mu_;
  std::string head_hash_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex cf_mu_;
};

}  // namespace auditledger::store

#endif  // AUDITLEDGER_LEDGER_STORE_EVENT_LOG_H_
