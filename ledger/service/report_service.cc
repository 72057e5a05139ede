#include "ledger/service/report_service.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "ledger/domain/decide.h"
#include "ledger/domain/names.h"
#include "ledger/domain/target_date.h"
#include "ledger/service/grpc_status.h"
#include "ledger/service/model_reader.h"
#include "ledger/store/sha256.h"
#include "projections/projection.h"

namespace auditledger::service {
namespace {

std::string LongDay(uint64_t micros) {
  return absl::FormatTime("%e %B %Y", absl::FromUnixMicros(static_cast<int64_t>(micros)),
                          absl::UTCTimeZone());
}

std::string Trimmed(std::string s) {
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

// Sets the before-value of each status and target change of an action (in
// effective order) to the value in force then, from `start`, the action as
// it stood before the first of them; a correction of the change that set
// the value in force changes it too.
void InForceBefore(const v1::ActionView& start, std::vector<v1::Change>* changes) {
  struct Field {
    std::string value;
    uint64_t setter = 0;  // the position of the change that set it
  };
  Field status{std::string(domain::StatusName(start.status())), start.status_position()};
  Field target{domain::FormatTargetDate(start.target_date()), start.target_date_position()};
  for (v1::Change& c : *changes) {
    Field* field = nullptr;
    if (c.type() == "status_changed") {
      field = &status;
    } else if (c.type() == "target_date_revised") {
      field = &target;
    } else if (c.corrects() != 0 && (c.field() == "status" || c.field() == "target_date")) {
      Field& corrected = c.field() == "status" ? status : target;
      // Only the correction of what is in force changes it.
      if (c.corrects() == corrected.setter) field = &corrected;
    }
    if (field == nullptr) continue;
    c.set_before(field->value);
    field->value = c.after();
    if (c.corrects() == 0) field->setter = c.position();
  }
}

}  // namespace

absl::StatusOr<report::ReportModel> ReportServiceImpl::BuildModel(
    const v1::RenderReportRequest& request, uint64_t known_at) {
  using projections::Micros;
  report::ReportModel model;
  // Whether a period had been closed by `known_at` (and, with `by`, when
  // the period `by` was closed, so that the previous period stays the one
  // closed before it however the ledger grows).
  auto closed_by = [known_at](const v1::PeriodView& p, uint64_t by = projections::kWholeLedger) {
    return !p.open() && p.closed_position() <= std::min(known_at, by);
  };
  ModelReader reader(runner_);
  absl::StatusOr<v1::PlanView> now = LoadPlan(reader, request.name());
  if (!now.ok()) return now.status();

  uint64_t moment = 0, previous = 0;
  v1::Clock clock = v1::EFFECTIVE;
  if (request.has_as_of()) {
    if (absl::Status s = CheckTimestamp("as_of", request.as_of()); !s.ok()) return s;
    moment = Micros(request.as_of());
    // A report is of a moment that has come: one of a later day would judge
    // RAG on a day not yet reached and call the plan's state then what it
    // is now. The end of today (UTC) is allowed, as "as of today".
    const absl::Time end_of_today = absl::FromCivil(
        absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()) + 1, absl::UTCTimeZone());
    // On the recorded clock the moment must have come too: what the ledger
    // said at a later one is not known yet (a few seconds allowed for a
    // client's clock ahead of ours).
    if (request.clock() != v1::EFFECTIVE &&
        moment > static_cast<uint64_t>(absl::ToUnixMicros(absl::Now() + absl::Seconds(5)))) {
      return absl::InvalidArgumentError(
          "as_of: after now; on the recorded clock a report says what the ledger said at a "
          "moment that has come");
    }
    if (moment >= static_cast<uint64_t>(absl::ToUnixMicros(end_of_today))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "as_of: ",
          absl::FormatTime("%Y-%m-%d", absl::FromUnixMicros(static_cast<int64_t>(moment)),
                           absl::UTCTimeZone()),
          " is after today; a report is of a moment that has come"));
    }
    clock = request.clock() == v1::EFFECTIVE ? v1::EFFECTIVE : v1::RECORDED;
    const bool effective = clock == v1::EFFECTIVE;
    model.heading = absl::StrCat("Position as of ", Trimmed(LongDay(moment)));
    model.moment = absl::StrCat(
        absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                         absl::FromUnixMicros(static_cast<int64_t>(moment)), absl::UTCTimeZone()),
        effective ? " (what was true then: each change as of the date it took effect)"
                  : " (what the ledger had recorded by then)");
    // The previous period: the latest one closed by then.
    for (const v1::PeriodView& p : now->periods()) {
      if (!closed_by(p)) continue;
      const uint64_t closed = Micros(effective ? p.closed_effective() : p.closed_at());
      if (closed <= moment && closed >= previous) {
        previous = closed;
        model.previous_heading = p.title();
      }
    }
  } else if (!request.period().empty()) {
    auto parsed = domain::ParseNameOf(domain::Kind::kPeriod, "period", request.period());
    if (!parsed.ok()) return parsed.status();
    const v1::PeriodView* period = nullptr;
    const v1::PeriodView* before = nullptr;
    for (const v1::PeriodView& p : now->periods()) {
      if (p.name() == request.period()) {
        period = &p;
        break;
      }
    }
    if (period == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("period: reporting period ", request.period(), " not found"));
    }
    // Open as far as the ledger read goes: a close after `known_at` is not
    // reflected yet.
    const bool open = !closed_by(*period);
    if (open && request.ledger_position() != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ledger_position: ", request.period(), " was not closed at position ", known_at,
          "; a draft reports the moment it is asked for, so only a closed period's report can "
          "be asked for as the ledger stood"));
    }
    model.period = period->name();
    model.heading = period->title();
    model.draft = open;
    moment = open ? static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()))
                  : Micros(period->closed_effective());
    model.moment = absl::StrCat(
        open ? "now" : absl::StrCat("the close of the period, ", Trimmed(LongDay(moment))),
        " (each change as of the date it took effect)");
    // The previous period: the latest opened before it that was closed when
    // it was (for a draft, by now), and took effect by its close; its
    // events are then all reflected in the report's position.
    for (const v1::PeriodView& p : now->periods()) {
      if (&p == period) break;
      if (closed_by(p, open ? projections::kWholeLedger : period->closed_position()) &&
          Micros(p.closed_effective()) <= moment) {
        before = &p;
      }
    }
    if (before != nullptr) {
      previous = Micros(before->closed_effective());
      model.previous_heading = before->title();
    }
  } else {
    return absl::InvalidArgumentError("moment: give a period or as_of");
  }

  absl::StatusOr<v1::PlanSnapshot> snapshot =
      SnapshotOf(reader, request.name(), moment, clock, known_at);
  if (!snapshot.ok()) return snapshot.status();
  model.plan = snapshot->plan();
  model.day = DayOf(moment);
  model.position = model.plan.max_position();
  std::vector<v1::ActionView> actions(snapshot->actions().begin(), snapshot->actions().end());
  std::map<std::string, int> order;
  for (const auto& r : model.plan.recommendations()) order[r.name()] = r.number();
  std::sort(actions.begin(), actions.end(), [&](const v1::ActionView& a, const v1::ActionView& b) {
    if (order[a.recommendation()] != order[b.recommendation()]) {
      return order[a.recommendation()] < order[b.recommendation()];
    }
    return report::NaturalLess(a.name(), b.name());
  });
  for (const v1::ActionView& a : actions) {
    model.position = std::max(model.position, a.max_position());
  }
  model.actions = std::move(actions);

  if (!model.previous_heading.empty()) {
    absl::StatusOr<v1::PlanSnapshot> prior =
        SnapshotOf(reader, request.name(), previous, clock, known_at);
    if (prior.ok()) {
      for (const v1::ActionView& a : prior->actions()) model.previous[a.name()] = a;
    } else if (!absl::IsNotFound(prior.status())) {
      return prior.status();
    }
  }
  // The audit appendix lists at most the latest kAuditPerAction changes of
  // an action in the window, and says how many it left out.
  constexpr size_t kAuditPerAction = 50;
  // The appendix covers what "what changed" compares: what took effect
  // after the previous period closed, to the moment reported (a change
  // dated between that close and this period's opening too). Without a
  // previous period, a period's is what took effect from its opening.
  uint64_t after = model.previous_heading.empty() ? 0 : previous;
  if (!model.period.empty() && model.previous_heading.empty()) {
    for (const v1::PeriodView& p : now->periods()) {
      if (p.name() == model.period) {
        const uint64_t opened = Micros(p.opened_effective());
        if (opened > 0) after = std::max(after, opened - 1);
      }
    }
  }
  // The dated changes of every action in one pass, rather than a search of
  // each action's.
  absl::flat_hash_map<std::string, std::vector<ChangeEntry>> dated;
  if (clock == v1::EFFECTIVE) {
    absl::StatusOr<absl::flat_hash_map<std::string, std::vector<ChangeEntry>>> found =
        DatedChangesUnder(reader, request.name(), after, moment, known_at);
    if (!found.ok()) return found.status();
    dated = *std::move(found);
  }
  const std::vector<ChangeEntry> none;
  for (const v1::ActionView& a : model.actions) {
    uint64_t left_out = 0;
    const auto found = dated.find(a.name());
    absl::StatusOr<std::vector<v1::Change>> changes =
        StreamChangesBetween(reader, a.name(), clock, after, moment, kAuditPerAction, &left_out,
                             known_at, found == dated.end() ? &none : &found->second);
    if (!changes.ok()) return changes.status();
    if (!changes->empty()) model.audit[a.name()] = *std::move(changes);
    if (left_out > 0) model.audit_left_out[a.name()] = left_out;
  }
  // Only status and target changes (and their corrections) have a value in
  // force to give them.
  const bool has_field_changes =
      std::any_of(model.audit.begin(), model.audit.end(), [](const auto& entry) {
        return std::any_of(entry.second.begin(), entry.second.end(), [](const v1::Change& c) {
          return c.field() == "status" || c.field() == "target_date";
        });
      });
  if (clock == v1::EFFECTIVE && has_field_changes) {
    // In effective order a change back-dated behind a later one changed
    // what was in force at its time, not what its event says it changed
    // (the value when it was recorded): each status and target change's
    // before-value is the one in force, from the action as it stood when
    // the appendix's window opened.
    std::map<std::string, v1::ActionView> start;
    if (!model.previous_heading.empty() && after == previous) {
      start = model.previous;
    } else {
      absl::StatusOr<v1::PlanSnapshot> opened =
          SnapshotOf(reader, request.name(), after, clock, known_at);
      if (opened.ok()) {
        for (v1::ActionView& a : *opened->mutable_actions()) {
          std::string name = a.name();
          start[std::move(name)] = std::move(a);
        }
      } else if (!absl::IsNotFound(opened.status())) {
        return opened.status();
      }
    }
    for (auto& [name, changes] : model.audit) {
      auto at = start.find(name);
      if (at == start.end()) continue;  // added within the window: as recorded
      // The earliest changes left out of the appendix would set what the
      // first listed ones changed: those keep what their events say.
      if (model.audit_left_out.count(name) > 0) continue;
      InForceBefore(at->second, &changes);
    }
  }
  if (model.position > 0) {
    absl::StatusOr<store::LoggedEvent> head = log_->Read(model.position);
    if (!head.ok()) return head.status();
    model.head_hash_hex = store::ToHex(head->hash());
  }
  if (damaged_at_ != 0) {
    // What it reads may not be what was recorded: no promise of the same
    // bytes again, and a warning before anything else.
    model.damage = absl::StrCat(
        "This ledger failed its integrity check at position ", damaged_at_,
        " when ledgerd opened it: what this report shows may not be what was recorded. Restore "
        "the ledger from a backup and verify it (ledgerctl verify) before relying on it.");
  }
  if (request.include_generated_at()) {
    model.generated_at =
        absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::Now(), absl::UTCTimeZone());
  } else if (!model.draft && model.position > 0 && model.damage.empty()) {
    // How to have these bytes again: a draft's moment is "now", and a
    // "generated at" line differs run to run, so they have none.
    model.again = "ledgerctl report ";
    if (!model.period.empty()) {
      absl::StrAppend(&model.again, "--period ", model.period.substr(model.period.rfind('/') + 1));
    } else {
      absl::StrAppend(&model.again, "--as-of ",
                      google::protobuf::util::TimeUtil::ToString(request.as_of()), " --clock ",
                      clock == v1::EFFECTIVE ? "effective" : "recorded");
    }
    if (request.format() == v1::HTML) absl::StrAppend(&model.again, " --format html");
    if (request.format() == v1::CSV) absl::StrAppend(&model.again, " --format csv");
    absl::StrAppend(&model.again, " --position ", model.position);
  }
  return model;
}

