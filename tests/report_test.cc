// The update report from a real ledger: golden files for the Oxford plan's
// October 2024 period, reproducibility, escaping, and the HTML rendered in a
// real browser.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auditledger/v1/query_service.grpc.pb.h"
#include "auditledger/v1/report_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "ledger/store/sha256.h"
#include "tests/support/commands.h"
#include "tests/support/ledgerd_process.h"

namespace auditledger {
namespace {

using ::auditledger::store::ToHex;

using testing::Context;
using testing::kAdminToken;
using testing::kScrutinyToken;
using testing::LedgerdProcess;

const std::string kSource = AUDITLEDGER_SOURCE_DIR;
constexpr char kPlan[] = "plans/oxford-cpc-2023";
constexpr char kOct[] = "plans/oxford-cpc-2023/periods/oct-2024";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What differs between two imports of the same files: when the ledger
// recorded the events, and so the hash chain.
std::string Normalise(const std::string& report) {
  std::string out = std::regex_replace(
      report, std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"), "<recorded>");
  return std::regex_replace(out, std::regex("[0-9a-f]{64}"), "<hash>");
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void Start(std::vector<std::string> args = {}) {
    ledgerd_ = std::make_unique<LedgerdProcess>(dir_.path() + "/data", std::move(args));
    report_ = v1::ReportService::NewStub(ledgerd_->Channel());
    ledger_ = ledgerd_->LedgerStub();
    query_ = v1::QueryService::NewStub(ledgerd_->Channel());
  }

  void ImportOxford() {
    testing::RunResult r = testing::RunCommand(
        LEDGERCTL_PATH,
        {"--addr", ledgerd_->address(), "plan", "import", kSource + "/examples/oxford-cpc-2023"},
        {std::string("LEDGER_TOKEN=") + kAdminToken, "HOME=/nonexistent"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  uint64_t Head() {
    v1::LogHead head;
    EXPECT_TRUE(ledger_->GetLogHead(Context(kScrutinyToken).get(), {}, &head).ok());
    return head.position();
  }

  v1::Report Render(v1::ReportFormat format, const std::string& period = kOct) {
    v1::RenderReportRequest request;
    request.set_name(kPlan);
    request.set_period(period);
    request.set_format(format);
    request.set_min_position(Head());
    v1::Report report;
    grpc::Status s = report_->RenderReport(Context(kScrutinyToken, 30000).get(), request, &report);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return report;
  }

  std::map<v1::ReportFormat, std::string> RenderAll() {
    std::map<v1::ReportFormat, std::string> out;
    for (v1::ReportFormat f : {v1::MARKDOWN, v1::HTML, v1::CSV}) out[f] = Render(f).content();
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<LedgerdProcess> ledgerd_;
  std::unique_ptr<v1::ReportService::Stub> report_;
  std::unique_ptr<v1::LedgerService::Stub> ledger_;
  std::unique_ptr<v1::QueryService::Stub> query_;
};

TEST_F(ReportTest, OxfordOctober2024MatchesTheGoldenFiles) {
  ImportOxford();
  // Nothing was recorded after October closed: no amendment to declare.
  EXPECT_EQ(Render(v1::MARKDOWN).content().find("Amended since"), std::string::npos);
  const std::map<v1::ReportFormat, std::string> names = {{v1::MARKDOWN, "oxford-oct-2024.md"},
                                                         {v1::HTML, "oxford-oct-2024.html"},
                                                         {v1::CSV, "oxford-oct-2024.csv"}};
  for (const auto& [format, name] : names) {
    const std::string path = kSource + "/tests/golden/" + name;
    const std::string actual = Normalise(Render(format).content());
    if (std::getenv("UPDATE_GOLDEN") != nullptr) {
      std::ofstream(path, std::ios::binary | std::ios::trunc) << actual;
      continue;
    }
    const std::string expected = ReadFile(path);
    ASSERT_FALSE(expected.empty()) << path << " is missing; run with UPDATE_GOLDEN=1";
    EXPECT_EQ(actual, expected) << name << " differs from its golden file";
  }
  // What the seed shows, in the Markdown.
  const std::string md = Render(v1::MARKDOWN).content();
  EXPECT_NE(md.find("## Recommendation 10: The Oxford Model"), std::string::npos);
  EXPECT_NE(md.find("| a7 | Establish a delivery board for the City Centre Action Plan including "
                    "agreeing terms of reference and members | December 2024 | Ongoing | A "
                    "cross-sector delivery board is in the process of being established. |"),
            std::string::npos);
  EXPECT_NE(md.find("| Overall | 55 | 39 | 16 | 0 | 0 | 0 | 71% |"), std::string::npos);
}

TEST_F(ReportTest, IdenticalAfterLaterEventsRebuildAndRestart) {
  ImportOxford();
  const auto first = RenderAll();
  // A report as of a fixed moment on the recorded clock, too.
  v1::RenderReportRequest as_of;
  as_of.set_name(kPlan);
  v1::ListEventsRequest last;
  last.set_start_position(Head());
  v1::ListEventsResponse head_event;
  ASSERT_TRUE(ledger_->ListEvents(Context(kScrutinyToken).get(), last, &head_event).ok());
  *as_of.mutable_as_of() = head_event.events(0).event().recorded_at();
  as_of.set_clock(v1::RECORDED);
  as_of.set_format(v1::MARKDOWN);
  v1::Report fixed;
  ASSERT_TRUE(report_->RenderReport(Context(kScrutinyToken).get(), as_of, &fixed).ok());

  // A thousand later events.
  v1::ExecuteCommandsRequest open;
  *open.add_commands() = testing::OpenPeriod("oxford-cpc-2023", "jan-2025", "January 2025");
  v1::CommandResponse response;
  ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), open, &response).ok());
  for (int batch = 0; batch < 10; ++batch) {
    v1::ExecuteCommandsRequest request;
    for (int i = 0; i < 100; ++i) {
      *request.add_commands() = testing::RecordUpdate(
          "plans/oxford-cpc-2023/recommendations/r1/actions/a7",
          "plans/oxford-cpc-2023/periods/jan-2025", absl::StrCat("later ", batch, ".", i));
    }
    ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response).ok());
  }
  EXPECT_EQ(RenderAll(), first) << "changed by later events";
  v1::Report fixed_again;
  ASSERT_TRUE(report_->RenderReport(Context(kScrutinyToken).get(), as_of, &fixed_again).ok());
  EXPECT_EQ(fixed_again.content(), fixed.content());

  v1::RebuildProjectionRequest rebuild;
  rebuild.set_name("all");
  rebuild.set_wait(true);
  v1::ProjectionStatus status;
  ASSERT_TRUE(query_->RebuildProjection(Context(kAdminToken, 60000).get(), rebuild, &status).ok());
  EXPECT_EQ(RenderAll(), first) << "changed by a projection rebuild";

  ASSERT_EQ(ledgerd_->Stop(), 0);
  Start();
  EXPECT_EQ(RenderAll(), first) << "changed by a restart";
  v1::Report fixed_restarted;
  ASSERT_TRUE(report_->RenderReport(Context(kScrutinyToken).get(), as_of, &fixed_restarted).ok());
  EXPECT_EQ(fixed_restarted.content(), fixed.content());
}

// A published report names the position it was built from; asked for at
// that position it comes back byte for byte after back-dated corrections
// have changed what the ledger now says about the period. Enough dated
// events precede it that the temporal model has checkpoints on both clocks
// before the period's close, which the corrections then invalidate.
TEST_F(ReportTest, APublishedReportComesBackByItsPositionAfterBackDatedCorrections) {
  ImportOxford();
  const std::string a7 = "plans/oxford-cpc-2023/recommendations/r1/actions/a7";
  const std::string a8 = "plans/oxford-cpc-2023/recommendations/r1/actions/a8";
  constexpr int64_t kJune2024 = 1717200000;  // 2024-06-01T00:00:00Z
  v1::CommandResponse response;
  for (int batch = 0; batch < 6; ++batch) {
    v1::ExecuteCommandsRequest request;
    for (int i = 0; i < 100; ++i) {
      const int n = batch * 100 + i;
      v1::Command c = testing::AmendDescription(n % 2 == 0 ? a7 : a8, absl::StrCat("wording ", n),
                                                "wording agreed in June");
      c.mutable_amend_description()->mutable_effective_time()->set_seconds(kJune2024 + 60 * n);
      *request.add_commands() = std::move(c);
    }
    grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  std::map<v1::ReportFormat, v1::Report> published;
  for (v1::ReportFormat f : {v1::MARKDOWN, v1::HTML, v1::CSV}) published[f] = Render(f);
  const uint64_t at = published[v1::MARKDOWN].position();
  ASSERT_GT(at, 700u);
  for (const auto& [f, r] : published) ASSERT_EQ(r.position(), at);
  // The CSV's rows carry the position and chain head they were cut at.
  EXPECT_NE(published[v1::CSV].content().find(
                absl::StrCat(",\"", at, "\",\"", ToHex(published[v1::CSV].head_hash()), "\"\r\n")),
            std::string::npos);
  // What the ledger said then about the close of the period, and all it
  // had recorded.
  auto as_of = [&](v1::Clock clock, int64_t seconds, uint64_t ledger_position) {
    v1::GetPlanAsOfRequest request;
    request.set_name(kPlan);
    request.mutable_time()->set_seconds(seconds);
    request.set_clock(clock);
    request.set_ledger_position(ledger_position);
    v1::PlanSnapshot snapshot;
    grpc::Status s = query_->GetPlanAsOf(Context(kScrutinyToken).get(), request, &snapshot);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return snapshot.SerializeAsString();
  };
  constexpr int64_t kOctClose = 1730419199;  // 2024-10-31T23:59:59Z
  constexpr int64_t kFarOff = 253402300799;  // 9999-12-31T23:59:59Z
  const std::string effective_then = as_of(v1::EFFECTIVE, kOctClose, 0);
  const std::string recorded_then = as_of(v1::RECORDED, kFarOff, 0);

  // Later, corrections that take effect inside the period: a narrative put
  // right, a status back-dated into October, and a wording back-dated
  // among the June ones.
  v1::ListEventsRequest list;
  list.set_page_size(1000);
  v1::ListEventsResponse events;
  ASSERT_TRUE(ledger_->ListEvents(Context(kScrutinyToken).get(), list, &events).ok());
  uint64_t narrative = 0;
  for (const v1::LoggedEvent& e : events.events()) {
    if (e.event().has_update_recorded() && e.event().stream() == a7 &&
        absl::EndsWith(e.event().update_recorded().period(), "/oct-2024")) {
      narrative = e.event().position();
    }
  }
  ASSERT_GT(narrative, 0u);
  v1::ExecuteCommandsRequest late;
  *late.add_commands() = testing::CorrectNarrative(narrative, "Put right later.", "typo");
  v1::Command status = testing::ChangeStatus(a7, v1::COMPLETE, "completed in October");
  status.mutable_change_action_status()->mutable_effective_time()->set_seconds(1728950400);
  *late.add_commands() = std::move(status);
  v1::Command wording =
      testing::AmendDescription(a8, "wording put right", "a June wording mis-entered");
  wording.mutable_amend_description()->mutable_effective_time()->set_seconds(kJune2024 + 60 * 301 +
                                                                             30);
  *late.add_commands() = std::move(wording);
  // And two more dated wordings: a7's after the period's close (the report
  // reads past it to a8's list) and a8's inside the period.
  v1::Command november = testing::AmendDescription(a7, "wording of November", "agreed in November");
  november.mutable_amend_description()->mutable_effective_time()->set_seconds(1732060800);
  *late.add_commands() = std::move(november);
  v1::Command october = testing::AmendDescription(a8, "wording of October", "agreed in October");
  october.mutable_amend_description()->mutable_effective_time()->set_seconds(1729382400);
  *late.add_commands() = std::move(october);
  grpc::Status corrected = ledger_->ExecuteCommands(Context(kAdminToken).get(), late, &response);
  ASSERT_TRUE(corrected.ok()) << corrected.error_message();

  // Now the period's report says otherwise; at the published position it
  // does not, before and after the models are rebuilt.
  auto at_position = [&](v1::ReportFormat f, uint64_t position) {
    v1::RenderReportRequest request;
    request.set_name(kPlan);
    request.set_period(kOct);
    request.set_format(f);
    request.set_ledger_position(position);
    v1::Report report;
    grpc::Status s = report_->RenderReport(Context(kScrutinyToken, 30000).get(), request, &report);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return report;
  };
  ASSERT_NE(Render(v1::MARKDOWN).content(), published[v1::MARKDOWN].content());
  EXPECT_NE(Render(v1::MARKDOWN).content().find("Put right later."), std::string::npos);
  // Its head says it holds what was recorded after the period closed, and
  // how to have the report as it stood then (the import closed October).
  const std::string amended = Render(v1::MARKDOWN).content();
  const size_t note = amended.find("**Amended since the period closed: events ");
  ASSERT_NE(note, std::string::npos) << amended.substr(0, 800);
  EXPECT_LT(note, amended.find("## Contents"));
  EXPECT_NE(amended.find(" more were recorded after it closed (at ledger position "),
            std::string::npos)
      << amended.substr(0, 800);
  EXPECT_NE(amended.find("The report as it stood when the period closed: ledgerctl report "
                         "--period oct-2024 --position "),
            std::string::npos);
  EXPECT_NE(Render(v1::HTML).content().find("Amended since the period closed"), std::string::npos);
  // The audit appendix holds the status back-dated into the period, and
  // the wordings dated in June, before it opened but after the period
  // before it closed, as "what changed" does.
  EXPECT_NE(
      Render(v1::MARKDOWN)
          .content()
          .find("| 2024-10-15 | admin | Status | Ongoing → Complete | completed in October |"),
      std::string::npos);
  EXPECT_NE(Render(v1::MARKDOWN).content().find("wording agreed in June"), std::string::npos);
  EXPECT_NE(Render(v1::MARKDOWN).content().find("| 2024-10-20 | admin | Description |"),
            std::string::npos);
  EXPECT_NE(Render(v1::MARKDOWN).content().find("| agreed in October |"), std::string::npos);
  EXPECT_EQ(Render(v1::MARKDOWN).content().find("agreed in November"), std::string::npos);
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "as the models were kept" : "after a rebuild");
    for (const auto& [f, r] : published) {
      const v1::Report again = at_position(f, at);
      EXPECT_EQ(again.content(), r.content()) << "format " << f;
      EXPECT_EQ(again.position(), at);
      EXPECT_EQ(again.head_hash(), r.head_hash());
    }
    EXPECT_EQ(as_of(v1::EFFECTIVE, kOctClose, at), effective_then);
    EXPECT_EQ(as_of(v1::RECORDED, kFarOff, at), recorded_then);
    EXPECT_NE(as_of(v1::EFFECTIVE, kOctClose, 0), effective_then);
    v1::RebuildProjectionRequest rebuild;
    rebuild.set_name("all");
    rebuild.set_wait(true);
    v1::ProjectionStatus done;
    ASSERT_TRUE(query_->RebuildProjection(Context(kAdminToken, 60000).get(), rebuild, &done).ok());
  }
}

// Two periods closed out of order on the effective clock: the later-opened
// one closes first (back-dated), so the earlier one's close is after the
// reported moment and is not its previous period. A draft promises nothing.
TEST_F(ReportTest, PeriodsClosedOutOfOrderStillComeBackByPosition) {
  ImportOxford();
  const std::string a7 = "plans/oxford-cpc-2023/recommendations/r1/actions/a7";
  // The command with its effective time set, whichever command it is.
  auto at = [](v1::Command c, int64_t seconds) {
    const google::protobuf::OneofDescriptor* kind = c.GetDescriptor()->FindOneofByName("kind");
    const google::protobuf::FieldDescriptor* set =
        c.GetReflection()->GetOneofFieldDescriptor(c, kind);
    google::protobuf::Message* request = c.GetReflection()->MutableMessage(&c, set);
    google::protobuf::Message* time = request->GetReflection()->MutableMessage(
        request, request->GetDescriptor()->FindFieldByName("effective_time"));
    time->GetReflection()->SetInt64(time, time->GetDescriptor()->FindFieldByName("seconds"),
                                    seconds);
    return c;
  };
  constexpr int64_t kJan = 1735689600;    // 2025-01-01
  constexpr int64_t kFeb = 1738368000;    // 2025-02-01
  constexpr int64_t kFeb28 = 1740700800;  // 2025-02-28
  constexpr int64_t kMar3 = 1740960000;   // 2025-03-03
  constexpr int64_t kMar5 = 1741132800;   // 2025-03-05
  const std::string a = "plans/oxford-cpc-2023/periods/a-2025";
  const std::string b = "plans/oxford-cpc-2023/periods/b-2025";
  v1::ExecuteCommandsRequest setup;
  *setup.add_commands() = at(testing::OpenPeriod("oxford-cpc-2023", "a-2025", "A"), kJan);
  *setup.add_commands() = at(testing::OpenPeriod("oxford-cpc-2023", "b-2025", "B"), kFeb);
  *setup.add_commands() = at(testing::ClosePeriod(a), kMar5);
  *setup.add_commands() = at(testing::ClosePeriod(b), kFeb28);
  *setup.add_commands() =
      at(testing::ChangeStatus(a7, v1::COMPLETE, "completed between the closes"), kMar3);
  v1::CommandResponse response;
  grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), setup, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const v1::Report published = Render(v1::MARKDOWN, b);
  // Later: another period, and a correction back-dated into B.
  v1::ExecuteCommandsRequest later;
  *later.add_commands() = testing::OpenPeriod("oxford-cpc-2023", "c-2025", "C");
  *later.add_commands() =
      at(testing::AmendDescription(a7, "put right", "mis-entered in February"), kFeb + 86400);
  s = ledger_->ExecuteCommands(Context(kAdminToken).get(), later, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_NE(Render(v1::MARKDOWN, b).content(), published.content());
  v1::RenderReportRequest again;
  again.set_name(kPlan);
  again.set_period(b);
  again.set_ledger_position(published.position());
  v1::Report reproduced;
  s = report_->RenderReport(Context(kScrutinyToken).get(), again, &reproduced);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reproduced.content(), published.content());
  EXPECT_NE(published.content().find("--period b-2025 --position " +
                                     std::to_string(published.position())),
            std::string::npos);
  // The open period's draft says nothing of asking for it again.
  const std::string draft = Render(v1::MARKDOWN, "plans/oxford-cpc-2023/periods/c-2025").content();
  EXPECT_NE(draft.find("draft"), std::string::npos);
  EXPECT_EQ(draft.find("Asked for as the ledger stood"), std::string::npos);
}

