#include "ledger/domain/decide.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "ledger/domain/limits.h"
#include "ledger/domain/names.h"
#include "ledger/domain/target_date.h"

namespace auditledger::domain {

absl::string_view RoleName(v1::Role role) {
  switch (role) {
    case v1::ADMIN:
      return "admin";
    case v1::OFFICER:
      return "officer";
    case v1::SCRUTINY:
      return "scrutiny";
    default:
      return "none";
  }
}

absl::string_view StatusName(v1::ActionStatus status) {
  switch (status) {
    case v1::NOT_STARTED:
      return "NOT_STARTED";
    case v1::ONGOING:
      return "ONGOING";
    case v1::COMPLETE:
      return "COMPLETE";
    case v1::PAUSED:
      return "PAUSED";
    case v1::STOPPED:
      return "STOPPED";
    default:
      return "UNSPECIFIED";
  }
}

namespace {

std::string UtcText(uint64_t micros) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixMicros(static_cast<int64_t>(micros)), absl::UTCTimeZone());
}

absl::CivilDay UtcDay(uint64_t micros) {
  return absl::ToCivilDay(absl::FromUnixMicros(static_cast<int64_t>(micros)), absl::UTCTimeZone());
}

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// Text a person typed: valid length, no control characters other than line
// breaks and tabs where several lines make sense.
absl::Status CheckText(absl::string_view field, absl::string_view value, size_t max_bytes,
                       bool required, bool multiline) {
  if (value.size() > max_bytes) {
    return Invalid(field,
                   absl::StrCat("too long (", value.size(), " bytes; at most ", max_bytes, ")"));
  }
  if (required && absl::StripAsciiWhitespace(value).empty()) {
    return Invalid(field, "required");
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      bool allowed = multiline && (c == '\n' || c == '\r' || c == '\t');
      if (!allowed) {
        return Invalid(
            field, absl::StrCat("contains control character 0x", absl::Hex(c, absl::kZeroPad2)));
      }
    }
  }
  return absl::OkStatus();
}

// An owner is an officer the ledger knows, so that an action never belongs
// to someone who cannot update it.
absl::Status CheckOwner(const DecideContext& ctx, absl::string_view owner) {
  if (ctx.owners == nullptr || owner.empty()) return absl::OkStatus();
  absl::Status s = (*ctx.owners)(owner);
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("owner: ", s.message()));
}

bool IsKnownStatus(v1::ActionStatus s) { return s >= v1::NOT_STARTED && s <= v1::STOPPED; }

// The fields every command carries. Fills the envelope from them.
template <typename Request>
absl::Status ApplyCommon(const Request& req, const DecideContext& ctx, v1::Event* event) {
  if (absl::Status s = CheckRequestId("request_id", req.request_id()); !s.ok()) return s;
  if (absl::Status s = CheckText("reason", req.reason(), kMaxReasonBytes, false, true); !s.ok())
    return s;
  if (req.has_expected_version() && req.expected_version() < 0) {
    return Invalid("expected_version", "must not be negative");
  }
  if (req.has_effective_time()) {
    const auto& t = req.effective_time();
    if (t.nanos() < 0 || t.nanos() > 999'999'999 || t.seconds() < 0) {
      return Invalid("effective_time", "not a valid timestamp");
    }
    absl::Time effective = absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
    if (effective > ctx.now) {
      return Invalid("effective_time", absl::StrCat("is in the future (",
                                                    absl::FormatTime(absl::RFC3339_full, effective,
                                                                     absl::UTCTimeZone()),
                                                    "); only the past can be recorded"));
    }
    // The log keeps microseconds.
    event->mutable_effective_at()->set_seconds(t.seconds());
    event->mutable_effective_at()->set_nanos(t.nanos() / 1000 * 1000);
  }
  event->mutable_actor()->set_id(ctx.actor.id);
  event->mutable_actor()->set_role(ctx.actor.role);
  if (!ctx.actor.name.empty() && ctx.actor.name != ctx.actor.id) {
    event->mutable_actor()->set_name(ctx.actor.name);
  }
  event->set_reason(req.reason());
  event->set_request_id(req.request_id());
  return absl::OkStatus();
}

absl::Status RequireReason(const v1::Event& event, absl::string_view what) {
  if (absl::StripAsciiWhitespace(event.reason()).empty()) {
    return Invalid("reason", absl::StrCat("required to ", what));
  }
  return absl::OkStatus();
}

template <typename Request>
absl::Status CheckVersion(const Request& req, const std::string& stream, uint64_t actual) {
  if (req.has_expected_version() && static_cast<uint64_t>(req.expected_version()) != actual) {
    return absl::AbortedError(absl::StrCat("expected_version: ", stream, " is at version ", actual,
                                           ", not the expected ", req.expected_version(),
                                           "; read it again and retry"));
  }
  return absl::OkStatus();
}

absl::Status RequireAdmin(const DecideContext& ctx, absl::string_view what) {
  if (ctx.actor.role != v1::ADMIN) {
    return absl::PermissionDeniedError(absl::StrCat(ctx.actor.id, " (", RoleName(ctx.actor.role),
                                                    ") may not ", what, ": only an admin may"));
  }
  return absl::OkStatus();
}

// Officers change only the actions they own; admins any; scrutiny none.
absl::Status RequireActionWriter(const DecideContext& ctx, const std::string& name,
                                 const ActionEntity& action) {
  if (ctx.actor.role == v1::ADMIN) return absl::OkStatus();
  if (ctx.actor.role == v1::OFFICER && action.owner == ctx.actor.id) {
    return absl::OkStatus();
  }
  if (ctx.actor.role == v1::OFFICER) {
    return absl::PermissionDeniedError(
        absl::StrCat(ctx.actor.id, " (officer) may not change ", name, ": it is owned by ",
                     action.owner.empty() ? "nobody yet" : action.owner,
                     "; officers change only the actions they own"));
  }
  return absl::PermissionDeniedError(
      absl::StrCat(ctx.actor.id, " (", RoleName(ctx.actor.role), ") may not change ", name));
}

