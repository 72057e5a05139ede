#include "ledger/service/security_log.h"

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "grpcpp/server_context.h"
#include "projections/projection.h"

namespace auditledger::service {
namespace {

class Interceptor final : public grpc::experimental::Interceptor {
 public:
  Interceptor(grpc::experimental::ServerRpcInfo* info, SecurityLog* log, const Authenticator* auth)
      : info_(info), log_(log), auth_(auth) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
          status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
        Record(status);
      }
    }
    methods->Proceed();
  }

 private:
  void Record(const grpc::Status& status) {
    v1::SecurityEvent event;
    const int64_t micros = absl::ToUnixMicros(absl::Now());
    event.mutable_time()->set_seconds(micros / 1000000);
    event.mutable_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
    event.set_method(info_->method());
    event.set_code(status.error_code() == grpc::StatusCode::UNAUTHENTICATED ? "UNAUTHENTICATED"
                                                                            : "PERMISSION_DENIED");
    event.set_reason(status.error_message());
    grpc::ServerContextBase* context = info_->server_context();
    if (context != nullptr) {
      event.set_peer(context->peer());
      const auto& metadata = context->client_metadata();
      if (auto it = metadata.find("authorization"); it != metadata.end()) {
        absl::string_view value(it->second.data(), it->second.size());
        if (absl::ConsumePrefix(&value, "Bearer ") || absl::ConsumePrefix(&value, "bearer ")) {
          // The token itself is never logged; only whom it names.
          std::optional<domain::Principal> who =
              auth_->IdentifyToken(absl::StripAsciiWhitespace(value));
          if (who.has_value()) {
            event.set_principal(who->id);
            event.set_role(who->role);
          }
        }
      }
    }
    log_->Record(std::move(event));
  }

  grpc::experimental::ServerRpcInfo* info_;
  SecurityLog* log_;
  const Authenticator* auth_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SecurityLog>> SecurityLog::Open(store::EventLog* log) {
  std::unique_ptr<SecurityLog> out(new SecurityLog());
  out->log_ = log;
  absl::StatusOr<rocksdb::ColumnFamilyHandle*> cf = log->ColumnFamily("security");
  if (!cf.ok()) return cf.status();
  out->cf_ = *cf;
  std::unique_ptr<rocksdb::Iterator> it(log->db()->NewIterator(rocksdb::ReadOptions(), *cf));
  it->SeekToLast();
  if (it->Valid() && it->key().size() == 8) {
    absl::MutexLock lock(&out->mu_);
    out->next_ =
        projections::ReadBigEndian64(absl::string_view(it->key().data(), it->key().size())) + 1;
  }
  return out;
}

void SecurityLog::Record(v1::SecurityEvent event) {
  absl::MutexLock lock(&mu_);
  event.set_sequence(next_);
  const std::string key = projections::BigEndian64(next_);
  rocksdb::WriteBatch batch;
  batch.Put(cf_, key, event.SerializeAsString());
  if (next_ > kMaxEntries && next_ % 1024 == 0) {
    batch.DeleteRange(cf_, projections::BigEndian64(0),
                      projections::BigEndian64(next_ - kMaxEntries));
  }
  rocksdb::WriteOptions options;  // WAL, no fsync (see the header)
  if (log_->db()->Write(options, &batch).ok()) ++next_;
}

absl::Status SecurityLog::List(uint64_t from, size_t max,
                               std::vector<v1::SecurityEvent>* out) const {
  std::unique_ptr<rocksdb::Iterator> it(log_->db()->NewIterator(rocksdb::ReadOptions(), cf_));
  for (it->Seek(projections::BigEndian64(from)); it->Valid() && out->size() < max; it->Next()) {
    v1::SecurityEvent event;
    if (event.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      out->push_back(std::move(event));
    }
  }
  if (!it->status().ok()) return absl::UnavailableError(it->status().ToString());
  return absl::OkStatus();
}

grpc::experimental::Interceptor* SecurityLogInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new Interceptor(info, log_, auth_);
}

}  // namespace auditledger::service