TEST_F(ReportTest, AmendedDescriptionsAreAmongWhatChanged) {
  ImportOxford();
  const std::string a7 = "plans/oxford-cpc-2023/recommendations/r1/actions/a7";
  v1::ExecuteCommandsRequest request;
  *request.add_commands() = testing::OpenPeriod("oxford-cpc-2023", "jan-2025", "January 2025");
  *request.add_commands() =
      testing::AmendDescription(a7, "Establish the City Centre delivery board", "scope agreed");
  *request.add_commands() = testing::ClosePeriod("plans/oxford-cpc-2023/periods/jan-2025");
  v1::CommandResponse response;
  grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string md = Render(v1::MARKDOWN, "plans/oxford-cpc-2023/periods/jan-2025").content();
  EXPECT_NE(md.find("### Amended descriptions\n\n| Action | Was | Now |"), std::string::npos) << md;
  EXPECT_NE(md.find("| r1/a7 | Establish a delivery board for the City Centre Action Plan "
                    "including agreeing terms of reference and members | Establish the City "
                    "Centre delivery board |"),
            std::string::npos)
      << md;
  const std::string html = Render(v1::HTML, "plans/oxford-cpc-2023/periods/jan-2025").content();
  EXPECT_NE(html.find("Amended descriptions"), std::string::npos);
  // A period with none has no such section (the golden files show it).
  EXPECT_EQ(Render(v1::MARKDOWN).content().find("Amended descriptions"), std::string::npos);
}