// Looks up an action named in `field` and checks the caller may change it.
absl::StatusOr<const ActionEntity*> FindWritableAction(const StateTxn& txn,
                                                       const DecideContext& ctx,
                                                       absl::string_view field,
                                                       const std::string& name) {
  absl::StatusOr<ResourceName> parsed = ParseNameOf(Kind::kAction, field, name);
  if (!parsed.ok()) return parsed.status();
  const ActionEntity* action = txn.actions.Find(name);
  if (action == nullptr) {
    return absl::NotFoundError(absl::StrCat(field, ": action ", name, " not found"));
  }
  if (absl::Status s = RequireActionWriter(ctx, name, *action); !s.ok()) return s;
  return action;
}

absl::Status RejectIfStopped(const std::string& name, const ActionEntity& action,
                             absl::string_view what) {
  if (action.status == v1::STOPPED) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, " is STOPPED: cannot ", what, "; reopen it first (status ONGOING with a reason)"));
  }
  return absl::OkStatus();
}

// Allowed status transitions; `reason_for` says when a reason is required.
absl::Status CheckTransition(v1::ActionStatus from, v1::ActionStatus to, const v1::Event& event) {
  auto refuse = [&](absl::string_view why) {
    return absl::FailedPreconditionError(absl::StrCat(
        "status: cannot change from ", StatusName(from), " to ", StatusName(to), ": ", why));
  };
  if (from == to) return refuse("it is already so");
  if (to == v1::NOT_STARTED) return refuse("an action cannot be un-started");
  if (from == v1::STOPPED) {
    if (to != v1::ONGOING) {
      return refuse("a STOPPED action can only be reopened (to ONGOING)");
    }
    return RequireReason(event, "reopen a STOPPED action");
  }
  if (from == v1::COMPLETE) {
    if (to != v1::ONGOING) {
      return refuse("a COMPLETE action can only be reopened (to ONGOING)");
    }
    return RequireReason(event, "reopen a COMPLETE action");
  }
  if (to == v1::PAUSED) return RequireReason(event, "pause an action");
  if (to == v1::STOPPED) return RequireReason(event, "stop an action");
  return absl::OkStatus();
}

absl::StatusOr<v1::Event> DecideCreatePlan(const StateTxn& txn, const v1::CreatePlanRequest& req,
                                           const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  if (absl::Status s = CheckId("plan_id", req.plan_id()); !s.ok()) return s;
  if (absl::Status s = CheckText("title", req.title(), kMaxTitleBytes, true, false); !s.ok())
    return s;
  if (absl::Status s = CheckText("council", req.council(), kMaxTitleBytes, false, false); !s.ok())
    return s;
  if (absl::Status s =
          CheckText("description", req.description(), kMaxDescriptionBytes, false, true);
      !s.ok())
    return s;
  if (absl::Status s = RequireAdmin(ctx, "create a plan"); !s.ok()) return s;
  const std::string name = PlanName(req.plan_id());
  const uint64_t version = txn.StreamVersion(name);
  if (absl::Status s = CheckVersion(req, name, version); !s.ok()) return s;
  if (txn.plans.Find(name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("plan_id: plan ", name, " already exists"));
  }
  event.set_stream(name);
  event.set_version(1);
  auto* created = event.mutable_plan_created();
  created->set_title(req.title());
  created->set_council(req.council());
  created->set_description(req.description());
  return event;
}

absl::StatusOr<v1::Event> DecideAddRecommendation(const StateTxn& txn,
                                                  const v1::AddRecommendationRequest& req,
                                                  const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  absl::StatusOr<ResourceName> parent = ParseNameOf(Kind::kPlan, "parent", req.parent());
  if (!parent.ok()) return parent.status();
  if (absl::Status s = CheckId("recommendation_id", req.recommendation_id()); !s.ok()) return s;
  if (req.number() < 1 || req.number() > kMaxRecommendationNumber) {
    return Invalid("number", absl::StrCat("must be between 1 and ", kMaxRecommendationNumber));
  }
  if (absl::Status s = CheckText("title", req.title(), kMaxTitleBytes, true, false); !s.ok())
    return s;
  if (absl::Status s = CheckText("text", req.text(), kMaxRecommendationTextBytes, false, true);
      !s.ok())
    return s;
  if (absl::Status s = RequireAdmin(ctx, "add a recommendation"); !s.ok()) return s;
  const PlanEntity* plan = txn.plans.Find(req.parent());
  if (plan == nullptr) {
    return absl::NotFoundError(absl::StrCat("parent: plan ", req.parent(), " not found"));
  }
  const std::string name = RecommendationName(parent->plan, req.recommendation_id());
  if (absl::Status s = CheckVersion(req, name, txn.StreamVersion(name)); !s.ok()) return s;
  if (auto taken = plan->recommendation_numbers.find(req.number());
      taken != plan->recommendation_numbers.end() && taken->second != name) {
    return absl::AlreadyExistsError(absl::StrCat("number: recommendation ", req.number(),
                                                 " of the plan is ", taken->second,
                                                 "; each has its own number"));
  }
  if (txn.recommendations.Find(name) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("recommendation_id: recommendation ", name, " already exists"));
  }
  event.set_stream(name);
  event.set_version(1);
  auto* added = event.mutable_recommendation_added();
  added->set_number(req.number());
  added->set_title(req.title());
  added->set_text(req.text());
  return event;
}

