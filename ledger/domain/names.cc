#include "ledger/domain/names.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ledger/domain/limits.h"

namespace auditledger::domain {

bool IsValidId(absl::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  if (id.front() == '-' || id.back() == '-') return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status CheckId(absl::string_view field, absl::string_view id) {
  if (id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  }
  if (!IsValidId(id)) {
    const std::string lower = absl::AsciiStrToLower(id);
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": \"", id.substr(0, 80),
        "\" is not a valid id (1-63 of a-z, 0-9 and '-', not starting or ending with '-')",
        lower != id && IsValidId(lower) ? absl::StrCat("; ids are lower case: ", lower) : ""));
  }
  return absl::OkStatus();
}

std::string ResourceName::PlanName() const { return domain::PlanName(plan); }
std::string ResourceName::RecommendationName() const {
  return domain::RecommendationName(plan, recommendation);
}
std::string ResourceName::ToString() const {
  switch (kind) {
    case Kind::kPlan:
      return domain::PlanName(plan);
    case Kind::kRecommendation:
      return domain::RecommendationName(plan, recommendation);
    case Kind::kAction:
      return domain::ActionName(plan, recommendation, action);
    case Kind::kPeriod:
      return domain::PeriodName(plan, period);
  }
  return "";
}

absl::StatusOr<ResourceName> ParseName(absl::string_view field, absl::string_view name) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", name.substr(0, 200), "\" ", why));
  };
  // A name of the right shape with an id that is not one: say which, and
  // what it would be in lower case when that is all that is wrong.
  auto bad_id = [&](absl::string_view id) {
    const std::string lower = absl::AsciiStrToLower(id);
    return bad(absl::StrCat(
        "has \"", id.substr(0, 80),
        "\", which is not a valid id (1-63 of a-z, 0-9 and '-', not starting "
        "or ending with '-')",
        lower != id && IsValidId(lower) ? absl::StrCat("; ids are lower case: ", lower) : ""));
  };
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  ResourceName out;
  if (parts.size() < 2 || parts[0] != "plans") {
    return bad("is not a resource name (expected plans/{plan}/...)");
  }
  if (!IsValidId(parts[1])) return bad_id(parts[1]);
  out.plan = std::string(parts[1]);
  if (parts.size() == 2) {
    out.kind = Kind::kPlan;
    return out;
  }
  if (parts.size() == 4 && parts[2] == "periods") {
    if (!IsValidId(parts[3])) return bad_id(parts[3]);
    out.kind = Kind::kPeriod;
    out.period = std::string(parts[3]);
    return out;
  }
  if ((parts.size() == 4 || (parts.size() == 6 && parts[4] == "actions")) &&
      parts[2] == "recommendations") {
    if (!IsValidId(parts[3])) return bad_id(parts[3]);
    out.recommendation = std::string(parts[3]);
    if (parts.size() == 4) {
      out.kind = Kind::kRecommendation;
      return out;
    }
    if (!IsValidId(parts[5])) return bad_id(parts[5]);
    out.kind = Kind::kAction;
    out.action = std::string(parts[5]);
    return out;
  }
  return bad(
      "is not a resource name (expected plans/{plan}, "
      "plans/{plan}/recommendations/{rec}, "
      "plans/{plan}/recommendations/{rec}/actions/{action} or "
      "plans/{plan}/periods/{period})");
}

absl::StatusOr<ResourceName> ParseNameOf(Kind kind, absl::string_view field,
                                         absl::string_view name) {
  absl::StatusOr<ResourceName> parsed = ParseName(field, name);
  if (!parsed.ok()) return parsed.status();
  if (parsed->kind != kind) {
    static constexpr absl::string_view kExpected[] = {
        "plans/{plan}", "plans/{plan}/recommendations/{rec}",
        "plans/{plan}/recommendations/{rec}/actions/{action}", "plans/{plan}/periods/{period}"};
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", name.substr(0, 200),
                                                   "\" must be of the form ",
                                                   kExpected[static_cast<int>(kind)]));
  }
  return parsed;
}

std::string PlanName(absl::string_view plan) { return absl::StrCat("plans/", plan); }
std::string RecommendationName(absl::string_view plan, absl::string_view rec) {
  return absl::StrCat("plans/", plan, "/recommendations/", rec);
}
std::string ActionName(absl::string_view plan, absl::string_view rec, absl::string_view action) {
  return absl::StrCat("plans/", plan, "/recommendations/", rec, "/actions/", action);
}
std::string PeriodName(absl::string_view plan, absl::string_view period) {
  return absl::StrCat("plans/", plan, "/periods/", period);
}

std::string EventName(uint64_t position) { return absl::StrCat("events/", position); }

absl::StatusOr<uint64_t> ParseEventName(absl::string_view field, absl::string_view name) {
  uint64_t position = 0;
  absl::string_view digits = name;
  if (!absl::ConsumePrefix(&digits, "events/") || !absl::SimpleAtoi(digits, &position) ||
      position == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", name.substr(0, 80),
                     "\" is not an event name (expected events/{position}, position >= 1)"));
  }
  return position;
}

absl::Status CheckPrincipalId(absl::string_view field, absl::string_view id) {
  if (id.size() > kMaxPrincipalIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": too long (at most ", kMaxPrincipalIdBytes, " bytes)"));
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-' && c != '@') {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": \"", id, "\" is not a principal id (letters, digits and . _ - @ only)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPrincipalName(absl::string_view field, absl::string_view name) {
  if (name.size() > kMaxPrincipalNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": too long (at most ", kMaxPrincipalNameBytes, " bytes)"));
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": holds a control character (a name is one line of text)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace auditledger::domain