TEST_F(ReportTest, AnActionWithoutAnUpdateThisPeriodSaysSo) {
  ImportOxford();
  const std::string a7 = "plans/oxford-cpc-2023/recommendations/r1/actions/a7";
  const std::string jan = "plans/oxford-cpc-2023/periods/jan-2025";
  v1::ExecuteCommandsRequest request;
  *request.add_commands() = testing::OpenPeriod("oxford-cpc-2023", "jan-2025", "January 2025");
  *request.add_commands() = testing::RecordUpdate(a7, jan, "Board met twice.");
  *request.add_commands() = testing::ClosePeriod(jan);
  v1::CommandResponse response;
  grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string md = Render(v1::MARKDOWN, jan).content();
  const size_t a7_row = md.find("\n| a7 |");
  ASSERT_NE(a7_row, std::string::npos) << md;
  EXPECT_TRUE(
      absl::EndsWith(md.substr(a7_row, md.find('\n', a7_row + 1) - a7_row), "| Board met twice. |"))
      << md;
  const size_t a8_row = md.find("\n| a8 |");
  ASSERT_NE(a8_row, std::string::npos) << md;
  EXPECT_TRUE(absl::EndsWith(md.substr(a8_row, md.find('\n', a8_row + 1) - a8_row),
                             "| No update this period. |"))
      << md;
  EXPECT_NE(Render(v1::HTML, jan).content().find("No update this period."), std::string::npos);
  // The CSV is data: its update cell is empty, for a spreadsheet to filter.
  EXPECT_EQ(Render(v1::CSV, jan).content().find("No update this period."), std::string::npos);
}