grpc::Status ReportServiceImpl::RenderReport(grpc::ServerContext* context,
                                             const v1::RenderReportRequest* request,
                                             v1::Report* response) {
  if (absl::Status s = AuthenticateAndWait(*auth_, *runner_, context, request->min_position());
      !s.ok()) {
    return ToGrpc(s);
  }
  absl::StatusOr<uint64_t> known_at = KnownAt(*log_, *runner_, context, request->ledger_position());
  if (!known_at.ok()) return ToGrpc(known_at.status());
  // The models advance each on its own worker: read them all as of the
  // position every one has reached, so that the report's position covers
  // all it shows (and asked for at that position gives the same bytes).
  if (*known_at == projections::kWholeLedger) known_at = runner_->position();
  absl::StatusOr<report::ReportModel> model = BuildModel(*request, *known_at);
  if (!model.ok()) return ToGrpc(model.status());
  std::string base = request->name().substr(6);
  if (!model->period.empty()) {
    absl::StrAppend(&base, "-", model->period.substr(model->period.rfind('/') + 1));
  } else {
    absl::StrAppend(&base, "-as-of-", absl::FormatCivilTime(model->day));
  }
  switch (request->format()) {
    case v1::HTML:
      response->set_content(report::RenderHtml(*model));
      response->set_content_type("text/html; charset=utf-8");
      response->set_filename(base + ".html");
      break;
    case v1::CSV:
      response->set_content(report::RenderCsv(*model));
      response->set_content_type("text/csv; charset=utf-8");
      response->set_filename(base + ".csv");
      break;
    default:
      response->set_content(report::RenderMarkdown(*model));
      response->set_content_type("text/markdown; charset=utf-8");
      response->set_filename(base + ".md");
  }
  response->set_position(model->position);
  response->set_head_hash(absl::HexStringToBytes(model->head_hash_hex));
  response->set_integrity_warning(model->damage);
  return grpc::Status::OK;
}

}  // namespace auditledger::service
