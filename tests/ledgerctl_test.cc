// ledgerctl as people use it: the real binary against a real ledgerd.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "clients/ledgerctl/csv_reader.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/ledgerd_process.h"

namespace auditledger {
namespace {

using testing::kAdminToken;
using testing::kOfficerToken;
using testing::kScrutinyToken;
using testing::LedgerdProcess;
using testing::RunResult;

const std::string kOxford = std::string(AUDITLEDGER_SOURCE_DIR) + "/examples/oxford-cpc-2023";

class LedgerctlTest : public ::testing::Test {
 protected:
  RunResult Ctl(const std::vector<std::string>& args, const std::string& token = kAdminToken,
                const std::string& stdin_text = "") {
    std::vector<std::string> all = {"--addr",          ledgerd_.address(), "--plan",
                                    "oxford-cpc-2023", "--timeout",        "20"};
    all.insert(all.end(), args.begin(), args.end());
    return testing::RunCommand(LEDGERCTL_PATH, all, {"LEDGER_TOKEN=" + token, "HOME=/nonexistent"},
                               stdin_text);
  }

  void Import() {
    RunResult r = Ctl({"plan", "import", kOxford});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  uint64_t Head() {
    auto stub = ledgerd_.LedgerStub();
    v1::LogHead head;
    EXPECT_TRUE(stub->GetLogHead(testing::Context(kScrutinyToken).get(), {}, &head).ok());
    return head.position();
  }

  nlohmann::json Json(const RunResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  // A copy of the Oxford files with `edit` applied to actions.csv.
  std::string BrokenCopy(const std::function<void(std::string&)>& edit) {
    const std::string dir = tmp_.path() + "/broken";
    std::filesystem::remove_all(dir);
    std::filesystem::copy(kOxford, dir);
    std::ifstream in(dir + "/actions.csv");
    std::stringstream text;
    text << in.rdbuf();
    std::string csv = text.str();
    edit(csv);
    std::ofstream(dir + "/actions.csv", std::ios::trunc) << csv;
    return dir;
  }

  LedgerdProcess ledgerd_;
  testing::TempDir tmp_;
};

TEST_F(LedgerctlTest, ImportsTheOxfordPlanAsInTheSeeds) {
  RunResult r = Ctl({"plan", "import", kOxford});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("10 recommendations, 55 actions, 55 updates"), std::string::npos) << r.err;
  nlohmann::json plan = Json(Ctl({"-o", "json", "plan", "show"}, kScrutinyToken));
  ASSERT_EQ(plan["recommendations"].size(), 10u);
  EXPECT_EQ(plan["recommendations"][0]["title"], "Co-design shared outcomes");
  EXPECT_EQ(plan["council"], "Oxford City Council");
  ASSERT_EQ(plan["periods"].size(), 2u);
  EXPECT_EQ(plan["periods"][1]["title"], "October 2024 & final update");
  RunResult table = Ctl({"plan", "show"}, kScrutinyToken);
  EXPECT_NE(table.out.find("oct-2024  October 2024 & final update  (closed; 2024-10-01 to "
                           "2024-10-31)"),
            std::string::npos)
      << table.out;

  nlohmann::json list = Json(Ctl({"-o", "json", "action", "list"}, kScrutinyToken));
  ASSERT_EQ(list["actions"].size(), 55u);
  std::map<std::string, int> by_status;
  std::map<std::string, int> by_rec;
  for (const auto& a : list["actions"]) {
    by_status[a["status"].get<std::string>()]++;
    by_rec[a["recommendation"].get<std::string>().substr(38)]++;
  }
  EXPECT_EQ(by_status["COMPLETE"], 39);
  EXPECT_EQ(by_status["ONGOING"], 16);
  EXPECT_EQ(by_rec["r1"], 16);
  EXPECT_EQ(by_rec["r7"], 8);
  EXPECT_EQ(by_rec["r10"], 7);

  nlohmann::json a7 = Json(Ctl({"-o", "json", "action", "show", "r1/a7"}, kScrutinyToken));
  EXPECT_EQ(a7["description"],
            "Establish a delivery board for the City Centre Action Plan including agreeing "
            "terms of reference and members");
  EXPECT_EQ(a7["target_date"]["month"], 12);
  EXPECT_EQ(a7["target_date"]["year"], 2024);
  EXPECT_EQ(a7["narratives"][0]["text"],
            "A cross-sector delivery board is in the process of being established.");
  nlohmann::json a11 = Json(Ctl({"-o", "json", "action", "show", "r1/a11"}, kScrutinyToken));
  EXPECT_EQ(a11["target_date"]["qualifier"], "IPS");
  nlohmann::json r9 = Json(Ctl({"-o", "json", "action", "show", "r9/a1"}, kScrutinyToken));
  EXPECT_EQ(r9["description"].get<std::string>().rfind("Undertake an audit", 0), 0u);

  // As adopted (December 2023, effective clock): every action not started.
  nlohmann::json adopted =
      Json(Ctl({"-o", "json", "asof", "2023-12-31", "--clock", "effective"}, kScrutinyToken));
  ASSERT_EQ(adopted["actions"].size(), 55u);
  for (const auto& a : adopted["actions"]) EXPECT_EQ(a["status"], "NOT_STARTED");
}

TEST_F(LedgerctlTest, ReimportAppendsNothing) {
  Import();
  const uint64_t head = Head();
  RunResult again = Ctl({"plan", "import", kOxford});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 events appended"), std::string::npos) << again.out;
  EXPECT_EQ(Head(), head);
}

// What only the ledger can check (an owner who is no principal) is named by
// the file and line it came from, not by the command's index.
TEST_F(LedgerctlTest, ALedgerRefusalOfAnImportNamesTheLine) {
  const std::string dir = BrokenCopy([](std::string& s) {
    const size_t row = s.find("\nr1,a3,");
    ASSERT_NE(row, std::string::npos);
    const size_t owner = s.find(",,", s.find(",COMPLETE,", row));
    ASSERT_NE(owner, std::string::npos);
    s.replace(owner, 2, ",nobody,");
  });
  // A dry run has the ledger decide it too: the same refusal, nothing
  // recorded.
  for (const bool dry : {true, false}) {
    RunResult r = dry ? Ctl({"plan", "import", "--dry-run", dir}) : Ctl({"plan", "import", dir});
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_NE(r.err.find("/actions.csv:4: owner: \"nobody\" is not a principal of this ledger"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("commands["), std::string::npos) << r.err;
    EXPECT_EQ(Head(), 0u);
  }
  RunResult dry = Ctl({"plan", "import", "--dry-run", kOxford});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.err.find("dry run: the ledger would accept the import: 180 events"),
            std::string::npos)
      << dry.err;
  EXPECT_EQ(Head(), 0u);
}

TEST_F(LedgerctlTest, BadFilesAreRejectedWholeWithLineNumbers) {
  struct Case {
    const char* what;
    std::function<void(std::string&)> edit;
    const char* expect;
  } cases[] = {
      {"broken quote",
       [](std::string& s) {
         s += "r1,a99,\"Unclosed description,,ONGOING,,October 2024 & final update,\"x\"\n";
       },
       "actions.csv:57"},
      {"missing column", [](std::string& s) { s.replace(s.find(",owner"), 6, ""); },
       "missing column \"owner\""},
      {"unknown status", [](std::string& s) { s.replace(s.find("COMPLETE"), 8, "FINISHED"); },
       "actions.csv:2: column status: \"FINISHED\" is not a status"},
      {"bad date", [](std::string& s) { s.replace(s.find("December 2024"), 13, "Decembr 2024"); },
       "column target_date"},
      {"duplicate id",
       [](std::string& s) {
         size_t second = s.find("\nr1,a2,");
         s.replace(second, 7, "\nr1,a1,");
       },
       "actions.csv:3: column action_id: duplicate action \"r1/a1\""},
      {"saved as Windows-1252",
       [](std::string& s) {
         s.replace(s.find("The new Oxford West End website"), 3, "\xa3");
         s.replace(s.find("Budget has been"), 6, "\x93");
       },
       "actions.csv:2: column update: not valid UTF-8 (byte 0xa3 at offset 0): the file is not "
       "UTF-8 (a spreadsheet's plain CSV is Windows-1252); save it as \"CSV UTF-8\"\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string dir = BrokenCopy(c.edit);
    RunResult r = Ctl({"plan", "import", dir});
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nothing was recorded"), std::string::npos) << r.err;
    EXPECT_EQ(Head(), 0u) << "a rejected import appended";
  }
  {
    // Two recommendations of one number.
    const std::string dup = BrokenCopy([](std::string&) {});
    std::ifstream in(dup + "/recommendations.csv");
    std::stringstream text;
    text << in.rdbuf();
    std::string csv = text.str();
    csv.replace(csv.find("\n2,r2,"), 6, "\n1,r2,");
    std::ofstream(dup + "/recommendations.csv", std::ios::trunc) << csv;
    RunResult r = Ctl({"plan", "import", dup});
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_NE(r.err.find("recommendations.csv:3: column number: 1 is r1's too"), std::string::npos)
        << r.err;
    EXPECT_EQ(Head(), 0u);
  }
  // The empty rows a spreadsheet saves below its table are no rows, and
  // "TBC" for a target date is none.
  const std::string dir = BrokenCopy([](std::string& s) {
    s.replace(s.find(",,COMPLETE,,October"), 19, ",TBC,COMPLETE,,October");
    s += ",,,,,,,\n , ,,,,,,\n\n";
  });
  RunResult r = Ctl({"plan", "import", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json a1 = Json(Ctl({"-o", "json", "action", "show", "r1/a1"}, kScrutinyToken));
  EXPECT_FALSE(a1["target_date"].contains("year")) << a1.dump();
  RunResult tbc = Ctl({"action", "update", "r1/a1", "--target", "TBC", "--reason", "x"});
  EXPECT_EQ(tbc.exit_code, 2) << tbc.err;
  EXPECT_NE(tbc.err.find("--target: \"TBC\" is not a target date (it says there is none"),
            std::string::npos)
      << tbc.err;
}

// A plan grows after its adoption: an admin adds a recommendation and its
// actions; an officer may not; a refusal names the argument and records
// nothing. An action added without a target that is given one has not
// slipped.
TEST_F(LedgerctlTest, AnAdminAddsARecommendationAndActionsAfterTheImport) {
  Import();
  RunResult plans = testing::RunCommand(
      LEDGERCTL_PATH, {"--addr", ledgerd_.address(), "-o", "csv", "plan", "list"},
      {"LEDGER_TOKEN=" + std::string(kScrutinyToken), "HOME=/nonexistent"}, "");
  ASSERT_EQ(plans.exit_code, 0) << plans.err;
  EXPECT_NE(plans.out.find("\"oxford-cpc-2023\",\"Oxford City Council\","), std::string::npos)
      << plans.out;
  RunResult rec = Ctl({"recommendation", "add", "r11", "--number", "11", "--title", "Climate",
                       "--text", "-", "--reason", "Added by the follow-up visit"},
                      kAdminToken, "Set out the route to net zero.\n");
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  nlohmann::json plan = Json(Ctl({"-o", "json", "plan", "show"}, kScrutinyToken));
  bool listed = false;
  for (const auto& r : plan["recommendations"]) {
    if (r["name"] == "plans/oxford-cpc-2023/recommendations/r11") {
      listed = true;
      EXPECT_EQ(r["number"], 11);
      EXPECT_EQ(r["text"], "Set out the route to net zero.");
    }
  }
  EXPECT_TRUE(listed) << plan.dump();
  RunResult added =
      Ctl({"action", "add", "r11/a1", "--description", "Publish the route", "--target", "June 2030",
           "--owner", "jsmith", "--reason", "Agreed by Cabinet"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  nlohmann::json a1 = Json(Ctl({"-o", "json", "action", "show", "r11/a1"}, kScrutinyToken));
  EXPECT_EQ(a1["description"], "Publish the route");
  EXPECT_EQ(a1["owner"], "jsmith");
  EXPECT_EQ(a1["target_date"]["year"], 2030);
  EXPECT_EQ(a1["status"], "NOT_STARTED");
  // Why it was added is not why it is not started.
  EXPECT_EQ(a1.value("status_reason", ""), "") << a1.dump();

  const uint64_t head = Head();
  RunResult officer =
      Ctl({"action", "add", "r11/a2", "--description", "Mine", "--owner", "jsmith"}, kOfficerToken);
  EXPECT_EQ(officer.exit_code, 3) << officer.err;
  RunResult no_rec = Ctl({"action", "add", "r99/a1", "--description", "Nowhere"});
  EXPECT_EQ(no_rec.exit_code, 4) << no_rec.err;
  EXPECT_NE(no_rec.err.find("ACTION (parent): recommendation "
                            "plans/oxford-cpc-2023/recommendations/r99 not found"),
            std::string::npos)
      << no_rec.err;
  RunResult other = Ctl({"action", "show", "plans/camden/recommendations/r1/actions/a1"});
  EXPECT_EQ(other.exit_code, 4) << other.err;
  EXPECT_NE(other.err.find("note: ACTION is of plans/camden, not plans/oxford-cpc-2023"),
            std::string::npos)
      << other.err;
  RunResult twice = Ctl({"action", "add", "r11/a1", "--description", "Again"});
  EXPECT_EQ(twice.exit_code, 5) << twice.err;
  EXPECT_NE(twice.err.find("ACTION (action_id): action "), std::string::npos) << twice.err;
  RunResult quarter =
      Ctl({"action", "add", "r11/a2", "--description", "Soon", "--target", "Q3 2025"});
  EXPECT_EQ(quarter.exit_code, 2) << quarter.err;
  EXPECT_NE(quarter.err.find("--target"), std::string::npos) << quarter.err;
  RunResult paused =
      Ctl({"action", "add", "r11/a2", "--description", "Held", "--status", "paused"});
  EXPECT_EQ(paused.exit_code, 7) << paused.err;
  EXPECT_NE(paused.err.find("--reason (reason)"), std::string::npos) << paused.err;
  RunResult same_number =
      Ctl({"recommendation", "add", "r12", "--number", "11", "--title", "Another"});
  EXPECT_EQ(same_number.exit_code, 5) << same_number.err;
  EXPECT_NE(same_number.err.find("--number (number): recommendation 11 of the plan is "
                                 "plans/oxford-cpc-2023/recommendations/r11"),
            std::string::npos)
      << same_number.err;
  RunResult zero = Ctl({"recommendation", "add", "r12", "--number", "0", "--title", "Zero"});
  EXPECT_EQ(zero.exit_code, 2) << zero.err;
  EXPECT_NE(zero.err.find("--number: Value 0 not in range 1 to"), std::string::npos) << zero.err;
  RunResult bad_rec = Ctl({"recommendation", "add", "r12", "--number", "12", "--title", ""});
  EXPECT_EQ(bad_rec.exit_code, 7) << bad_rec.err;
  EXPECT_NE(bad_rec.err.find("--title (title)"), std::string::npos) << bad_rec.err;
  EXPECT_EQ(Head(), head);

  ASSERT_EQ(Ctl({"action", "add", "r11/a2", "--description", "Date to be agreed"}).exit_code, 0);
  ASSERT_EQ(Ctl({"action", "update", "r11/a2", "--target", "June 2031", "--reason",
                 "Board agreed a date"})
                .exit_code,
            0);
  nlohmann::json a2 = Json(Ctl({"-o", "json", "action", "show", "r11/a2"}, kScrutinyToken));
  EXPECT_EQ(a2.value("target_revisions", 0), 0) << a2.dump();
  EXPECT_EQ(a2["original_target_date"]["year"], 2031);
  nlohmann::json slipped =
      Json(Ctl({"-o", "json", "action", "list", "--slipped", "1"}, kScrutinyToken));
  for (const auto& a : slipped["actions"]) {
    EXPECT_NE(a["name"], "plans/oxford-cpc-2023/recommendations/r11/actions/a2");
  }
}

TEST_F(LedgerctlTest, EveryOutputFormat) {
  Import();
  RunResult table = Ctl({"action", "list", "--recommendation", "r4"}, kScrutinyToken);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("r4/a1"), std::string::npos);
  EXPECT_NE(table.out.find("ACTION"), std::string::npos);

  nlohmann::json json =
      Json(Ctl({"-o", "json", "action", "list", "--recommendation", "r4"}, kScrutinyToken));
  ASSERT_EQ(json["actions"].size(), 5u);
  // Natural order: r4/a1 .. r4/a5.
  EXPECT_EQ(json["actions"][0]["name"], "plans/oxford-cpc-2023/recommendations/r4/actions/a1");

  RunResult csv = Ctl({"-o", "csv", "action", "list", "--recommendation", "r4"}, kScrutinyToken);
  ASSERT_EQ(csv.exit_code, 0);
  ledgerctl::CsvFile parsed = ledgerctl::ParseCsv("out.csv", csv.out);
  ASSERT_TRUE(parsed.errors.empty());
  ASSERT_EQ(parsed.rows.size(), 5u);
  EXPECT_EQ(parsed.header[0], "action");
  EXPECT_EQ(parsed.rows[0].fields[0], "r4/a1");
  EXPECT_EQ(parsed.rows[0].fields[1],
            json["actions"][0]["status"] == "COMPLETE" ? "Complete" : "Ongoing");
}

TEST_F(LedgerctlTest, OfficerUpdatesAndScrutinyQuestions) {
  Import();
  ASSERT_EQ(Ctl({"period", "open", "jan-2025", "--title", "January 2025 follow-up"}).exit_code, 0);
  ASSERT_EQ(Ctl({"action", "update", "r1/a7", "--owner", "jsmith"}).exit_code, 0);
  RunResult update = Ctl({"action", "update", "r1/a7", "--status", "complete", "--note", "-"},
                         kOfficerToken, "The delivery board met for the first time.\n");
  ASSERT_EQ(update.exit_code, 0) << update.err;
  RunResult slip = Ctl({"action", "update", "r1/a10", "--target", "June 2025"});
  EXPECT_EQ(slip.exit_code, 7) << "a target revision without a reason";
  EXPECT_NE(slip.err.find("reason"), std::string::npos) << slip.err;
  // A date it cannot read is a usage error, as a moment's is, and names the flag.
  RunResult day_first =
      Ctl({"action", "update", "r1/a10", "--target", "31/06/2025", "--reason", "x"});
  EXPECT_EQ(day_first.exit_code, 2) << day_first.err;
  EXPECT_NE(day_first.err.find("--target: \"31/06/2025\" is not a target date (no such day"),
            std::string::npos)
      << day_first.err;
  EXPECT_EQ(Ctl({"asof", "30/06/2025"}).exit_code, 2);
  ASSERT_EQ(Ctl({"action", "update", "r1/a10", "--target", "June 2025", "--reason",
                 "Consultation extended"})
                .exit_code,
            0);
  // "today" is today's date (UTC), as scrutiny asks it most.
  const std::string today =
      absl::FormatCivilTime(absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()));
  RunResult overdue_today = Ctl({"action", "list", "--overdue-on", "today", "-o", "csv"});
  ASSERT_EQ(overdue_today.exit_code, 0) << overdue_today.err;
  EXPECT_EQ(overdue_today.out, Ctl({"action", "list", "--overdue-on", today, "-o", "csv"}).out);
  EXPECT_NE(overdue_today.out.find("r1/a10"), std::string::npos) << overdue_today.out;
  // Stopped with a note that says why: the note goes in before the stop,
  // which takes no more updates.
  RunResult stop = Ctl({"action", "update", "r1/a16", "--status", "stopped", "--reason",
                        "Funding withdrawn", "--note", "The grant was withdrawn in January."});
  ASSERT_EQ(stop.exit_code, 0) << stop.err;
  nlohmann::json a16 = nlohmann::json::parse(Ctl({"action", "show", "r1/a16", "-o", "json"}).out);
  EXPECT_EQ(a16["status"], "STOPPED");
  EXPECT_NE(a16.dump().find("The grant was withdrawn in January."), std::string::npos) << a16;

  nlohmann::json timeline =
      Json(Ctl({"-o", "json", "action", "timeline", "r1/a7"}, kScrutinyToken));
  auto& changes = timeline["changes"];
  ASSERT_GE(changes.size(), 5u);
  EXPECT_EQ(changes[changes.size() - 1]["type"], "update_recorded");
  EXPECT_EQ(changes[changes.size() - 1]["actor"], "jsmith");
  EXPECT_EQ(changes[changes.size() - 2]["after"], "COMPLETE");
  // The creation says what the action was adopted with.
  nlohmann::json a10 = Json(Ctl({"-o", "json", "action", "timeline", "r1/a10"}, kScrutinyToken));
  ASSERT_FALSE(a10["changes"].empty());
  EXPECT_EQ(a10["changes"][0]["type"], "action_added");
  EXPECT_TRUE(absl::EndsWith(a10["changes"][0]["after"].get<std::string>(),
                             "(target March 2025, Not started)"))
      << a10["changes"][0]["after"];

  nlohmann::json by_officer =
      Json(Ctl({"-o", "json", "changes", "--actor", "jsmith"}, kScrutinyToken));
  EXPECT_EQ(by_officer["changes"].size(), 2u);
  // An id with no changes (here mistyped) is said to match none, not just
  // an empty listing.
  RunResult nobody = Ctl({"changes", "--actor", "jsmiht"}, kScrutinyToken);
  EXPECT_EQ(nobody.exit_code, 0) << nobody.err;
  EXPECT_NE(nobody.err.find("no changes in plans/oxford-cpc-2023 match --actor jsmiht"),
            std::string::npos)
      << nobody.err;
  EXPECT_EQ(Ctl({"changes", "--actor", "jsmith"}, kScrutinyToken).err.find("no changes"),
            std::string::npos);
  // A mistyped plan is not found, not a plan without changes.
  RunResult no_plan = Ctl({"--plan", "oxford", "changes"}, kScrutinyToken);
  EXPECT_EQ(no_plan.exit_code, 4) << no_plan.err;
  EXPECT_NE(no_plan.err.find("plan plans/oxford not found"), std::string::npos) << no_plan.err;
  nlohmann::json slipped =
      Json(Ctl({"-o", "json", "action", "list", "--slipped", "1"}, kScrutinyToken));
  ASSERT_EQ(slipped["actions"].size(), 1u);
  EXPECT_EQ(slipped["actions"][0]["target_revisions"], 1);
  // The report says which way and how far a revised target moved.
  RunResult draft = Ctl({"report", "--as-of",
                         absl::FormatCivilTime(absl::ToCivilDay(absl::Now(), absl::UTCTimeZone())),
                         "--clock", "recorded"},
                        kScrutinyToken);
  ASSERT_EQ(draft.exit_code, 0) << draft.err;
  EXPECT_NE(draft.out.find("| r1/a10 | Develop a Place and Movement Framework for City Centre and "
                           "Northern Quarter | June 2025 (was March 2025) | 1 | 3 months later |"),
            std::string::npos)
      << draft.out;
  // A report of a moment shows each action's latest update, saying which
  // period it is of.
  EXPECT_NE(draft.out.find("| # | Action | Target date | Status | Latest update |"),
            std::string::npos)
      << draft.out;
  EXPECT_NE(draft.out.find("Home - Oxford West End. (October 2024 & final update) |"),
            std::string::npos)
      << draft.out;

  nlohmann::json diff = Json(Ctl(
      {"-o", "json", "diff", "2024-01-01", "2024-10-31", "--clock", "effective"}, kScrutinyToken));
  EXPECT_EQ(diff["status_changes"].size(), 55u);

  // Scrutiny cannot write: an auth failure, exit 3.
  RunResult refused = Ctl({"action", "update", "r1/a7", "--note", "x"}, kScrutinyToken);
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_NE(refused.err.find("read-only"), std::string::npos) << refused.err;
}

// An admin sees the read models and rebuilds one; it comes back the same.
TEST_F(LedgerctlTest, ProjectionsAreListedAndOneRebuiltComesBackTheSame) {
  Import();
  nlohmann::json before = Json(Ctl({"-o", "json", "projections"}, kScrutinyToken));
  ASSERT_EQ(before["projections"].size(), 4u);
  std::string changes_digest;
  for (const auto& p : before["projections"]) {
    EXPECT_EQ(p["state"], "RUNNING") << p.dump();
    if (p["name"] == "changes") changes_digest = p["digest"];
  }
  ASSERT_FALSE(changes_digest.empty());
  RunResult table = Ctl({"projections"}, kScrutinyToken);
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("RUNNING"), std::string::npos) << table.out;

  RunResult refused = Ctl({"rebuild", "changes"}, kScrutinyToken);
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_NE(refused.err.find("only an admin may"), std::string::npos) << refused.err;
  RunResult unknown = Ctl({"rebuild", "nothing"});
  EXPECT_EQ(unknown.exit_code, 4) << unknown.err;
  EXPECT_NE(unknown.err.find("known: current, changes, temporal, merkle"), std::string::npos)
      << unknown.err;

  nlohmann::json rebuilt = Json(Ctl({"-o", "json", "rebuild", "changes"}));
  EXPECT_EQ(rebuilt["name"], "changes");
  EXPECT_EQ(rebuilt["state"], "RUNNING");
  EXPECT_EQ(rebuilt["digest"], changes_digest);
  EXPECT_EQ(rebuilt["position"], std::to_string(Head()));
}

// Text pasted from a legacy encoding, a negative version, and a report's
// -o taken for the format: each refused, naming the flag, before anything
// is sent; the ledger is unchanged.
TEST_F(LedgerctlTest, InputTheLedgerCannotTakeIsRefusedNamingItsFlag) {
  Import();
  RunResult no_period = Ctl({"action", "update", "r1/a7", "--note", "x"});
  EXPECT_EQ(no_period.exit_code, 2) << no_period.err;
  EXPECT_NE(no_period.err.find("no open period: an admin opens one"), std::string::npos)
      << no_period.err;
  ASSERT_EQ(Ctl({"period", "open", "dec-2024", "--title", "December 2024"}).exit_code, 0);
  ASSERT_EQ(Ctl({"period", "open", "jan-2025", "--title", "January 2025"}).exit_code, 0);
  RunResult two = Ctl({"action", "update", "r1/a7", "--note", "x"});
  EXPECT_NE(two.err.find("2 open periods: dec-2024, jan-2025"), std::string::npos) << two.err;
  RunResult early = Ctl({"period", "close", "dec-2024", "--effective", "2020-01-01"});
  EXPECT_EQ(early.exit_code, 7) << early.err;
  EXPECT_NE(early.err.find("--effective (effective_time)"), std::string::npos) << early.err;
  // A day to come is refused as in the future, not quietly made now.
  RunResult later = Ctl({"period", "close", "dec-2024", "--effective", "2099-01-01"});
  EXPECT_EQ(later.exit_code, 7) << later.err;
  EXPECT_NE(later.err.find("is in the future"), std::string::npos) << later.err;
  // Closed today and opened today, both given as today's date: the close
  // is now, and so is the opening after it.
  const std::string today =
      absl::FormatCivilTime(absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()));
  ASSERT_EQ(Ctl({"period", "close", "dec-2024", "--effective", today}).exit_code, 0);
  RunResult opened =
      Ctl({"period", "open", "feb-2025", "--title", "February 2025", "--effective", today});
  EXPECT_EQ(opened.exit_code, 0) << opened.err;
  ASSERT_EQ(Ctl({"period", "close", "feb-2025"}).exit_code, 0);
  RunResult slipped = Ctl({"action", "list", "--slipped", "-1"}, kScrutinyToken);
  EXPECT_EQ(slipped.exit_code, 2) << slipped.err;
  // A refusal of one command of several that names no field names the
  // flag that asked for it.
  ASSERT_EQ(
      Ctl({"action", "update", "r1/a13", "--status", "stopped", "--reason", "Dropped"}).exit_code,
      0);
  RunResult stopped =
      Ctl({"action", "update", "r1/a13", "--target", "June 2027", "--reason", "x", "--note", "y"});
  EXPECT_EQ(stopped.exit_code, 5) << stopped.err;
  EXPECT_NE(stopped.err.find("ledgerctl: --target: plans/oxford-cpc-2023/recommendations/r1/"
                             "actions/a13 is STOPPED: cannot revise its target date"),
            std::string::npos)
      << stopped.err;
  RunResult not_admin =
      Ctl({"action", "update", "r1/a7", "--owner", "akhan", "--note", "z"}, kOfficerToken);
  EXPECT_EQ(not_admin.exit_code, 3) << not_admin.err;
  EXPECT_NE(not_admin.err.find("ledgerctl: not allowed: --owner: "), std::string::npos)
      << not_admin.err;
  const uint64_t head = Head();
  const std::string cp1252 =
      "Saving of \xa3"
      "400k \x93report\x94";
  RunResult note = Ctl({"action", "update", "r1/a7", "--note", cp1252});
  EXPECT_EQ(note.exit_code, 7) << note.err;
  EXPECT_NE(note.err.find("--note: not valid UTF-8 (byte 0xa3 at offset 10)"), std::string::npos)
      << note.err;
  RunResult reason = Ctl({"action", "update", "r1/a7", "--target", "June 2027", "--reason",
                          "board\xed\xa0\x80"});  // a surrogate
  EXPECT_EQ(reason.exit_code, 7) << reason.err;
  EXPECT_NE(reason.err.find("--reason: not valid UTF-8 (byte 0xed at offset 5)"), std::string::npos)
      << reason.err;
  const std::string file = tmp_.path() + "/note.txt";
  std::ofstream(file) << cp1252 << "\n";
  RunResult from_file = Ctl({"action", "update", "r1/a7", "--note-file", file});
  EXPECT_EQ(from_file.exit_code, 7) << from_file.err;
  EXPECT_NE(from_file.err.find("--note-file: not valid UTF-8"), std::string::npos) << from_file.err;
  // A byte order mark (as Windows editors write) is not part of the text.
  const std::string bom_file = tmp_.path() + "/bom.txt";
  std::ofstream(bom_file) << "\xef\xbb\xbf"
                             "Written on Windows\r\n";
  ASSERT_EQ(Ctl({"action", "update", "r1/a11", "--note-file", bom_file}).exit_code, 0);
  nlohmann::json a11 = Json(Ctl({"-o", "json", "action", "show", "r1/a11"}, kScrutinyToken));
  bool plain = false;
  for (const auto& n : a11["narratives"]) plain |= n["text"] == "Written on Windows";
  EXPECT_TRUE(plain) << a11["narratives"].dump();
  RunResult from_stdin = Ctl({"action", "update", "r1/a7", "--note", "-"}, kAdminToken, cp1252);
  EXPECT_EQ(from_stdin.exit_code, 7) << from_stdin.err;
  EXPECT_NE(from_stdin.err.find("--note -: not valid UTF-8"), std::string::npos) << from_stdin.err;
  // In an option group (a correction's replacement) too.
  RunResult correction = Ctl({"correct", "events/100", "--note", cp1252, "--reason", "typo"});
  EXPECT_EQ(correction.exit_code, 7) << correction.err;
  EXPECT_NE(correction.err.find("--note: not valid UTF-8 (byte 0xa3 at offset 10)"),
            std::string::npos)
      << correction.err;
  for (const RunResult* r : {&note, &reason, &from_file, &from_stdin, &correction}) {
    EXPECT_EQ(r->err.find("libprotobuf"), std::string::npos) << r->err;
  }
  // UTF-8 that is well formed goes through.
  EXPECT_EQ(Ctl({"action", "update", "r1/a7", "--note",
                 "Saving of \xc2\xa3"
                 "400k"})
                .exit_code,
            0);
  const uint64_t after_good = Head();
  EXPECT_EQ(after_good, head + 2);  // the narrative from a file with a BOM, and this one

  RunResult negative =
      Ctl({"action", "update", "r1/a7", "--note", "x", "--expected-version", "-1"});
  EXPECT_EQ(negative.exit_code, 2) << negative.err;
  EXPECT_NE(negative.err.find("--expected-version"), std::string::npos) << negative.err;

  RunResult global_o = Ctl({"-o", "json", "report", "--period", "oct-2024"}, kScrutinyToken);
  EXPECT_EQ(global_o.exit_code, 2) << global_o.err;
  EXPECT_NE(global_o.err.find("--format (md, html or csv)"), std::string::npos) << global_o.err;
  // A file's name gives the report's format, and must not contradict one
  // given; '-' is stdout.
  const std::string html = tmp_.path() + "/update.html";
  ASSERT_EQ(Ctl({"report", "--period", "oct-2024", "-o", html}, kScrutinyToken).exit_code, 0);
  {
    std::ifstream in(html);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find("<html"), std::string::npos) << text.str().substr(0, 200);
  }
  RunResult contradicts =
      Ctl({"report", "--period", "oct-2024", "--format", "csv", "-o", tmp_.path() + "/x.md"},
          kScrutinyToken);
  EXPECT_EQ(contradicts.exit_code, 2) << contradicts.err;
  EXPECT_NE(contradicts.err.find("names a md file, but --format is csv"), std::string::npos)
      << contradicts.err;
  // A name no format goes by is refused, unless the format is given.
  RunResult pdf =
      Ctl({"report", "--period", "oct-2024", "-o", tmp_.path() + "/x.pdf"}, kScrutinyToken);
  EXPECT_EQ(pdf.exit_code, 2) << pdf.err;
  EXPECT_NE(pdf.err.find("a report is Markdown, HTML or CSV"), std::string::npos) << pdf.err;
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() + "/x.pdf"));
  EXPECT_EQ(Ctl({"report", "--period", "oct-2024", "--format", "md", "-o", tmp_.path() + "/x.txt"},
                kScrutinyToken)
                .exit_code,
            0);
  // As of today on the recorded clock: as of now.
  RunResult as_of_today = Ctl({"report", "--as-of", today, "--clock", "recorded"}, kScrutinyToken);
  EXPECT_EQ(as_of_today.exit_code, 0) << as_of_today.err;
  RunResult to_stdout = Ctl({"report", "--period", "oct-2024", "-o", "-"}, kScrutinyToken);
  EXPECT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  EXPECT_NE(to_stdout.out.find("October 2024"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists("-"));
  const bool csv_existed = std::filesystem::exists("csv");
  RunResult file_o = Ctl({"report", "--period", "oct-2024", "-o", "csv"}, kScrutinyToken);
  EXPECT_EQ(file_o.exit_code, 2) << file_o.err;
  EXPECT_NE(file_o.err.find("a file name such as update.csv"), std::string::npos) << file_o.err;
  EXPECT_EQ(std::filesystem::exists("csv"), csv_existed);
  RunResult clock = Ctl({"report", "--period", "oct-2024", "--clock", "recorded"}, kScrutinyToken);
  EXPECT_EQ(clock.exit_code, 2) << clock.err;
  EXPECT_NE(clock.err.find("--clock: only with --as-of"), std::string::npos) << clock.err;
  EXPECT_EQ(Head(), after_good);

  // A list that matches nothing is an empty list, in JSON too.
  nlohmann::json none = Json(Ctl({"-o", "json", "action", "list", "--owner", "nobody"}));
  ASSERT_TRUE(none.contains("actions")) << none.dump();
  EXPECT_TRUE(none["actions"].is_array() && none["actions"].empty()) << none.dump();
  RunResult no_rec = Ctl({"action", "list", "--recommendation", "r99"}, kScrutinyToken);
  EXPECT_EQ(no_rec.exit_code, 4) << no_rec.err;

  // A manifest key misspelt is refused, not ignored; a dry run says what
  // it did not do.
  const std::string dir = BrokenCopy([](std::string&) {});
  {
    std::ifstream in(dir + "/plan.json");
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json manifest = nlohmann::json::parse(text.str());
    manifest["councl"] = "Oxford";
    manifest["periods"][0]["closd"] = "2024-04-08";
    std::ofstream(dir + "/plan.json", std::ios::trunc) << manifest.dump(2);
  }
  RunResult misspelt = Ctl({"plan", "import", "--dry-run", dir});
  EXPECT_EQ(misspelt.exit_code, 7) << misspelt.err;
  EXPECT_NE(misspelt.err.find("plan.json: \"councl\": not a key of a plan manifest"),
            std::string::npos)
      << misspelt.err;
  EXPECT_NE(misspelt.err.find("plan.json: periods[0]: \"closd\": not a key of a period"),
            std::string::npos)
      << misspelt.err;
  RunResult dry = Ctl({"plan", "import", "--dry-run", kOxford});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.err.find("nothing was recorded"), std::string::npos) << dry.err;
  EXPECT_NE(dry.err.find("was imported from these files already"), std::string::npos) << dry.err;
  EXPECT_EQ(Head(), after_good);