TEST_F(ReportTest, TheAuditAppendixNamesPeopleAsTheEventsRecordedThem) {
  ImportOxford();
  const std::string a7 = "plans/oxford-cpc-2023/recommendations/r1/actions/a7";
  const std::string jan = "plans/oxford-cpc-2023/periods/jan-2025";
  v1::CommandResponse response;
  v1::ExecuteCommandsRequest open;
  *open.add_commands() = testing::OpenPeriod("oxford-cpc-2023", "jan-2025", "January 2025");
  *open.add_commands() = testing::AssignOwner(a7, "jsmith");
  ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), open, &response).ok());
  v1::ExecuteCommandsRequest update;
  *update.add_commands() = testing::RecordUpdate(a7, jan, "Board met twice.");
  grpc::Status s =
      ledger_->ExecuteCommands(Context(testing::kOfficerToken).get(), update, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::ExecuteCommandsRequest close;
  *close.add_commands() = testing::ClosePeriod(jan);
  ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), close, &response).ok());
  const std::string md = Render(v1::MARKDOWN, jan).content();
  // The officer by name and id; the admin, whose name is its id, once.
  EXPECT_NE(md.find("| J Smith (jsmith) | Update | Board met twice. |"), std::string::npos) << md;
  EXPECT_NE(md.find("| admin | Owner |"), std::string::npos) << md;
  const std::string html = Render(v1::HTML, jan).content();
  EXPECT_NE(html.find("J Smith (jsmith)"), std::string::npos);

  // The name is the event's: renaming the principal later changes no report.
  std::string principals = ReadFile(ledgerd_->principals_path());
  const size_t at = principals.find("J Smith");
  ASSERT_NE(at, std::string::npos);
  principals.replace(at, 7, "Jo Smith-Jones");
  std::ofstream(ledgerd_->principals_path(), std::ios::trunc) << principals;
  ledgerd_->Signal(SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 100 && !reloaded; ++i) {
    reloaded = absl::StrContains(ledgerd_->Stderr(), "principals reloaded");
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(reloaded) << ledgerd_->Stderr();
  EXPECT_EQ(Render(v1::MARKDOWN, jan).content(), md);
}

