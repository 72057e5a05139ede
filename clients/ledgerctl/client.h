#ifndef AUDITLEDGER_CLIENTS_LEDGERCTL_CLIENT_H_
#define AUDITLEDGER_CLIENTS_LEDGERCTL_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "auditledger/v1/admin_service.grpc.pb.h"
#include "auditledger/v1/integrity_service.grpc.pb.h"
#include "auditledger/v1/ledger_service.grpc.pb.h"
#include "auditledger/v1/query_service.grpc.pb.h"
#include "auditledger/v1/report_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace auditledger::ledgerctl {

// Exit codes: each failure class its own, so scripts can tell them apart.
enum ExitCode : int {
  kOk = 0,
  kFailure = 1,      // anything not below
  kUsage = 2,        // wrong flags or arguments
  kAuth = 3,         // no, bad or insufficient credentials
  kNotFound = 4,     // no such plan, action, period or event
  kConflict = 5,     // already exists, version conflict, rule refused it
  kUnavailable = 6,  // ledgerd not reachable, or too slow
  kInvalid = 7,      // bad input data (a field, a CSV file)
  kTampered = 8,     // verification failed: the ledger is not what it was
};

// Where and as whom: flags beat environment (LEDGER_ADDR, LEDGER_TOKEN,
// LEDGER_PLAN, LEDGER_CA), which beats the config file.
struct Connection {
  std::string addr = "127.0.0.1:50051";
  std::string token;
  std::string plan;
  std::string ca;                       // PEM file: connect with TLS when set
  std::string client_cert, client_key;  // PEM files, for mutual TLS
  absl::Duration timeout = absl::Seconds(30);
};

class Client {
 public:
  explicit Client(const Connection& connection);
  std::unique_ptr<grpc::ClientContext> Context() const;
  v1::LedgerService::Stub& ledger() { return *ledger_; }
  v1::QueryService::Stub& query() { return *query_; }
  v1::IntegrityService::Stub& integrity() { return *integrity_; }
  const Connection& connection() const { return connection_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

 private:
  Connection connection_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::LedgerService::Stub> ledger_;
  std::unique_ptr<v1::QueryService::Stub> query_;
  std::unique_ptr<v1::IntegrityService::Stub> integrity_;
};

// A failure as the user sees it: a one-line message and an exit code.
struct Failure {
  int code = kFailure;
  std::string message;
};

// Maps a gRPC failure to an exit code and a message an officer can act on.
Failure FromGrpc(const grpc::Status& status, const Connection& connection);
int ExitCodeFor(absl::StatusCode code);

// The first position found bad, when an answer of this run came from a
// ledgerd whose ledger failed its integrity check when opened; else 0.
uint64_t DamagedAt();

}  // namespace auditledger::ledgerctl

#endif  // AUDITLEDGER_CLIENTS_LEDGERCTL_CLIENT_H_