absl::StatusOr<v1::Event> DecideAddAction(const StateTxn& txn, const v1::AddActionRequest& req,
                                          const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  absl::StatusOr<ResourceName> parent = ParseNameOf(Kind::kRecommendation, "parent", req.parent());
  if (!parent.ok()) return parent.status();
  if (absl::Status s = CheckId("action_id", req.action_id()); !s.ok()) return s;
  if (absl::Status s =
          CheckText("description", req.description(), kMaxDescriptionBytes, true, true);
      !s.ok())
    return s;
  auto* added = event.mutable_action_added();
  if (!req.target_date().empty()) {
    absl::StatusOr<v1::TargetDate> date = ParseTargetDate("target_date", req.target_date());
    if (!date.ok()) return date.status();
    *added->mutable_target_date() = *date;
  }
  if (absl::Status s = CheckPrincipalId("owner", req.owner()); !s.ok()) return s;
  v1::ActionStatus status =
      req.status() == v1::ACTION_STATUS_UNSPECIFIED ? v1::NOT_STARTED : req.status();
  if (!IsKnownStatus(status)) {
    return Invalid("status", absl::StrCat("unknown status ", req.status()));
  }
  if (absl::Status s = RequireAdmin(ctx, "add an action"); !s.ok()) return s;
  if (absl::Status s = CheckOwner(ctx, req.owner()); !s.ok()) return s;
  if (txn.recommendations.Find(req.parent()) == nullptr) {
    return absl::NotFoundError(absl::StrCat("parent: recommendation ", req.parent(), " not found"));
  }
  const std::string name = ActionName(parent->plan, parent->recommendation, req.action_id());
  if (absl::Status s = CheckVersion(req, name, txn.StreamVersion(name)); !s.ok()) return s;
  if (txn.actions.Find(name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("action_id: action ", name, " already exists"));
  }
  if (status == v1::PAUSED || status == v1::STOPPED) {
    if (absl::Status s =
            RequireReason(event, absl::StrCat("add an action as ", StatusName(status)));
        !s.ok())
      return s;
  }
  event.set_stream(name);
  event.set_version(1);
  added->set_description(req.description());
  added->set_owner(req.owner());
  added->set_status(status);
  return event;
}

absl::StatusOr<v1::Event> DecideChangeStatus(const StateTxn& txn,
                                             const v1::ChangeActionStatusRequest& req,
                                             const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  if (req.status() == v1::ACTION_STATUS_UNSPECIFIED) {
    return Invalid("status", "required");
  }
  if (!IsKnownStatus(req.status())) {
    return Invalid("status", absl::StrCat("unknown status ", req.status()));
  }
  absl::StatusOr<const ActionEntity*> action = FindWritableAction(txn, ctx, "name", req.name());
  if (!action.ok()) return action.status();
  if (absl::Status s = CheckVersion(req, req.name(), (*action)->version); !s.ok()) return s;
  if (absl::Status s = CheckTransition((*action)->status, req.status(), event); !s.ok()) return s;
  event.set_stream(req.name());
  event.set_version((*action)->version + 1);
  event.mutable_status_changed()->set_from((*action)->status);
  event.mutable_status_changed()->set_to(req.status());
  return event;
}

// Whether the narrative `mark` stands for is `text` now: equal hashes are
// confirmed against the text in the log, the update's or its correction's.
absl::StatusOr<bool> SaysNow(const NarrativeMark& mark, const std::string& text,
                             const DecideContext& ctx) {
  if (mark.text_hash != NarrativeHash(text)) return false;
  absl::StatusOr<v1::Event> setting =
      ctx.lookup(mark.corrected_by != 0 ? mark.corrected_by : mark.position);
  if (!setting.ok()) return setting.status();
  return (setting->has_event_corrected() ? setting->event_corrected().narrative()
                                         : setting->update_recorded().narrative()) == text;
}

absl::StatusOr<v1::Event> DecideRecordUpdate(const StateTxn& txn,
                                             const v1::RecordUpdateRequest& req,
                                             const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  if (absl::Status s = CheckText("narrative", req.narrative(), kMaxNarrativeBytes, true, true);
      !s.ok())
    return s;
  absl::StatusOr<ResourceName> period = ParseNameOf(Kind::kPeriod, "period", req.period());
  if (!period.ok()) return period.status();
  absl::StatusOr<const ActionEntity*> action = FindWritableAction(txn, ctx, "name", req.name());
  if (!action.ok()) return action.status();
  absl::StatusOr<ResourceName> action_name = ParseName("name", req.name());
  if (period->plan != action_name->plan) {
    return Invalid("period", absl::StrCat(req.period(), " belongs to another plan"));
  }
  const PeriodEntity* p = txn.periods.Find(req.period());
  if (p == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("period: reporting period ", req.period(), " not found"));
  }
  if (absl::Status s = CheckVersion(req, req.name(), (*action)->version); !s.ok()) return s;
  if (!p->open) {
    return absl::FailedPreconditionError(
        absl::StrCat("period: reporting period ", req.period(), " (", p->title,
                     ") is closed; updates go into an open period"));
  }
  if (absl::Status s = RejectIfStopped(req.name(), **action, "record an update"); !s.ok()) return s;
  // The narrative the period has now, again: an event that changes nothing,
  // as a status set to what it is would be. Equal hashes are confirmed
  // against the text in the log.
  for (const NarrativeMark& mark : (*action)->narratives) {
    if (mark.period != req.period()) continue;
    absl::StatusOr<bool> same = SaysNow(mark, req.narrative(), ctx);
    if (!same.ok()) return same.status();
    if (*same) {
      return absl::FailedPreconditionError(
          absl::StrCat("narrative: ", req.name(), " already has this narrative for ", req.period(),
                       " (", EventName(mark.corrected_by != 0 ? mark.corrected_by : mark.position),
                       "); nothing to record"));
    }
  }
  event.set_stream(req.name());
  event.set_version((*action)->version + 1);
  event.mutable_update_recorded()->set_period(req.period());
  event.mutable_update_recorded()->set_narrative(req.narrative());
  return event;
}