TEST_F(ReportTest, ATargetRevisedTwiceForOneReasonGivesItOnce) {
  ImportOxford();
  const std::string a7 = "plans/oxford-cpc-2023/recommendations/r1/actions/a7";
  v1::ExecuteCommandsRequest request;
  *request.add_commands() = testing::OpenPeriod("oxford-cpc-2023", "jan-2025", "January 2025");
  *request.add_commands() = testing::ReviseTarget(a7, "2025-06", "board not yet formed");
  *request.add_commands() = testing::ReviseTarget(a7, "2025-09", "board not yet formed");
  *request.add_commands() = testing::ReviseTarget(a7, "2025-12", "chair stood down");
  *request.add_commands() = testing::ClosePeriod("plans/oxford-cpc-2023/periods/jan-2025");
  v1::CommandResponse response;
  grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string md = Render(v1::MARKDOWN, "plans/oxford-cpc-2023/periods/jan-2025").content();
  const size_t table = md.find("### Revised target dates");
  ASSERT_NE(table, std::string::npos) << md;
  const size_t row = md.find("| r1/a7 |", table);
  ASSERT_NE(row, std::string::npos) << md;
  EXPECT_EQ(md.substr(row, md.find('\n', row) - row),
            "| r1/a7 | December 2024 | December 2025 | board not yet formed; chair stood down |")
      << md;
}

