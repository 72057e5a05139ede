#ifndef AUDITLEDGER_LEDGER_SERVICE_SECURITY_LOG_H_
#define AUDITLEDGER_LEDGER_SERVICE_SECURITY_LOG_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "auditledger/v1/query_service.pb.h"
#include "grpcpp/support/server_interceptor.h"
#include "ledger/service/auth.h"
#include "ledger/store/event_log.h"

// Refused calls are audit evidence too: each is kept in the "security"
// column family (written through the WAL, not synced: a flood of bad tokens
// must not turn into a flood of fsyncs). The newest kMaxEntries are kept.
namespace auditledger::service {

class SecurityLog {
 public:
  static constexpr uint64_t kMaxEntries = 1'000'000;

  static absl::StatusOr<std::unique_ptr<SecurityLog>> Open(store::EventLog* log);

  void Record(v1::SecurityEvent event);
  // Entries with sequence >= from, oldest first, at most `max`.
  absl::Status List(uint64_t from, size_t max, std::vector<v1::SecurityEvent>* out) const;

 private:
  SecurityLog() = default;
  store::EventLog* log_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_ = nullptr;
  absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
};

// Records every call that ends UNAUTHENTICATED or PERMISSION_DENIED.
class SecurityLogInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  SecurityLogInterceptorFactory(SecurityLog* log, const Authenticator* auth)
      : log_(log), auth_(auth) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  SecurityLog* log_;
  const Authenticator* auth_;
};

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_SECURITY_LOG_H_
