#include "clients/ledgerctl/plan_import.h"

#include <algorithm>
#include <cassert>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/ledgerctl/csv_reader.h"
#include "ledger/domain/names.h"
#include "ledger/domain/target_date.h"
#include "nlohmann/json.hpp"

namespace auditledger::ledgerctl {
namespace {

struct Period {
  std::string id;
  std::string title;
  google::protobuf::Timestamp opened;
  google::protobuf::Timestamp closed;
  bool has_closed = false;
};

bool ParseDate(const std::string& text, google::protobuf::Timestamp* out) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day)) return false;
  out->set_seconds(absl::ToUnixSeconds(absl::FromCivil(day, absl::UTCTimeZone())));
  out->set_nanos(0);
  return true;
}

std::string Trim(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

bool ParseStatus(const std::string& text, v1::ActionStatus* status) {
  std::string s = absl::AsciiStrToUpper(Trim(text));
  for (char& c : s) {
    if (c == ' ' || c == '-') c = '_';
  }
  if (s == "NOT_STARTED")
    *status = v1::NOT_STARTED;
  else if (s == "ONGOING")
    *status = v1::ONGOING;
  else if (s == "COMPLETE" || s == "COMPLETED")
    *status = v1::COMPLETE;
  else if (s == "PAUSED")
    *status = v1::PAUSED;
  else if (s == "STOPPED")
    *status = v1::STOPPED;
  else
    return false;
  return true;
}

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

template <typename Request>
void Stamp(Request* r, const google::protobuf::Timestamp& when, const std::string& reason) {
  *r->mutable_effective_time() = when;
  r->set_reason(reason);
}

}  // namespace