// An action that had no target and is given one has not slipped: the
// period's report lists it among the targets set, not the revisions; an
// action added and moved within a period is among the revisions.
TEST_F(ReportTest, AFirstTargetIsSetNotRevised) {
  ImportOxford();
  const std::string a16 = "plans/oxford-cpc-2023/recommendations/r1/actions/a16";
  const std::string jan = "plans/oxford-cpc-2023/periods/jan-2025";
  v1::ExecuteCommandsRequest request;
  *request.add_commands() = testing::OpenPeriod("oxford-cpc-2023", "jan-2025", "January 2025");
  *request.add_commands() = testing::ReviseTarget(a16, "June 2025", "date agreed by the board");
  const std::string a1 = "plans/oxford-cpc-2023/recommendations/r1/actions/a1";
  *request.add_commands() = testing::ReviseTarget(a1, "March 2025", "date set");
  *request.add_commands() = testing::ReviseTarget(a1, "April 2025", "moved");
  *request.add_commands() =
      testing::AddAction("plans/oxford-cpc-2023/recommendations/r1", "a17", "March 2025");
  *request.add_commands() = testing::ReviseTarget(
      "plans/oxford-cpc-2023/recommendations/r1/actions/a17", "May 2025", "supplier late");
  *request.add_commands() = testing::ClosePeriod(jan);
  v1::CommandResponse response;
  grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string md = Render(v1::MARKDOWN, jan).content();
  const size_t revised = md.find("### Revised target dates");
  const size_t set = md.find("### Target dates set");
  ASSERT_NE(revised, std::string::npos) << md;
  ASSERT_NE(set, std::string::npos) << md;
  const std::string revised_table = md.substr(revised, set - revised);
  EXPECT_EQ(revised_table.find("r1/a16"), std::string::npos) << md;
  EXPECT_NE(revised_table.find("| r1/a17 | March 2025 | May 2025 | supplier late |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| r1/a16 | June 2025 | date agreed by the board |", set), std::string::npos)
      << md;
  // Given a first target and moved from it in the period: set, and revised.
  EXPECT_NE(md.find("| r1/a1 | March 2025 | date set |", set), std::string::npos) << md;
  EXPECT_NE(revised_table.find("| r1/a1 | March 2025 | April 2025 | moved |"), std::string::npos)
      << md;
  // Nor is it among the slipped.
  const size_t slipped = md.find("### Target dates revised (slipped or brought forward)");
  ASSERT_NE(slipped, std::string::npos) << md;
  const size_t next = md.find("\n## ", slipped);
  EXPECT_EQ(md.substr(slipped, next - slipped).find("| r1/a16 |"), std::string::npos) << md;
  // A period without a first target has no such section (the golden files
  // show it).
  EXPECT_EQ(Render(v1::MARKDOWN).content().find("Target dates set"), std::string::npos);
}

