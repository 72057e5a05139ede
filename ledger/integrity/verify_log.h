#ifndef AUDITLEDGER_LEDGER_INTEGRITY_VERIFY_LOG_H_
#define AUDITLEDGER_LEDGER_INTEGRITY_VERIFY_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "auditledger/v1/integrity_service.pb.h"
#include "ledger/store/event_log.h"

namespace auditledger::integrity {

// Reads every stored event and checks, from the bytes up: positions are
// gapless from 1; each event decodes and names its own position; each names
// the hash of the stored bytes before it; every stream's versions are
// gapless and the stream index points at exactly these events. Computes the
// Merkle root on the way (and at `tree_size` if given). Then that no read
// model in `models` (name, position applied; taken before the call, while
// the head was no further) has applied an event past the log's end: events
// lost from the end leave no gap to find. The first problem found is
// reported, with its position; the check goes no further.
absl::StatusOr<v1::VerifyLedgerResponse> VerifyLog(
    const store::EventLog& log, uint64_t tree_size,
    const std::vector<std::pair<std::string, uint64_t>>& models = {});

}  // namespace auditledger::integrity

#endif  // AUDITLEDGER_LEDGER_INTEGRITY_VERIFY_LOG_H_
