// Any command, from any role, against a plan: decided or refused with a
// status, never a crash.
#include <cstddef>
#include <cstdint>

#include "absl/time/clock.h"
#include "auditledger/v1/ledger_service.pb.h"
#include "ledger/domain/decide.h"
#include "ledger/domain/plan_state.h"

namespace {

using auditledger::domain::Principal;
using auditledger::v1::Command;

auditledger::domain::PlanState Seeded() {
  auditledger::domain::PlanState state;
  state.plans["plans/p"].version = 1;
  state.recommendations["plans/p/recommendations/r1"].version = 1;
  auto& action = state.actions["plans/p/recommendations/r1/actions/a1"];
  action.version = 3;
  action.owner = "jsmith";
  action.status = auditledger::v1::ONGOING;
  state.periods["plans/p/periods/q1"] = {.version = 1, .title = "Q1", .open = true};
  return state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const auditledger::domain::PlanState state = Seeded();
  Command command;
  if (!command.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
  static const Principal principals[] = {{"admin", "A", auditledger::v1::ADMIN},
                                         {"jsmith", "J", auditledger::v1::OFFICER},
                                         {"cllr", "C", auditledger::v1::SCRUTINY}};
  const Principal& actor = principals[data[0] % 3];
  auditledger::domain::EventLookup lookup =
      [](uint64_t position) -> absl::StatusOr<auditledger::v1::Event> {
    if (position != 2) return absl::NotFoundError("none");
    auditledger::v1::Event e;
    e.set_stream("plans/p/recommendations/r1/actions/a1");
    e.set_position(2);
    e.mutable_update_recorded()->set_period("plans/p/periods/q1");
    e.mutable_update_recorded()->set_narrative("text");
    return e;
  };
  auditledger::domain::DecideContext context{actor, absl::Now(), lookup};
  auditledger::domain::StateTxn txn(state);
  absl::StatusOr<auditledger::v1::Event> event = auditledger::domain::Decide(txn, command, context);
  if (event.ok()) {
    if (event->stream().empty() || event->version() == 0) __builtin_trap();
    event->set_position(10);
    txn.Apply(*event);
  } else if (event.status().message().empty()) {
    __builtin_trap();  // every refusal says why
  }
  return 0;
}