TEST_F(ReportTest, AReportAtAPositionItCannotBeTrueToIsRefused) {
  ImportOxford();
  const uint64_t head = Head();
  auto refused = [&](const std::string& period, uint64_t position) {
    v1::RenderReportRequest request;
    request.set_name(kPlan);
    request.set_period(period);
    request.set_ledger_position(position);
    v1::Report report;
    return report_->RenderReport(Context(kScrutinyToken).get(), request, &report);
  };
  grpc::Status past_head = refused(kOct, head + 1);
  EXPECT_EQ(past_head.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_NE(past_head.error_message().find("ledger_position"), std::string::npos)
      << past_head.error_message();
  // The period was still open at position 5: its report then was a draft.
  grpc::Status still_open = refused(kOct, 5);
  EXPECT_EQ(still_open.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(still_open.error_message().find("ledger_position"), std::string::npos);
  v1::ExecuteCommandsRequest open;
  *open.add_commands() = testing::OpenPeriod("oxford-cpc-2023", "jan-2025", "January 2025");
  v1::CommandResponse response;
  ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), open, &response).ok());
  EXPECT_EQ(refused("plans/oxford-cpc-2023/periods/jan-2025", Head()).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // The same as the whole ledger when nothing has been recorded since.
  v1::RenderReportRequest request;
  request.set_name(kPlan);
  request.set_period(kOct);
  request.set_ledger_position(Head());
  v1::Report whole, bounded;
  ASSERT_TRUE(report_->RenderReport(Context(kScrutinyToken).get(), request, &bounded).ok());
  request.set_ledger_position(0);
  ASSERT_TRUE(report_->RenderReport(Context(kScrutinyToken).get(), request, &whole).ok());
  EXPECT_EQ(bounded.content(), whole.content());
}

