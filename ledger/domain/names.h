#ifndef AUDITLEDGER_LEDGER_DOMAIN_NAMES_H_
#define AUDITLEDGER_LEDGER_DOMAIN_NAMES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// Resource names (AIP-122) of the plan's entities. Each entity's name is also
// the name of its event stream.
namespace auditledger::domain {

enum class Kind { kPlan, kRecommendation, kAction, kPeriod };

struct ResourceName {
  Kind kind = Kind::kPlan;
  std::string plan;
  std::string recommendation;  // kRecommendation, kAction
  std::string action;          // kAction
  std::string period;          // kPeriod

  std::string PlanName() const;
  std::string RecommendationName() const;
  std::string ToString() const;
};

// 1-63 characters of [a-z0-9-], not starting or ending with '-'.
bool IsValidId(absl::string_view id);

// `field` names the request field in error messages.
absl::Status CheckId(absl::string_view field, absl::string_view id);

// A principal's id: at most kMaxPrincipalIdBytes of letters, digits and
// . _ - @ (empty is not checked here).
absl::Status CheckPrincipalId(absl::string_view field, absl::string_view id);

// A principal's name, which events keep and reports print: at most
// kMaxPrincipalNameBytes, without control characters (UTF-8 is the JSON
// file's and the command line's to check).
absl::Status CheckPrincipalName(absl::string_view field, absl::string_view name);

absl::StatusOr<ResourceName> ParseName(absl::string_view field, absl::string_view name);
// As ParseName, and the name must be of `kind`.
absl::StatusOr<ResourceName> ParseNameOf(Kind kind, absl::string_view field,
                                         absl::string_view name);

std::string PlanName(absl::string_view plan);
std::string RecommendationName(absl::string_view plan, absl::string_view rec);
std::string ActionName(absl::string_view plan, absl::string_view rec, absl::string_view action);
std::string PeriodName(absl::string_view plan, absl::string_view period);

std::string EventName(uint64_t position);
// "events/123" -> 123.
absl::StatusOr<uint64_t> ParseEventName(absl::string_view field, absl::string_view name);

}  // namespace auditledger::domain

#endif  // AUDITLEDGER_LEDGER_DOMAIN_NAMES_H_
