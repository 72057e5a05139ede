#include "ledger/domain/plan_state.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "ledger/domain/names.h"

namespace auditledger::domain {

uint64_t StateTxn::StreamVersion(const std::string& stream) const {
  if (const auto* a = actions.Find(stream)) return a->version;
  if (const auto* r = recommendations.Find(stream)) return r->version;
  if (const auto* p = periods.Find(stream)) return p->version;
  if (const auto* p = plans.Find(stream)) return p->version;
  return 0;
}

size_t NarrativeHash(absl::string_view text) { return absl::HashOf(text); }

uint64_t Micros(const google::protobuf::Timestamp& ts) {
  return static_cast<uint64_t>(ts.seconds()) * 1'000'000 + static_cast<uint64_t>(ts.nanos() / 1000);
}

void StateTxn::Apply(const v1::Event& event) {
  const std::string& stream = event.stream();
  const uint64_t position = event.position();
  const uint64_t effective = Micros(event.effective_at());
  switch (event.payload_case()) {
    case v1::Event::kPlanCreated: {
      PlanEntity& plan = plans.Mutable(stream);
      plan.since_us = Micros(event.effective_at());
      plan.title = event.plan_created().title();
      plan.version = event.version();
      break;
    }
    case v1::Event::kRecommendationAdded: {
      RecommendationEntity& rec = recommendations.Mutable(stream);
      rec.since_us = Micros(event.effective_at());
      rec.number = event.recommendation_added().number();
      rec.version = event.version();
      // Stored events come from disk, where they may have been altered.
      auto parsed = ParseName("stream", stream);
      if (parsed.ok()) {
        PlanEntity& plan = plans.Mutable(parsed->PlanName());
        plan.recommendations++;
        plan.recommendation_numbers.try_emplace(rec.number, stream);
      }
      break;
    }
    case v1::Event::kActionAdded: {
      ActionEntity& action = actions.Mutable(stream);
      const auto& added = event.action_added();
      action.since_us = Micros(event.effective_at());
      action.description = added.description();
      action.target_date = added.target_date();
      action.owner = added.owner();
      action.status = added.status();
      action.description_position = position;
      action.target_date_position = position;
      action.status_position = position;
      const ActionEntity::EffectiveSetter created{position, action.since_us};
      action.status_setter = action.target_date_setter = action.owner_setter =
          action.description_setter = created;
      action.effective_status = action.status;
      action.effective_target_date = action.target_date;
      action.effective_owner = action.owner;
      action.version = event.version();
      break;
    }
    case v1::Event::kStatusChanged: {
      ActionEntity& action = actions.Mutable(stream);
      action.status = event.status_changed().to();
      action.status_position = position;
      if (action.status_setter.YieldsTo(effective, position)) {
        action.status_setter = {position, effective};
        action.effective_status = action.status;
      }
      action.version = event.version();
      break;
    }
    case v1::Event::kUpdateRecorded: {
      ActionEntity& action = actions.Mutable(stream);
      action.version = event.version();
      const std::string& period = event.update_recorded().period();
      auto mark = std::find_if(action.narratives.begin(), action.narratives.end(),
                               [&](const NarrativeMark& m) { return m.period == period; });
      if (mark == action.narratives.end()) {
        mark = action.narratives.insert(action.narratives.end(), NarrativeMark{period});
      }
      mark->text_hash = NarrativeHash(event.update_recorded().narrative());
      mark->position = position;
      mark->corrected_by = 0;
      // Stored events come from disk: a period the log never opened is not
      // made up here.
      const PeriodEntity* found = periods.Find(period);
      if (found != nullptr && effective >= found->last_update_us) {
        PeriodEntity& entity = periods.Mutable(period);
        entity.last_update_us = effective;
        entity.last_update_position = position;
      }
      break;
    }
    case v1::Event::kTargetDateRevised: {
      ActionEntity& action = actions.Mutable(stream);
      action.target_date = event.target_date_revised().to();
      action.target_date_position = position;
      if (action.target_date_setter.YieldsTo(effective, position)) {
        action.target_date_setter = {position, effective};
        action.effective_target_date = action.target_date;
      }
      action.version = event.version();
      break;
    }
    case v1::Event::kOwnerAssigned: {
      ActionEntity& action = actions.Mutable(stream);
      action.owner = event.owner_assigned().to();
      if (action.owner_setter.YieldsTo(effective, position)) {
        action.owner_setter = {position, effective};
        action.effective_owner = action.owner;
      }
      action.version = event.version();
      break;
    }
    case v1::Event::kDescriptionAmended: {
      ActionEntity& action = actions.Mutable(stream);
      action.description = event.description_amended().to();
      action.description_position = position;
      if (action.description_setter.YieldsTo(effective, position)) {
        action.description_setter = {position, effective};
      }
      action.version = event.version();
      break;
    }
    case v1::Event::kPeriodOpened: {
      PeriodEntity& period = periods.Mutable(stream);
      period.title = event.period_opened().title();
      period.since_us = Micros(event.effective_at());
      period.open = true;
      period.version = event.version();
      break;
    }
    case v1::Event::kPeriodClosed: {
      PeriodEntity& period = periods.Mutable(stream);
      period.open = false;
      period.version = event.version();
      auto parsed = ParseName("stream", stream);
      if (parsed.ok()) {
        plans.Mutable(parsed->PlanName()).closed.push_back({stream, effective, position});
      }
      break;
    }
    case v1::Event::kEventCorrected: {
      // Corrections are only ever appended to action streams.
      ActionEntity& action = actions.Mutable(stream);
      const auto& c = event.event_corrected();
      const uint64_t target = c.corrected_position();
      action.latest_correction[target] = position;
      switch (c.replacement_case()) {
        case v1::EventCorrected::kTargetDate:
          if (action.target_date_position == target) action.target_date = c.target_date();
          if (action.target_date_setter.position == target) {
            action.effective_target_date = c.target_date();
          }
          break;
        case v1::EventCorrected::kDescription:
          if (action.description_position == target) action.description = c.description();
          break;
        case v1::EventCorrected::kStatus:
          if (action.status_position == target) action.status = c.status();
          if (action.status_setter.position == target) action.effective_status = c.status();
          break;
        case v1::EventCorrected::kNarrative:
          // Only a correction of the update that set a period's narrative
          // changes what the state now shows.
          for (NarrativeMark& mark : action.narratives) {
            if (mark.position == target) {
              mark.text_hash = NarrativeHash(c.narrative());
              mark.corrected_by = position;
            }
          }
          break;
        case v1::EventCorrected::REPLACEMENT_NOT_SET:
          break;
      }
      action.version = event.version();
      break;
    }
    case v1::Event::PAYLOAD_NOT_SET:
      // Nothing to fold; the ledger reports such a stored event as damage
      // when it opens.
      break;
  }
}

}  // namespace auditledger::domain
