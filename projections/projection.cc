#include "projections/projection.h"

#include <cassert>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "ledger/domain/plan_state.h"
#include "ledger/store/event_log.h"

namespace auditledger::projections {
namespace {
rocksdb::Slice S(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
}  // namespace

absl::StatusOr<std::optional<std::string>> ProjectionTxn::Get(absl::string_view key) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_, S(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return store::ReadFailure(s, "projection read");
  return value;
}

absl::StatusOr<bool> ProjectionTxn::GetMessage(absl::string_view key,
                                               google::protobuf::Message* message) {
  absl::StatusOr<std::optional<std::string>> value = Get(key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return false;
  if (!message->ParseFromString(**value)) {
    return absl::DataLossError("projection value does not decode");
  }
  return true;
}

void ProjectionTxn::Put(absl::string_view key, absl::string_view value) {
  rocksdb::Status s = batch_->Put(cf_, S(key), S(value));
  // Fails only past WriteBatch's 4 GiB limit, which a bounded step never
  // nears.
  assert(s.ok());
  (void)s;
}

void ProjectionTxn::PutMessage(absl::string_view key, const google::protobuf::Message& message) {
  // Deterministic bytes: a rebuild must reproduce them exactly. The
  // scratch string keeps its capacity from one message to the next.
  scratch_.clear();
  {
    google::protobuf::io::StringOutputStream stream(&scratch_);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  Put(key, scratch_);
}

void ProjectionTxn::Delete(absl::string_view key) {
  rocksdb::Status s = batch_->Delete(cf_, S(key));
  assert(s.ok());
  (void)s;
}

std::unique_ptr<rocksdb::Iterator> ProjectionTxn::NewIterator() {
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(rocksdb::ReadOptions(), cf_));
}

std::string BigEndian64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

uint64_t ReadBigEndian64(absl::string_view bytes) {
  uint64_t out = 0;
  for (unsigned char c : bytes.substr(0, 8)) out = (out << 8) | c;
  return out;
}

void AppendVarint(uint64_t value, std::string* out) {
  uint8_t bytes[10];  // the longest varint of 64 bits
  uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(value, bytes);
  out->append(reinterpret_cast<const char*>(bytes), static_cast<size_t>(end - bytes));
}

uint64_t Micros(const google::protobuf::Timestamp& ts) { return domain::Micros(ts); }

}  // namespace auditledger::projections
