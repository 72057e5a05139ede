#include "ledger/domain/target_date.h"

#include <array>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace auditledger::domain {
namespace {

constexpr std::array<absl::string_view, 12> kMonths = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

int MonthFromName(absl::string_view word) {
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (absl::EqualsIgnoreCase(word, kMonths[i])) return static_cast<int>(i) + 1;
    // Three-letter abbreviations ("Dec") are common in spreadsheets.
    if (word.size() == 3 && absl::EqualsIgnoreCase(word, kMonths[i].substr(0, 3)))
      return static_cast<int>(i) + 1;
  }
  if (absl::EqualsIgnoreCase(word, "Sept")) return 9;
  return 0;
}

bool ParseYear(absl::string_view s, int* year) {
  return s.size() == 4 && absl::SimpleAtoi(s, year) && *year >= 1900 && *year <= 2999;
}

}  // namespace

bool SaysNoTargetDate(absl::string_view text) {
  const absl::string_view t = absl::StripAsciiWhitespace(text);
  for (absl::string_view none : {"TBC", "TBA", "TBD", "To be confirmed", "To be agreed",
                                 "To be determined", "N/A", "NA", "None", "Ongoing", "-"}) {
    if (absl::EqualsIgnoreCase(t, none)) return true;
  }
  return false;
}

absl::StatusOr<v1::TargetDate> ParseTargetDate(absl::string_view field, absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", text.substr(0, 80), "\" is not a target date (", why,
                     "; expected e.g. \"December 2024\", \"31 December 2024\", "
                     "\"2024-12\" or \"March 2025 (IPS)\")"));
  };
  absl::string_view rest = absl::StripAsciiWhitespace(text);
  if (rest.empty()) return bad("empty");
  if (SaysNoTargetDate(rest)) {
    return bad("it says there is none: an action without a target date has none given");
  }
  if (rest.size() > 200) return bad("too long");
  v1::TargetDate date;
  if (rest.back() == ')') {
    size_t open = rest.rfind('(');
    if (open == absl::string_view::npos) return bad("unbalanced parenthesis");
    absl::string_view qualifier =
        absl::StripAsciiWhitespace(rest.substr(open + 1, rest.size() - open - 2));
    if (qualifier.empty()) return bad("empty qualifier");
    date.set_qualifier(std::string(qualifier));
    rest = absl::StripAsciiWhitespace(rest.substr(0, open));
  }
  int year = 0, month = 0, day = 0;
  // A quarter or season is a span, not a date: which day it is due on is
  // the council's to say.
  if (rest.size() >= 2 && (rest[0] == 'Q' || rest[0] == 'q') && absl::ascii_isdigit(rest[1])) {
    return bad(
        "a quarter is not a date: give the month it is due in (Q3 of a financial year ends in "
        "December, of a calendar year in September)");
  }
  // DD/MM/YYYY, the order UK spreadsheets write a date in.
  if (std::vector<absl::string_view> parts = absl::StrSplit(rest, '/'); parts.size() == 3) {
    if (parts[0].empty() || parts[0].size() > 2 || parts[1].empty() || parts[1].size() > 2 ||
        !absl::SimpleAtoi(parts[0], &day) || !absl::SimpleAtoi(parts[1], &month) ||
        !ParseYear(parts[2], &year)) {
      return bad("a date with slashes is day/month/year, e.g. 31/03/2025");
    }
    if (month < 1 || month > 12) return bad("month out of range (day/month/year)");
    absl::CivilDay civil(year, month, day);
    if (day < 1 || civil.year() != year || civil.month() != month || civil.day() != day) {
      return bad("no such day (day/month/year)");
    }
    date.set_year(year);
    date.set_month(month);
    date.set_day(day);
    return date;
  }
  if (!rest.empty() && absl::ascii_isdigit(rest[0]) && rest.find('-') != 4 &&
      rest.find(' ') == absl::string_view::npos) {
    return bad("unrecognised format");
  }
  if (rest.size() >= 7 && rest[4] == '-') {
    std::vector<absl::string_view> parts = absl::StrSplit(rest, '-');
    if (parts.size() < 2 || parts.size() > 3 || !ParseYear(parts[0], &year) ||
        parts[1].size() != 2 || !absl::SimpleAtoi(parts[1], &month) ||
        (parts.size() == 3 && (parts[2].size() != 2 || !absl::SimpleAtoi(parts[2], &day)))) {
      return bad("malformed ISO date");
    }
  } else {
    std::vector<absl::string_view> words = absl::StrSplit(rest, ' ', absl::SkipEmpty());
    if (words.size() == 2) {
      month = MonthFromName(words[0]);
      if (month == 0) return bad("unknown month");
      if (!ParseYear(words[1], &year))
        return bad("the year must be four digits, from 1900 to 2999");
    } else if (words.size() == 3) {
      absl::string_view d = words[0];
      absl::ConsumeSuffix(&d, "st") || absl::ConsumeSuffix(&d, "nd") ||
          absl::ConsumeSuffix(&d, "rd") || absl::ConsumeSuffix(&d, "th");
      if (!absl::SimpleAtoi(d, &day)) return bad("day must be a number");
      month = MonthFromName(words[1]);
      if (month == 0) return bad("unknown month");
      if (!ParseYear(words[2], &year))
        return bad("the year must be four digits, from 1900 to 2999");
    } else {
      return bad("unrecognised format");
    }
  }
  if (month < 1 || month > 12) return bad("month out of range");
  if (day != 0) {
    absl::CivilDay civil(year, month, day);
    if (civil.year() != year || civil.month() != month || civil.day() != day) {
      return bad("no such day");
    }
  }
  date.set_year(year);
  date.set_month(month);
  date.set_day(day);
  return date;
}

std::string FormatTargetDate(const v1::TargetDate& date) {
  if (!IsSet(date)) return "";
  std::string out;
  if (date.day() != 0) absl::StrAppend(&out, date.day(), " ");
  absl::StrAppend(&out, kMonths[date.month() - 1], " ", date.year());
  if (!date.qualifier().empty()) absl::StrAppend(&out, " (", date.qualifier(), ")");
  return out;
}

bool IsSet(const v1::TargetDate& date) {
  return date.year() != 0 && date.month() >= 1 && date.month() <= 12;
}

absl::CivilDay DueDay(const v1::TargetDate& date) {
  if (date.day() != 0) return absl::CivilDay(date.year(), date.month(), date.day());
  absl::CivilMonth next = absl::CivilMonth(date.year(), date.month()) + 1;
  return absl::CivilDay(next) - 1;
}

bool SameTargetDate(const v1::TargetDate& a, const v1::TargetDate& b) {
  return a.year() == b.year() && a.month() == b.month() && a.day() == b.day() &&
         a.qualifier() == b.qualifier();
}

}  // namespace auditledger::domain