absl::StatusOr<v1::Event> DecideReviseTarget(const StateTxn& txn,
                                             const v1::ReviseTargetDateRequest& req,
                                             const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  absl::StatusOr<v1::TargetDate> date = ParseTargetDate("target_date", req.target_date());
  if (!date.ok()) return date.status();
  absl::StatusOr<const ActionEntity*> action = FindWritableAction(txn, ctx, "name", req.name());
  if (!action.ok()) return action.status();
  if (absl::Status s = CheckVersion(req, req.name(), (*action)->version); !s.ok()) return s;
  if (absl::Status s = RejectIfStopped(req.name(), **action, "revise its target date"); !s.ok())
    return s;
  if (absl::Status s = RequireReason(event, "revise a target date"); !s.ok()) return s;
  if (SameTargetDate((*action)->target_date, *date)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "target_date: ", req.name(), " already has target date ", FormatTargetDate(*date)));
  }
  event.set_stream(req.name());
  event.set_version((*action)->version + 1);
  auto* revised = event.mutable_target_date_revised();
  if (IsSet((*action)->target_date)) {
    *revised->mutable_from() = (*action)->target_date;
  }
  *revised->mutable_to() = *date;
  return event;
}

absl::StatusOr<v1::Event> DecideAssignOwner(const StateTxn& txn, const v1::AssignOwnerRequest& req,
                                            const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  if (req.owner().empty()) return Invalid("owner", "required");
  if (absl::Status s = CheckPrincipalId("owner", req.owner()); !s.ok()) return s;
  absl::StatusOr<ResourceName> parsed = ParseNameOf(Kind::kAction, "name", req.name());
  if (!parsed.ok()) return parsed.status();
  if (absl::Status s = RequireAdmin(ctx, "assign owners"); !s.ok()) return s;
  if (absl::Status s = CheckOwner(ctx, req.owner()); !s.ok()) return s;
  const ActionEntity* action = txn.actions.Find(req.name());
  if (action == nullptr) {
    return absl::NotFoundError(absl::StrCat("name: action ", req.name(), " not found"));
  }
  if (absl::Status s = CheckVersion(req, req.name(), action->version); !s.ok()) return s;
  if (absl::Status s = RejectIfStopped(req.name(), *action, "assign an owner"); !s.ok()) return s;
  if (action->owner == req.owner()) {
    return absl::FailedPreconditionError(
        absl::StrCat("owner: ", req.name(), " is already owned by ", req.owner()));
  }
  event.set_stream(req.name());
  event.set_version(action->version + 1);
  event.mutable_owner_assigned()->set_from(action->owner);
  event.mutable_owner_assigned()->set_to(req.owner());
  return event;
}

absl::StatusOr<v1::Event> DecideAmendDescription(const StateTxn& txn,
                                                 const v1::AmendDescriptionRequest& req,
                                                 const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  if (absl::Status s =
          CheckText("description", req.description(), kMaxDescriptionBytes, true, true);
      !s.ok())
    return s;
  absl::StatusOr<const ActionEntity*> action = FindWritableAction(txn, ctx, "name", req.name());
  if (!action.ok()) return action.status();
  if (absl::Status s = CheckVersion(req, req.name(), (*action)->version); !s.ok()) return s;
  if (absl::Status s = RejectIfStopped(req.name(), **action, "amend its description"); !s.ok())
    return s;
  if (absl::Status s = RequireReason(event, "amend a description"); !s.ok()) return s;
  if ((*action)->description == req.description()) {
    return absl::FailedPreconditionError(
        absl::StrCat("description: ", req.name(), " already has this description"));
  }
  event.set_stream(req.name());
  event.set_version((*action)->version + 1);
  event.mutable_description_amended()->set_from((*action)->description);
  event.mutable_description_amended()->set_to(req.description());
  return event;
}

absl::StatusOr<v1::Event> DecideOpenPeriod(const StateTxn& txn, const v1::OpenPeriodRequest& req,
                                           const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  absl::StatusOr<ResourceName> parent = ParseNameOf(Kind::kPlan, "parent", req.parent());
  if (!parent.ok()) return parent.status();
  if (absl::Status s = CheckId("period_id", req.period_id()); !s.ok()) return s;
  if (absl::Status s = CheckText("title", req.title(), kMaxTitleBytes, true, false); !s.ok())
    return s;
  if (absl::Status s = RequireAdmin(ctx, "open a reporting period"); !s.ok()) return s;
  const PlanEntity* plan = txn.plans.Find(req.parent());
  if (plan == nullptr) {
    return absl::NotFoundError(absl::StrCat("parent: plan ", req.parent(), " not found"));
  }
  const std::string name = PeriodName(parent->plan, req.period_id());
  if (absl::Status s = CheckVersion(req, name, txn.StreamVersion(name)); !s.ok()) return s;
  if (const PeriodEntity* existing = txn.periods.Find(name); existing != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("period_id: reporting period ", name, " already exists",
                     existing->open ? " and is open" : " (a closed period is never reopened)"));
  }
  // A period opens after those closed before it have: each report's "what
  // changed" runs from the close before, and one opened earlier would
  // share events with it. A close "on 31 October" is that day's last
  // moment, so a period opening on the day a close was dated to would
  // share that day; it opens on the next.
  if (event.has_effective_at()) {
    const uint64_t opens_us = Micros(event.effective_at());
    for (const PlanEntity::Closed& closed : plan->closed) {
      if (opens_us > closed.closed_us) continue;
      return absl::FailedPreconditionError(
          absl::StrCat("effective_time: ", UtcText(opens_us), " is not after ", closed.period,
                       " closed (", UtcText(closed.closed_us),
                       "); a period opens after the periods before it have "
                       "closed, e.g. on ",
                       absl::FormatCivilTime(UtcDay(closed.closed_us) + 1)));
    }
  }
  event.set_stream(name);
  event.set_version(1);
  event.mutable_period_opened()->set_title(req.title());
  return event;
}

