#ifndef AUDITLEDGER_LEDGER_SERVICE_INTEGRITY_SERVICE_H_
#define AUDITLEDGER_LEDGER_SERVICE_INTEGRITY_SERVICE_H_

#include "auditledger/v1/integrity_service.grpc.pb.h"
#include "ledger/integrity/checkpoint.h"
#include "ledger/service/auth.h"
#include "ledger/store/event_log.h"
#include "projections/runner.h"

namespace auditledger::service {

// Verification, signed checkpoints and Merkle proofs. Every role may ask:
// proving the ledger is intact is as much scrutiny's job as the admin's.
class IntegrityServiceImpl final : public v1::IntegrityService::Service {
 public:
  // `damaged_at`: where the log failed its integrity check when ledgerd
  // opened it (0 for nowhere); such a ledger signs no checkpoint.
  IntegrityServiceImpl(projections::ProjectionRunner* runner, store::EventLog* log,
                       const Authenticator* auth, const integrity::Signer* signer,
                       uint64_t damaged_at)
      : runner_(runner), log_(log), auth_(auth), signer_(signer), damaged_at_(damaged_at) {}

  grpc::Status VerifyLedger(grpc::ServerContext*, const v1::VerifyLedgerRequest*,
                            v1::VerifyLedgerResponse*) override;
  grpc::Status GetCheckpoint(grpc::ServerContext*, const v1::GetCheckpointRequest*,
                             v1::SignedCheckpoint*) override;
  grpc::Status GetInclusionProof(grpc::ServerContext*, const v1::GetInclusionProofRequest*,
                                 v1::InclusionProof*) override;
  grpc::Status GetConsistencyProof(grpc::ServerContext*, const v1::GetConsistencyProofRequest*,
                                   v1::ConsistencyProof*) override;

 private:
  projections::ProjectionRunner* runner_;
  store::EventLog* log_;
  const Authenticator* auth_;
  const integrity::Signer* signer_;
  const uint64_t damaged_at_;
};

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_INTEGRITY_SERVICE_H_
