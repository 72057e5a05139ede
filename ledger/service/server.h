#ifndef AUDITLEDGER_LEDGER_SERVICE_SERVER_H_
#define AUDITLEDGER_LEDGER_SERVICE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "ledger/engine/ledger.h"
#include "ledger/service/admin_service.h"
#include "ledger/service/auth.h"
#include "ledger/service/integrity_service.h"
#include "ledger/service/ledger_service.h"
#include "ledger/service/query_service.h"
#include "ledger/service/report_service.h"
#include "ledger/service/security_log.h"
#include "ledger/store/event_log.h"
#include "projections/runner.h"

namespace auditledger::service {

struct ServerOptions {
  std::string data_dir = "./ledger-data";
  std::string listen = "127.0.0.1:50051";
  std::string principals_path;
  // TLS: server certificate chain and key (PEM); with client_ca, clients
  // must present a certificate it signed (mutual TLS).
  std::string tls_cert, tls_key, client_ca;
  // Allows plaintext on an address other than loopback (e.g. behind a proxy
  // that terminates TLS).
  bool insecure_listen = false;
  // Ed25519 key signing checkpoints; created when absent. Default: the data
  // dir's path + ".signing-key.pem".
  std::string signing_key;
  // Where CreateBackup writes. Default: the data dir's path + "-backups".
  std::string backup_dir;
  // A backup to copy into data_dir (which must not exist) before starting.
  std::string restore_from;
  // Projections to drop and rebuild from the log at start ("all" or a name).
  std::string rebuild;
  // Threads the read models' workers share; 0 for one a core.
  size_t projection_threads = 0;
  // Grace period for in-flight calls on shutdown.
  absl::Duration shutdown_grace = absl::Seconds(10);
};

// Everything ledgerd runs: the log, the writer, the gRPC services (ours,
// grpc.health.v1 and server reflection).
class LedgerServer {
 public:
  static absl::StatusOr<std::unique_ptr<LedgerServer>> Start(const ServerOptions& options);
  ~LedgerServer();

  // The address actually bound (the port resolved when :0 was asked for).
  const std::string& address() const { return address_; }
  uint64_t chain_break_at_open() const { return ledger_->chain_break_at_open(); }

  absl::Status ReloadPrincipals() { return auth_->Reload(); }

  // Stops accepting calls, lets in-flight ones finish (bounded by the grace
  // period), stops the writer and closes RocksDB.
  void Shutdown();

 private:
  // Start, but for its removal of what a failed start of a new data dir
  // created.
  static absl::StatusOr<std::unique_ptr<LedgerServer>> StartOn(
      const ServerOptions& options, const std::string& key_path,
      std::shared_ptr<grpc::ServerCredentials> credentials);
  LedgerServer() = default;
  ServerOptions options_;
  std::string address_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<engine::Ledger> ledger_;
  std::unique_ptr<projections::ProjectionRunner> projections_;
  std::unique_ptr<LedgerServiceImpl> ledger_service_;
  std::unique_ptr<SecurityLog> security_log_;
  std::unique_ptr<QueryServiceImpl> query_service_;
  std::unique_ptr<ReportServiceImpl> report_service_;
  std::unique_ptr<integrity::Signer> signer_;
  std::unique_ptr<IntegrityServiceImpl> integrity_service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<class CallbackQueueTicker> ticker_;
  bool shut_down_ = false;
};

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_SERVER_H_