TEST_F(ReportTest, HostileTextIsEscapedInHtmlAndNeutralisedInCsv) {
  const std::string hostile =
      "<script>alert('x')</script> & \"quoted\" \u202Eright-to-left\u202C \U0001F389";
  auto run = [&](v1::Command c) {
    v1::ExecuteCommandsRequest request;
    *request.add_commands() = std::move(c);
    v1::CommandResponse response;
    grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  };
  run(testing::CreatePlan("oxford-cpc-2023", hostile));
  run(testing::AddRecommendation("oxford-cpc-2023", "r1", 1));
  v1::Command action =
      testing::AddAction("plans/oxford-cpc-2023/recommendations/r1", "a1", "March 2025", "");
  action.mutable_add_action()->set_description("=HYPERLINK(\"http://evil\",\"click\")");
  run(action);
  run(testing::OpenPeriod("oxford-cpc-2023", "oct-2024", "<b>October</b>"));
  run(testing::RecordUpdate("plans/oxford-cpc-2023/recommendations/r1/actions/a1", kOct,
                            "+44 7700 900000 @channel -1 " + hostile +
                                " [click](http://evil) ![x](http://evil/x.png) *bold* _em_ "
                                "`code` back\\slash ~~struck~~ R&amp;D &#42;star&#42; &lt;b&gt; "
                                "Q&A"));
  run(testing::ClosePeriod(kOct));

  const std::string html = Render(v1::HTML).content();
  EXPECT_EQ(html.find("<script"), std::string::npos) << "a script tag reached the HTML";
  EXPECT_EQ(html.find("<b>October"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;"),
            std::string::npos);
  EXPECT_NE(html.find("\u202Eright-to-left\u202C \U0001F389"), std::string::npos)
      << "UTF-8 text must survive";

  const std::string csv = Render(v1::CSV).content();
  EXPECT_NE(csv.find("\"'=HYPERLINK(\"\"http://evil\"\",\"\"click\"\")\""), std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\"'+44 7700 900000"), std::string::npos) << csv;
  EXPECT_EQ(csv.find(",\"=HYPERLINK"), std::string::npos);

  const std::string md = Render(v1::MARKDOWN).content();
  EXPECT_EQ(md.find("<script"), std::string::npos);
  // No link, image, emphasis or code from an officer's text.
  EXPECT_NE(md.find("\\[click\\](http://evil) !\\[x\\](http://evil/x.png) \\*bold\\* "
                    "\\_em\\_ \\`code\\` back\\\\slash"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("[click]("), std::string::npos);
  // Nor strikethrough or an entity; a lone '&' stays as typed.
  EXPECT_NE(md.find("\\~\\~struck\\~\\~ R\\&amp;D \\&#42;star\\&#42; \\&lt;b\\&gt; Q&A"),
            std::string::npos)
      << md;
}

TEST_F(ReportTest, HtmlRendersInARealBrowser) {
  ImportOxford();
  const std::string html = Render(v1::HTML).content();
  const std::string page = dir_.path() + "/report.html";
  std::ofstream(page) << html;
  const char* chromium = "/usr/bin/chromium";
  ASSERT_TRUE(std::filesystem::exists(chromium))
      << "Debian's chromium is required (scripts/install-deps.sh installs it)";
  std::vector<std::string> flags = {"--headless",
                                    "--no-sandbox",
                                    "--disable-gpu",
                                    "--disable-quic",
                                    "--no-first-run",
                                    "--disable-background-networking",
                                    "--disable-component-update",
                                    "--disable-sync",
                                    "--user-data-dir=" + dir_.path() + "/chromium-profile"};
  std::vector<std::string> dump = flags;
  dump.push_back("--dump-dom");
  dump.push_back("file://" + page);
  testing::RunResult dom = testing::RunCommand(chromium, dump);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t at = dom.out.find(needle); at != std::string::npos;
         at = dom.out.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("<table class=\"actions\">"), 10u) << "every recommendation's table";
  EXPECT_EQ(count("<section class=\"recommendation\""), 10u);
  EXPECT_EQ(count("<svg id=\"status-chart\""), 1u);
  EXPECT_GE(count("<rect class=\"bar\""), 10u);
  EXPECT_NE(dom.out.find("Establish a delivery board"), std::string::npos);

  std::vector<std::string> shot = flags;
  const std::string png = dir_.path() + "/report.png";
  shot.push_back("--screenshot=" + png);
  shot.push_back("--window-size=1280,2000");
  shot.push_back("file://" + page);
  testing::RunResult screenshot = testing::RunCommand(chromium, shot);
  ASSERT_EQ(screenshot.exit_code, 0) << screenshot.err;
  const std::string bytes = ReadFile(png);
  ASSERT_GT(bytes.size(), 10000u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  if (const char* keep = std::getenv("REPORT_SCREENSHOT")) {
    std::filesystem::copy_file(png, keep, std::filesystem::copy_options::overwrite_existing);
  }
}

}  // namespace
}  // namespace auditledger
