#ifndef AUDITLEDGER_LEDGER_SERVICE_GRPC_STATUS_H_
#define AUDITLEDGER_LEDGER_SERVICE_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace auditledger::service {

// Initial metadata on every answer of a ledgerd whose ledger failed its
// integrity check when it was opened: the first position found bad, in
// decimal. What such a ledgerd serves may not be what was recorded.
inline constexpr char kDamagedAtMetadata[] = "auditledger-damaged-at";

// absl and gRPC share the canonical code numbers.
inline grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_GRPC_STATUS_H_
