#include "report/report_model.h"

#include <csv.h>

#include <algorithm>
#include <cassert>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "ledger/domain/names.h"
#include "ledger/domain/target_date.h"
#include "projections/fold.h"

namespace auditledger::report {

const v1::Narrative* ShownNarrative(const ReportModel& model, const v1::ActionView& action) {
  const v1::Narrative* shown = nullptr;
  for (const v1::Narrative& n : action.narratives()) {
    if (!model.period.empty()) {
      if (n.period() == model.period) shown = &n;
    } else if (shown == nullptr || n.effective_at().seconds() >= shown->effective_at().seconds()) {
      shown = &n;
    }
  }
  return shown;
}

std::string TargetText(const v1::ActionView& action) {
  std::string text = domain::FormatTargetDate(action.target_date());
  if (action.target_revisions() > 0 && domain::IsSet(action.original_target_date()) &&
      !domain::SameTargetDate(action.original_target_date(), action.target_date())) {
    absl::StrAppend(&text, " (was ", domain::FormatTargetDate(action.original_target_date()), ")");
  }
  return text;
}

// How far the target moved from the one adopted (or first set, for an action
// adopted without one): "3 months later", "12 days earlier"; "back to the
// adopted date" when revised and then restored.
std::string MovedText(const v1::ActionView& action) {
  // A revision is of a target there was: the original is set.
  assert(domain::IsSet(action.original_target_date()));
  if (!domain::IsSet(action.original_target_date())) return "revised";
  if (!domain::IsSet(action.target_date())) return "removed";
  const v1::TargetDate& was = action.original_target_date();
  const v1::TargetDate& now = action.target_date();
  auto text = [](int64_t n, absl::string_view unit, bool later) {
    return absl::StrCat(n, " ", unit, n == 1 ? "" : "s", later ? " later" : " earlier");
  };
  // Months between month targets; days once either gives a day ("March
  // 2025" holds to its last day, so to "1 April 2025" is 1 day later).
  if (was.day() == 0 && now.day() == 0) {
    const int months = (now.year() * 12 + now.month()) - (was.year() * 12 + was.month());
    if (months != 0) return text(months > 0 ? months : -months, "month", months > 0);
  }
  const int64_t days = domain::DueDay(now) - domain::DueDay(was);
  if (days != 0) return text(days > 0 ? days : -days, "day", days > 0);
  return "back to the adopted date";
}

std::map<std::string, Counts> CountActions(const ReportModel& model) {
  std::map<std::string, Counts> out;
  for (const v1::ActionView& a : model.actions) {
    for (Counts* c : {&out[a.recommendation()], &out[""]}) {
      c->total++;
      switch (a.status()) {
        case v1::COMPLETE:
          c->complete++;
          break;
        case v1::ONGOING:
          c->ongoing++;
          break;
        case v1::PAUSED:
          c->paused++;
          break;
        case v1::STOPPED:
          c->stopped++;
          break;
        default:
          c->not_started++;
          break;
      }
      switch (a.rag()) {
        case v1::RED:
          c->red++;
          break;
        case v1::AMBER:
          c->amber++;
          break;
        default:
          c->green++;
          break;
      }
    }
  }
  return out;
}

std::string Short(const std::string& action_name) {
  auto parsed = domain::ParseName("name", action_name);
  if (!parsed.ok() || parsed->kind != domain::Kind::kAction) return action_name;
  return absl::StrCat(parsed->recommendation, "/", parsed->action);
}

std::vector<TableData> ChangeTables(const ReportModel& m) {
  TableData status{"Status changes", {"Action", "From", "To", "Reason"}, {}, {}};
  TableData targets{"Revised target dates", {"Action", "From", "To", "Reason"}, {}, {}};
  TableData first{"Target dates set", {"Action", "Target date", "Reason"}, {}, {}};
  TableData amended{"Amended descriptions", {"Action", "Was", "Now"}, {}, {}};
  TableData added{"New actions", {"Action", "Description"}, {}, {}};
  TableData held{"Paused and stopped actions", {"Action", "Status", "Reason"}, {}, {}};
  // The reasons of the period's revisions (those `was` does not have), each
  // once: a target moved twice for the same reason reads as one reason.
  auto reasons = [](const v1::ActionView* was, const v1::ActionView& a, bool with_first) {
    std::vector<std::string> out;
    for (const v1::TargetRevision& r : a.revisions()) {
      bool known = false;
      if (was != nullptr) {
        for (const v1::TargetRevision& k : was->revisions()) known |= k.position() == r.position();
      }
      if (known || r.reason().empty() || (r.first_target() && !with_first)) continue;
      if (std::find(out.begin(), out.end(), r.reason()) == out.end()) out.push_back(r.reason());
    }
    return absl::StrJoin(out, "; ");
  };
  // A row of the revisions for an action moved from its original target
  // (as added, or first given) within the period.
  auto moved_from_original = [&](const std::string& id, const v1::ActionView* was,
                                 const v1::ActionView& a) {
    if (a.target_revisions() > 0 &&
        !domain::SameTargetDate(a.original_target_date(), a.target_date())) {
      targets.rows.push_back({id, domain::FormatTargetDate(a.original_target_date()),
                              domain::FormatTargetDate(a.target_date()), reasons(was, a, false)});
    }
  };
  for (const v1::ActionView& a : m.actions) {
    const std::string id = Short(a.name());
    auto before = m.previous.find(a.name());
    if (before == m.previous.end()) {
      added.rows.push_back({id, a.description()});
      // Added and moved since the previous period: a revision of the target
      // it was added with (or first given). The first period has nothing
      // before it to say what is new.
      if (!m.previous_heading.empty()) moved_from_original(id, nullptr, a);
    } else {
      const v1::ActionView& was = before->second;
      if (was.status() != a.status()) {
        status.rows.push_back({id, projections::StatusText(was.status()),
                               projections::StatusText(a.status()), a.status_reason()});
      }
      if (!domain::SameTargetDate(was.target_date(), a.target_date())) {
        if (!domain::IsSet(was.original_target_date()) && domain::IsSet(a.target_date())) {
          // It had none until this period: given one, it has not slipped;
          // moved from it since, that is a revision.
          std::string first_reason;
          for (const v1::TargetRevision& r : a.revisions()) {
            if (r.first_target()) first_reason = r.reason();
          }
          first.rows.push_back(
              {id, domain::FormatTargetDate(a.original_target_date()), first_reason});
          moved_from_original(id, &was, a);
        } else {
          targets.rows.push_back({id, domain::FormatTargetDate(was.target_date()),
                                  domain::FormatTargetDate(a.target_date()),
                                  reasons(&was, a, false)});
        }
      }
      if (was.description() != a.description()) {
        amended.rows.push_back({id, was.description(), a.description()});
      }
    }
    if (a.status() == v1::PAUSED || a.status() == v1::STOPPED) {
      held.rows.push_back({id, projections::StatusText(a.status()), a.status_reason()});
    }
  }
  // Amendments and first targets are rare: their sections are there only
  // when there are some, so a report of a plan with none reads as it always
  // has.
  std::vector<TableData> tables = {status, targets};
  if (!first.rows.empty()) tables.push_back(first);
  if (!amended.rows.empty()) tables.push_back(amended);
  tables.push_back(added);
  tables.push_back(held);
  return tables;
}

std::vector<TableData> OverdueTables(const ReportModel& m) {
  TableData overdue{absl::StrCat("Overdue on ", LongDate(m.day)),
                    {"Action", "Description", "Target date", "Status"},
                    {},
                    {}};
  // Moved later (slipped) or brought forward: each says which, and how far.
  TableData slipped{"Target dates revised (slipped or brought forward)",
                    {"Action", "Description", "Target date", "Revisions", "Moved"},
                    {},
                    {}};
  for (const v1::ActionView& a : m.actions) {
    if (a.overdue()) {
      overdue.rows.push_back(
          {Short(a.name()), a.description(), TargetText(a), projections::StatusText(a.status())});
    }
    if (a.target_revisions() > 0) {
      slipped.rows.push_back({Short(a.name()), a.description(), TargetText(a),
                              absl::StrCat(a.target_revisions()), MovedText(a)});
    }
  }
  return {overdue, slipped};
}

TableData AuditTable(const ReportModel& m, const v1::ActionView& a,
                     const std::vector<v1::Change>& changes) {
  std::string title = absl::StrCat(Short(a.name()), ": ", a.description());
  std::string note;
  if (auto left = m.audit_left_out.find(a.name()); left != m.audit_left_out.end()) {
    note = absl::StrCat(" (the latest ", changes.size(), " changes; ", left->second,
                        " earlier ones in this period are in `ledgerctl action timeline ",
                        Short(a.name()), "`)");
  }
  TableData t{
      title, {"Event", "Recorded (UTC)", "Effective", "Who", "What", "Change", "Reason"}, {}, note};
  for (const v1::Change& c : changes) {
    std::string what = FieldLabel(c.field());
    if (c.corrects() != 0) {
      what = absl::StrCat("Correction of event ", c.corrects(), " (", absl::AsciiStrToLower(what),
                          ")");
    }
    std::string change = projections::ChangeText(c);
    t.rows.push_back(
        {absl::StrCat(c.position()),
         absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(c.recorded_at().seconds()),
                          absl::UTCTimeZone()),
         absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(c.effective_at().seconds()),
                          absl::UTCTimeZone()),
         projections::ActorText(c), what, change, c.reason()});
  }
  return t;
}