absl::StatusOr<v1::Event> DecideClosePeriod(const StateTxn& txn, const v1::ClosePeriodRequest& req,
                                            const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  absl::StatusOr<ResourceName> parsed = ParseNameOf(Kind::kPeriod, "name", req.name());
  if (!parsed.ok()) return parsed.status();
  if (absl::Status s = RequireAdmin(ctx, "close a reporting period"); !s.ok()) return s;
  const PeriodEntity* period = txn.periods.Find(req.name());
  if (period == nullptr) {
    return absl::NotFoundError(absl::StrCat("name: reporting period ", req.name(), " not found"));
  }
  if (absl::Status s = CheckVersion(req, req.name(), period->version); !s.ok()) return s;
  if (!period->open) {
    return absl::FailedPreconditionError(
        absl::StrCat("name: reporting period ", req.name(), " is already closed"));
  }
  event.set_stream(req.name());
  event.set_version(period->version + 1);
  event.mutable_period_closed();
  return event;
}

// A correction must change what its event says now. That is known for the
// event that set a field's value now (its value, as corrected if it was);
// an older event's own corrections are not kept, so one of those is let
// through. Correcting back to what an event first said is a change when it
// was corrected since.
// What an event of an action says of `field`, as the replacement a
// correction of it would carry: an added action its target date or
// description, a revision its new target, an amendment its description, a
// status change its status, an update its narrative. None for an event that
// says nothing of the field.
std::optional<v1::EventCorrected> SaidBy(const v1::Event& event,
                                         v1::EventCorrected::ReplacementCase field) {
  v1::EventCorrected said;
  switch (field) {
    case v1::EventCorrected::kTargetDate:
      if (event.has_action_added()) {
        *said.mutable_target_date() = event.action_added().target_date();
      } else if (event.has_target_date_revised()) {
        *said.mutable_target_date() = event.target_date_revised().to();
      } else {
        return std::nullopt;
      }
      return said;
    case v1::EventCorrected::kDescription:
      if (event.has_action_added()) {
        said.set_description(event.action_added().description());
      } else if (event.has_description_amended()) {
        said.set_description(event.description_amended().to());
      } else {
        return std::nullopt;
      }
      return said;
    case v1::EventCorrected::kStatus:
      if (!event.has_status_changed()) return std::nullopt;
      said.set_status(event.status_changed().to());
      return said;
    case v1::EventCorrected::kNarrative:
      if (!event.has_update_recorded()) return std::nullopt;
      said.set_narrative(event.update_recorded().narrative());
      return said;
    case v1::EventCorrected::REPLACEMENT_NOT_SET:
      break;
  }
  return std::nullopt;
}

// Whether two corrections replace the same field with the same value.
bool SameReplacement(const v1::EventCorrected& a, const v1::EventCorrected& b) {
  if (a.replacement_case() != b.replacement_case()) return false;
  switch (a.replacement_case()) {
    case v1::EventCorrected::kTargetDate:
      return SameTargetDate(a.target_date(), b.target_date());
    case v1::EventCorrected::kDescription:
      return a.description() == b.description();
    case v1::EventCorrected::kStatus:
      return a.status() == b.status();
    case v1::EventCorrected::kNarrative:
      return a.narrative() == b.narrative();
    case v1::EventCorrected::REPLACEMENT_NOT_SET:
      break;
  }
  return false;
}

absl::string_view ReplacedField(const v1::EventCorrected& correction) {
  switch (correction.replacement_case()) {
    case v1::EventCorrected::kTargetDate:
      return "target_date";
    case v1::EventCorrected::kDescription:
      return "description";
    case v1::EventCorrected::kStatus:
      return "status";
    case v1::EventCorrected::kNarrative:
      return "narrative";
    case v1::EventCorrected::REPLACEMENT_NOT_SET:
      break;
  }
  return "replacement";
}

