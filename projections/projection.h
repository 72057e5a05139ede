#ifndef AUDITLEDGER_PROJECTIONS_PROJECTION_H_
#define AUDITLEDGER_PROJECTIONS_PROJECTION_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auditledger/v1/event.pb.h"
#include "auditledger/v1/ledger_service.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/utilities/write_batch_with_index.h"

namespace auditledger::projections {

// The writes of one projection step: reads see the step's own writes, and
// everything is committed together with the new checkpoint.
class ProjectionTxn {
 public:
  ProjectionTxn(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf)
      : db_(db), cf_(cf), batch_(rocksdb::BytewiseComparator(), 0, true) {}

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key);
  // Reads and parses a message; false when absent.
  absl::StatusOr<bool> GetMessage(absl::string_view key,
                                  google::protobuf::Message* message);
  void Put(absl::string_view key, absl::string_view value);
  void PutMessage(absl::string_view key, const google::protobuf::Message& message);
  void Delete(absl::string_view key);
  // An iterator over the column family as this step sees it.
  std::unique_ptr<rocksdb::Iterator> NewIterator();

  rocksdb::WriteBatchWithIndex& batch() { return batch_; }
  size_t pending_bytes() { return batch_.GetWriteBatch()->GetDataSize(); }

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  rocksdb::WriteBatchWithIndex batch_;
};

// A read model derived from the log. Apply must be a pure function of the
// events applied so far (no clock, no randomness, no other projection's
// state), so that a rebuild by replay gives the same bytes.
class Projection {
 public:
  virtual ~Projection() = default;
  virtual std::string name() const = 0;
  // `logged` carries the event and the hash of its stored bytes.
  virtual absl::Status Apply(const v1::LoggedEvent& logged, ProjectionTxn& txn) = 0;
};

// Sortable key fragments.
std::string BigEndian64(uint64_t value);
uint64_t ReadBigEndian64(absl::string_view bytes);
uint64_t Micros(const google::protobuf::Timestamp& ts);

}  // namespace auditledger::projections

#endif  // AUDITLEDGER_PROJECTIONS_PROJECTION_H_