std::vector<std::string> ActionRow(const ReportModel& m, const v1::ActionView& a) {
  const v1::Narrative* n = ShownNarrative(m, a);
  // An empty cell would read as something missing from the report.
  std::string update = n                  ? n->text()
                       : m.period.empty() ? "No update yet."
                                          : "No update this period.";
  // A report of a moment shows each action's latest update, which may be
  // of any period: it says which.
  if (n && m.period.empty() && !n->period_title().empty()) {
    absl::StrAppend(&update, " (", n->period_title(), ")");
  }
  if (n && n->corrected_by() != 0) {
    absl::StrAppend(&update, " (corrected: event ", n->corrected_by(), ")");
  }
  const std::string id = Short(a.name());
  return {id.substr(id.find('/') + 1), a.description(), TargetText(a),
          projections::StatusText(a.status()), update};
}

std::string UpdateColumn(const ReportModel& m) {
  return m.period.empty() ? "Latest update" : m.heading;
}

std::string FieldLabel(const std::string& field) {
  static const auto* const kLabels =
      new std::map<std::string, std::string>{{"action", "Action added"},
                                             {"status", "Status"},
                                             {"target_date", "Target date"},
                                             {"narrative", "Update"},
                                             {"description", "Description"},
                                             {"owner", "Owner"},
                                             {"recommendation", "Recommendation added"},
                                             {"plan", "Plan created"}};
  auto it = kLabels->find(field);
  return it == kLabels->end() ? field : it->second;
}

