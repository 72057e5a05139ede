#include "ledger/domain/target_date.h"

#include "gtest/gtest.h"

namespace auditledger::domain {
namespace {

TEST(TargetDateTest, ParsesTheFormsCouncilsWrite) {
  struct Case {
    const char* text;
    int year, month, day;
    const char* qualifier;
    const char* formatted;
  } cases[] = {
      {"December 2024", 2024, 12, 0, "", "December 2024"},
      {"march 2025 (IPS)", 2025, 3, 0, "IPS", "March 2025 (IPS)"},
      {"Sept 2024", 2024, 9, 0, "", "September 2024"},
      // Day first, as UK spreadsheets write dates.
      {"31/03/2025", 2025, 3, 31, "", "31 March 2025"},
      {"1/4/2025", 2025, 4, 1, "", "1 April 2025"},
      {"31/06/2025", 0, 0, 0, "", nullptr},
      {"03/31/2025", 0, 0, 0, "", nullptr},
      {"Q3 2026", 0, 0, 0, "", nullptr},
      {"Sep 2024", 2024, 9, 0, "", "September 2024"},
      {"31 December 2024", 2024, 12, 31, "", "31 December 2024"},
      {"1st April 2025", 2025, 4, 1, "", "1 April 2025"},
      {"2024-12", 2024, 12, 0, "", "December 2024"},
      {"2024-02-29", 2024, 2, 29, "", "29 February 2024"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseTargetDate("target_date", c.text);
    if (c.formatted == nullptr) {
      EXPECT_FALSE(parsed.ok()) << c.text;
      continue;
    }
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.status();
    EXPECT_EQ(parsed->year(), c.year) << c.text;
    EXPECT_EQ(parsed->month(), c.month) << c.text;
    EXPECT_EQ(parsed->day(), c.day) << c.text;
    EXPECT_EQ(parsed->qualifier(), c.qualifier) << c.text;
    EXPECT_EQ(FormatTargetDate(*parsed), c.formatted);
  }
}

TEST(TargetDateTest, RejectsMalformedDatesNamingTheField) {
  for (const char* bad : {"", "2024", "Decembr 2024", "December 24", "2023-02-29", "2024-13",
                          "32 January 2024", "March 2025 (", "soon", "March 2025 ()", "31/06/2025",
                          "31/03/25", "Q3 2026", "TBC", "Ongoing"}) {
    auto parsed = ParseTargetDate("target_date", bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(parsed.status().message().rfind("target_date: ", 0), 0u) << parsed.status();
  }
}

TEST(TargetDateTest, WhatSpreadsheetsWriteForNoDateIsKnown) {
  for (const char* none : {"TBC", " tbc ", "To be confirmed", "N/A", "Ongoing", "-"}) {
    EXPECT_TRUE(SaysNoTargetDate(none)) << none;
  }
  for (const char* date : {"", "December 2024", "TBC 2025", "Ongoing (IPS)"}) {
    EXPECT_FALSE(SaysNoTargetDate(date)) << date;
  }
}

TEST(TargetDateTest, DueDayIsTheLastDayOfAMonthTarget) {
  auto month = ParseTargetDate("t", "February 2024");
  ASSERT_TRUE(month.ok());
  EXPECT_EQ(DueDay(*month), absl::CivilDay(2024, 2, 29));
  auto day = ParseTargetDate("t", "3 March 2025");
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(DueDay(*day), absl::CivilDay(2025, 3, 3));
}

}  // namespace
}  // namespace auditledger::domain