absl::Status CheckCorrectionChangesSomething(const ActionEntity& action,
                                             const v1::EventCorrected& correction,
                                             const v1::Event& original, const DecideContext& ctx) {
  const uint64_t target = correction.corrected_position();
  auto already = [&](absl::string_view field, uint64_t corrected_by = 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        field, ": ", EventName(target), " already says this",
        corrected_by != 0 ? absl::StrCat(" (as ", EventName(corrected_by), " corrected it)") : "",
        "; nothing to correct"));
  };
  switch (correction.replacement_case()) {
    case v1::EventCorrected::kNarrative:
      for (const NarrativeMark& mark : action.narratives) {
        if (mark.position != target) continue;
        absl::StatusOr<bool> same = SaysNow(mark, correction.narrative(), ctx);
        if (!same.ok()) return same.status();
        if (*same) return already("narrative", mark.corrected_by);
      }
      break;
    case v1::EventCorrected::kTargetDate:
      if (action.target_date_position == target &&
          SameTargetDate(action.target_date, correction.target_date())) {
        return already("target_date");
      }
      break;
    case v1::EventCorrected::kDescription:
      if (action.description_position == target && action.description == correction.description()) {
        return already("description");
      }
      break;
    case v1::EventCorrected::kStatus:
      if (action.status_position == target && action.status == correction.status()) {
        return already("status");
      }
      break;
    case v1::EventCorrected::REPLACEMENT_NOT_SET:
      break;
  }
  // An older event (one whose value no longer shows now) says what its
  // latest correction says, or else what it said itself.
  uint64_t says_at = target;
  if (auto latest = action.latest_correction.find(target);
      latest != action.latest_correction.end()) {
    says_at = latest->second;
  }
  absl::StatusOr<v1::Event> saying = original;
  if (says_at != target) saying = ctx.lookup(says_at);
  if (!saying.ok()) return saying.status();
  const uint64_t corrected_by = says_at == target ? 0 : says_at;
  const std::optional<v1::EventCorrected> said =
      corrected_by != 0 ? std::optional(saying->event_corrected())
                        : SaidBy(*saying, correction.replacement_case());
  if (said.has_value() && SameReplacement(*said, correction)) {
    return already(ReplacedField(correction), corrected_by);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Event> DecideCorrect(const StateTxn& txn, const v1::CorrectEventRequest& req,
                                        const DecideContext& ctx) {
  v1::Event event;
  if (absl::Status s = ApplyCommon(req, ctx, &event); !s.ok()) return s;
  absl::StatusOr<uint64_t> position = ParseEventName("event", req.event());
  if (!position.ok()) return position.status();
  auto* corrected = event.mutable_event_corrected();
  corrected->set_corrected_position(*position);
  switch (req.replacement_case()) {
    case v1::CorrectEventRequest::kNarrative:
      if (absl::Status s = CheckText("narrative", req.narrative(), kMaxNarrativeBytes, true, true);
          !s.ok())
        return s;
      corrected->set_narrative(req.narrative());
      break;
    case v1::CorrectEventRequest::kTargetDate: {
      absl::StatusOr<v1::TargetDate> date = ParseTargetDate("target_date", req.target_date());
      if (!date.ok()) return date.status();
      *corrected->mutable_target_date() = *date;
      break;
    }
    case v1::CorrectEventRequest::kDescription:
      if (absl::Status s =
              CheckText("description", req.description(), kMaxDescriptionBytes, true, true);
          !s.ok())
        return s;
      corrected->set_description(req.description());
      break;
    case v1::CorrectEventRequest::kStatus:
      if (!IsKnownStatus(req.status())) {
        return Invalid("status", "required and must be a known status");
      }
      corrected->set_status(req.status());
      break;
    case v1::CorrectEventRequest::REPLACEMENT_NOT_SET:
      return Invalid("replacement",
                     "one of narrative, target_date, description or status is "
                     "required");
  }
  if (absl::Status s = RequireReason(event, "correct an event"); !s.ok()) return s;
  absl::StatusOr<v1::Event> original = ctx.lookup(*position);
  if (!original.ok()) {
    if (absl::IsNotFound(original.status())) {
      return absl::NotFoundError(absl::StrCat("event: ", req.event(), " not found"));
    }
    return original.status();
  }
  bool fits = false;
  switch (original->payload_case()) {
    case v1::Event::kUpdateRecorded:
      fits = req.has_narrative();
      break;
    case v1::Event::kActionAdded:
      fits = req.has_target_date() || req.has_description();
      break;
    case v1::Event::kTargetDateRevised:
      fits = req.has_target_date();
      break;
    case v1::Event::kDescriptionAmended:
      fits = req.has_description();
      break;
    case v1::Event::kStatusChanged:
      fits = req.has_status();
      break;
    case v1::Event::kEventCorrected:
      // What a correction says is put right by correcting its event again.
      return absl::FailedPreconditionError(
          absl::StrCat("event: ", req.event(), " is a correction of ",
                       EventName(original->event_corrected().corrected_position()), "; correct ",
                       EventName(original->event_corrected().corrected_position()),
                       " again (the latest correction holds, and each stays in the history)"));
    default:
      return absl::FailedPreconditionError(
          absl::StrCat("event: ", req.event(),
                       " cannot be corrected (only action updates, target dates, "
                       "descriptions and status changes can)"));
  }
  if (!fits) {
    return absl::FailedPreconditionError(
        absl::StrCat("replacement: does not fit ", req.event(),
                     " (a narrative corrects an update, a target_date an added action or a "
                     "target revision, a description an added action or an amendment, a "
                     "status a status change)"));
  }
  // Unless told otherwise, the corrected content was true from when the
  // corrected event took effect.
  if (!event.has_effective_at()) {
    *event.mutable_effective_at() = original->effective_at();
  }
  const std::string& stream = original->stream();
  absl::StatusOr<const ActionEntity*> action = FindWritableAction(txn, ctx, "event", stream);
  if (!action.ok()) return action.status();
  if (absl::Status s = CheckVersion(req, stream, (*action)->version); !s.ok()) return s;
  // A stopped action takes no correction but of the change that stopped it:
  // a stop made by mistake, or the wrong status given, is put right there.
  const bool corrects_the_stop = req.has_status() && (*action)->status_position == *position;
  if (!corrects_the_stop) {
    if (absl::Status s = RejectIfStopped(stream, **action, "correct its events"); !s.ok()) {
      return s;
    }
  }
  // A status change made by mistake is corrected to the status it changed
  // from: it then changed nothing (an action paused or started in error is
  // as it was, and the mistake and why stay in the history). Otherwise,
  // corrected, the change still follows the status rules from what it
  // changed: it cannot un-start an action.
  if (original->has_status_changed() && original->status_changed().from() != req.status()) {
    if (absl::Status s = CheckTransition(original->status_changed().from(), req.status(), event);
        !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("status: correcting ", req.event(), " (a change from ",
                                       StatusName(original->status_changed().from()),
                                       "): ", absl::StripPrefix(s.message(), "status: ")));
    }
  }
  if (absl::Status s = CheckCorrectionChangesSomething(**action, *corrected, *original, ctx);
      !s.ok()) {
    return s;
  }
  event.set_stream(stream);
  event.set_version((*action)->version + 1);
  return event;
}

}  // namespace

