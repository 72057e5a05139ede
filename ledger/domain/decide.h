#ifndef AUDITLEDGER_LEDGER_DOMAIN_DECIDE_H_
#define AUDITLEDGER_LEDGER_DOMAIN_DECIDE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "auditledger/v1/event.pb.h"
#include "auditledger/v1/ledger_service.pb.h"
#include "ledger/domain/plan_state.h"
#include "ledger/domain/principal.h"

// The rules of the plan: turns a command into the event it produces, or says
// precisely why it cannot.
namespace auditledger::domain {

// Reads an already decided event (from the log, or earlier in the same
// request) by position; NOT_FOUND when there is none.
using EventLookup = std::function<absl::StatusOr<v1::Event>(uint64_t)>;

// Whether `id` may own an action: OK, or INVALID_ARGUMENT saying why not
// (no such principal, not an officer, disabled). The message follows
// "owner: ".
using OwnerCheck = std::function<absl::Status(absl::string_view id)>;

struct DecideContext {
  const Principal& actor;
  absl::Time now;  // the server clock
  const EventLookup& lookup;
  // Null where no principals are known (the command fuzzer): any well-formed
  // id may then own an action.
  const OwnerCheck* owners = nullptr;
};

// Returns the event with its envelope filled in except for the fields the log
// assigns (event_id, position, recorded_at, previous_hash); effective_at is
// set only when the request gave one. Nothing is changed: the caller applies
// the event to `txn` once it accepts it.
absl::StatusOr<v1::Event> Decide(const StateTxn& txn, const v1::Command& command,
                                 const DecideContext& ctx);

// Advice on an event Decide gave, before it is applied: when it takes
// effect before the event that set the same field's value now (a change
// back-dated behind a later one), the state now shows it, but on the
// effective clock (as-of answers, reports) the later one's value still
// holds. None otherwise, and for an event not back-dated.
std::optional<std::string> BehindALaterChange(const StateTxn& txn, const v1::Event& event);
// Advice on an action's event (a back-dated change, a correction) that
// takes effect before one or more of its plan's periods closed: their
// reports, produced again, show it; as published they are had again at the
// position of their close. None otherwise.
std::optional<std::string> InClosedPeriods(const StateTxn& txn, const v1::Event& event);
// Advice on a target date (an added action's, a revision's, a correction's)
// that falls before its plan began on the effective clock: most likely a
// mistyped year, or a plan recorded without the date it was adopted.
std::optional<std::string> TargetBeforePlanBegan(const StateTxn& txn, const v1::Event& event);

// The checks on a request that need no state (field formats and limits).
// Decide runs them too; exposed for the batch check of ExecuteCommands.
absl::Status CheckRequestId(absl::string_view field, absl::string_view request_id);

absl::string_view StatusName(v1::ActionStatus status);  // "COMPLETE"

// The request_id of any command, "" when unset.
const std::string& CommandRequestId(const v1::Command& command);

}  // namespace auditledger::domain

#endif  // AUDITLEDGER_LEDGER_DOMAIN_DECIDE_H_
