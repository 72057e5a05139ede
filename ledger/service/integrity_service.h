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
  IntegrityServiceImpl(projections::ProjectionRunner* runner, store::EventLog* log,
                       const Authenticator* auth, const integrity::Signer* signer)
      : runner_(runner), log_(log), auth_(auth), signer_(signer) {}

  grpc::Status VerifyLedger(grpc::ServerContext*, const v1::VerifyLedgerRequest*,
                            v1::VerifyLedgerResponse*) override;
  grpc::Status GetCheckpoint(grpc::ServerContext*, const v1::GetCheckpointRequest*,
                             v1::SignedCheckpoint*) override;
  grpc::Status GetInclusionProof(grpc::ServerContext*, const v1::GetInclusionProofRequest*,
                                 v1::InclusionProof*) override;
  grpc::Status GetConsistencyProof(grpc::ServerContext*,
                                   const v1::GetConsistencyProofRequest*,
                                   v1::ConsistencyProof*) override;

 private:
  projections::ProjectionRunner* runner_;
  store::EventLog* log_;
  const Authenticator* auth_;
  const integrity::Signer* signer_;
};

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_INTEGRITY_SERVICE_H_
