#ifndef AUDITLEDGER_PROJECTIONS_FOLD_H_
#define AUDITLEDGER_PROJECTIONS_FOLD_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "auditledger/v1/event.pb.h"
#include "auditledger/v1/query_service.pb.h"

// How events evolve the read models' views. Pure functions of their inputs,
// shared by every projection so that they agree on what an event means.
namespace auditledger::projections {

// Advances an action's view by one of its events.
void FoldAction(const v1::Event& event, v1::ActionView* view);

// Whether the event sets the text of one of its action's narratives (an
// update, or the correction of one).
bool ChangesNarrative(const v1::Event& event);
// Advances only an action's narratives, as FoldAction does: which event set
// each period's text (position, corrected_by), and with `with_texts` the
// texts, actors and times too.
void FoldNarratives(const v1::Event& event, v1::ActionView* view, bool with_texts);

// Advances a plan's view by a plan, recommendation or period event.
void FoldPlan(const v1::Event& event, v1::PlanView* view);

// Whether the event belongs to the plan's own view (plan, recommendation and
// period events) rather than to an action's.
bool IsPlanLevel(const v1::Event& event);

// "plans/x" for any resource name under plans/x.
std::string PlanOf(absl::string_view stream);
bool IsActionStream(absl::string_view stream);

// "status_changed", "update_recorded", ... (the event's payload field name).
std::string EventType(const v1::Event& event);

// The committee's view of one event. `before` is the action's view before
// the event (null for non-action events); `corrected` is the Change of the
// event a correction corrects (null otherwise).
v1::Change DescribeChange(const v1::Event& event, const v1::ActionView* before,
                          const v1::Change* corrected);
// As DescribeChange, into `out` (cleared first), reusing the memory it holds.
void DescribeChangeInto(const v1::Event& event, const v1::ActionView* before,
                        const v1::Change* corrected, v1::Change* out);

// Reads one event of the log by position.
using EventReader = std::function<absl::StatusOr<v1::Event>(uint64_t position)>;

// A change as the changes model stores it.
//
// A narrative update is stored as what its event does not say: its
// position and type, the event whose text it replaced (before_position) and
// its correction (corrected_by). Those are most of a plan's changes, and the
// rest of each, its texts above all, is in the log already. Every other
// change is stored whole. Returns the message to store: `change` itself, or
// `slim` filled in.
const v1::Change& StoredChange(const v1::Change& change, v1::Change* slim);
// Puts back what StoredChange left out, reading the events with `read`: a
// narrative update is described again from its event, with the text it
// replaced. DATA_LOSS if the events are not the narratives it names.
absl::Status CompleteChange(const EventReader& read, v1::Change* change);

// RAG and overdue as of `day` (see the Rag enum for the rule).
void Assess(v1::ActionView* view, absl::CivilDay day);

std::string StatusText(v1::ActionStatus status);  // "Complete", "Not started"

// What a change did, as a reader says it: "Not started → Complete",
// "September 2024 → December 2024", or the new value alone.
std::string ChangeText(const v1::Change& change);

// Who made a change, as a reader says it: "J Smith (jsmith)", or the
// principal id alone when the event recorded no other name.
std::string ActorText(const v1::Change& change);

}  // namespace auditledger::projections

#endif  // AUDITLEDGER_PROJECTIONS_FOLD_H_
