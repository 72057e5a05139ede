#ifndef AUDITLEDGER_LEDGER_SERVICE_MODEL_READER_H_
#define AUDITLEDGER_LEDGER_SERVICE_MODEL_READER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "auditledger/v1/query_service.pb.h"
#include "grpcpp/server_context.h"
#include "ledger/service/auth.h"
#include "ledger/store/event_log.h"
#include "projections/runner.h"
#include "projections/temporal.h"

// Reading the read models: one consistent snapshot per call, and the
// questions the query and report services both ask of it.
namespace auditledger::service {

// Authenticates the caller (any role) and waits, within the call's deadline
// (at most 30 s), until the read models have applied `min_position`.
absl::Status AuthenticateAndWait(const Authenticator& auth,
                                 const projections::ProjectionRunner& runner,
                                 grpc::ServerContext* context, uint64_t min_position);

class ModelReader {
 public:
  explicit ModelReader(projections::ProjectionRunner* runner);
  ~ModelReader();

  // Parses the value at `key` of `projection`; false when absent.
  absl::StatusOr<bool> Get(const char* projection, absl::string_view key,
                           google::protobuf::Message* message);
  absl::StatusOr<std::optional<std::string>> GetRaw(const char* projection, absl::string_view key);
  std::unique_ptr<rocksdb::Iterator> Iterator(const char* projection);
  // One iterator of `projection` that the reader keeps and hands out again
  // (at its snapshot, valid while the reader lives), for a caller that
  // seeks many times: a report seeks each action's changes, and a new
  // iterator each time had cost more than the seeks. A user seeks before
  // reading and does not keep it past its own use.
  rocksdb::Iterator* Reused(const char* projection);
  // An event of the log, read at the same snapshot; DATA_LOSS if the log
  // has none at `position`.
  absl::StatusOr<v1::Event> ReadEvent(uint64_t position);
  // Its bytes as stored (and hashed).
  absl::StatusOr<std::string> ReadStored(uint64_t position);
  // The change at `position` of the changes model, with what it leaves to
  // the log read back (projections::CompleteChange); false when absent.
  absl::StatusOr<bool> GetChange(uint64_t position, v1::Change* change);
  // The change as the model stores it (projections::StoredChange).
  absl::StatusOr<bool> GetStoredChange(uint64_t position, v1::Change* change);
  // The same for a change read from the model's own iterator.
  absl::Status Complete(v1::Change* change);

 private:
  projections::ProjectionRunner* runner_;
  absl::ReaderMutexLock lock_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions options_;
  // Released before the snapshot.
  absl::flat_hash_map<std::string, std::unique_ptr<rocksdb::Iterator>> reused_;
  // GetStoredChange's: the block it read last (lists often name the changes
  // of one block in turn), keyed by its first position (0: none).
  uint64_t change_block_ = 0;
  std::optional<std::string> change_block_value_;
  // ReadStored's: the log at `events_at_` (0: not at an event it read), and
  // the position last read well (0: none, or the iterator's read failed).
  std::unique_ptr<rocksdb::Iterator> events_;
  uint64_t events_at_ = 0;
  uint64_t last_read_ = 0;
};

// A moment a request asks about: INVALID_ARGUMENT naming `field` unless it
// is from 1970-01-01 to 9999-12-31 (google.protobuf.Timestamp's own upper
// bound) with nanos in [0, 999,999,999]. Its microseconds then fit the
// read models' 64-bit keys.
absl::Status CheckTimestamp(absl::string_view field, const google::protobuf::Timestamp& t);

// The bound a request's `ledger_position` puts on what it reads: the whole
// ledger for 0; else OUT_OF_RANGE past the log's head, or the position once
// the read models have reached it. Call after AuthenticateAndWait.
absl::StatusOr<uint64_t> KnownAt(const store::EventLog& log,
                                 const projections::ProjectionRunner& runner,
                                 grpc::ServerContext* context, uint64_t ledger_position);

absl::CivilDay DayOf(uint64_t micros);  // UTC

void FillPeriodTitles(const v1::PlanView& plan, v1::ActionView* action);

absl::StatusOr<v1::PlanView> LoadPlan(ModelReader& reader, const std::string& name);

// The plan and its actions as of `micros` on `clock`, with RAG assessed as
// of that day, as the ledger stood at position `known_at` (events after it
// left out). NOT_FOUND if the plan did not exist then.
absl::StatusOr<v1::PlanSnapshot> SnapshotOf(ModelReader& reader, const std::string& plan_name,
                                            uint64_t micros, v1::Clock clock,
                                            uint64_t known_at = projections::kWholeLedger);

// (time on the clock, position) of a change.
using ChangeEntry = std::pair<uint64_t, uint64_t>;

// The changes to `stream` that took effect (or, on the recorded clock, were
// recorded) after `after_us` and at or before `until_us`, oldest first; at
// most the latest `max`, with how many earlier ones were left out. Changes
// after position `known_at` are left out, as if not yet recorded.
// With `dated`, the changes of the stream's dated events are those, from
// DatedChangesUnder, rather than read for this one stream.
absl::StatusOr<std::vector<v1::Change>> StreamChangesBetween(
    ModelReader& reader, const std::string& stream, v1::Clock clock, uint64_t after_us,
    uint64_t until_us, size_t max, uint64_t* left_out,
    uint64_t known_at = projections::kWholeLedger, const std::vector<ChangeEntry>* dated = nullptr);

// The changes of dated events (effective at another time than recorded)
// of every resource under `parent` (a plan) that took effect after
// `after_us` and at or before `until_us`, at positions up to `known_at`, by
// resource and in effective order: what StreamChangesBetween reads of
// each, for a caller that asks about many. Resources without dated events
// cost nothing.
absl::StatusOr<absl::flat_hash_map<std::string, std::vector<ChangeEntry>>> DatedChangesUnder(
    ModelReader& reader, const std::string& parent, uint64_t after_us, uint64_t until_us,
    uint64_t known_at = projections::kWholeLedger);

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_MODEL_READER_H_
