#ifndef AUDITLEDGER_LEDGER_INTEGRITY_VERIFY_LOG_H_
#define AUDITLEDGER_LEDGER_INTEGRITY_VERIFY_LOG_H_

#include "absl/status/statusor.h"
#include "auditledger/v1/integrity_service.pb.h"
#include "ledger/store/event_log.h"

namespace auditledger::integrity {

// Reads every stored event and checks, from the bytes up: positions are
// gapless from 1; each event decodes and names its own position; each names
// the hash of the stored bytes before it; every stream's versions are
// gapless and the stream index points at exactly these events. Computes the
// Merkle root on the way (and at `tree_size` if given). The first problem
// found is reported, with its position; the check goes no further.
absl::StatusOr<v1::VerifyLedgerResponse> VerifyLog(const store::EventLog& log, uint64_t tree_size);

}  // namespace auditledger::integrity

#endif  // AUDITLEDGER_LEDGER_INTEGRITY_VERIFY_LOG_H_