  // A rebuild of all the models gives each one's digest.
  nlohmann::json before = Json(Ctl({"-o", "json", "projections"}, kScrutinyToken));
  nlohmann::json rebuilt = Json(Ctl({"-o", "json", "rebuild", "all"}));
  ASSERT_EQ(rebuilt["projections"].size(), 4u) << rebuilt.dump();
  EXPECT_EQ(rebuilt, before);
  RunResult started = Ctl({"rebuild", "all", "--no-wait"});
  EXPECT_EQ(started.exit_code, 0) << started.err;
  EXPECT_NE(started.err.find("the rebuild of every model has started"), std::string::npos)
      << started.err;
  EXPECT_EQ(started.out, "");
  // Queries wait for it, and find the same models.
  EXPECT_EQ(Json(Ctl({"-o", "json", "plan", "show"}, kScrutinyToken))["name"],
            "plans/oxford-cpc-2023");
}

TEST_F(LedgerctlTest, FailureClassesHaveTheirExitCodes) {
  Import();
  RunResult usage = Ctl({"action", "frobnicate"});
  EXPECT_EQ(usage.exit_code, 2) << usage.err;
  RunResult no_dir = Ctl({"plan", "import", tmp_.path() + "/no-such-plan"});
  EXPECT_EQ(no_dir.exit_code, 2);
  EXPECT_NE(no_dir.err.find("DIR: Directory does not exist"), std::string::npos) << no_dir.err;
  RunResult bad_id = Ctl({"action", "show", "a7"});
  EXPECT_EQ(bad_id.exit_code, 2);
  EXPECT_NE(bad_id.err.find("RECOMMENDATION/ACTION"), std::string::npos) << bad_id.err;
  RunResult capitals = Ctl({"action", "show", "R1/A7"});
  EXPECT_EQ(capitals.exit_code, 2);
  EXPECT_NE(capitals.err.find("ACTION \"R1/A7\": \"R1\" is not a valid id (a-z, 0-9 and '-'); "
                              "ids are lower case: r1/a7"),
            std::string::npos)
      << capitals.err;
  RunResult auth = Ctl({"action", "list"}, "wrong-token");
  EXPECT_EQ(auth.exit_code, 3);
  EXPECT_NE(auth.err.find("not signed in"), std::string::npos) << auth.err;
  RunResult missing = Ctl({"action", "show", "r1/a99"}, kScrutinyToken);
  EXPECT_EQ(missing.exit_code, 4);
  EXPECT_NE(missing.err.find("not found"), std::string::npos);
  RunResult conflict = Ctl({"period", "open", "oct-2024", "--title", "again"});
  EXPECT_EQ(conflict.exit_code, 5) << conflict.err;
  RunResult closed = Ctl({"action", "update", "r1/a7", "--note", "late", "--period", "oct-2024"});
  EXPECT_EQ(closed.exit_code, 5) << closed.err;
  EXPECT_NE(closed.err.find("is closed"), std::string::npos);
  RunResult down = testing::RunCommand(
      LEDGERCTL_PATH, {"--addr", "127.0.0.1:1", "--plan", "x", "--timeout", "5", "plan", "show"},
      {"LEDGER_TOKEN=t", "HOME=/nonexistent"});
  EXPECT_EQ(down.exit_code, 6);
  EXPECT_NE(down.err.find("cannot reach ledgerd"), std::string::npos) << down.err;
  for (const RunResult* r : {&usage, &auth, &missing, &conflict, &down}) {
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  }
}

TEST_F(LedgerctlTest, GlobalOptionsAfterTheSubcommandAndMistakesNamed) {
  Import();
  // -o and --plan after the subcommand, as before it.
  nlohmann::json shown = Json(Ctl({"plan", "show", "-o", "json"}, kScrutinyToken));
  EXPECT_EQ(shown["name"], "plans/oxford-cpc-2023");
  // An empty note is a mistake, not "nothing to change".
  RunResult empty = Ctl({"action", "update", "r1/a7", "--note", ""});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_NE(empty.err.find("--note: empty"), std::string::npos) << empty.err;
  RunResult empty_stdin = Ctl({"action", "update", "r1/a7", "--note", "-"}, kAdminToken, "\n");
  EXPECT_EQ(empty_stdin.exit_code, 2) << empty_stdin.err;
  // The newline that ends stdin is not part of the narrative.
  ASSERT_EQ(Ctl({"period", "open", "jan-2025", "--title", "January 2025"}).exit_code, 0);
  ASSERT_EQ(
      Ctl({"action", "update", "r1/a7", "--note", "-"}, kAdminToken, "Board met.\n\n").exit_code,
      0);
  nlohmann::json action = Json(Ctl({"-o", "json", "action", "show", "r1/a7"}, kScrutinyToken));
  bool found = false;
  for (const auto& n : action["narratives"]) found |= n["text"] == "Board met.";
  EXPECT_TRUE(found) << action["narratives"].dump();
  // The server's refusal names the flag the user typed, in a batch too.
  RunResult no_reason = Ctl({"action", "update", "r1/a7", "--target", "June 2027", "--note", "x"});
  EXPECT_EQ(no_reason.exit_code, 7);
  EXPECT_NE(no_reason.err.find("--reason (reason, with --target): required"), std::string::npos)
      << no_reason.err;
  RunResult far = Ctl({"changes", "--since", "99999-01-01"}, kScrutinyToken);
  EXPECT_NE(far.err.find("--since (start_time): not a valid timestamp"), std::string::npos)
      << far.err;
  // A missing or mistyped command is named, with the commands there are.
  RunResult typo = Ctl({"action", "frob"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("ledgerctl action: no command \"frob\" (one of list, show, "),
            std::string::npos)
      << typo.err;
  RunResult bare = Ctl({"period"});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_NE(bare.err.find("ledgerctl period: a command is required (one of open, close)"),
            std::string::npos)
      << bare.err;
  RunResult top = Ctl({"repot"});
  EXPECT_NE(top.err.find("ledgerctl: no command \"repot\" (one of plan, action,"),
            std::string::npos)
      << top.err;
  // A bad address or config key is named, exit 2, before any call.
  RunResult bad_addr =
      testing::RunCommand(LEDGERCTL_PATH, {"--addr", "localhost", "--plan", "x", "plan", "show"},
                          {"LEDGER_TOKEN=t", "HOME=/nonexistent"});
  EXPECT_EQ(bad_addr.exit_code, 2);
  EXPECT_NE(bad_addr.err.find("--addr: \"localhost\" is not HOST:PORT"), std::string::npos)
      << bad_addr.err;
  const std::string config = tmp_.path() + "/ledgerctl.json";
  std::ofstream(config) << "{\"adr\": \"" << ledgerd_.address() << "\"}";
  RunResult bad_key = testing::RunCommand(LEDGERCTL_PATH, {"--config", config, "plan", "show"},
                                          {"LEDGER_TOKEN=t", "HOME=/nonexistent"});
  EXPECT_EQ(bad_key.exit_code, 2);
  EXPECT_NE(bad_key.err.find("unknown key \"adr\""), std::string::npos) << bad_key.err;
  // A token in a config file others can read is warned of.
  const std::string with_token = tmp_.path() + "/with-token.json";
  std::ofstream(with_token) << "{\"addr\": \"" << ledgerd_.address() << "\", \"token\": \""
                            << kScrutinyToken << "\", \"plan\": \"oxford-cpc-2023\"}";
  std::filesystem::permissions(with_token, std::filesystem::perms(0644));
  RunResult readable = testing::RunCommand(LEDGERCTL_PATH, {"--config", with_token, "plan", "show"},
                                           {"HOME=/nonexistent"});
  EXPECT_EQ(readable.exit_code, 0) << readable.err;
  EXPECT_NE(readable.err.find("holds a token and can be read by others; chmod 600"),
            std::string::npos)
      << readable.err;
  std::filesystem::permissions(with_token, std::filesystem::perms(0600));
  RunResult own = testing::RunCommand(LEDGERCTL_PATH, {"--config", with_token, "plan", "show"},
                                      {"HOME=/nonexistent"});
  EXPECT_EQ(own.exit_code, 0) << own.err;
  EXPECT_EQ(own.err.find("warning"), std::string::npos) << own.err;
  // A report that cannot be written says why.
  RunResult unwritable = Ctl(
      {"report", "--period", "oct-2024", "-o", tmp_.path() + "/missing/report.md"}, kScrutinyToken);
  EXPECT_EQ(unwritable.exit_code, 1);
  EXPECT_NE(unwritable.err.find("No such file or directory"), std::string::npos) << unwritable.err;
  // Tables fit the width (100 without a terminal) and keep codes whole;
  // a method breaks after its service.
  ASSERT_EQ(Ctl({"action", "update", "r1/a7", "--note", "x"}, kScrutinyToken).exit_code, 3);
  RunResult log = Ctl({"security-log"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  for (absl::string_view line : absl::StrSplit(log.out, '\n')) {
    EXPECT_LE(line.size(), 100u) << line;
  }
  EXPECT_NE(log.out.find("PERMISSION_DENIED"), std::string::npos) << log.out;
  EXPECT_NE(log.out.find("LedgerService/"), std::string::npos) << log.out;
  // A position starts at 1; a principal id is checked before a token is
  // issued.
  EXPECT_EQ(Ctl({"report", "--period", "oct-2024", "--position", "0"}, kScrutinyToken).exit_code,
            2);
  RunResult bad_id =
      testing::RunCommand(LEDGERCTL_PATH, {"principal", "add", "--file", ledgerd_.principals_path(),
                                           "--id", "Bad Id", "--role", "officer"});
  EXPECT_NE(bad_id.exit_code, 0);
  EXPECT_NE(bad_id.err.find("--id: \"Bad Id\" is not a principal id"), std::string::npos)
      << bad_id.err;
  // A period closed on a day includes the whole of that day.
  ASSERT_EQ(
      Ctl({"period", "open", "mar-2025", "--title", "March 2025", "--effective", "2025-03-01"})
          .exit_code,
      0);
  ASSERT_EQ(Ctl({"action", "update", "r1/a8", "--note", "Filed at noon", "--period", "mar-2025",
                 "--effective", "2025-03-31T12:00:00Z"})
                .exit_code,
            0);
  RunResult closed = Ctl({"period", "close", "mar-2025", "--effective", "2025-03-31"});
  EXPECT_EQ(closed.exit_code, 0) << closed.err;
  // diff lists actions in the plan's order: r1/a2 before r1/a10.
  RunResult diff =
      Ctl({"diff", "2024-01-01", "2024-10-31", "--clock", "effective"}, kScrutinyToken);
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  const size_t a2 = diff.out.find("\nr1/a2 "), a10 = diff.out.find("\nr1/a10 ");
  ASSERT_NE(a2, std::string::npos);
  ASSERT_NE(a10, std::string::npos);
  EXPECT_LT(a2, a10);
  EXPECT_EQ(diff.err.find("TO is before FROM"), std::string::npos) << diff.err;
  // Backwards is allowed, and said.
  RunResult backwards =
      Ctl({"diff", "2024-10-31", "2024-01-01", "--clock", "effective"}, kScrutinyToken);
  ASSERT_EQ(backwards.exit_code, 0) << backwards.err;
  EXPECT_NE(backwards.err.find("note: TO is before FROM"), std::string::npos) << backwards.err;
}

// The report as published, by the position its footer gives, after a
// correction has changed the period's report.
TEST_F(LedgerctlTest, ReportAtThePositionItWasBuiltFrom) {
  Import();
  const std::string published = tmp_.path() + "/published.md";
  RunResult first = Ctl({"report", "--period", "oct-2024", "-o", published}, kScrutinyToken);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::smatch position;
  ASSERT_TRUE(std::regex_search(first.err, position, std::regex("ledger position ([0-9]+)")))
      << first.err;
  RunResult late = Ctl({"action", "update", "r1/a7", "--status", "complete", "--effective",
                        "2024-10-20", "--reason", "completed in October"});
  ASSERT_EQ(late.exit_code, 0) << late.err;
  // A narrative of the closed period put right with `correct`.
  nlohmann::json timeline =
      Json(Ctl({"-o", "json", "action", "timeline", "r1/a10"}, kScrutinyToken));
  std::string narrative;
  for (const auto& change : timeline["changes"]) {
    if (change["type"] == "update_recorded") narrative = change["event"];
  }
  ASSERT_FALSE(narrative.empty()) << timeline.dump();
  RunResult no_reason = Ctl({"correct", narrative, "--note", "Put right."});
  EXPECT_EQ(no_reason.exit_code, 2) << no_reason.err;
  RunResult corrected =
      Ctl({"correct", narrative, "--note", "-", "--reason", "typo"}, kAdminToken, "Put right.\n");
  ASSERT_EQ(corrected.exit_code, 0) << corrected.err;
  std::ifstream in(published);
  std::stringstream text;
  text << in.rdbuf();
  RunResult now = Ctl({"report", "--period", "oct-2024"}, kScrutinyToken);
  ASSERT_EQ(now.exit_code, 0);
  EXPECT_NE(now.out, text.str()) << "the back-dated status left the period's report as it was";
  EXPECT_NE(now.out.find("Put right."), std::string::npos) << "the correction is not shown";
  RunResult again =
      Ctl({"report", "--period", "oct-2024", "--position", position[1]}, kScrutinyToken);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, text.str());
  EXPECT_NE(
      again.out.find("`ledgerctl report --period oct-2024 --position " + position[1].str() + "`"),
      std::string::npos);
  // An as-of report's footer gives the whole command, which gives its bytes.
  RunResult as_of =
      Ctl({"report", "--as-of", "2024-10-25", "--clock", "effective", "--format", "html"},
          kScrutinyToken);
  ASSERT_EQ(as_of.exit_code, 0) << as_of.err;
  std::smatch command;
  ASSERT_TRUE(std::regex_search(as_of.out, command, std::regex("<code>ledgerctl ([^<]+)</code>")))
      << as_of.out.substr(as_of.out.size() - 600);
  std::vector<std::string> args = absl::StrSplit(command[1].str(), ' ');
  RunResult repeated = Ctl(args, kScrutinyToken);
  ASSERT_EQ(repeated.exit_code, 0) << command[1] << ": " << repeated.err;
  EXPECT_EQ(repeated.out, as_of.out);
  EXPECT_NE(command[1].str().find("--clock effective --format html --position"), std::string::npos)
      << command[1];
}

TEST_F(LedgerctlTest, PrincipalAddPrintsATokenOnceAndLedgerdLoadsItOnSighup) {
  Import();
  RunResult added = testing::RunCommand(
      LEDGERCTL_PATH, {"principal", "add", "--file", ledgerd_.principals_path(), "--id",
                       "newofficer", "--role", "officer", "--name", "New Officer"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const std::string token(absl::StripAsciiWhitespace(added.out));
  ASSERT_FALSE(token.empty());
  std::ifstream in(ledgerd_.principals_path());
  std::stringstream file;
  file << in.rdbuf();
  EXPECT_EQ(file.str().find(token), std::string::npos) << "the token itself was stored";
  EXPECT_NE(file.str().find(testing::Sha256Hex(token)), std::string::npos);
  // Not known until ledgerd reloads.
  EXPECT_EQ(Ctl({"action", "list"}, token).exit_code, 3);
  ledgerd_.Signal(SIGHUP);
  // The reload is asynchronous: poll, bounded.
  int code = 3;
  for (int i = 0; i < 50 && code == 3; ++i) {
    code = Ctl({"action", "list"}, token).exit_code;
    if (code == 3) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace auditledger
