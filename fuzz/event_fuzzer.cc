// Stored events are read back from disk, where they may have been altered:
// decoding them and folding them into every model must never crash.
#include <cstddef>
#include <cstdint>

#include "auditledger/v1/event.pb.h"
#include "ledger/domain/plan_state.h"
#include "projections/fold.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auditledger::v1::Event event;
  if (!event.ParseFromArray(data, static_cast<int>(size))) return 0;
  auditledger::domain::PlanState state;
  auditledger::domain::StateTxn txn(state);
  txn.Apply(event);
  txn.CommitTo(state);
  auditledger::v1::ActionView action;
  auditledger::projections::FoldAction(event, &action);
  auditledger::projections::FoldAction(event, &action);
  auditledger::v1::PlanView plan;
  auditledger::projections::FoldPlan(event, &plan);
  (void)auditledger::projections::DescribeChange(event, &action, nullptr);
  (void)auditledger::projections::PlanOf(event.stream());
  return 0;
}