absl::Status CheckRequestId(absl::string_view field, absl::string_view request_id) {
  if (request_id.size() > kMaxRequestIdBytes) {
    return Invalid(field, absl::StrCat("too long (at most ", kMaxRequestIdBytes, " bytes)"));
  }
  for (unsigned char c : request_id) {
    if (c <= 0x20 || c >= 0x7f) {
      return Invalid(field, "must be printable ASCII without spaces");
    }
  }
  return absl::OkStatus();
}

const std::string& CommandRequestId(const v1::Command& command) {
  static const std::string kEmpty;
  switch (command.kind_case()) {
    case v1::Command::kCreatePlan:
      return command.create_plan().request_id();
    case v1::Command::kAddRecommendation:
      return command.add_recommendation().request_id();
    case v1::Command::kAddAction:
      return command.add_action().request_id();
    case v1::Command::kChangeActionStatus:
      return command.change_action_status().request_id();
    case v1::Command::kRecordUpdate:
      return command.record_update().request_id();
    case v1::Command::kReviseTargetDate:
      return command.revise_target_date().request_id();
    case v1::Command::kAssignOwner:
      return command.assign_owner().request_id();
    case v1::Command::kAmendDescription:
      return command.amend_description().request_id();
    case v1::Command::kOpenPeriod:
      return command.open_period().request_id();
    case v1::Command::kClosePeriod:
      return command.close_period().request_id();
    case v1::Command::kCorrectEvent:
      return command.correct_event().request_id();
    case v1::Command::KIND_NOT_SET:
      break;
  }
  return kEmpty;
}

