#ifndef AUDITLEDGER_LEDGER_DOMAIN_TARGET_DATE_H_
#define AUDITLEDGER_LEDGER_DOMAIN_TARGET_DATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "auditledger/v1/event.pb.h"

namespace auditledger::domain {

// Accepts "December 2024", "1 December 2024", "2024-12", "2024-12-01", each
// optionally followed by a qualifier in parentheses: "March 2025 (IPS)".
absl::StatusOr<v1::TargetDate> ParseTargetDate(absl::string_view field, absl::string_view text);

// Whether `text` is what a council's spreadsheet writes for no target date
// ("TBC", "To be confirmed", "N/A", "Ongoing", "-", …). ParseTargetDate
// refuses these, saying so; an import reads them as none.
bool SaysNoTargetDate(absl::string_view text);

// "December 2024", "1 December 2024", "March 2025 (IPS)"; "" when unset.
std::string FormatTargetDate(const v1::TargetDate& date);

bool IsSet(const v1::TargetDate& date);

// The last day the target still holds: the day itself, or the month's last
// day when only a month is given.
absl::CivilDay DueDay(const v1::TargetDate& date);

bool SameTargetDate(const v1::TargetDate& a, const v1::TargetDate& b);

}  // namespace auditledger::domain

#endif  // AUDITLEDGER_LEDGER_DOMAIN_TARGET_DATE_H_