google::protobuf::Timestamp PeriodCloseOn(absl::CivilDay day) {
  // Today's end is now; a later day's is left for ledgerd to refuse as in
  // the future, not quietly made today.
  const absl::Time now = absl::Now();
  int64_t end = absl::ToUnixMicros(absl::FromCivil(day + 1, absl::UTCTimeZone())) - 1;
  if (day <= absl::ToCivilDay(now, absl::UTCTimeZone())) {
    end = std::min(end, absl::ToUnixMicros(now));
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(end / 1000000);
  ts.set_nanos(static_cast<int>(end % 1000000) * 1000);
  return ts;
}

PlanImport BuildPlanImport(const std::string& directory) {
  bool ok = false;
  std::string manifest = ReadFile(directory + "/plan.json", &ok);
  if (!ok) {
    PlanImport out;
    out.errors.push_back(absl::StrCat(directory, "/plan.json: cannot be read"));
    return out;
  }
  return BuildPlanImportFromFiles(manifest, directory);
}

PlanImport BuildPlanImportFromFiles(const std::string& manifest_text, const std::string& base) {
  PlanImport out;
  auto error = [&](std::string message) { out.errors.push_back(std::move(message)); };
  const std::string manifest_path = base + "/plan.json";
  nlohmann::json m = nlohmann::json::parse(manifest_text, nullptr, false);
  if (m.is_discarded() || !m.is_object()) {
    error(absl::StrCat(manifest_path, ": not a JSON object"));
    return out;
  }
  // A key misspelt would otherwise leave out what it was meant to give.
  auto known_keys = [&](const nlohmann::json& object, const std::vector<std::string>& keys,
                        const std::string& where, const char* what) {
    for (const auto& [key, value] : object.items()) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        error(absl::StrCat(where, ": \"", key, "\": not a key of ", what, " (",
                           absl::StrJoin(keys, ", "), ")"));
      }
    }
  };
  known_keys(m,
             {"plan_id", "title", "council", "description", "adopted", "periods", "actions",
              "recommendations"},
             manifest_path, "a plan manifest");
  auto str = [&](const char* key, bool required) -> std::string {
    if (!m.contains(key) || !m[key].is_string()) {
      if (required) error(absl::StrCat(manifest_path, ": \"", key, "\": required string"));
      return "";
    }
    return m[key].get<std::string>();
  };
  const std::string plan_id = str("plan_id", true);
  const std::string title = str("title", true);
  const std::string council = str("council", false);
  const std::string description = str("description", false);
  const std::string adopted_text = str("adopted", true);
  const std::string recs_file = str("recommendations", true);
  const std::string actions_file = str("actions", true);
  google::protobuf::Timestamp adopted;
  if (!adopted_text.empty() && !ParseDate(adopted_text, &adopted)) {
    error(absl::StrCat(manifest_path, ": \"adopted\": \"", adopted_text,
                       "\" is not a date (YYYY-MM-DD)"));
  }
  if (!plan_id.empty() && !domain::IsValidId(plan_id)) {
    error(absl::StrCat(manifest_path, ": \"plan_id\": \"", plan_id,
                       "\" is not a valid id (a-z, 0-9, '-')"));
  }
  std::vector<Period> periods;
  if (m.contains("periods") && m["periods"].is_array()) {
    int i = 0;
    for (const auto& p : m["periods"]) {
      const std::string where = absl::StrCat(manifest_path, ": periods[", i++, "]");
      Period period;
      if (p.is_object()) known_keys(p, {"id", "title", "opened", "closed"}, where, "a period");
      if (!p.is_object() || !p.contains("id") || !p["id"].is_string() || !p.contains("title") ||
          !p["title"].is_string() || !p.contains("opened") || !p["opened"].is_string()) {
        error(absl::StrCat(where, ": needs string fields id, title, opened"));
        continue;
      }
      period.id = p["id"].get<std::string>();
      period.title = p["title"].get<std::string>();
      if (!domain::IsValidId(period.id)) {
        error(absl::StrCat(where, ".id: \"", period.id, "\" is not a valid id"));
      }
      if (!ParseDate(p["opened"].get<std::string>(), &period.opened)) {
        error(absl::StrCat(where, ".opened: not a date (YYYY-MM-DD)"));
      }
      if (p.contains("closed")) {
        absl::CivilDay day;
        period.has_closed =
            p["closed"].is_string() && absl::ParseCivilTime(p["closed"].get<std::string>(), &day);
        if (period.has_closed) period.closed = PeriodCloseOn(day);
        if (!period.has_closed) error(absl::StrCat(where, ".closed: not a date (YYYY-MM-DD)"));
      }
      periods.push_back(period);
    }
  } else {
    error(absl::StrCat(manifest_path, ": \"periods\": required array"));
  }
  if (!out.errors.empty()) return out;

  const std::string plan_name = domain::PlanName(plan_id);
  out.plan_name = plan_name;
  {
    v1::Command c;
    auto* r = c.mutable_create_plan();
    r->set_plan_id(plan_id);
    r->set_title(title);
    r->set_council(council);
    r->set_description(description);
    *r->mutable_effective_time() = adopted;
    out.commands.push_back(c);
    out.origins.push_back(manifest_path);
  }

  // Recommendations.
  CsvFile recs = ReadCsv(base + "/" + recs_file);
  out.errors.insert(out.errors.end(), recs.errors.begin(), recs.errors.end());
  std::set<std::string> rec_ids;
  std::map<int, std::string> numbers;  // to the id of the first row given it
  if (recs.errors.empty()) {
    std::map<std::string, int> col;
    for (const char* name : {"number", "id", "title", "text"}) {
      col[name] = Column(recs, name);
      if (col[name] < 0) {
        error(absl::StrCat(recs.path, ":1: missing column \"", name,
                           "\" (expected number,id,title,text)"));
      }
    }
    if (out.errors.empty()) {
      for (const CsvRow& row : recs.rows) {
        auto cell = [&](const char* name) {
          size_t i = static_cast<size_t>(col[name]);
          return i < row.fields.size() ? row.fields[i] : std::string();
        };
        auto bad = [&](const char* column, const std::string& why) {
          error(absl::StrCat(recs.path, ":", row.line, ": column ", column, ": ", why));
        };
        if (row.fields.size() != recs.header.size()) {
          bad("*", absl::StrCat("has ", row.fields.size(), " fields, the header has ",
                                recs.header.size()));
          continue;
        }
        int number = 0;
        const std::string id = Trim(cell("id"));
        if (!absl::SimpleAtoi(Trim(cell("number")), &number) || number < 1) {
          bad("number", absl::StrCat("\"", cell("number"), "\" is not a positive number"));
        } else if (auto [taken, fresh] = numbers.try_emplace(number, id); !fresh) {
          bad("number", absl::StrCat(number, " is ", taken->second,
                                     "'s too: each recommendation has its own number"));
        }
        if (!domain::IsValidId(id)) bad("id", absl::StrCat("\"", id, "\" is not a valid id"));
        if (!rec_ids.insert(id).second) bad("id", absl::StrCat("duplicate id \"", id, "\""));
        if (Trim(cell("title")).empty()) bad("title", "required");
        v1::Command c;
        auto* r = c.mutable_add_recommendation();
        r->set_parent(plan_name);
        r->set_recommendation_id(id);
        r->set_number(number);
        r->set_title(Trim(cell("title")));
        r->set_text(cell("text"));
        *r->mutable_effective_time() = adopted;
        out.commands.push_back(c);
        out.origins.push_back(absl::StrCat(recs.path, ":", row.line));
        out.recommendations++;
      }
    }
  }

  // Actions, grouped by period.
  CsvFile actions = ReadCsv(base + "/" + actions_file);
  out.errors.insert(out.errors.end(), actions.errors.begin(), actions.errors.end());
  if (!actions.errors.empty()) return out;
  const char* kColumns[] = {"recommendation", "action_id", "description", "target_date",
                            "status",         "owner",     "period",      "update"};
  std::map<std::string, int> col;
  for (const char* name : kColumns) {
    col[name] = Column(actions, name);
    if (col[name] < 0) {
      error(absl::StrCat(actions.path, ":1: missing column \"", name,
                         "\" (expected recommendation,action_id,description,"
                         "target_date,status,owner,period,update)"));
    }
  }
  if (!out.errors.empty()) return out;

  struct ActionState {
    v1::TargetDate target;
    std::string owner;
    std::string description;
    v1::ActionStatus status = v1::NOT_STARTED;
  };
  std::map<std::string, ActionState> known;  // action name -> as recorded so far
  std::vector<std::string> order;
  std::map<std::string, std::vector<v1::Command>> by_period;
  std::set<std::pair<std::string, std::string>> seen;  // (action, period)
  std::vector<v1::Command> adds;
  std::map<std::string, std::vector<std::string>> by_period_origins;  // as by_period
  std::vector<std::string> add_origins;                               // as adds
  for (const CsvRow& row : actions.rows) {
    auto cell = [&](const char* name) {
      size_t i = static_cast<size_t>(col[name]);
      return i < row.fields.size() ? row.fields[i] : std::string();
    };
    auto bad = [&](const char* column, const std::string& why) {
      error(absl::StrCat(actions.path, ":", row.line, ": column ", column, ": ", why));
    };
    if (row.fields.size() != actions.header.size()) {
      bad("*", absl::StrCat("has ", row.fields.size(), " fields, the header has ",
                            actions.header.size()));
      continue;
    }
    const std::string rec = Trim(cell("recommendation"));
    const std::string id = Trim(cell("action_id"));
    bool row_ok = true;
    if (!rec_ids.count(rec)) {
      bad("recommendation", absl::StrCat("\"", rec, "\" is not in ", recs.path));
      row_ok = false;
    }
    if (!domain::IsValidId(id)) {
      bad("action_id", absl::StrCat("\"", id, "\" is not a valid id (a-z, 0-9, '-')"));
      row_ok = false;
    }
    v1::TargetDate target;
    // "TBC", "N/A", "Ongoing", …: the spreadsheet's way of giving none.
    const std::string target_text =
        domain::SaysNoTargetDate(cell("target_date")) ? "" : Trim(cell("target_date"));
    if (!target_text.empty()) {
      auto parsed = domain::ParseTargetDate("target_date", target_text);
      if (!parsed.ok()) {
        bad("target_date", std::string(parsed.status().message()).substr(13));
        row_ok = false;
      } else {
        target = *parsed;
      }
    }
    v1::ActionStatus status = v1::NOT_STARTED;
    if (!ParseStatus(cell("status"), &status)) {
      bad("status", absl::StrCat("\"", cell("status"),
                                 "\" is not a status (Not started, Ongoing, Complete, "
                                 "Paused, Stopped)"));
      row_ok = false;
    }
    const std::string period_text = Trim(cell("period"));
    const Period* period = nullptr;
    for (const Period& p : periods) {
      if (p.title == period_text || p.id == period_text) period = &p;
    }
    if (period == nullptr) {
      bad("period", absl::StrCat("\"", period_text, "\" is not a period of plan.json"));
      row_ok = false;
    }
    const std::string name = domain::ActionName(plan_id, rec, id);
    if (row_ok && !seen.insert({name, period->id}).second) {
      bad("action_id",
          absl::StrCat("duplicate action \"", rec, "/", id, "\" in period \"", period_text, "\""));
      row_ok = false;
    }
    const std::string description = Trim(cell("description"));
    const std::string owner = Trim(cell("owner"));
    if (!known.count(name) && description.empty()) {
      bad("description", "required on an action's first row");
      row_ok = false;
    }
    if (!row_ok) continue;

    const std::string reason = absl::StrCat("As reported in: ", period->title);
    std::vector<v1::Command>& cmds = by_period[period->id];
    const std::string origin = absl::StrCat(actions.path, ":", row.line);
    [[maybe_unused]] const size_t adds_before = adds.size();
    [[maybe_unused]] const size_t cmds_before = cmds.size();
    if (!known.count(name)) {
      v1::Command c;
      auto* r = c.mutable_add_action();
      r->set_parent(domain::RecommendationName(plan_id, rec));
      r->set_action_id(id);
      r->set_description(description);
      r->set_target_date(target_text);
      r->set_owner(owner);
      *r->mutable_effective_time() = adopted;
      adds.push_back(c);
      known[name] = ActionState{target, owner, description, v1::NOT_STARTED};
      out.actions++;
    } else {
      ActionState& was = known[name];
      if (!target_text.empty() && !domain::SameTargetDate(was.target, target)) {
        v1::Command c;
        c.mutable_revise_target_date()->set_name(name);
        c.mutable_revise_target_date()->set_target_date(target_text);
        Stamp(c.mutable_revise_target_date(), period->opened, reason);
        cmds.push_back(c);
        was.target = target;
      }
      if (!owner.empty() && owner != was.owner) {
        v1::Command c;
        c.mutable_assign_owner()->set_name(name);
        c.mutable_assign_owner()->set_owner(owner);
        Stamp(c.mutable_assign_owner(), period->opened, reason);
        cmds.push_back(c);
        was.owner = owner;
      }
      if (!description.empty() && description != was.description) {
        v1::Command c;
        c.mutable_amend_description()->set_name(name);
        c.mutable_amend_description()->set_description(description);
        Stamp(c.mutable_amend_description(), period->opened, reason);
        cmds.push_back(c);
        was.description = description;
      }
    }
    ActionState& state = known[name];
    if (status != state.status) {
      v1::Command c;
      c.mutable_change_action_status()->set_name(name);
      c.mutable_change_action_status()->set_status(status);
      Stamp(c.mutable_change_action_status(), period->opened, reason);
      cmds.push_back(c);
      state.status = status;
    }
    const std::string update = cell("update");
    if (!Trim(update).empty()) {
      v1::Command c;
      c.mutable_record_update()->set_name(name);
      c.mutable_record_update()->set_period(domain::PeriodName(plan_id, period->id));
      c.mutable_record_update()->set_narrative(update);
      *c.mutable_record_update()->mutable_effective_time() = period->opened;
      cmds.push_back(c);
      out.updates++;
    }
    add_origins.resize(adds.size(), origin);
    std::vector<std::string>& origins = by_period_origins[period->id];
    assert(origins.size() == cmds_before && add_origins.size() >= adds_before);
    origins.resize(cmds.size(), origin);
  }
  if (!out.errors.empty()) return out;
  assert(out.origins.size() == out.commands.size());
  out.commands.insert(out.commands.end(), adds.begin(), adds.end());
  out.origins.insert(out.origins.end(), add_origins.begin(), add_origins.end());
  for (size_t i = 0; i < periods.size(); ++i) {
    const Period& p = periods[i];
    const std::string period_origin = absl::StrCat(manifest_path, " periods[", i, "]");
    v1::Command open;
    open.mutable_open_period()->set_parent(plan_name);
    open.mutable_open_period()->set_period_id(p.id);
    open.mutable_open_period()->set_title(p.title);
    *open.mutable_open_period()->mutable_effective_time() = p.opened;
    out.commands.push_back(open);
    out.origins.push_back(period_origin);
    for (v1::Command& c : by_period[p.id]) out.commands.push_back(std::move(c));
    const std::vector<std::string>& origins = by_period_origins[p.id];
    out.origins.insert(out.origins.end(), origins.begin(), origins.end());
    if (p.has_closed) {
      v1::Command close;
      close.mutable_close_period()->set_name(domain::PeriodName(plan_id, p.id));
      *close.mutable_close_period()->mutable_effective_time() = p.closed;
      out.commands.push_back(close);
      out.origins.push_back(period_origin);
    }
  }
  return out;
}

}  // namespace auditledger::ledgerctl