std::string LongDate(absl::CivilDay day) {
  return std::string(absl::StripLeadingAsciiWhitespace(absl::FormatTime(
      "%e %B %Y", absl::FromCivil(day, absl::UTCTimeZone()), absl::UTCTimeZone())));
}

std::string AuditScope(const ReportModel& m) {
  if (!m.previous_heading.empty()) return "since the previous period closed";
  return m.period.empty() ? "since the plan began" : "in this period";
}

std::string SummaryNote(const ReportModel& m) {
  return absl::StrCat(
      "RAG is judged on ", LongDate(m.day),
      ": red = not complete and overdue or stopped; amber = not complete and target "
      "revised, paused, or due within 30 days; green = complete or on track.");
}

std::string AmendmentNote(const ReportModel& m) {
  if (m.period.empty() || m.draft) return "";
  const v1::PeriodView* period = nullptr;
  for (const v1::PeriodView& p : m.plan.periods()) {
    if (p.name() == m.period) period = &p;
  }
  if (period == nullptr || period->open() || period->closed_position() == 0) return "";
  std::vector<uint64_t> later;
  for (const auto& [action, changes] : m.audit) {
    for (const v1::Change& c : changes) {
      if (c.position() > period->closed_position()) later.push_back(c.position());
    }
  }
  if (later.empty()) return "";
  std::sort(later.begin(), later.end());
  constexpr size_t kNamed = 10;
  std::vector<std::string> named;
  for (size_t i = 0; i < later.size() && i < kNamed; ++i) named.push_back(absl::StrCat(later[i]));
  std::string list;
  if (later.size() > kNamed) {
    list = absl::StrCat(absl::StrJoin(named, ", "), " and ", later.size() - kNamed, " more");
  } else if (named.size() == 1) {
    list = named[0];
  } else {
    list = absl::StrCat(absl::StrJoin(named.begin(), named.end() - 1, ", "), " and ", named.back());
  }
  const std::string id = m.period.substr(m.period.rfind('/') + 1);
  return absl::StrCat("Amended since the period closed: ", later.size() == 1 ? "event " : "events ",
                      list, later.size() == 1 ? " was" : " were",
                      " recorded after it closed (at ledger position ", period->closed_position(),
                      ") and ", later.size() == 1 ? "is" : "are",
                      " included here (see the audit appendix). The report as it stood when the "
                      "period closed: ledgerctl report --period ",
                      id, " --position ", period->closed_position(), ".");
}

bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (absl::ascii_isdigit(a[i]) && absl::ascii_isdigit(b[j])) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && absl::ascii_isdigit(a[i2])) ++i2;
      while (j2 < b.size() && absl::ascii_isdigit(b[j2])) ++j2;
      uint64_t x = 0, y = 0;
      (void)absl::SimpleAtoi(a.substr(i, i2 - i), &x);
      (void)absl::SimpleAtoi(b.substr(j, j2 - j), &y);
      if (x != y) return x < y;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string CsvCell(const std::string& text) {
  std::string value = text;
  if (!value.empty() && (value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@' ||
                         value[0] == '\t' || value[0] == '\r')) {
    value = std::string("'") + value;
  }
  std::string out(value.size() * 2 + 2, '\0');
  out.resize(csv_write(out.data(), out.size(), value.data(), value.size()));
  return out;
}

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace auditledger::report