namespace {

// A back-dated event cannot take effect before what it changes existed:
// the plan, recommendation or action it is about (and their parents), or
// the reporting period a narrative is for. Else an as-of answer would show
// it standing in a plan that did not exist yet, and a report for its period
// would leave it out. A correction takes the effective time of the event it
// corrects, which passed this check.
absl::Status CheckTakesEffectAfterCreation(const StateTxn& txn, const v1::Event& event) {
  if (!event.has_effective_at() || event.has_event_corrected()) return absl::OkStatus();
  const uint64_t effective = Micros(event.effective_at());
  absl::StatusOr<ResourceName> name = ParseName("stream", event.stream());
  if (!name.ok()) return absl::OkStatus();  // the command's own check names it
  auto check = [&](const std::string& what, const auto* entity) -> absl::Status {
    if (entity == nullptr || effective >= entity->since_us) return absl::OkStatus();
    return Invalid("effective_time",
                   absl::StrCat("is before ", what, " existed (from ", UtcText(entity->since_us),
                                "); nothing can take effect before what it changes"));
  };
  const std::string plan = name->PlanName();
  if (absl::Status s = check(plan, txn.plans.Find(plan)); !s.ok()) return s;
  if (name->kind == Kind::kRecommendation || name->kind == Kind::kAction) {
    const std::string rec = name->RecommendationName();
    if (absl::Status s = check(rec, txn.recommendations.Find(rec)); !s.ok()) return s;
  }
  if (name->kind == Kind::kAction) {
    if (absl::Status s = check(event.stream(), txn.actions.Find(event.stream())); !s.ok()) return s;
  }
  if (name->kind == Kind::kPeriod) {
    if (absl::Status s = check(event.stream(), txn.periods.Find(event.stream())); !s.ok()) return s;
  }
  if (event.has_update_recorded()) {
    const std::string& period = event.update_recorded().period();
    if (absl::Status s = check(period, txn.periods.Find(period)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// A period may not close before an update filed in it takes effect: its
// report, as of the close, would leave the update out.
absl::Status CheckClosesAfterItsUpdates(const StateTxn& txn, const v1::Event& event) {
  if (!event.has_effective_at() || !event.has_period_closed()) return absl::OkStatus();
  const PeriodEntity* period = txn.periods.Find(event.stream());
  if (period == nullptr || period->last_update_position == 0 ||
      Micros(event.effective_at()) >= period->last_update_us) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("effective_time: ", event.stream(), " has an update that takes effect ",
                   UtcText(period->last_update_us), " (", EventName(period->last_update_position),
                   "); the period cannot close before it, or its report would leave it out"));
}

}  // namespace

std::optional<std::string> InClosedPeriods(const StateTxn& txn, const v1::Event& event) {
  if (!event.has_effective_at()) return std::nullopt;
  // What a period's report shows: its actions (a new one too) and their
  // recommendations.
  absl::StatusOr<ResourceName> name = ParseName("stream", event.stream());
  if (!name.ok() || (name->kind != Kind::kAction && name->kind != Kind::kRecommendation)) {
    return std::nullopt;
  }
  const PlanEntity* plan = txn.plans.Find(name->PlanName());
  if (plan == nullptr) return std::nullopt;
  const uint64_t effective = Micros(event.effective_at());
  std::vector<std::string> periods;
  for (const PlanEntity::Closed& closed : plan->closed) {
    // A report as of its period's close holds what took effect at the close.
    if (effective <= closed.closed_us) {
      periods.push_back(absl::StrCat(closed.period, " (closed ", UtcText(closed.closed_us),
                                     "; as published: --position ", closed.position, ")"));
    }
  }
  if (periods.empty()) return std::nullopt;
  return absl::StrCat(event.stream(), ": this change takes effect ", UtcText(effective),
                      ", before ", periods.size() == 1 ? "a period" : "periods",
                      " of the plan closed, so the report of ", absl::StrJoin(periods, ", "),
                      " produced again now shows it; a report as published is had again at "
                      "the position its footer gives");
}

std::optional<std::string> BehindALaterChange(const StateTxn& txn, const v1::Event& event) {
  if (!event.has_effective_at() || event.has_event_corrected()) return std::nullopt;
  const ActionEntity* action = txn.actions.Find(event.stream());
  if (action == nullptr) return std::nullopt;
  // The field, the event whose value holds now on the effective clock, and
  // that value (none for a description, which may be long).
  std::string field;
  const ActionEntity::EffectiveSetter* setter = nullptr;
  std::string value;
  switch (event.payload_case()) {
    case v1::Event::kStatusChanged:
      field = "status";
      setter = &action->status_setter;
      value = std::string(StatusName(action->effective_status));
      break;
    case v1::Event::kTargetDateRevised:
      field = "target date";
      setter = &action->target_date_setter;
      value = FormatTargetDate(action->effective_target_date);
      break;
    case v1::Event::kOwnerAssigned:
      field = "owner";
      setter = &action->owner_setter;
      value = action->effective_owner;
      break;
    case v1::Event::kDescriptionAmended:
      field = "description";
      setter = &action->description_setter;
      break;
    default:
      return std::nullopt;
  }
  const uint64_t effective = Micros(event.effective_at());
  // The event's position is not assigned yet; it comes after every other.
  if (setter->position == 0 || setter->YieldsTo(effective, UINT64_MAX)) return std::nullopt;
  return absl::StrCat(event.stream(), ": this ", field, " change takes effect ", UtcText(effective),
                      ", before ", EventName(setter->position), " (", UtcText(setter->us),
                      "), whose ", field, value.empty() ? "" : absl::StrCat(" (", value, ")"),
                      " still holds now on the effective clock (asof --clock effective, "
                      "reports), though the state now shows this one; to change what reports "
                      "say, correct ",
                      EventName(setter->position),
                      " instead, or record this change without a back-date");
}

std::optional<std::string> TargetBeforePlanBegan(const StateTxn& txn, const v1::Event& event) {
  const v1::TargetDate* date = nullptr;
  if (event.has_action_added()) date = &event.action_added().target_date();
  if (event.has_target_date_revised()) date = &event.target_date_revised().to();
  if (event.has_event_corrected() && event.event_corrected().has_target_date()) {
    date = &event.event_corrected().target_date();
  }
  if (date == nullptr || !IsSet(*date)) return std::nullopt;
  absl::StatusOr<ResourceName> name = ParseName("stream", event.stream());
  if (!name.ok()) return std::nullopt;
  const std::string plan = name->PlanName();
  const PlanEntity* entity = txn.plans.Find(plan);
  if (entity == nullptr) return std::nullopt;
  const absl::CivilDay began = UtcDay(entity->since_us);
  if (DueDay(*date) >= began) return std::nullopt;
  return absl::StrCat(event.stream(), ": target date ", FormatTargetDate(*date), " is before ",
                      plan, " began (", absl::FormatCivilTime(began),
                      "), so the action is overdue from its start; if the year is mistyped, "
                      "revise the target date or correct this event");
}

namespace {

absl::StatusOr<v1::Event> DecideKind(const StateTxn& txn, const v1::Command& command,
                                     const DecideContext& ctx) {
  switch (command.kind_case()) {
    case v1::Command::kCreatePlan:
      return DecideCreatePlan(txn, command.create_plan(), ctx);
    case v1::Command::kAddRecommendation:
      return DecideAddRecommendation(txn, command.add_recommendation(), ctx);
    case v1::Command::kAddAction:
      return DecideAddAction(txn, command.add_action(), ctx);
    case v1::Command::kChangeActionStatus:
      return DecideChangeStatus(txn, command.change_action_status(), ctx);
    case v1::Command::kRecordUpdate:
      return DecideRecordUpdate(txn, command.record_update(), ctx);
    case v1::Command::kReviseTargetDate:
      return DecideReviseTarget(txn, command.revise_target_date(), ctx);
    case v1::Command::kAssignOwner:
      return DecideAssignOwner(txn, command.assign_owner(), ctx);
    case v1::Command::kAmendDescription:
      return DecideAmendDescription(txn, command.amend_description(), ctx);
    case v1::Command::kOpenPeriod:
      return DecideOpenPeriod(txn, command.open_period(), ctx);
    case v1::Command::kClosePeriod:
      return DecideClosePeriod(txn, command.close_period(), ctx);
    case v1::Command::kCorrectEvent:
      return DecideCorrect(txn, command.correct_event(), ctx);
    case v1::Command::KIND_NOT_SET:
      break;
  }
  return Invalid("commands", "a command with no kind set");
}

}  // namespace

absl::StatusOr<v1::Event> Decide(const StateTxn& txn, const v1::Command& command,
                                 const DecideContext& ctx) {
  absl::StatusOr<v1::Event> event = DecideKind(txn, command, ctx);
  if (!event.ok()) return event;
  if (absl::Status s = CheckTakesEffectAfterCreation(txn, *event); !s.ok()) return s;
  if (absl::Status s = CheckClosesAfterItsUpdates(txn, *event); !s.ok()) return s;
  return event;
}

}  // namespace auditledger::domain
