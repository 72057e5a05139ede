#ifndef AUDITLEDGER_LEDGER_SERVICE_ADMIN_SERVICE_H_
#define AUDITLEDGER_LEDGER_SERVICE_ADMIN_SERVICE_H_

#include <string>

#include "absl/status/status.h"
#include "auditledger/v1/admin_service.grpc.pb.h"
#include "ledger/service/auth.h"
#include "ledger/store/event_log.h"

namespace auditledger::service {

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  AdminServiceImpl(store::EventLog* log, const Authenticator* auth, std::string backup_dir,
                   std::string signing_key)
      : log_(log),
        auth_(auth),
        backup_dir_(std::move(backup_dir)),
        signing_key_(std::move(signing_key)) {}

  grpc::Status CreateBackup(grpc::ServerContext*, const v1::CreateBackupRequest*,
                            v1::Backup*) override;

 private:
  store::EventLog* log_;
  const Authenticator* auth_;
  std::string backup_dir_;
  std::string signing_key_;
};

// The file in a backup that holds the signing key of the ledger it is of.
inline constexpr char kBackupSigningKey[] = "signing-key.pem";

// Copies a backup into a new data dir (which must not exist or be empty)
// and its signing key to `signing_key` (unless there is one), for `ledgerd
// --restore`. A data dir a ledgerd has open is refused.
absl::Status RestoreBackup(const std::string& from, const std::string& data_dir,
                           const std::string& signing_key);

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_ADMIN_SERVICE_H_
