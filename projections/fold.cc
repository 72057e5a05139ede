#include "projections/fold.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ledger/domain/decide.h"
#include "ledger/domain/target_date.h"

namespace auditledger::projections {

std::string PlanOf(absl::string_view stream) {
  // plans/{plan}/...
  size_t slash = stream.find('/', 6);
  return std::string(stream.substr(0, slash));
}

bool IsPlanLevel(const v1::Event& event) {
  switch (event.payload_case()) {
    case v1::Event::kPlanCreated:
    case v1::Event::kRecommendationAdded:
    case v1::Event::kPeriodOpened:
    case v1::Event::kPeriodClosed:
      return true;
    default:
      return false;
  }
}

bool IsActionStream(absl::string_view stream) { return absl::StrContains(stream, "/actions/"); }

std::string EventType(const v1::Event& event) {
  switch (event.payload_case()) {
    case v1::Event::kPlanCreated:
      return "plan_created";
    case v1::Event::kRecommendationAdded:
      return "recommendation_added";
    case v1::Event::kActionAdded:
      return "action_added";
    case v1::Event::kStatusChanged:
      return "status_changed";
    case v1::Event::kUpdateRecorded:
      return "update_recorded";
    case v1::Event::kTargetDateRevised:
      return "target_date_revised";
    case v1::Event::kOwnerAssigned:
      return "owner_assigned";
    case v1::Event::kDescriptionAmended:
      return "description_amended";
    case v1::Event::kPeriodOpened:
      return "period_opened";
    case v1::Event::kPeriodClosed:
      return "period_closed";
    case v1::Event::kEventCorrected:
      return "event_corrected";
    case v1::Event::PAYLOAD_NOT_SET:
      break;
  }
  return "unknown";
}

std::string ActorText(const v1::Change& change) {
  if (change.actor_name().empty()) return change.actor();
  return absl::StrCat(change.actor_name(), " (", change.actor(), ")");
}

std::string ChangeText(const v1::Change& change) {
  std::string before = change.before(), after = change.after();
  if (change.field() == "status") {
    v1::ActionStatus status;
    if (v1::ActionStatus_Parse(before, &status)) before = StatusText(status);
    if (v1::ActionStatus_Parse(after, &status)) after = StatusText(status);
  }
  return before.empty() ? after : absl::StrCat(before, " \u2192 ", after);
}

std::string StatusText(v1::ActionStatus status) {
  switch (status) {
    case v1::NOT_STARTED:
      return "Not started";
    case v1::ONGOING:
      return "Ongoing";
    case v1::COMPLETE:
      return "Complete";
    case v1::PAUSED:
      return "Paused";
    case v1::STOPPED:
      return "Stopped";
    default:
      return "Unknown";
  }
}

namespace {

v1::Narrative* FindNarrative(v1::ActionView* view, const std::string& period) {
  for (v1::Narrative& n : *view->mutable_narratives()) {
    if (n.period() == period) return &n;
  }
  return nullptr;
}

}  // namespace

bool ChangesNarrative(const v1::Event& event) {
  return event.has_update_recorded() ||
         (event.has_event_corrected() && event.event_corrected().has_narrative());
}

void FoldNarratives(const v1::Event& event, v1::ActionView* view, bool with_texts) {
  const uint64_t position = event.position();
  if (event.has_update_recorded()) {
    const auto& update = event.update_recorded();
    v1::Narrative* n = FindNarrative(view, update.period());
    if (n == nullptr) {
      n = view->add_narratives();
      n->set_period(update.period());
    }
    n->set_position(position);
    n->set_corrected_by(0);
    if (with_texts) {
      n->set_text(update.narrative());
      n->set_actor(event.actor().id());
      *n->mutable_recorded_at() = event.recorded_at();
      *n->mutable_effective_at() = event.effective_at();
    }
  } else if (event.has_event_corrected() && event.event_corrected().has_narrative()) {
    const auto& c = event.event_corrected();
    for (v1::Narrative& n : *view->mutable_narratives()) {
      if (n.position() == c.corrected_position()) {
        if (with_texts) n.set_text(c.narrative());
        n.set_corrected_by(position);
      }
    }
  }
}

void FoldAction(const v1::Event& event, v1::ActionView* view) {
  const uint64_t position = event.position();
  switch (event.payload_case()) {
    case v1::Event::kActionAdded: {
      const auto& added = event.action_added();
      view->set_name(event.stream());
      view->set_recommendation(event.stream().substr(0, event.stream().rfind("/actions/")));
      view->set_description(added.description());
      *view->mutable_target_date() = added.target_date();
      *view->mutable_original_target_date() = added.target_date();
      view->set_owner(added.owner());
      view->set_status(added.status());
      // The reason an action is added says why it is there; it is its
      // status's reason only when added paused or stopped, which needs one.
      view->set_status_reason(
          added.status() == v1::PAUSED || added.status() == v1::STOPPED ? event.reason() : "");
      *view->mutable_created_at() = event.recorded_at();
      *view->mutable_created_effective() = event.effective_at();
      view->set_description_position(position);
      view->set_target_date_position(position);
      view->set_status_position(position);
      view->set_created_position(position);
      view->set_original_target_position(position);
      break;
    }
    case v1::Event::kStatusChanged:
      view->set_previous_status(event.status_changed().from());
      view->set_previous_status_reason(view->status_reason());
      view->set_status(event.status_changed().to());
      view->set_status_reason(event.reason());
      view->set_status_position(position);
      break;
    case v1::Event::kUpdateRecorded:
      FoldNarratives(event, view, /*with_texts=*/true);
      break;
    case v1::Event::kTargetDateRevised: {
      const auto& revised = event.target_date_revised();
      v1::TargetRevision* r = view->add_revisions();
      // What it revised is the target the view holds: the event's own
      // `from` in log order, and in effective order (a revision back-dated
      // behind a later one) the target in force at its effective time.
      *r->mutable_from() = view->target_date();
      *r->mutable_to() = revised.to();
      r->set_reason(event.reason());
      r->set_position(position);
      *r->mutable_effective_at() = event.effective_at();
      // An action adopted without a target that is given its first one has
      // not slipped: that target is its original, and later moves count
      // from it. One whose target was removed has an original still.
      if (!domain::IsSet(view->target_date()) && !domain::IsSet(view->original_target_date())) {
        r->set_first_target(true);
        *view->mutable_original_target_date() = revised.to();
        view->set_original_target_position(position);
      } else {
        view->set_target_revisions(view->target_revisions() + 1);
      }
      *view->mutable_target_date() = revised.to();
      view->set_target_date_position(position);
      break;
    }
    case v1::Event::kOwnerAssigned:
      view->set_owner(event.owner_assigned().to());
      break;
    case v1::Event::kDescriptionAmended:
      view->set_description(event.description_amended().to());
      view->set_description_position(position);
      break;
    case v1::Event::kEventCorrected: {
      const auto& c = event.event_corrected();
      const uint64_t target = c.corrected_position();
      switch (c.replacement_case()) {
        case v1::EventCorrected::kNarrative:
          FoldNarratives(event, view, /*with_texts=*/true);
          break;
        case v1::EventCorrected::kTargetDate:
          if (view->target_date_position() == target) {
            *view->mutable_target_date() = c.target_date();
          }
          for (v1::TargetRevision& r : *view->mutable_revisions()) {
            if (r.position() == target) *r.mutable_to() = c.target_date();
          }
          // Correcting the target adopted (or first set) corrects the
          // original too.
          if (view->original_target_position() == target) {
            *view->mutable_original_target_date() = c.target_date();
          } else if (target == view->created_position()) {
            // Adopted without a target, and given a first one since: it was
            // adopted with this one, which is the original, and the first
            // target given is a revision of it.
            for (v1::TargetRevision& r : *view->mutable_revisions()) {
              if (r.position() != view->original_target_position()) continue;
              r.set_first_target(false);
              *r.mutable_from() = c.target_date();
              view->set_target_revisions(view->target_revisions() + 1);
            }
            *view->mutable_original_target_date() = c.target_date();
            view->set_original_target_position(target);
          }
          break;
        case v1::EventCorrected::kDescription:
          if (view->description_position() == target) {
            view->set_description(c.description());
          }
          break;
        case v1::EventCorrected::kStatus:
          if (view->status_position() == target) {
            // Corrected to what it changed from, the change made by mistake
            // changed nothing: the status and its reason are as before it.
            const bool undone = view->status_position() != view->created_position() &&
                                c.status() == view->previous_status();
            view->set_status(c.status());
            view->set_status_reason(undone ? view->previous_status_reason() : event.reason());
          }
          break;
        case v1::EventCorrected::REPLACEMENT_NOT_SET:
          break;
      }
      break;
    }
    default:
      break;
  }
  view->set_version(event.version());
  view->set_last_position(position);
  view->set_max_position(std::max(view->max_position(), position));
  view->set_last_changed_by(event.actor().id());
  *view->mutable_last_changed_at() = event.recorded_at();
  *view->mutable_last_effective_at() = event.effective_at();
}

void FoldPlan(const v1::Event& event, v1::PlanView* view) {
  view->set_max_position(std::max(view->max_position(), event.position()));
  switch (event.payload_case()) {
    case v1::Event::kPlanCreated: {
      const auto& created = event.plan_created();
      view->set_name(event.stream());
      view->set_title(created.title());
      view->set_council(created.council());
      view->set_description(created.description());
      *view->mutable_created_at() = event.recorded_at();
      *view->mutable_created_effective() = event.effective_at();
      break;
    }
    case v1::Event::kRecommendationAdded: {
      const auto& added = event.recommendation_added();
      v1::RecommendationView rec;
      rec.set_name(event.stream());
      rec.set_number(added.number());
      rec.set_title(added.title());
      rec.set_text(added.text());
      auto* recs = view->mutable_recommendations();
      *recs->Add() = rec;
      std::stable_sort(recs->begin(), recs->end(),
                       [](const v1::RecommendationView& a, const v1::RecommendationView& b) {
                         if (a.number() != b.number()) return a.number() < b.number();
                         return a.name() < b.name();
                       });
      break;
    }
    case v1::Event::kPeriodOpened: {
      v1::PeriodView* period = view->add_periods();
      period->set_name(event.stream());
      period->set_title(event.period_opened().title());
      period->set_open(true);
      *period->mutable_opened_at() = event.recorded_at();
      *period->mutable_opened_effective() = event.effective_at();
      period->set_opened_position(event.position());
      break;
    }
    case v1::Event::kPeriodClosed:
      for (v1::PeriodView& period : *view->mutable_periods()) {
        if (period.name() != event.stream()) continue;
        period.set_open(false);
        *period.mutable_closed_at() = event.recorded_at();
        *period.mutable_closed_effective() = event.effective_at();
        period.set_closed_position(event.position());
      }
      break;
    default:
      break;
  }
}

v1::Change DescribeChange(const v1::Event& event, const v1::ActionView* before,
                          const v1::Change* corrected) {
  v1::Change change;
  DescribeChangeInto(event, before, corrected, &change);
  return change;
}

void DescribeChangeInto(const v1::Event& event, const v1::ActionView* before,
                        const v1::Change* corrected, v1::Change* out) {
  out->Clear();
  v1::Change& change = *out;
  change.set_position(event.position());
  absl::StrAppend(change.mutable_event(), "events/", event.position());
  change.set_stream(event.stream());
  change.set_type(EventType(event));
  change.set_actor(event.actor().id());
  change.set_actor_role(event.actor().role());
  change.set_actor_name(event.actor().name());
  *change.mutable_recorded_at() = event.recorded_at();
  *change.mutable_effective_at() = event.effective_at();
  change.set_reason(event.reason());
  switch (event.payload_case()) {
    case v1::Event::kPlanCreated:
      change.set_field("plan");
      change.set_after(event.plan_created().title());
      break;
    case v1::Event::kRecommendationAdded:
      change.set_field("recommendation");
      change.set_after(absl::StrCat(event.recommendation_added().number(), ": ",
                                    event.recommendation_added().title()));
      break;
    case v1::Event::kActionAdded: {
      const auto& added = event.action_added();
      change.set_field("action");
      // What it was adopted with, as each later change says before and after.
      std::vector<std::string> details;
      if (domain::IsSet(added.target_date())) {
        details.push_back(absl::StrCat("target ", domain::FormatTargetDate(added.target_date())));
      }
      if (!added.owner().empty()) details.push_back(absl::StrCat("owner ", added.owner()));
      details.push_back(StatusText(added.status()));
      change.set_after(absl::StrCat(added.description(), " (", absl::StrJoin(details, ", "), ")"));
      break;
    }
    case v1::Event::kStatusChanged:
      change.set_field("status");
      change.set_before(std::string(domain::StatusName(event.status_changed().from())));
      change.set_after(std::string(domain::StatusName(event.status_changed().to())));
      break;
    case v1::Event::kUpdateRecorded: {
      const auto& update = event.update_recorded();
      change.set_field("narrative");
      change.set_period(update.period());
      if (before != nullptr) {
        for (const v1::Narrative& n : before->narratives()) {
          if (n.period() != update.period()) continue;
          change.set_before(n.text());
          // A correction of the narrative set its text last.
          change.set_before_position(n.corrected_by() != 0 ? n.corrected_by() : n.position());
        }
      }
      change.set_after(update.narrative());
      break;
    }
    case v1::Event::kTargetDateRevised:
      change.set_field("target_date");
      change.set_before(domain::FormatTargetDate(event.target_date_revised().from()));
      change.set_after(domain::FormatTargetDate(event.target_date_revised().to()));
      break;
    case v1::Event::kOwnerAssigned:
      change.set_field("owner");
      change.set_before(event.owner_assigned().from());
      change.set_after(event.owner_assigned().to());
      break;
    case v1::Event::kDescriptionAmended:
      change.set_field("description");
      change.set_before(event.description_amended().from());
      change.set_after(event.description_amended().to());
      break;
    case v1::Event::kPeriodOpened:
      change.set_field("period");
      change.set_after(absl::StrCat("opened: ", event.period_opened().title()));
      break;
    case v1::Event::kPeriodClosed:
      change.set_field("period");
      change.set_after("closed");
      break;
    case v1::Event::kEventCorrected: {
      const auto& c = event.event_corrected();
      change.set_corrects(c.corrected_position());
      if (corrected != nullptr) {
        change.set_before(corrected->after());
        change.set_period(corrected->period());
      }
      switch (c.replacement_case()) {
        case v1::EventCorrected::kNarrative:
          change.set_field("narrative");
          change.set_after(c.narrative());
          break;
        case v1::EventCorrected::kTargetDate:
          change.set_field("target_date");
          change.set_after(domain::FormatTargetDate(c.target_date()));
          break;
        case v1::EventCorrected::kDescription:
          change.set_field("description");
          change.set_after(c.description());
          break;
        case v1::EventCorrected::kStatus:
          change.set_field("status");
          change.set_after(std::string(domain::StatusName(c.status())));
          break;
        case v1::EventCorrected::REPLACEMENT_NOT_SET:
          break;
      }
      break;
    }
    case v1::Event::PAYLOAD_NOT_SET:
      break;
  }
}

const v1::Change& StoredChange(const v1::Change& change, v1::Change* slim) {
  if (change.type() != "update_recorded") return change;
  slim->Clear();
  slim->set_position(change.position());
  slim->set_type(change.type());
  slim->set_before_position(change.before_position());
  slim->set_corrected_by(change.corrected_by());
  return *slim;
}

absl::Status CompleteChange(const EventReader& read, v1::Change* change) {
  if (change->type() != "update_recorded") return absl::OkStatus();
  absl::StatusOr<v1::Event> own = read(change->position());
  if (!own.ok()) return own.status();
  if (!own->has_update_recorded() || own->position() != change->position()) {
    return absl::DataLossError(
        absl::StrCat("change ", change->position(), ": its event is not a narrative update"));
  }
  // What the model stored of it; the rest is its event's.
  const uint64_t before_position = change->before_position();
  const uint64_t corrected_by = change->corrected_by();
  DescribeChangeInto(*own, /*before=*/nullptr, /*corrected=*/nullptr, change);
  change->set_before_position(before_position);
  change->set_corrected_by(corrected_by);
  if (before_position == 0) return absl::OkStatus();
  absl::StatusOr<v1::Event> earlier = read(change->before_position());
  if (!earlier.ok()) return earlier.status();
  if (earlier->has_update_recorded()) {
    change->set_before(earlier->update_recorded().narrative());
  } else if (earlier->has_event_corrected() && earlier->event_corrected().has_narrative()) {
    change->set_before(earlier->event_corrected().narrative());
  } else {
    return absl::DataLossError(absl::StrCat("change ", change->position(), ": event ",
                                            change->before_position(),
                                            " holds no narrative to have replaced"));
  }
  return absl::OkStatus();
}

void Assess(v1::ActionView* view, absl::CivilDay day) {
  const v1::ActionStatus status = view->status();
  const bool has_target = domain::IsSet(view->target_date());
  const bool done = status == v1::COMPLETE;
  const bool overdue =
      !done && status != v1::STOPPED && has_target && domain::DueDay(view->target_date()) < day;
  view->set_overdue(overdue);
  if (done) {
    view->set_rag(v1::GREEN);
  } else if (overdue || status == v1::STOPPED) {
    view->set_rag(v1::RED);
  } else if (view->target_revisions() > 0 || status == v1::PAUSED ||
             (has_target && domain::DueDay(view->target_date()) - day <= 30)) {
    view->set_rag(v1::AMBER);
  } else {
    view->set_rag(v1::GREEN);
  }
}

}  // namespace auditledger::projections
