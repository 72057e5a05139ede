// The scrutiny committee's questions against a real ledgerd: a scripted plan
// history with exact answers for every query, on both clocks; rebuilds and
// restarts that must give byte-identical read models.
#include <signal.h>

#include <algorithm>
#include <future>
#include <random>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "auditledger/v1/query_service.grpc.pb.h"
#include "auditledger/v1/report_service.grpc.pb.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "ledger/domain/target_date.h"
#include "ledger/service/model_reader.h"
#include "ledger/store/event_log.h"
#include "projections/blocks.h"
#include "projections/fold.h"
#include "projections/read_models.h"
#include "projections/temporal.h"
#include "tests/support/commands.h"
#include "tests/support/ledgerd_process.h"

namespace auditledger {
namespace {

using testing::Context;
using testing::kAdminToken;
using testing::kOfficerToken;
using testing::kOtherOfficerToken;
using testing::kScrutinyToken;
using testing::LedgerdProcess;

constexpr char kPlan[] = "plans/oxford";
constexpr char kA1[] = "plans/oxford/recommendations/r1/actions/a1";
constexpr char kA2[] = "plans/oxford/recommendations/r1/actions/a2";
constexpr char kB1[] = "plans/oxford/recommendations/r2/actions/a1";
constexpr char kApr[] = "plans/oxford/periods/apr-2024";
constexpr char kOct[] = "plans/oxford/periods/oct-2024";

google::protobuf::Timestamp Day(int y, int m, int d) {
  google::protobuf::Timestamp t;
  t.set_seconds(absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone())));
  return t;
}

template <typename Request>
void SetEffective(Request* r, int y, int m, int d) {
  *r->mutable_effective_time() = Day(y, m, d);
}

// Sets the effective time of whichever command `c` holds.
void Effective(v1::Command& c, int y, int m, int d) {
  switch (c.kind_case()) {
    case v1::Command::kCreatePlan:
      SetEffective(c.mutable_create_plan(), y, m, d);
      break;
    case v1::Command::kAddRecommendation:
      SetEffective(c.mutable_add_recommendation(), y, m, d);
      break;
    case v1::Command::kAddAction:
      SetEffective(c.mutable_add_action(), y, m, d);
      break;
    case v1::Command::kChangeActionStatus:
      SetEffective(c.mutable_change_action_status(), y, m, d);
      break;
    case v1::Command::kRecordUpdate:
      SetEffective(c.mutable_record_update(), y, m, d);
      break;
    case v1::Command::kReviseTargetDate:
      SetEffective(c.mutable_revise_target_date(), y, m, d);
      break;
    case v1::Command::kAssignOwner:
      SetEffective(c.mutable_assign_owner(), y, m, d);
      break;
    case v1::Command::kOpenPeriod:
      SetEffective(c.mutable_open_period(), y, m, d);
      break;
    case v1::Command::kClosePeriod:
      SetEffective(c.mutable_close_period(), y, m, d);
      break;
    case v1::Command::kAmendDescription:
      SetEffective(c.mutable_amend_description(), y, m, d);
      break;
    default:
      break;
  }
}

class QueriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ledgerd_ = std::make_unique<LedgerdProcess>(data_dir());
    Connect();
  }
  void Connect() {
    ledger_ = ledgerd_->LedgerStub();
    query_ = v1::QueryService::NewStub(ledgerd_->Channel());
  }

  uint64_t Do(const char* token, v1::Command command) {
    v1::ExecuteCommandsRequest request;
    *request.add_commands() = std::move(command);
    v1::CommandResponse response;
    grpc::Status s = ledger_->ExecuteCommands(Context(token).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.position();
  }

  uint64_t DoAt(const char* token, v1::Command command, int y, int m, int d) {
    Effective(command, y, m, d);
    return Do(token, std::move(command));
  }

  // The scripted history. Positions are remembered for exact answers.
  void Script() {
    using namespace testing;
    DoAt(kAdminToken, CreatePlan("oxford"), 2023, 12, 1);                  // 1
    DoAt(kAdminToken, AddRecommendation("oxford", "r1", 1), 2023, 12, 1);  // 2
    DoAt(kAdminToken, AddRecommendation("oxford", "r2", 2), 2023, 12, 1);  // 3
    DoAt(kAdminToken, AddAction("plans/oxford/recommendations/r1", "a1", "December 2024", "jsmith"),
         2023, 12, 1);  // 4
    DoAt(kAdminToken, AddAction("plans/oxford/recommendations/r1", "a2", "March 2025", "akhan"),
         2023, 12, 1);  // 5
    DoAt(kAdminToken, AddAction("plans/oxford/recommendations/r2", "a1", "", "jsmith"), 2023, 12,
         1);  // 6
    DoAt(kAdminToken, OpenPeriod("oxford", "apr-2024", "April 2024 progress review"), 2024, 4,
         1);                                                                         // 7
    DoAt(kOfficerToken, ChangeStatus(kA1, v1::ONGOING), 2024, 4, 9);                 // 8
    DoAt(kOfficerToken, RecordUpdate(kA1, kApr, "Board being set up"), 2024, 4, 9);  // 9
    DoAt(kAdminToken, ClosePeriod(kApr), 2024, 4, 30);                               // 10
    DoAt(kAdminToken, OpenPeriod("oxford", "oct-2024", "October 2024 & final update"), 2024, 10,
         1);                                                                               // 11
    DoAt(kOfficerToken, ReviseTarget(kA1, "March 2025", "Partner delays"), 2024, 10, 15);  // 12
    DoAt(kOtherOfficerToken, ChangeStatus(kA2, v1::COMPLETE), 2024, 10, 15);               // 13
    DoAt(kOfficerToken, RecordUpdate(kA1, kOct, "Delivery bord forming"), 2024, 10, 15);   // 14
    DoAt(kOtherOfficerToken, RecordUpdate(kA2, kOct, "Done"), 2024, 10, 15);               // 15
    DoAt(kOfficerToken, ChangeStatus(kB1, v1::PAUSED, "Awaiting budget"), 2024, 10, 15);   // 16
    before_reassign_ = Head();
    Do(kOfficerToken, CorrectNarrative(14, "A cross-sector delivery board is being established.",
                                       "Typo in the published text"));  // 17
    // Back-filled: the owner changed in March 2024, entered only now.
    head_ = DoAt(kAdminToken, AssignOwner(kB1, "akhan"), 2024, 3, 1);  // 18
  }

  v1::LogHead Head() {
    v1::LogHead head;
    EXPECT_TRUE(ledger_->GetLogHead(Context(kScrutinyToken).get(), {}, &head).ok());
    return head;
  }

  // The recorded_at of an event, from the log.
  google::protobuf::Timestamp RecordedAt(uint64_t position) {
    v1::ListEventsRequest request;
    request.set_start_position(position);
    request.set_page_size(1);
    v1::ListEventsResponse response;
    EXPECT_TRUE(ledger_->ListEvents(Context(kScrutinyToken).get(), request, &response).ok());
    return response.events(0).event().recorded_at();
  }

  // Asks `method` about the resource `name` as of head_, as scrutiny.
  template <typename Request, typename Response>
  Response AskAbout(grpc::Status (v1::QueryService::Stub::*method)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                    const std::string& name) {
    Request request;
    request.set_name(name);
    request.set_min_position(head_);
    Response response;
    grpc::Status s = (query_.get()->*method)(Context(kScrutinyToken).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  // An action's timeline, first page.
  v1::GetActionTimelineResponse Timeline(const std::string& name) {
    return AskAbout(&v1::QueryService::Stub::GetActionTimeline, name);
  }

  v1::ActionView GetAction(const std::string& name) {
    return AskAbout(&v1::QueryService::Stub::GetAction, name);
  }

  std::vector<std::string> ListNames(v1::ListActionsRequest request, int page_size = 0) {
    request.set_parent(kPlan);
    request.set_min_position(head_);
    request.set_page_size(page_size);
    std::vector<std::string> names;
    for (int pages = 0; pages < 1000; ++pages) {
      v1::ListActionsResponse response;
      grpc::Status s = query_->ListActions(Context(kScrutinyToken).get(), request, &response);
      EXPECT_TRUE(s.ok()) << s.error_message();
      for (const auto& a : response.actions()) names.push_back(a.name());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return names;
  }

  std::vector<v1::Change> Changes(v1::ListChangesRequest request, int page_size = 0) {
    request.set_parent(kPlan);
    request.set_min_position(head_);
    request.set_page_size(page_size);
    std::vector<v1::Change> out;
    for (int pages = 0; pages < 1000; ++pages) {
      v1::ListChangesResponse response;
      grpc::Status s = query_->ListChanges(Context(kScrutinyToken).get(), request, &response);
      EXPECT_TRUE(s.ok()) << s.error_message();
      out.insert(out.end(), response.changes().begin(), response.changes().end());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return out;
  }

  v1::PlanSnapshot AsOf(google::protobuf::Timestamp time, v1::Clock clock) {
    v1::GetPlanAsOfRequest request;
    request.set_name(kPlan);
    *request.mutable_time() = time;
    request.set_clock(clock);
    request.set_min_position(head_);
    v1::PlanSnapshot snapshot;
    grpc::Status s = query_->GetPlanAsOf(Context(kScrutinyToken).get(), request, &snapshot);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return snapshot;
  }

  // The whole log, in order.
  std::vector<v1::Event> AllEvents() {
    std::vector<v1::Event> events;
    v1::ListEventsRequest list;
    list.set_page_size(1000);
    for (int pages = 0; pages < 100; ++pages) {
      v1::ListEventsResponse response;
      EXPECT_TRUE(ledger_->ListEvents(Context(kScrutinyToken).get(), list, &response).ok());
      for (const auto& e : response.events()) events.push_back(e.event());
      if (response.next_page_token().empty()) break;
      list.set_page_token(response.next_page_token());
    }
    return events;
  }

  // The plan as of `at` on `clock`, folded here by brute force from `events`.
  static v1::PlanSnapshot FoldAsOf(const std::vector<v1::Event>& events,
                                   const google::protobuf::Timestamp& at, v1::Clock clock) {
    using projections::Micros;
    std::vector<const v1::Event*> order;
    for (const v1::Event& e : events) order.push_back(&e);
    auto key = [&](const v1::Event* e) {
      return std::make_pair(Micros(clock == v1::EFFECTIVE ? e->effective_at() : e->recorded_at()),
                            e->position());
    };
    std::sort(order.begin(), order.end(), [&](auto* a, auto* b) { return key(a) < key(b); });
    projections::PlanState state;
    for (const v1::Event* e : order) {
      if (key(e).first <= Micros(at)) state.Apply(*e);
    }
    v1::PlanSnapshot snapshot = state.Release();
    for (v1::ActionView& view : *snapshot.mutable_actions()) {
      service::FillPeriodTitles(snapshot.plan(), &view);
      projections::Assess(&view, service::DayOf(Micros(at)));
    }
    return snapshot;
  }

  // The recorded times of 40 events spread over `events`.
  static std::vector<google::protobuf::Timestamp> RecordedMoments(
      const std::vector<v1::Event>& events) {
    std::vector<google::protobuf::Timestamp> out;
    for (size_t i = 0; i < 40; ++i) out.push_back(events[i * events.size() / 40].recorded_at());
    return out;
  }

  // At each of the `effective` moments on the effective clock, and at 40
  // moments between the events on the recorded one, ledgerd's answer equals
  // the fold.
  void ExpectAsOfEqualsAFold(const std::vector<v1::Event>& events,
                             const std::vector<google::protobuf::Timestamp>& effective_moments,
                             const std::string& when) {
    const std::vector<google::protobuf::Timestamp> recorded_moments = RecordedMoments(events);
    for (size_t i = 0; i < std::max(effective_moments.size(), recorded_moments.size()); ++i) {
      std::vector<std::pair<google::protobuf::Timestamp, v1::Clock>> moments;
      if (i < effective_moments.size()) moments.emplace_back(effective_moments[i], v1::EFFECTIVE);
      if (i < recorded_moments.size()) moments.emplace_back(recorded_moments[i], v1::RECORDED);
      for (const auto& [at, clock] : moments) {
        v1::PlanSnapshot got = AsOf(at, clock);
        v1::PlanSnapshot want = FoldAsOf(events, at, clock);
        EXPECT_EQ(got.plan().SerializeAsString(), want.plan().SerializeAsString()) << when;
        ASSERT_EQ(got.actions_size(), want.actions_size()) << when << " clock " << clock;
        for (int a = 0; a < got.actions_size(); ++a) {
          EXPECT_EQ(got.actions(a).DebugString(), want.actions(a).DebugString())
              << when << " clock " << clock << " moment " << i;
        }
      }
    }
  }

  // Rebuilds `model` (waiting for it) and expects every model's digest to be
  // as it was.
  void ExpectARebuildGivesTheSameModels(const std::string& model) {
    const auto incremental = Digests();
    v1::RebuildProjectionRequest rebuild;
    rebuild.set_name(model);
    rebuild.set_wait(true);
    v1::ProjectionStatus status;
    ASSERT_TRUE(
        query_->RebuildProjection(Context(kAdminToken, 60000).get(), rebuild, &status).ok());
    EXPECT_EQ(Digests(), incremental);
  }

  static std::string NarrativeOf(const v1::ActionView& view, const std::string& period) {
    for (const v1::Narrative& n : view.narratives()) {
      if (n.period() == period) return n.text();
    }
    return "";
  }

  // The script run and applied, then ledgerd stopped and `key` put in the
  // column family `cf` of its data dir, as damage would leave it.
  void ScriptThenDamage(const std::string& cf, const std::string& key, const std::string& value) {
    Script();
    GetAction(kA1);
    ASSERT_EQ(ledgerd_->Stop(), 0);
    testing::EditDataDir(
        data_dir(),
        [&](rocksdb::DB* db, const std::map<std::string, rocksdb::ColumnFamilyHandle*>& cfs) {
          ASSERT_TRUE(cfs.count(cf)) << cf;
          ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cfs.at(cf), key, value).ok());
        });
  }

  // GetAction of kA1 at `min_position` is refused at once (a wait would
  // last until ledgerd's cap on it, 30 s) with DATA_LOSS saying `says`.
  void ExpectRefusedAtOnce(uint64_t min_position, const std::string& says) {
    v1::GetActionRequest request;
    request.set_name(kA1);
    request.set_min_position(min_position);
    v1::ActionView view;
    const absl::Time asked = absl::Now();
    const grpc::Status refused =
        query_->GetAction(Context(kScrutinyToken, 60000).get(), request, &view);
    EXPECT_LT(absl::Now() - asked, absl::Seconds(10));
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::DATA_LOSS) << refused.error_message();
    EXPECT_NE(refused.error_message().find(says), std::string::npos) << refused.error_message();
  }

  // ListProjections, by name.
  std::map<std::string, v1::ProjectionStatus> Statuses() {
    v1::ListProjectionsResponse response;
    EXPECT_TRUE(query_->ListProjections(Context(kScrutinyToken).get(), {}, &response).ok());
    std::map<std::string, v1::ProjectionStatus> out;
    for (const auto& p : response.projections()) out[p.name()] = p;
    return out;
  }

  std::map<std::string, std::string> Digests() {
    v1::ListProjectionsResponse response;
    EXPECT_TRUE(query_->ListProjections(Context(kScrutinyToken).get(), {}, &response).ok());
    std::map<std::string, std::string> out;
    for (const auto& p : response.projections()) {
      EXPECT_EQ(p.position(), Head().position()) << p.name();
      out[p.name()] = p.digest();
    }
    return out;
  }

  std::string data_dir() const { return dir_.path() + "/data"; }

  testing::TempDir dir_;  // outlives each ledgerd the test starts
  std::unique_ptr<LedgerdProcess> ledgerd_;
  std::unique_ptr<v1::LedgerService::Stub> ledger_;
  std::unique_ptr<v1::QueryService::Stub> query_;
  v1::LogHead before_reassign_;
  uint64_t head_ = 0;
};

const v1::ActionView* Find(const v1::PlanSnapshot& s, const std::string& name) {
  for (const auto& a : s.actions()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

TEST_F(QueriesTest, CurrentStateOfAnAction) {
  Script();
  ASSERT_EQ(head_, 18u);
  v1::ActionView a1 = GetAction(kA1);
  EXPECT_EQ(a1.status(), v1::ONGOING);
  EXPECT_EQ(a1.target_date().month(), 3);
  EXPECT_EQ(a1.target_date().year(), 2025);
  EXPECT_EQ(a1.original_target_date().month(), 12);
  EXPECT_EQ(a1.target_revisions(), 1);
  ASSERT_EQ(a1.revisions_size(), 1);
  EXPECT_EQ(a1.revisions(0).reason(), "Partner delays");
  EXPECT_EQ(a1.owner(), "jsmith");
  EXPECT_EQ(a1.version(), 6u);
  EXPECT_EQ(a1.last_position(), 17u);
  EXPECT_EQ(a1.last_changed_by(), "jsmith");
  ASSERT_EQ(a1.narratives_size(), 2);
  EXPECT_EQ(a1.narratives(0).period(), kApr);
  EXPECT_EQ(a1.narratives(0).period_title(), "April 2024 progress review");
  EXPECT_EQ(a1.narratives(0).text(), "Board being set up");
  // The correction is honoured: the corrected narrative no longer shows.
  EXPECT_EQ(a1.narratives(1).text(), "A cross-sector delivery board is being established.");
  EXPECT_EQ(a1.narratives(1).position(), 14u);
  EXPECT_EQ(a1.narratives(1).corrected_by(), 17u);

  v1::ActionView b1 = GetAction(kB1);
  EXPECT_EQ(b1.status(), v1::PAUSED);
  EXPECT_EQ(b1.status_reason(), "Awaiting budget");
  EXPECT_EQ(b1.owner(), "akhan");
  EXPECT_EQ(b1.rag(), v1::AMBER);

  v1::GetActionRequest missing;
  missing.set_name("plans/oxford/recommendations/r1/actions/zz");
  v1::ActionView view;
  EXPECT_EQ(query_->GetAction(Context(kScrutinyToken).get(), missing, &view).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// An action adopted without a target that is given one has not slipped:
// that target is its original, the first move from it is its first
// revision; now and on any past date alike.
TEST_F(QueriesTest, FirstTargetOfAnActionAdoptedWithoutOneIsNotARevision) {
  using namespace testing;
  DoAt(kAdminToken, CreatePlan("oxford"), 2023, 12, 1);
  DoAt(kAdminToken, AddRecommendation("oxford", "r1", 1), 2023, 12, 1);
  DoAt(kAdminToken, AddAction("plans/oxford/recommendations/r1", "a1", "", "jsmith"), 2023, 12, 1);
  const uint64_t first =
      DoAt(kOfficerToken, ReviseTarget(kA1, "December 2040", "Board agreed a date"), 2024, 2, 1);
  head_ = first;
  v1::ActionView a1 = GetAction(kA1);
  EXPECT_EQ(a1.target_date().year(), 2040);
  EXPECT_EQ(a1.original_target_date().year(), 2040);
  EXPECT_EQ(a1.original_target_date().month(), 12);
  EXPECT_EQ(a1.target_revisions(), 0);
  ASSERT_EQ(a1.revisions_size(), 1);
  EXPECT_TRUE(a1.revisions(0).first_target());
  EXPECT_EQ(a1.rag(), v1::GREEN);
  v1::ListActionsRequest slipped;
  slipped.set_min_target_revisions(1);
  EXPECT_EQ(ListNames(slipped), (std::vector<std::string>{}));
  const v1::PlanSnapshot march = AsOf(Day(2024, 3, 1), v1::EFFECTIVE);
  const v1::ActionView* then = Find(march, kA1);
  ASSERT_NE(then, nullptr);
  EXPECT_EQ(then->target_revisions(), 0);
  EXPECT_EQ(then->original_target_date().year(), 2040);

  head_ = DoAt(kOfficerToken, ReviseTarget(kA1, "March 2041", "Partner delays"), 2024, 6, 1);
  a1 = GetAction(kA1);
  EXPECT_EQ(a1.target_revisions(), 1);
  EXPECT_EQ(a1.original_target_date().year(), 2040);
  ASSERT_EQ(a1.revisions_size(), 2);
  EXPECT_FALSE(a1.revisions(1).first_target());
  EXPECT_EQ(a1.rag(), v1::AMBER);
  EXPECT_EQ(ListNames(slipped), (std::vector<std::string>{kA1}));

  // Correcting the first target corrects the original.
  v1::Command fix;
  fix.mutable_correct_event()->set_event(absl::StrCat("events/", first));
  fix.mutable_correct_event()->set_target_date("November 2040");
  fix.mutable_correct_event()->set_reason("The board said November");
  head_ = Do(kOfficerToken, fix);
  a1 = GetAction(kA1);
  EXPECT_EQ(a1.original_target_date().month(), 11);
  EXPECT_EQ(a1.target_date().year(), 2041);
  EXPECT_EQ(a1.target_revisions(), 1);
  const v1::PlanSnapshot later = AsOf(Day(2030, 1, 1), v1::EFFECTIVE);
  const v1::ActionView* now = Find(later, kA1);
  ASSERT_NE(now, nullptr);
  EXPECT_EQ(now->original_target_date().month(), 11);
  EXPECT_EQ(now->target_revisions(), 1);

  // Corrected to say it was adopted with a target, the action's first
  // target is a revision of that one: now and on any date alike.
  v1::Command adopted;
  adopted.mutable_correct_event()->set_event("events/3");
  adopted.mutable_correct_event()->set_target_date("June 2040");
  adopted.mutable_correct_event()->set_reason("The plan gave one after all");
  head_ = Do(kAdminToken, adopted);
  a1 = GetAction(kA1);
  EXPECT_EQ(a1.original_target_date().month(), 6);
  EXPECT_EQ(a1.target_revisions(), 2);
  EXPECT_FALSE(a1.revisions(0).first_target());
  EXPECT_EQ(a1.revisions(0).from().month(), 6);
  const v1::PlanSnapshot corrected = AsOf(Day(2030, 1, 1), v1::EFFECTIVE);
  const v1::ActionView* as_of = Find(corrected, kA1);
  ASSERT_NE(as_of, nullptr);
  EXPECT_EQ(as_of->original_target_date().month(), 6);
  EXPECT_EQ(as_of->target_revisions(), 2);
  EXPECT_EQ(as_of->target_date().year(), 2041);
}

TEST_F(QueriesTest, ListPlansPagesThroughEveryPlanByName) {
  using namespace testing;
  v1::ListPlansRequest request;
  v1::ListPlansResponse response;
  ASSERT_TRUE(query_->ListPlans(Context(kScrutinyToken).get(), request, &response).ok());
  EXPECT_EQ(response.plans_size(), 0);
  for (const char* id : {"oxford", "barnet", "camden"}) Do(kAdminToken, CreatePlan(id));
  head_ = Do(kAdminToken, AddRecommendation("camden", "r1", 1));
  request.set_page_size(2);
  request.set_min_position(head_);
  std::vector<std::string> names;
  for (int pages = 0; pages < 10; ++pages) {
    response.Clear();
    grpc::Status s = query_->ListPlans(Context(kScrutinyToken).get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_LE(response.plans_size(), 2);
    for (const v1::PlanView& p : response.plans()) {
      names.push_back(p.name());
      if (p.name() == "plans/camden") {
        EXPECT_EQ(p.recommendations_size(), 1);
      }
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"plans/barnet", "plans/camden", "plans/oxford"}));
  request.set_page_size(-1);
  EXPECT_EQ(query_->ListPlans(Context(kScrutinyToken).get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(query_->ListPlans(Context("not-a-token").get(), {}, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(QueriesTest, ListActionsFilters) {
  Script();
  v1::ListActionsRequest all;
  EXPECT_EQ(ListNames(all), (std::vector<std::string>{kA1, kA2, kB1}));
  v1::ListActionsRequest ongoing;
  ongoing.set_status(v1::ONGOING);
  EXPECT_EQ(ListNames(ongoing), (std::vector<std::string>{kA1}));
  v1::ListActionsRequest by_owner;
  by_owner.set_owner("akhan");
  EXPECT_EQ(ListNames(by_owner), (std::vector<std::string>{kA2, kB1}));
  v1::ListActionsRequest by_rec;
  by_rec.set_recommendation("plans/oxford/recommendations/r1");
  EXPECT_EQ(ListNames(by_rec), (std::vector<std::string>{kA1, kA2}));
  v1::ListActionsRequest slipped;
  slipped.set_min_target_revisions(1);
  EXPECT_EQ(ListNames(slipped), (std::vector<std::string>{kA1}));
  v1::ListActionsRequest overdue;
  overdue.set_overdue_on("2025-04-01");
  EXPECT_EQ(ListNames(overdue), (std::vector<std::string>{kA1}));
  overdue.set_overdue_on("2025-03-31");
  EXPECT_EQ(ListNames(overdue), (std::vector<std::string>{}));
  v1::ListActionsRequest red;
  red.set_overdue_on("2025-04-01");
  red.set_rag(v1::RED);
  EXPECT_EQ(ListNames(red), (std::vector<std::string>{kA1}));
  // Completed since: on a day gone by, a1 was overdue all the same, as it
  // stood then; on a day to come it is complete, as it stands now.
  head_ = Do(kOfficerToken, testing::ChangeStatus(kA1, v1::COMPLETE));
  EXPECT_EQ(ListNames(overdue), (std::vector<std::string>{}));  // 2025-03-31
  overdue.set_overdue_on("2025-04-01");
  EXPECT_EQ(ListNames(overdue), (std::vector<std::string>{kA1}));
  EXPECT_EQ(ListNames(red), (std::vector<std::string>{kA1}));
  v1::ListActionsRequest ongoing_then = red;
  ongoing_then.set_rag(v1::RAG_UNSPECIFIED);
  ongoing_then.set_status(v1::ONGOING);
  EXPECT_EQ(ListNames(ongoing_then), (std::vector<std::string>{kA1}));
  EXPECT_EQ(ListNames(ongoing_then, 1), (std::vector<std::string>{kA1}));  // paged
  overdue.set_overdue_on(absl::FormatCivilTime(
      absl::ToCivilDay(absl::Now() + absl::Hours(24 * 30), absl::UTCTimeZone())));
  EXPECT_EQ(ListNames(overdue), (std::vector<std::string>{}));
  // Before the plan was adopted it had no actions to be overdue.
  overdue.set_overdue_on("2023-01-01");
  EXPECT_EQ(ListNames(overdue), (std::vector<std::string>{}));
  auto refused = [&](v1::ListActionsRequest request, grpc::StatusCode code,
                     const std::string& message) {
    request.set_parent(kPlan);
    v1::ListActionsResponse response;
    grpc::Status s = query_->ListActions(Context(kScrutinyToken).get(), request, &response);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_NE(s.error_message().find(message), std::string::npos) << s.error_message();
  };
  // A recommendation the plan does not have is not an empty list.
  v1::ListActionsRequest no_such;
  no_such.set_recommendation("plans/oxford/recommendations/r9");
  refused(no_such, grpc::StatusCode::NOT_FOUND,
          "recommendation: plans/oxford/recommendations/r9 not found");
  v1::ListActionsRequest bad;
  bad.set_overdue_on("April 2025");
  refused(bad, grpc::StatusCode::INVALID_ARGUMENT, "overdue_on");
  bad.set_overdue_on("1969-12-31");
  refused(bad, grpc::StatusCode::INVALID_ARGUMENT, "overdue_on: before 1970-01-01");
}

TEST_F(QueriesTest, TimelineShowsEveryChangeAndLinksCorrections) {
  Script();
  v1::GetActionTimelineRequest request;
  request.set_name(kA1);
  request.set_min_position(head_);
  request.set_page_size(2);
  std::vector<v1::Change> timeline;
  for (int pages = 0; pages < 100; ++pages) {
    v1::GetActionTimelineResponse response;
    ASSERT_TRUE(query_->GetActionTimeline(Context(kScrutinyToken).get(), request, &response).ok());
    timeline.insert(timeline.end(), response.changes().begin(), response.changes().end());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  std::vector<std::string> types;
  std::vector<uint64_t> positions;
  for (const auto& c : timeline) {
    types.push_back(c.type());
    positions.push_back(c.position());
  }
  EXPECT_EQ(types, (std::vector<std::string>{"action_added", "status_changed", "update_recorded",
                                             "target_date_revised", "update_recorded",
                                             "event_corrected"}));
  EXPECT_EQ(positions, (std::vector<uint64_t>{4, 8, 9, 12, 14, 17}));
  EXPECT_EQ(timeline[1].before(), "NOT_STARTED");
  EXPECT_EQ(timeline[1].after(), "ONGOING");
  EXPECT_EQ(timeline[1].actor(), "jsmith");
  EXPECT_EQ(timeline[1].effective_at().seconds(), Day(2024, 4, 9).seconds());
  EXPECT_EQ(timeline[3].before(), "December 2024");
  EXPECT_EQ(timeline[3].after(), "March 2025");
  EXPECT_EQ(timeline[3].reason(), "Partner delays");
  // Both the original and its correction stay, linked both ways.
  EXPECT_EQ(timeline[4].after(), "Delivery bord forming");
  EXPECT_EQ(timeline[4].corrected_by(), 17u);
  EXPECT_EQ(timeline[5].corrects(), 14u);
  EXPECT_EQ(timeline[5].before(), "Delivery bord forming");
  EXPECT_EQ(timeline[5].after(), "A cross-sector delivery board is being established.");
  EXPECT_EQ(timeline[5].reason(), "Typo in the published text");
}

// A correction of a corrected event shows what the last correction said as
// its before-value; a correction itself is corrected by correcting its event
// again; a corrected status change follows the status rules from what it
// changed, or corrected to what it changed from changed nothing; the
// action's status takes the correction's reason.
TEST_F(QueriesTest, CorrectionsAgainFollowTheLastOneAndTheStatusRules) {
  using namespace testing;
  Script();
  auto refused = [&](v1::Command command) {
    v1::ExecuteCommandsRequest request;
    *request.add_commands() = std::move(command);
    v1::CommandResponse response;
    grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    return s.error_message();
  };
  const uint64_t again =
      Do(kOfficerToken, CorrectNarrative(14, "Delivery board forming", "Undo the rewording"));
  EXPECT_EQ(refused(CorrectNarrative(17, "Something else", "Wrong event")),
            "event: events/17 is a correction of events/14; correct events/14 again (the latest "
            "correction holds, and each stays in the history)");
  EXPECT_EQ(refused(CorrectNarrative(14, "Delivery board forming", "Again")),
            "narrative: events/14 already says this (as " + absl::StrCat("events/", again) +
                " corrected it); nothing to correct");
  v1::Command unstart;
  unstart.mutable_correct_event()->set_event("events/16");  // kB1: Not started -> Paused
  unstart.mutable_correct_event()->set_status(v1::NOT_STARTED);
  unstart.mutable_correct_event()->set_reason("Paused in error: it never changed");
  // A change made by mistake, corrected to what it changed from, changed
  // nothing: the action is as it was (not started, which no update could
  // make it again), and the mistake stays in the history.
  head_ = Do(kAdminToken, unstart);
  EXPECT_EQ(GetAction(kB1).status(), v1::NOT_STARTED);
  EXPECT_EQ(GetAction(kB1).status_reason(), "");
  EXPECT_EQ(refused(unstart), "status: events/16 already says this; nothing to correct");
  v1::Command ongoing = unstart;
  ongoing.mutable_correct_event()->set_status(v1::ONGOING);
  ongoing.mutable_correct_event()->set_reason("It was started, not paused");
  head_ = Do(kAdminToken, ongoing);

  const v1::ActionView b1 = GetAction(kB1);
  EXPECT_EQ(b1.status(), v1::ONGOING);
  EXPECT_EQ(b1.status_reason(), "It was started, not paused");
  // Any other correction of a change follows the rules from what it changed.
  const uint64_t reopened =
      Do(kAdminToken, ChangeStatus(kA2, v1::ONGOING, "Reopened: the sign-off was premature"));
  v1::Command unstart_a2;
  unstart_a2.mutable_correct_event()->set_event(absl::StrCat("events/", reopened));
  unstart_a2.mutable_correct_event()->set_status(v1::NOT_STARTED);
  unstart_a2.mutable_correct_event()->set_reason("Never begun");
  EXPECT_EQ(refused(unstart_a2),
            absl::StrCat("status: correcting events/", reopened,
                         " (a change from COMPLETE): cannot change from COMPLETE to NOT_STARTED: "
                         "an action cannot be un-started"));
  // Undone, a change leaves the status's reason as it was before it.
  Do(kAdminToken, ChangeStatus(kA2, v1::PAUSED, "Waiting on the auditor"));
  const uint64_t resumed = Do(kAdminToken, ChangeStatus(kA2, v1::ONGOING, "Resumed"));
  v1::Command undo;
  undo.mutable_correct_event()->set_event(absl::StrCat("events/", resumed));
  undo.mutable_correct_event()->set_status(v1::PAUSED);
  undo.mutable_correct_event()->set_reason("Resumed the wrong action");
  head_ = Do(kAdminToken, undo);
  EXPECT_EQ(GetAction(kA2).status(), v1::PAUSED);
  EXPECT_EQ(GetAction(kA2).status_reason(), "Waiting on the auditor");
  const v1::PlanSnapshot later = AsOf(Day(2030, 1, 1), v1::EFFECTIVE);
  const v1::ActionView* then = Find(later, kA2);
  ASSERT_NE(then, nullptr);
  EXPECT_EQ(then->status_reason(), "Waiting on the auditor");
  // A stop given in a correction by mistake is put right by correcting the
  // same change again; nothing else of a stopped action is corrected.
  v1::Command stop = undo;
  stop.mutable_correct_event()->set_status(v1::STOPPED);
  stop.mutable_correct_event()->set_reason("Meant to stop it");
  head_ = Do(kAdminToken, stop);
  EXPECT_EQ(GetAction(kA2).status(), v1::STOPPED);
  v1::Command narrative = CorrectNarrative(15, "Done, signed off", "Wording");
  EXPECT_NE(refused(narrative).find("is STOPPED: cannot correct its events"), std::string::npos);
  v1::Command resume = undo;
  resume.mutable_correct_event()->set_status(v1::ONGOING);
  resume.mutable_correct_event()->set_reason("It was resumed after all");
  head_ = Do(kAdminToken, resume);
  EXPECT_EQ(GetAction(kA2).status(), v1::ONGOING);
  EXPECT_EQ(GetAction(kA2).status_reason(), "It was resumed after all");
  const v1::GetActionTimelineResponse a1 = Timeline(kA1);
  ASSERT_GE(a1.changes_size(), 1);
  const v1::Change& last = a1.changes(a1.changes_size() - 1);
  EXPECT_EQ(last.position(), again);
  EXPECT_EQ(last.corrects(), 14u);
  EXPECT_EQ(last.before(), "A cross-sector delivery board is being established.");
  EXPECT_EQ(last.after(), "Delivery board forming");

  // A creation's correction has the corrected field's value before it, not
  // all the creation says; and a second one of the other field, that field's.
  v1::Command target;
  target.mutable_correct_event()->set_event("events/5");  // kA2, added with March 2025
  target.mutable_correct_event()->set_target_date("April 2025");
  target.mutable_correct_event()->set_reason("Misread the plan");
  Do(kAdminToken, target);
  v1::Command description = target;
  description.mutable_correct_event()->clear_target_date();
  description.mutable_correct_event()->set_description("Action a2, as adopted");
  head_ = Do(kAdminToken, description);
  const v1::GetActionTimelineResponse a2 = Timeline(kA2);
  ASSERT_GE(a2.changes_size(), 2);
  const v1::Change& on_target = a2.changes(a2.changes_size() - 2);
  const v1::Change& on_description = a2.changes(a2.changes_size() - 1);
  EXPECT_EQ(on_target.before(), "March 2025");
  EXPECT_EQ(on_target.after(), "April 2025");
  EXPECT_EQ(on_description.before(), "Action a2");
  EXPECT_EQ(on_description.after(), "Action a2, as adopted");

  // An older event (its value no longer the one shown) corrected to what
  // it, or its latest correction, says is refused as changing nothing; a
  // correction back to what it first said is a change.
  auto correct_added_target = [](const std::string& date) {
    v1::Command c;
    c.mutable_correct_event()->set_event("events/4");  // kA1 added with December 2024
    c.mutable_correct_event()->set_target_date(date);
    c.mutable_correct_event()->set_reason("As adopted");
    return c;
  };
  EXPECT_EQ(refused(correct_added_target("December 2024")),
            "target_date: events/4 already says this; nothing to correct");
  const uint64_t november = Do(kAdminToken, correct_added_target("November 2024"));
  EXPECT_EQ(refused(correct_added_target("November 2024")),
            absl::StrCat("target_date: events/4 already says this (as events/", november,
                         " corrected it); nothing to correct"));
  head_ = Do(kAdminToken, correct_added_target("December 2024"));
  EXPECT_EQ(GetAction(kA1).original_target_date().month(), 12);
}

// A narrative update shows the text it replaced and the event that set it:
// the update before it, or the correction of that update. The changes model
// leaves both texts to the log; every query that lists changes reads them
// back the same.
TEST_F(QueriesTest, ANarrativeUpdateShowsTheTextItReplacedAndWhereItCameFrom) {
  using namespace testing;
  Script();
  const uint64_t after_correction = Do(kOfficerToken, RecordUpdate(kA1, kOct, "Board established"));
  head_ = Do(kOfficerToken, RecordUpdate(kA1, kOct, "Board met twice"));
  v1::ListChangesRequest updates;
  updates.set_type("update_recorded");
  std::vector<v1::Change> listed;
  for (const v1::Change& c : Changes(updates, 2)) {
    if (c.stream() == kA1) listed.push_back(c);
  }
  ASSERT_EQ(listed.size(), 4u);
  EXPECT_EQ(listed[0].before(), "");  // the first for its period
  EXPECT_EQ(listed[0].before_position(), 0u);
  EXPECT_EQ(listed[0].after(), "Board being set up");
  EXPECT_EQ(listed[1].before(), "");  // another period
  EXPECT_EQ(listed[1].after(), "Delivery bord forming");
  // Replacing a corrected narrative: the correction's text, from event 17.
  EXPECT_EQ(listed[2].position(), after_correction);
  EXPECT_EQ(listed[2].before(), "A cross-sector delivery board is being established.");
  EXPECT_EQ(listed[2].before_position(), 17u);
  EXPECT_EQ(listed[2].after(), "Board established");
  EXPECT_EQ(listed[3].before(), "Board established");
  EXPECT_EQ(listed[3].before_position(), after_correction);
  EXPECT_EQ(listed[3].after(), "Board met twice");

  // The timeline and the watch give the same changes, texts and all.
  v1::GetActionTimelineRequest timeline;
  timeline.set_name(kA1);
  timeline.set_min_position(head_);
  v1::GetActionTimelineResponse response;
  ASSERT_TRUE(query_->GetActionTimeline(Context(kScrutinyToken).get(), timeline, &response).ok());
  std::vector<std::string> from_timeline;
  for (const v1::Change& c : response.changes()) {
    if (c.type() == "update_recorded") from_timeline.push_back(c.SerializeAsString());
  }
  std::vector<std::string> from_list;
  for (const v1::Change& c : listed) from_list.push_back(c.SerializeAsString());
  EXPECT_EQ(from_timeline, from_list);
  v1::WatchChangesRequest watch;
  watch.set_parent(kA1);
  watch.set_start_position(after_correction);
  grpc::ClientContext watch_context;
  watch_context.AddMetadata("authorization", std::string("Bearer ") + kScrutinyToken);
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = query_->WatchChanges(&watch_context, watch);
  for (size_t i = 2; i < listed.size(); ++i) {
    v1::Change c;
    ASSERT_TRUE(stream->Read(&c));
    EXPECT_EQ(c.SerializeAsString(), listed[i].SerializeAsString());
  }
  watch_context.TryCancel();

  // So does the list of the whole log from a moment on, and each carries
  // what its event says.
  v1::ListChangesRequest since;
  *since.mutable_start_time() = listed[0].recorded_at();
  std::vector<std::string> from_log;
  for (const v1::Change& c : Changes(since, 3)) {
    if (c.stream() == kA1 && c.type() == "update_recorded") {
      from_log.push_back(c.SerializeAsString());
    }
  }
  EXPECT_EQ(from_log, from_list);
  const std::vector<v1::Event> events = AllEvents();
  for (const v1::Change& c : listed) {
    ASSERT_LE(c.position(), events.size());
    const v1::Event& e = events[c.position() - 1];
    EXPECT_EQ(c.event(), absl::StrCat("events/", e.position()));
    EXPECT_EQ(c.stream(), e.stream());
    EXPECT_EQ(c.actor(), e.actor().id());
    EXPECT_EQ(c.actor_role(), e.actor().role());
    EXPECT_EQ(c.recorded_at().SerializeAsString(), e.recorded_at().SerializeAsString());
    EXPECT_EQ(c.effective_at().SerializeAsString(), e.effective_at().SerializeAsString());
    EXPECT_EQ(c.field(), "narrative");
    EXPECT_EQ(c.period(), e.update_recorded().period());
    EXPECT_EQ(c.after(), e.update_recorded().narrative());
  }

  // The model stores a narrative update as what its event does not say.
  ASSERT_EQ(ledgerd_->Stop(), 0);
  testing::EditDataDir(
      data_dir(),
      [&](rocksdb::DB* db, const std::map<std::string, rocksdb::ColumnFamilyHandle*>& cfs) {
        ASSERT_TRUE(cfs.count("projection.changes"));
        for (const v1::Change& c : listed) {
          std::string bytes;
          ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cfs.at("projection.changes"),
                              projections::ChangeBlockKey(c.position()), &bytes)
                          .ok());
          v1::Change stored;
          absl::StatusOr<bool> found = projections::FindInChangeBlock(bytes, c.position(), &stored);
          ASSERT_TRUE(found.ok() && *found) << found.status();
          v1::Change slim;
          slim.set_position(c.position());
          slim.set_type("update_recorded");
          slim.set_before_position(c.before_position());
          slim.set_corrected_by(c.corrected_by());
          EXPECT_EQ(stored.SerializeAsString(), slim.SerializeAsString());
        }
      });
}

TEST_F(QueriesTest, WhoChangedWhat) {
  Script();
  v1::ListChangesRequest by_actor;
  by_actor.set_actor("akhan");
  std::vector<uint64_t> positions;
  for (const auto& c : Changes(by_actor)) positions.push_back(c.position());
  EXPECT_EQ(positions, (std::vector<uint64_t>{13, 15}));

  v1::ListChangesRequest by_type;
  by_type.set_type("target_date_revised");
  auto revised = Changes(by_type);
  ASSERT_EQ(revised.size(), 1u);
  EXPECT_EQ(revised[0].stream(), kA1);

  v1::ListChangesRequest by_time;
  *by_time.mutable_start_time() = RecordedAt(5);
  *by_time.mutable_end_time() = RecordedAt(8);
  positions.clear();
  for (const auto& c : Changes(by_time)) positions.push_back(c.position());
  EXPECT_EQ(positions, (std::vector<uint64_t>{5, 6, 7}));

  v1::ListChangesRequest by_action_and_actor;
  by_action_and_actor.set_action(kB1);
  by_action_and_actor.set_actor("admin");
  positions.clear();
  for (const auto& c : Changes(by_action_and_actor, 1)) positions.push_back(c.position());
  EXPECT_EQ(positions, (std::vector<uint64_t>{6, 18}));

  // Paging the whole plan returns every change exactly once.
  v1::ListChangesRequest everything;
  positions.clear();
  for (const auto& c : Changes(everything, 3)) positions.push_back(c.position());
  ASSERT_EQ(positions.size(), 18u);
  for (uint64_t i = 0; i < positions.size(); ++i) EXPECT_EQ(positions[i], i + 1);
}

TEST_F(QueriesTest, ChangesSinceAMomentAreTheSameByEveryIndex) {
  Script();
  // Three events of one command share its recorded time: the search must
  // find the first of them.
  {
    v1::ExecuteCommandsRequest batch;
    *batch.add_commands() = testing::RecordUpdate(kA1, kOct, "Board met");
    *batch.add_commands() = testing::ChangeStatus(kA1, v1::COMPLETE);
    *batch.add_commands() = testing::RecordUpdate(kA1, kOct, "Board met; complete");
    v1::CommandResponse response;
    grpc::Status s = ledger_->ExecuteCommands(Context(kOfficerToken).get(), batch, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(response.events_size(), 3);
    head_ = response.position();
  }
  ASSERT_EQ(projections::Micros(RecordedAt(head_ - 2)), projections::Micros(RecordedAt(head_)));
  // A first page starts at start_time: by a binary search of the log's
  // positions for the actor, type and whole-plan indexes, by the recorded
  // time for a timeline. Every moment that can matter (each event's
  // recorded time, a microsecond after it, and before the first) must give
  // what the unbounded list gives from that moment on.
  auto later = [](google::protobuf::Timestamp t) {
    t.set_nanos(t.nanos() + 1000);
    if (t.nanos() > 999'999'999) {
      t.set_seconds(t.seconds() + 1);
      t.set_nanos(t.nanos() - 1'000'000'000);
    }
    return t;
  };
  std::vector<google::protobuf::Timestamp> moments;
  google::protobuf::Timestamp epoch_start;
  epoch_start.set_seconds(1);
  moments.push_back(epoch_start);
  for (uint64_t p = 1; p <= head_; ++p) {
    moments.push_back(RecordedAt(p));
    moments.push_back(later(RecordedAt(p)));
  }
  std::vector<v1::ListChangesRequest> queries(4);
  queries[1].set_actor("jsmith");
  queries[2].set_type("update_recorded");
  queries[3].set_action(kA1);
  for (const v1::ListChangesRequest& query : queries) {
    const std::vector<v1::Change> all = Changes(query);
    ASSERT_FALSE(all.empty());
    for (const google::protobuf::Timestamp& moment : moments) {
      std::vector<uint64_t> expected;
      for (const v1::Change& c : all) {
        if (projections::Micros(c.recorded_at()) >= projections::Micros(moment)) {
          expected.push_back(c.position());
        }
      }
      v1::ListChangesRequest since = query;
      *since.mutable_start_time() = moment;
      std::vector<uint64_t> got;
      for (const v1::Change& c : Changes(since, 2)) got.push_back(c.position());
      EXPECT_EQ(got, expected) << query.ShortDebugString() << " since "
                               << projections::Micros(moment);
    }
    // A window: from each moment to the one five later (exclusive).
    for (size_t i = 0; i + 5 < moments.size(); ++i) {
      const uint64_t from = projections::Micros(moments[i]);
      const uint64_t to = projections::Micros(moments[i + 5]);
      std::vector<uint64_t> expected;
      for (const v1::Change& c : all) {
        const uint64_t at = projections::Micros(c.recorded_at());
        if (at >= from && at < to) expected.push_back(c.position());
      }
      v1::ListChangesRequest window = query;
      *window.mutable_start_time() = moments[i];
      *window.mutable_end_time() = moments[i + 5];
      std::vector<uint64_t> got;
      for (const v1::Change& c : Changes(window, 2)) got.push_back(c.position());
      EXPECT_EQ(got, expected) << query.ShortDebugString() << " from " << from << " to " << to;
    }
  }
}

TEST_F(QueriesTest, AMomentOutOfRangeIsRefusedNamingTheField) {
  Script();
  // Seconds past 9999-12-31 would wrap the models' microsecond keys and
  // answer for another moment; before 1970 or with bad nanos they are not
  // moments at all.
  constexpr int64_t kMax = 253402300799;  // 9999-12-31T23:59:59Z
  auto moment = [](int64_t seconds, int32_t nanos = 0) {
    google::protobuf::Timestamp t;
    t.set_seconds(seconds);
    t.set_nanos(nanos);
    return t;
  };
  const std::vector<google::protobuf::Timestamp> bad = {
      moment(kMax + 1), moment(INT64_MAX), moment(-1), moment(5, -1), moment(5, 1'000'000'000)};
  auto refused = [](const grpc::Status& s, const std::string& field) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_TRUE(absl::StartsWith(s.error_message(), field + ": not a valid timestamp"))
        << s.error_message();
  };
  auto report = v1::ReportService::NewStub(ledgerd_->Channel());
  for (const google::protobuf::Timestamp& t : bad) {
    v1::ListChangesRequest changes;
    changes.set_parent(kPlan);
    *changes.mutable_start_time() = t;
    v1::ListChangesResponse listed;
    refused(query_->ListChanges(Context(kScrutinyToken).get(), changes, &listed), "start_time");
    changes.clear_start_time();
    *changes.mutable_end_time() = t;
    refused(query_->ListChanges(Context(kScrutinyToken).get(), changes, &listed), "end_time");

    v1::GetPlanAsOfRequest as_of;
    as_of.set_name(kPlan);
    *as_of.mutable_time() = t;
    v1::PlanSnapshot snapshot;
    refused(query_->GetPlanAsOf(Context(kScrutinyToken).get(), as_of, &snapshot), "time");

    v1::DiffPlanRequest diff;
    diff.set_name(kPlan);
    *diff.mutable_from_time() = moment(1);
    *diff.mutable_to_time() = t;
    v1::PlanDiff difference;
    refused(query_->DiffPlan(Context(kScrutinyToken).get(), diff, &difference), "to_time");

    v1::RenderReportRequest render;
    render.set_name(kPlan);
    *render.mutable_as_of() = t;
    v1::Report rendered;
    refused(report->RenderReport(Context(kScrutinyToken).get(), render, &rendered), "as_of");
  }
  // The last moment there is: the plan as it stands.
  v1::PlanSnapshot last = AsOf(moment(kMax, 999'999'999), v1::RECORDED);
  EXPECT_EQ(Find(last, kA2)->status(), v1::COMPLETE);
  // A report is of a moment that has come: today's end, not tomorrow. (Run
  // again should the day change between the calls.)
  auto utc_today = [] { return absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()); };
  for (int attempt = 0; attempt < 2; ++attempt) {
    const absl::CivilDay today = utc_today();
    const int64_t tomorrow = absl::ToUnixSeconds(absl::FromCivil(today + 1, absl::UTCTimeZone()));
    v1::RenderReportRequest render;
    render.set_name(kPlan);
    render.set_clock(v1::EFFECTIVE);
    v1::Report rendered;
    *render.mutable_as_of() = moment(tomorrow - 1, 999'999'999);
    const grpc::Status end_of_today =
        report->RenderReport(Context(kScrutinyToken).get(), render, &rendered);
    *render.mutable_as_of() = moment(tomorrow, 0);
    const grpc::Status tomorrow_refused =
        report->RenderReport(Context(kScrutinyToken).get(), render, &rendered);
    if (utc_today() != today) continue;
    EXPECT_TRUE(end_of_today.ok()) << end_of_today.error_message();
    // On the recorded clock, not past now: what the ledger said then is not
    // known yet.
    render.set_clock(v1::RECORDED);
    *render.mutable_as_of() = moment(absl::ToUnixSeconds(absl::Now()) + 3600, 0);
    const grpc::Status later_today =
        report->RenderReport(Context(kScrutinyToken).get(), render, &rendered);
    EXPECT_EQ(later_today.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(later_today.error_message().find("as_of: after now"), std::string::npos)
        << later_today.error_message();
    EXPECT_EQ(tomorrow_refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(tomorrow_refused.error_message().find("is after today"), std::string::npos)
        << tomorrow_refused.error_message();
    break;
  }
}

// A status back-dated behind a later one is history on the effective
// clock, where the later one still holds now: the answer says so, naming
// the event to correct instead.
TEST_F(QueriesTest, AChangeBackDatedBehindALaterOneComesWithAWarning) {
  Script();  // b1's owner back-filled to March 2024, after it was set: no warning
  auto execute = [&](v1::Command command) {
    v1::ExecuteCommandsRequest request;
    *request.add_commands() = std::move(command);
    v1::CommandResponse response;
    grpc::Status s = ledger_->ExecuteCommands(Context(kOfficerToken).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    head_ = response.position();
    return response;
  };
  // a1 went ongoing on 2024-04-09: a later-dated change has nothing after it.
  v1::CommandResponse later = execute([] {
    v1::Command c = testing::ChangeStatus(kA1, v1::PAUSED, "Awaiting the board");
    Effective(c, 2024, 6, 1);
    return c;
  }());
  EXPECT_EQ(later.warnings_size(), 0);
  const uint64_t paused = head_;
  // One dated before it: the state now shows it, the effective clock not.
  v1::CommandResponse behind = execute([] {
    v1::Command c = testing::ChangeStatus(kA1, v1::ONGOING, "Resumed");
    Effective(c, 2024, 5, 1);
    return c;
  }());
  ASSERT_EQ(behind.warnings_size(), 1);
  EXPECT_EQ(behind.warnings(0),
            absl::StrCat(kA1,
                         ": this status change takes effect 2024-05-01 00:00:00 UTC, before "
                         "events/",
                         paused,
                         " (2024-06-01 00:00:00 UTC), whose status (PAUSED) still holds now "
                         "on the effective clock (asof --clock effective, reports), though the "
                         "state now shows this one; to change what reports say, correct events/",
                         paused, " instead, or record this change without a back-date"));
  EXPECT_EQ(GetAction(kA1).status(), v1::ONGOING);
  v1::PlanSnapshot now = AsOf(google::protobuf::util::TimeUtil::GetCurrentTime(), v1::EFFECTIVE);
  EXPECT_EQ(Find(now, kA1)->status(), v1::PAUSED);
  // Later than that one but still before the June pause: warned all the
  // same, naming the pause, which is what holds on the effective clock.
  v1::CommandResponse still = execute([] {
    v1::Command c = testing::ChangeStatus(kA1, v1::PAUSED, "Awaiting budget");
    Effective(c, 2024, 5, 15);
    return c;
  }());
  ASSERT_EQ(still.warnings_size(), 1);
  EXPECT_NE(still.warnings(0).find(absl::StrCat("before events/", paused,
                                                " (2024-06-01 00:00:00 UTC), whose status "
                                                "(PAUSED) still holds")),
            std::string::npos)
      << still.warnings(0);
  // In a batch, the warning names its command; a target revised undated
  // has none.
  v1::ExecuteCommandsRequest batch;
  *batch.add_commands() = testing::ReviseTarget(kA1, "June 2026", "Board delay");
  v1::Command owner = testing::AssignOwner(kA1, "akhan");
  Effective(owner, 2023, 12, 2);  // a1's owner was set when it was added, on 2023-12-01
  *batch.add_commands() = owner;
  v1::CommandResponse response;
  ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), batch, &response).ok());
  // Not behind a later owner change; but before apr-2024 closed, whose
  // report, produced again, now shows it.
  ASSERT_EQ(response.warnings_size(), 1);
  EXPECT_EQ(response.warnings(0),
            absl::StrCat("commands[1]: ", kA1,
                         ": this change takes effect 2023-12-02 00:00:00 UTC, before a period of "
                         "the plan closed, so the report of ",
                         kApr,
                         " (closed 2024-04-30 00:00:00 UTC; as published: --position 10) produced "
                         "again now shows it; a report as published is had again at the position "
                         "its footer gives"));
  v1::Command back = testing::AssignOwner(kA1, "jsmith");
  Effective(back, 2023, 12, 1);
  v1::ExecuteCommandsRequest again;
  *again.add_commands() = testing::RecordUpdate(kA1, kOct, "Owner put back");
  *again.add_commands() = back;
  ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), again, &response).ok());
  ASSERT_EQ(response.warnings_size(), 2);
  EXPECT_TRUE(absl::StartsWith(response.warnings(0),
                               absl::StrCat("commands[1]: ", kA1, ": this owner change")))
      << response.warnings(0);
  EXPECT_NE(response.warnings(1).find("before a period of the plan closed"), std::string::npos)
      << response.warnings(1);
  // A correction takes effect when the event it corrects did: one of an
  // event of a closed period says so too; one of an open period's does not.
  v1::CommandResponse in_open = execute(testing::CorrectNarrative(14, "Board forming", "Wording"));
  EXPECT_EQ(in_open.warnings_size(), 0);
  v1::CommandResponse in_closed =
      execute(testing::CorrectNarrative(9, "Board being formed", "Wording"));
  ASSERT_EQ(in_closed.warnings_size(), 1);
  EXPECT_NE(in_closed.warnings(0).find(absl::StrCat("the report of ", kApr, " (closed")),
            std::string::npos)
      << in_closed.warnings(0);
  // An action added as of the very moment a period closed is in its report.
  v1::Command added = testing::AddAction("plans/oxford/recommendations/r2", "a2", "", "");
  Effective(added, 2024, 4, 30);
  v1::ExecuteCommandsRequest add;
  *add.add_commands() = added;
  ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), add, &response).ok());
  ASSERT_EQ(response.warnings_size(), 1);
  EXPECT_NE(response.warnings(0).find(absl::StrCat("the report of ", kApr, " (closed")),
            std::string::npos)
      << response.warnings(0);
}

TEST_F(QueriesTest, NothingTakesEffectBeforeWhatItChangesExisted) {
  Script();
  auto refused = [&](v1::Command command, int y, int m, int d, const std::string& what) {
    Effective(command, y, m, d);
    v1::ExecuteCommandsRequest request;
    *request.add_commands() = std::move(command);
    v1::CommandResponse response;
    grpc::Status s = ledger_->ExecuteCommands(Context(kOfficerToken).get(), request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_TRUE(
        absl::StartsWith(s.error_message(), "effective_time: is before " + what + " existed"))
        << s.error_message();
  };
  // The October period opened on 2024-10-01, the plan and its actions on
  // 2023-12-01 (Script).
  refused(testing::RecordUpdate(kA1, kOct, "Written in September"), 2024, 9, 1,
          "plans/oxford/periods/oct-2024");
  refused(testing::ChangeStatus(kA1, v1::COMPLETE), 2023, 11, 1, "plans/oxford");
  // A period opened without a date exists from when it was recorded, at
  // once and not only after a restart.
  head_ = Do(kAdminToken, testing::OpenPeriod("oxford", "now", "Opened now"));
  refused(testing::RecordUpdate(kA1, "plans/oxford/periods/now", "Dated before it opened"), 2025, 2,
          10, "plans/oxford/periods/now");
  EXPECT_EQ(Head().position(), head_);  // nothing was appended
  // The day it was created is allowed.
  head_ = DoAt(kOfficerToken, testing::ChangeStatus(kA1, v1::COMPLETE), 2023, 12, 1);
  EXPECT_EQ(Head().position(), head_);
}

// A target revision back-dated behind a later one (January 2025 from 5
// October, before Script's March 2025 from 15 October) revised what was in
// force at its time: so say the effective clock's revisions and the
// period report's appendix, whatever its event recorded as its "from".
TEST_F(QueriesTest, ABackDatedRevisionRevisedWhatWasInForceThen) {
  Script();
  head_ =
      DoAt(kOfficerToken, testing::ReviseTarget(kA1, "January 2025", "Board first"), 2024, 10, 5);
  const v1::ActionView* a1 = nullptr;
  v1::PlanSnapshot october = AsOf(Day(2024, 10, 31), v1::EFFECTIVE);
  a1 = Find(october, kA1);
  ASSERT_NE(a1, nullptr);
  ASSERT_EQ(a1->revisions_size(), 2);
  EXPECT_EQ(domain::FormatTargetDate(a1->revisions(0).from()), "December 2024");
  EXPECT_EQ(domain::FormatTargetDate(a1->revisions(0).to()), "January 2025");
  EXPECT_EQ(domain::FormatTargetDate(a1->revisions(1).from()), "January 2025");
  EXPECT_EQ(domain::FormatTargetDate(a1->revisions(1).to()), "March 2025");

  auto report = v1::ReportService::NewStub(ledgerd_->Channel());
  v1::RenderReportRequest render;
  render.set_name(kPlan);
  render.set_period(kOct);
  render.set_format(v1::MARKDOWN);
  render.set_min_position(head_);
  v1::Report rendered;
  ASSERT_TRUE(report->RenderReport(Context(kScrutinyToken).get(), render, &rendered).ok());
  const std::string& md = rendered.content();
  EXPECT_NE(md.find("| December 2024 \u2192 January 2025 | Board first |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| January 2025 \u2192 March 2025 | Partner delays |"), std::string::npos)
      << md;
}

// A period opens after those closed before it (April 2024 closed on 30
// April in Script): one opened inside it would share its events.
TEST_F(QueriesTest, APeriodOpensAfterThoseClosedBeforeIt) {
  Script();
  const uint64_t head = Head().position();
  v1::Command inside = testing::OpenPeriod("oxford", "may-2024", "May 2024");
  Effective(inside, 2024, 4, 15);
  v1::ExecuteCommandsRequest request;
  *request.add_commands() = inside;
  v1::CommandResponse response;
  grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "effective_time: 2024-04-15 "))
      << s.error_message();
  EXPECT_NE(s.error_message().find(absl::StrCat("is not after ", kApr, " closed (2024-04-30")),
            std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find("e.g. on 2024-05-01"), std::string::npos) << s.error_message();
  // Nor at the moment it closed: a change taking effect then would be in
  // both periods' reports.
  Effective(inside, 2024, 4, 30);
  request.clear_commands();
  *request.add_commands() = inside;
  s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_EQ(Head().position(), head);
  // The day after will do.
  DoAt(kAdminToken, testing::OpenPeriod("oxford", "may-2024", "May 2024"), 2024, 5, 1);
  // Opening it again says it is open, not that it was closed.
  request.clear_commands();
  *request.add_commands() = testing::OpenPeriod("oxford", "may-2024", "May 2024");
  s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(s.error_message().find("already exists and is open"), std::string::npos)
      << s.error_message();
}

// A target date before the plan began (2023-12-01 in Script), an added
// action's, a revision's or a correction's, is recorded with a warning; the
// plan's first month is not, for a month target holds to its end.
TEST_F(QueriesTest, ATargetDateBeforeThePlanBeganIsWarnedOf) {
  Script();
  auto warned = [&](v1::Command command) {
    v1::ExecuteCommandsRequest request;
    *request.add_commands() = std::move(command);
    v1::CommandResponse response;
    grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> warnings(response.warnings().begin(), response.warnings().end());
    return warnings;
  };
  const std::string said =
      ": target date November 2023 is before plans/oxford began (2023-12-01), so the action "
      "is overdue from its start";
  // (A correction of an event from before a period closed is warned of as
  // well.)
  auto one = [&](const std::vector<std::string>& warnings, const std::string& stream) {
    EXPECT_EQ(
        std::count_if(warnings.begin(), warnings.end(),
                      [&](const std::string& w) { return absl::StartsWith(w, stream + said); }),
        1)
        << absl::StrJoin(warnings, "\n");
  };
  one(warned(testing::AddAction("plans/oxford/recommendations/r2", "a9", "November 2023")),
      "plans/oxford/recommendations/r2/actions/a9");
  one(warned(testing::ReviseTarget(kA1, "2023-11", "Typed the wrong year")), kA1);
  v1::Command correct;
  correct.mutable_correct_event()->set_event("events/5");
  correct.mutable_correct_event()->set_target_date("November 2023");
  correct.mutable_correct_event()->set_reason("Wrong year");
  one(warned(correct), "plans/oxford/recommendations/r1/actions/a2");
  EXPECT_TRUE(warned(testing::AddAction("plans/oxford/recommendations/r2", "a10", "December 2023"))
                  .empty());
}

// A period closed as of a day cannot leave out an update filed in it that
// took effect later: its report, as of the close, would not show it.
TEST_F(QueriesTest, APeriodDoesNotCloseBeforeAnUpdateFiledInIt) {
  Script();
  head_ = DoAt(kAdminToken, testing::OpenPeriod("oxford", "mar-2025", "March 2025"), 2025, 3, 1);
  const uint64_t update =
      DoAt(kOfficerToken,
           testing::RecordUpdate(kA1, "plans/oxford/periods/mar-2025", "Filed on 20 March"), 2025,
           3, 20);
  v1::Command close = testing::ClosePeriod("plans/oxford/periods/mar-2025");
  Effective(close, 2025, 3, 15);
  v1::ExecuteCommandsRequest request;
  *request.add_commands() = close;
  v1::CommandResponse response;
  grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_EQ(s.error_message(),
            absl::StrCat("effective_time: plans/oxford/periods/mar-2025 has an update that "
                         "takes effect 2025-03-20 00:00:00 UTC (events/",
                         update,
                         "); the period cannot close before it, or its report would leave it "
                         "out"));
  EXPECT_EQ(Head().position(), update);
  // On the day of the update, or later, it closes.
  head_ = DoAt(kAdminToken, testing::ClosePeriod("plans/oxford/periods/mar-2025"), 2025, 3, 20);
  EXPECT_GT(head_, update);
}

TEST_F(QueriesTest, ChangesOfAnUnknownTypeOrActionAreRefusedNotEmpty) {
  Script();
  v1::ListChangesRequest request;
  request.set_parent(kPlan);
  request.set_min_position(head_);
  request.set_type("status-changed");
  v1::ListChangesResponse response;
  grpc::Status s = query_->ListChanges(Context(kScrutinyToken).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "type: no change type \"status-changed\""))
      << s.error_message();
  EXPECT_NE(s.error_message().find("status_changed, update_recorded"), std::string::npos)
      << s.error_message();
  request.clear_type();
  request.set_action("plans/oxford/recommendations/r1/actions/a99");
  s = query_->ListChanges(Context(kScrutinyToken).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "action: plans/oxford/recommendations/r1/actions/a99 not found");
}

TEST_F(QueriesTest, APageTokenContinuesOnlyTheQueryItCameFrom) {
  Script();
  v1::ListChangesRequest by_actor;
  by_actor.set_parent(kPlan);
  by_actor.set_min_position(head_);
  by_actor.set_actor("jsmith");
  by_actor.set_page_size(1);
  v1::ListChangesResponse first;
  ASSERT_TRUE(query_->ListChanges(Context(kScrutinyToken).get(), by_actor, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());

  // Other filters: refused, and the message names the field.
  v1::ListChangesRequest other = by_actor;
  other.set_actor("akhan");
  other.set_page_token(first.next_page_token());
  v1::ListChangesResponse refused;
  grpc::Status s = query_->ListChanges(Context(kScrutinyToken).get(), other, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("page_token"), std::string::npos) << s.error_message();

  // Another list with the very same filters (just the plan): refused too.
  v1::ListActionsRequest actions;
  actions.set_parent(kPlan);
  actions.set_min_position(head_);
  actions.set_page_size(1);
  v1::ListActionsResponse some;
  ASSERT_TRUE(query_->ListActions(Context(kScrutinyToken).get(), actions, &some).ok());
  ASSERT_FALSE(some.next_page_token().empty());
  v1::ListChangesRequest changes;
  changes.set_parent(kPlan);
  changes.set_page_token(some.next_page_token());
  v1::ListChangesResponse refused_too;
  s = query_->ListChanges(Context(kScrutinyToken).get(), changes, &refused_too);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("page_token"), std::string::npos) << s.error_message();

  // A fresher min_position or another page size still continues it.
  v1::ListChangesRequest next = by_actor;
  next.set_page_size(50);
  next.set_min_position(0);
  next.set_page_token(first.next_page_token());
  v1::ListChangesResponse rest;
  ASSERT_TRUE(query_->ListChanges(Context(kScrutinyToken).get(), next, &rest).ok());
  ASSERT_FALSE(rest.changes().empty());
  EXPECT_GT(rest.changes(0).position(), first.changes(0).position());
}

TEST_F(QueriesTest, TheSecurityLogPagesThroughEveryEntryOnce) {
  // Refused calls are what the security log records.
  for (int i = 0; i < 5; ++i) {
    v1::GetPlanRequest request;
    request.set_name(kPlan);
    v1::PlanView plan;
    ASSERT_EQ(query_->GetPlan(Context("not-a-token").get(), request, &plan).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  v1::ListSecurityEventsRequest all;
  all.set_page_size(1000);
  v1::ListSecurityEventsResponse whole;
  ASSERT_TRUE(query_->ListSecurityEvents(Context(kScrutinyToken).get(), all, &whole).ok());

  v1::ListSecurityEventsRequest paged;
  paged.set_page_size(2);
  std::vector<uint64_t> sequences;
  for (int pages = 0; pages < 1000; ++pages) {
    v1::ListSecurityEventsResponse page;
    ASSERT_TRUE(query_->ListSecurityEvents(Context(kScrutinyToken).get(), paged, &page).ok());
    for (const auto& e : page.events()) sequences.push_back(e.sequence());
    if (page.next_page_token().empty()) break;
    paged.set_page_token(page.next_page_token());
  }
  // Only refused calls are logged, so both lists are the same five.
  std::vector<uint64_t> expected;
  for (const auto& e : whole.events()) expected.push_back(e.sequence());
  EXPECT_EQ(sequences, expected);
  ASSERT_EQ(expected.size(), 5u);
}

TEST_F(QueriesTest, PlanAsOfOnBothClocks) {
  Script();
  // Before the plan was recorded, on the recorded clock: the answer says
  // when it was, and which clock tells what was true then.
  {
    v1::GetPlanAsOfRequest request;
    request.set_name(kPlan);
    *request.mutable_time() = Day(2024, 6, 1);
    request.set_clock(v1::RECORDED);
    v1::PlanSnapshot snapshot;
    grpc::Status s = query_->GetPlanAsOf(Context(kScrutinyToken).get(), request, &snapshot);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(s.error_message().find("did not exist yet at that moment on the recorded clock "
                                     "(the ledger recorded it from "),
              std::string::npos)
        << s.error_message();
    EXPECT_NE(s.error_message().find("ask on the effective clock"), std::string::npos);
  }
  // What was true on 1 June 2024 (effective clock), knowing all we know now.
  v1::PlanSnapshot june = AsOf(Day(2024, 6, 1), v1::EFFECTIVE);
  ASSERT_EQ(june.actions_size(), 3);
  const v1::ActionView* a1 = Find(june, kA1);
  ASSERT_NE(a1, nullptr);
  EXPECT_EQ(a1->status(), v1::ONGOING);
  EXPECT_EQ(a1->target_date().month(), 12);
  ASSERT_EQ(a1->narratives_size(), 1);
  EXPECT_EQ(a1->narratives(0).text(), "Board being set up");
  EXPECT_EQ(Find(june, kA2)->status(), v1::NOT_STARTED);
  // The back-filled owner change (effective March 2024) is already true.
  EXPECT_EQ(Find(june, kB1)->owner(), "akhan");
  EXPECT_EQ(Find(june, kB1)->status(), v1::NOT_STARTED);
  ASSERT_EQ(june.plan().periods_size(), 1);
  EXPECT_FALSE(june.plan().periods(0).open());
  EXPECT_EQ(june.plan().recommendations_size(), 2);

  // What the ledger said just before the owner change was entered.
  v1::PlanSnapshot said = AsOf(RecordedAt(17), v1::RECORDED);
  EXPECT_EQ(Find(said, kB1)->owner(), "jsmith");
  EXPECT_EQ(Find(said, kB1)->status(), v1::PAUSED);
  EXPECT_EQ(Find(said, kA1)->narratives(1).text(),
            "A cross-sector delivery board is being established.");
  v1::PlanSnapshot before_fix = AsOf(RecordedAt(16), v1::RECORDED);
  EXPECT_EQ(Find(before_fix, kA1)->narratives(1).text(), "Delivery bord forming");

  // Before the plan existed.
  v1::GetPlanAsOfRequest early;
  early.set_name(kPlan);
  *early.mutable_time() = Day(2023, 1, 1);
  early.set_clock(v1::EFFECTIVE);
  v1::PlanSnapshot snapshot;
  EXPECT_EQ(query_->GetPlanAsOf(Context(kScrutinyToken).get(), early, &snapshot).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(QueriesTest, DiffBetweenTwoMoments) {
  Script();
  v1::DiffPlanRequest request;
  request.set_name(kPlan);
  *request.mutable_from_time() = Day(2024, 6, 1);
  *request.mutable_to_time() = Day(2024, 11, 1);
  request.set_clock(v1::EFFECTIVE);
  request.set_min_position(head_);
  v1::PlanDiff diff;
  ASSERT_TRUE(query_->DiffPlan(Context(kScrutinyToken).get(), request, &diff).ok());
  ASSERT_EQ(diff.status_changes_size(), 2);
  EXPECT_EQ(diff.status_changes(0).action(), kA2);
  EXPECT_EQ(diff.status_changes(0).to(), v1::COMPLETE);
  EXPECT_EQ(diff.status_changes(1).action(), kB1);
  EXPECT_EQ(diff.status_changes(1).to(), v1::PAUSED);
  EXPECT_EQ(diff.status_changes(1).reason(), "Awaiting budget");
  ASSERT_EQ(diff.target_changes_size(), 1);
  EXPECT_EQ(diff.target_changes(0).action(), kA1);
  EXPECT_EQ(diff.target_changes(0).reasons(0), "Partner delays");
  EXPECT_EQ(diff.new_actions_size(), 0);
  ASSERT_EQ(diff.new_narratives_size(), 2);
  EXPECT_EQ(diff.new_narratives(0).text(), "A cross-sector delivery board is being established.");
  EXPECT_EQ(diff.new_narratives(1).text(), "Done");
  EXPECT_EQ(diff.description_changes_size(), 0);

  // An amended description is a change too.
  head_ = DoAt(kAdminToken,
               testing::AmendDescription(kA1, "Establish and chair a delivery board", "wording"),
               2024, 9, 1);
  request.set_min_position(head_);
  ASSERT_TRUE(query_->DiffPlan(Context(kScrutinyToken).get(), request, &diff).ok());
  ASSERT_EQ(diff.description_changes_size(), 1);
  EXPECT_EQ(diff.description_changes(0).action(), kA1);
  EXPECT_EQ(diff.description_changes(0).to(), "Establish and chair a delivery board");
  EXPECT_NE(diff.description_changes(0).from(), diff.description_changes(0).to());

  // A narrative corrected between the two moments says what it replaced.
  v1::DiffPlanRequest corrected;
  corrected.set_name(kPlan);
  *corrected.mutable_from_time() = RecordedAt(16);
  *corrected.mutable_to_time() = RecordedAt(17);
  corrected.set_clock(v1::RECORDED);
  corrected.set_min_position(head_);
  ASSERT_TRUE(query_->DiffPlan(Context(kScrutinyToken).get(), corrected, &diff).ok());
  ASSERT_EQ(diff.new_narratives_size(), 1);
  EXPECT_EQ(diff.new_narratives(0).action(), kA1);
  EXPECT_EQ(diff.new_narratives(0).previous_text(), "Delivery bord forming");
  EXPECT_EQ(diff.new_narratives(0).text(), "A cross-sector delivery board is being established.");
  EXPECT_EQ(diff.status_changes_size(), 0);
}

// On the effective clock, a resource's changes are those of events that took
// effect when they were recorded merged with those of dated ones (the
// `changes` model indexes only the dated ones by effective time): the
// report's audit appendix lists them in effective-time order, as a fold of
// the log does, also after a rebuild.
TEST_F(QueriesTest, AnActionsChangesOnTheEffectiveClockInterleaveDatedAndUndatedEvents) {
  Script();
  using namespace testing;
  Do(kOfficerToken, RecordUpdate(kA1, kOct, "The board met"));             // undated
  Do(kOfficerToken, ChangeStatus(kA1, v1::PAUSED, "Chair stepped down"));  // undated
  // Entered after both, but took effect before them.
  DoAt(kOfficerToken, ChangeStatus(kA1, v1::ONGOING), 2024, 10, 20);
  head_ = Head().position();

  // The report's moment is now; its window opens when the period did.
  const uint64_t opened_us = static_cast<uint64_t>(
      absl::ToUnixMicros(absl::FromCivil(absl::CivilDay(2024, 10, 1), absl::UTCTimeZone())));
  using projections::Micros;
  std::vector<std::pair<uint64_t, uint64_t>> expected;  // effective, position
  bool dated = false;
  bool undated = false;
  for (const v1::Event& e : AllEvents()) {
    if (e.stream() != kA1 || Micros(e.effective_at()) < opened_us) continue;
    expected.emplace_back(Micros(e.effective_at()), e.position());
    (Micros(e.effective_at()) == Micros(e.recorded_at()) ? undated : dated) = true;
  }
  std::sort(expected.begin(), expected.end());
  ASSERT_TRUE(dated && undated);
  std::vector<uint64_t> want;
  for (const auto& [effective, position] : expected) want.push_back(position);
  // Not log order: the dated status change comes before the two undated
  // events it followed in the log.
  ASSERT_FALSE(std::is_sorted(want.begin(), want.end()));

  auto audited = [&]() {
    std::unique_ptr<v1::ReportService::Stub> report =
        v1::ReportService::NewStub(ledgerd_->Channel());
    v1::RenderReportRequest request;
    request.set_name(kPlan);
    request.set_period(kOct);
    request.set_format(v1::MARKDOWN);
    request.set_min_position(head_);
    v1::Report rendered;
    grpc::Status s = report->RenderReport(Context(kScrutinyToken).get(), request, &rendered);
    EXPECT_TRUE(s.ok()) << s.error_message();
    const std::string& md = rendered.content();
    const size_t section = md.find("### r1/a1:");
    EXPECT_NE(section, std::string::npos) << md;
    if (section == std::string::npos) return std::vector<uint64_t>();
    const size_t end = std::min(md.find("\n### ", section + 1), md.find("\n<a id", section + 1));
    const std::string rows = md.substr(section, end - section);
    std::vector<uint64_t> positions;
    const std::regex row("\n\\| ([0-9]+) \\|");
    for (auto it = std::sregex_iterator(rows.begin(), rows.end(), row);
         it != std::sregex_iterator(); ++it) {
      positions.push_back(std::stoull((*it)[1].str()));
    }
    return positions;
  };
  EXPECT_EQ(audited(), want);
  ExpectARebuildGivesTheSameModels("changes");
  EXPECT_EQ(audited(), want) << "after a rebuild";
}

TEST_F(QueriesTest, ReadYourWritesAndMinPositionWaits) {
  Script();
  // A query for a position not yet written waits, and answers once it is.
  std::future<v1::ActionView> pending = std::async(std::launch::async, [&] {
    v1::GetActionRequest request;
    request.set_name(kA1);
    request.set_min_position(head_ + 1);
    v1::ActionView view;
    auto context = Context(kScrutinyToken, 20000);
    EXPECT_TRUE(query_->GetAction(context.get(), request, &view).ok());
    return view;
  });
  uint64_t written = Do(kOfficerToken, testing::ChangeStatus(kA1, v1::COMPLETE));
  EXPECT_EQ(written, head_ + 1);
  EXPECT_EQ(pending.get().status(), v1::COMPLETE);

  // A position never reached within the deadline is DEADLINE_EXCEEDED, not a
  // stale answer.
  v1::GetActionRequest request;
  request.set_name(kA1);
  request.set_min_position(written + 100);
  v1::ActionView view;
  grpc::Status s = query_->GetAction(Context(kScrutinyToken, 300).get(), request, &view);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(QueriesTest, WatchChangesStreamsNewChanges) {
  Script();
  grpc::ClientContext context;
  context.AddMetadata("authorization", std::string("Bearer ") + kScrutinyToken);
  v1::WatchChangesRequest request;
  request.set_start_position(head_ + 1);
  request.set_parent(kPlan);
  auto reader = query_->WatchChanges(&context, request);
  Do(kOfficerToken, testing::ChangeStatus(kA1, v1::COMPLETE));
  v1::Change change;
  ASSERT_TRUE(reader->Read(&change));
  EXPECT_EQ(change.position(), head_ + 1);
  EXPECT_EQ(change.type(), "status_changed");
  EXPECT_EQ(change.after(), "COMPLETE");
  context.TryCancel();
}

TEST_F(QueriesTest, ScrutinyMayQueryButNotRebuild) {
  Script();
  v1::RebuildProjectionRequest rebuild;
  rebuild.set_name("all");
  v1::ProjectionStatus status;
  EXPECT_EQ(query_->RebuildProjection(Context(kScrutinyToken).get(), rebuild, &status).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(query_->RebuildProjection(Context(kOfficerToken).get(), rebuild, &status).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListProjectionsResponse list;
  EXPECT_EQ(query_->ListProjections(Context("").get(), {}, &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(QueriesTest, RebuildGivesByteIdenticalReadModels) {
  Script();
  v1::GetActionRequest wait;
  wait.set_name(kA1);
  wait.set_min_position(head_);
  v1::ActionView view;
  ASSERT_TRUE(query_->GetAction(Context(kScrutinyToken).get(), wait, &view).ok());
  auto incremental = Digests();
  ASSERT_EQ(incremental.size(), 4u);
  v1::RebuildProjectionRequest rebuild;
  rebuild.set_name("all");
  rebuild.set_wait(true);
  v1::ProjectionStatus status;
  grpc::Status s = query_->RebuildProjection(Context(kAdminToken, 60000).get(), rebuild, &status);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Digests(), incremental);
  // And the answers are the same.
  EXPECT_EQ(GetAction(kA1).SerializeAsString(), view.SerializeAsString());

  // The same through `ledgerd --rebuild` at start.
  ledgerd_.reset();
  ledgerd_ = std::make_unique<LedgerdProcess>(data_dir(),
                                              std::vector<std::string>{"--rebuild", "temporal"});
  Connect();
  ASSERT_TRUE(query_->GetAction(Context(kScrutinyToken).get(), wait, &view).ok());
  EXPECT_EQ(Digests(), incremental);
}

// A history long enough for the temporal model's checkpoints, with events
// back-dated into checkpointed stretches: every answer equals a fold of the
// log itself, before and after a rebuild and a restart.
TEST_F(QueriesTest, AsOfOverALongBackDatedHistoryEqualsAFoldOfTheLog) {
  using namespace testing;
  DoAt(kAdminToken, CreatePlan("oxford"), 2023, 12, 1);
  DoAt(kAdminToken, OpenPeriod("oxford", "oct-2024", "October 2024"), 2023, 12, 1);
  std::vector<std::string> actions;
  for (int r = 1; r <= 3; ++r) {
    const std::string rec = absl::StrCat("r", r);
    DoAt(kAdminToken, AddRecommendation("oxford", rec, r), 2023, 12, 1);
    for (int a = 1; a <= 10; ++a) {
      DoAt(kAdminToken,
           AddAction(absl::StrCat(kPlan, "/recommendations/", rec), absl::StrCat("a", a),
                     "December 2024", "jsmith"),
           2023, 12, 2);
      actions.push_back(absl::StrCat(kPlan, "/recommendations/", rec, "/actions/a", a));
    }
  }
  // 2,000 events in batches; one in seven is back-dated up to 300 days.
  std::mt19937 rng(20261123);
  const absl::CivilDay first(2024, 1, 1);
  int day = 0;
  // Owners and targets are set only when they change.
  absl::flat_hash_map<std::string, bool> owned_by_akhan;
  absl::flat_hash_map<std::string, int> revisions;
  for (int batch = 0; batch < 40; ++batch) {
    v1::ExecuteCommandsRequest request;
    for (int i = 0; i < 50; ++i) {
      const std::string& action = actions[rng() % actions.size()];
      v1::Command c;
      switch (rng() % 3) {
        case 0:
          c = RecordUpdate(action, kOct, absl::StrCat("note ", batch, "-", i));
          break;
        case 1:
          c = ReviseTarget(action, absl::StrCat("March ", 2025 + revisions[action]++ % 5),
                           "replanned");
          break;
        default:
          owned_by_akhan[action] = !owned_by_akhan[action];
          c = AssignOwner(action, owned_by_akhan[action] ? "akhan" : "jsmith");
          break;
      }
      ++day;
      const int back = rng() % 7 == 0 ? static_cast<int>(rng() % 300) : 0;
      const absl::CivilDay when = first + std::max(0, day / 4 - back);
      Effective(c, static_cast<int>(when.year()), when.month(), when.day());
      *request.add_commands() = std::move(c);
    }
    v1::CommandResponse response;
    const grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    head_ = response.position();
  }

  const std::vector<v1::Event> events = AllEvents();
  ASSERT_EQ(events.size(), head_);
  // Moments across 2024 on the effective clock.
  std::vector<google::protobuf::Timestamp> effective;
  for (int i = 0; i < 40; ++i) {
    effective.push_back(Day(2024, 1, 1));
    effective.back().set_seconds(effective.back().seconds() + i * 9 * 86400 + 43200);
  }
  auto check_all = [&](const std::string& when) { ExpectAsOfEqualsAFold(events, effective, when); };
  check_all("as built");
  ExpectARebuildGivesTheSameModels("temporal");
  ledgerd_.reset();
  ledgerd_ = std::make_unique<LedgerdProcess>(data_dir());
  Connect();
  check_all("after a rebuild and a restart");
}

// While no event is dated, both clocks order the events alike and the
// effective clock's checkpoints refer to the recorded clock's; events dated
// back into that stretch refold the effective clock from such a checkpoint.
// ledgerd restarts before the first dated event (the effective clock is then
// the recorded one, resumed) and after them (two clocks of their own), and
// undated events follow. Every answer equals a fold of the log, and the
// model equals a rebuild.
TEST_F(QueriesTest, AsOfReadsCheckpointsBothClocksShareAndRefoldsFromThem) {
  using namespace testing;
  Do(kAdminToken, CreatePlan("oxford"));
  Do(kAdminToken, OpenPeriod("oxford", "oct-2024", "October 2024"));
  Do(kAdminToken, AddRecommendation("oxford", "r1", 1));
  std::vector<std::string> actions;
  for (int a = 1; a <= 20; ++a) {
    Do(kAdminToken, AddAction(absl::StrCat(kPlan, "/recommendations/r1"), absl::StrCat("a", a),
                              "December 2024", "jsmith"));
    actions.push_back(absl::StrCat(kPlan, "/recommendations/r1/actions/a", a));
  }
  auto updates = [&](int batches, const google::protobuf::Timestamp* effective) {
    for (int batch = 0; batch < batches; ++batch) {
      v1::ExecuteCommandsRequest request;
      for (int i = 0; i < 50; ++i) {
        v1::Command c = RecordUpdate(actions[(batch * 50 + i) % actions.size()], kOct,
                                     absl::StrCat("note ", head_, "-", i));
        if (effective != nullptr) *c.mutable_record_update()->mutable_effective_time() = *effective;
        *request.add_commands() = std::move(c);
      }
      v1::CommandResponse response;
      const grpc::Status s =
          ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
      ASSERT_TRUE(s.ok()) << s.error_message();
      head_ = response.position();
    }
  };
  auto restart = [&] {
    GetAction(actions[0]);  // the models have applied every event
    ledgerd_.reset();
    ledgerd_ = std::make_unique<LedgerdProcess>(data_dir());
    Connect();
  };
  // 1,200 undated updates: a checkpoint every 256 entries on each clock.
  updates(24, nullptr);
  restart();
  // Then 50 dated back to the middle of them, after two checkpoints.
  const google::protobuf::Timestamp back = AllEvents()[700].recorded_at();
  updates(1, &back);
  restart();
  // And 300 undated, past another checkpoint.
  updates(6, nullptr);
  const std::vector<v1::Event> events = AllEvents();
  ASSERT_EQ(events.size(), head_);
  const std::vector<google::protobuf::Timestamp> moments = RecordedMoments(events);
  ExpectAsOfEqualsAFold(events, moments, "as built");
  ExpectARebuildGivesTheSameModels("temporal");
  ExpectAsOfEqualsAFold(events, moments, "after a rebuild");

  // The checkpoints before the dated events are shared: stored once, under
  // the recorded clock, and referred to by the effective clock's.
  ASSERT_EQ(ledgerd_->Stop(), 0);
  int shared = 0;
  testing::EditDataDir(
      data_dir(),
      [&](rocksdb::DB* db, const std::map<std::string, rocksdb::ColumnFamilyHandle*>& cfs) {
        ASSERT_TRUE(cfs.count("projection.temporal"));
        rocksdb::ColumnFamilyHandle* cf = cfs.at("projection.temporal");
        const std::string effective = projections::IndexPrefix('E', kPlan);
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
        for (it->Seek(effective); it->Valid() && it->key().starts_with(effective); it->Next()) {
          if (!it->value().empty()) continue;
          ++shared;
          std::string recorded;
          const std::string key =
              projections::IndexPrefix('R', kPlan) + it->key().ToString().substr(effective.size());
          EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), cf, key, &recorded).ok());
          EXPECT_FALSE(recorded.empty());
        }
      });
  EXPECT_GE(shared, 2);
}

// With one thread for all four models they step together, reading each
// event once; a model rebuilt alone is behind the others of its thread and
// is given the events they hold. Each way gives the models a ledgerd of one
// thread a model builds.
TEST_F(QueriesTest, ModelsSharingAThreadEqualThoseOfAThreadEachAndOneRebuiltAloneCatchesUp) {
  const std::vector<std::string> one_thread = {"--projection_threads", "1"};
  ledgerd_.reset();
  ledgerd_ = std::make_unique<LedgerdProcess>(data_dir(), one_thread);
  Connect();
  Script();
  GetAction(kA1);  // waits for the read models
  ExpectARebuildGivesTheSameModels("changes");
  ExpectARebuildGivesTheSameModels("temporal");
  // After the rebuilds all four move on together.
  head_ = Do(kOfficerToken, testing::RecordUpdate(kA1, kOct, "After the rebuilds"));
  EXPECT_EQ(NarrativeOf(GetAction(kA1), kOct), "After the rebuilds");
  const auto shared = Digests();
  ExpectARebuildGivesTheSameModels("all");
  ledgerd_.reset();
  ledgerd_ = std::make_unique<LedgerdProcess>(
      data_dir(), std::vector<std::string>{"--projection_threads", "4", "--rebuild", "all"});
  Connect();
  GetAction(kA1);
  EXPECT_EQ(Digests(), shared);
}

// A model that cannot resume stops where it is; the models sharing its
// thread go on applying the log.
TEST_F(QueriesTest, AModelThatCannotResumeStopsAloneAndTheOthersOfItsThreadGoOn) {
  // A temporal checkpoint that does not decode.
  ScriptThenDamage("projection.temporal",
                   projections::IndexPrefix('R', kPlan) + std::string(16, '\xfe'),
                   "not a snapshot");
  ledgerd_ = std::make_unique<LedgerdProcess>(
      data_dir(), std::vector<std::string>{"--projection_threads", "1"});
  Connect();
  const uint64_t stopped_at = head_;
  head_ = Do(kOfficerToken, testing::RecordUpdate(kA1, kOct, "While temporal is stopped"));
  // No query waits for one model, so ask each where it is until the rest
  // have applied the update.
  std::map<std::string, v1::ProjectionStatus> states;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (int polls = 0; absl::Now() < deadline && polls < 3000; ++polls) {
    states = Statuses();
    if (states["current"].position() == head_ && states["changes"].position() == head_ &&
        states["merkle"].position() == head_) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  for (const char* running : {"current", "changes", "merkle"}) {
    EXPECT_EQ(states[running].position(), head_) << running;
    EXPECT_EQ(states[running].state(), v1::ProjectionStatus::RUNNING) << running;
  }
  EXPECT_EQ(states["temporal"].position(), stopped_at);
  EXPECT_EQ(states["temporal"].state(), v1::ProjectionStatus::STOPPED);
  EXPECT_NE(states["temporal"].failure().find("a checkpoint does not decode"), std::string::npos)
      << states["temporal"].failure();
  EXPECT_NE(ledgerd_->Stderr().find("projection temporal could not resume"), std::string::npos)
      << ledgerd_->Stderr();
  // A query at the update's position is refused at once, naming the model.
  ExpectRefusedAtOnce(head_, "the read model temporal stopped");
  // The current model answers a query that does not wait for them all.
  v1::GetActionRequest request;
  request.set_name(kA1);
  v1::ActionView view;
  ASSERT_TRUE(query_->GetAction(Context(kScrutinyToken).get(), request, &view).ok());
  EXPECT_EQ(NarrativeOf(view, kOct), "While temporal is stopped");

  // Another model's rebuild is not held up by it; temporal's own, from the
  // log, puts it right.
  v1::RebuildProjectionRequest rebuild;
  rebuild.set_name("changes");
  rebuild.set_wait(true);
  v1::ProjectionStatus status;
  grpc::Status s = query_->RebuildProjection(Context(kAdminToken, 60000).get(), rebuild, &status);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(status.state(), v1::ProjectionStatus::RUNNING);
  EXPECT_EQ(status.position(), head_);
  rebuild.set_name("temporal");
  s = query_->RebuildProjection(Context(kAdminToken, 60000).get(), rebuild, &status);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(status.state(), v1::ProjectionStatus::RUNNING);
  EXPECT_EQ(status.failure(), "");
  GetAction(kA1);  // at the head again
  EXPECT_EQ(Statuses()["temporal"].state(), v1::ProjectionStatus::RUNNING);
}

// An event the log cannot give stops the models that need it and only
// them: here the one rebuilt from the start (and the temporal model, which
// reads it to resume), while the others of its thread are past it.
TEST_F(QueriesTest, AnEventTheLogCannotGiveStopsOnlyTheModelsThatNeedIt) {
  ScriptThenDamage("events", store::EncodePosition(3), "\xff");
  ledgerd_ = std::make_unique<LedgerdProcess>(
      data_dir(), std::vector<std::string>{"--projection_threads", "1", "--rebuild", "changes"});
  Connect();
  // A query waits for the rebuild, and is told at once when it stops.
  ExpectRefusedAtOnce(0, "the read model changes stopped at position 0");
  // The step that read it committed nothing; the others are past it.
  std::map<std::string, v1::ProjectionStatus> states = Statuses();
  EXPECT_EQ(states["changes"].position(), 0u);
  EXPECT_EQ(states["changes"].state(), v1::ProjectionStatus::STOPPED);
  EXPECT_NE(states["changes"].failure().find("does not decode"), std::string::npos)
      << states["changes"].failure();
  for (const char* past : {"current", "merkle"}) {
    EXPECT_EQ(states[past].position(), head_) << past;
    EXPECT_EQ(states[past].state(), v1::ProjectionStatus::RUNNING) << past;
    EXPECT_EQ(states[past].failure(), "") << past;
  }
  // The temporal model folds a plan's events since its last checkpoint to
  // resume, and so needs the event too.
  EXPECT_EQ(states["temporal"].position(), head_);
  EXPECT_EQ(states["temporal"].state(), v1::ProjectionStatus::STOPPED);
  EXPECT_NE(ledgerd_->Stderr().find("projection temporal could not resume"), std::string::npos);
  const std::string stopped = "projection changes stopped at position 0";
  const std::string err = ledgerd_->Stderr();
  EXPECT_NE(err.find(stopped), std::string::npos) << err;
  EXPECT_EQ(err.find("projection current stopped"), std::string::npos) << err;
  EXPECT_EQ(err.find("projection temporal stopped"), std::string::npos) << err;
  EXPECT_EQ(err.find("projection merkle stopped"), std::string::npos) << err;
}

TEST_F(QueriesTest, AModelOfAnotherLayoutIsBuiltAgainFromTheLog) {
  Script();
  GetAction(kA1);  // waits for the read models
  const auto digests = Digests();
  ASSERT_EQ(ledgerd_->Stop(), 0);
  // As a ledgerd of the previous layout would have left it.
  testing::EditDataDir(
      data_dir(),
      [](rocksdb::DB* db, const std::map<std::string, rocksdb::ColumnFamilyHandle*>& cfs) {
        const std::string one("\0\0\0\0\0\0\0\x01", 8);
        for (const char* model : {"projection.temporal", "projection.changes"}) {
          ASSERT_TRUE(cfs.count(model));
          rocksdb::ColumnFamilyHandle* cf = cfs.at(model);
          ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf,
                              "\xff"
                              "layout",
                              one)
                          .ok());
          ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, "rplans/oxford", "old").ok());
        }
      });
  ledgerd_ = std::make_unique<LedgerdProcess>(data_dir());
  Connect();
  GetAction(kA1);
  EXPECT_EQ(Digests(), digests);
  for (const char* model : {"temporal", "changes"}) {
    EXPECT_NE(ledgerd_->Stderr().find(absl::StrCat("projection ", model, " has layout 1")),
              std::string::npos)
        << ledgerd_->Stderr();
  }
}

TEST_F(QueriesTest, RestartMidStreamResumesFromCheckpointsAndEqualsRebuild) {
  Script();
  // Enough events that the projections are still working when ledgerd dies.
  for (int batch = 0; batch < 20; ++batch) {
    v1::ExecuteCommandsRequest request;
    for (int i = 0; i < 100; ++i) {
      *request.add_commands() =
          testing::RecordUpdate(kA2, kOct, absl::StrCat("update ", batch, "-", i));
    }
    v1::CommandResponse response;
    ASSERT_TRUE(
        ledger_->ExecuteCommands(Context(kOtherOfficerToken).get(), request, &response).ok());
    head_ = response.position();
  }
  ledgerd_->Kill();  // SIGKILL: no clean shutdown
  ledgerd_.reset();
  ledgerd_ = std::make_unique<LedgerdProcess>(data_dir());
  Connect();
  v1::GetActionRequest wait;
  wait.set_name(kA2);
  wait.set_min_position(head_);
  v1::ActionView view;
  ASSERT_TRUE(query_->GetAction(Context(kScrutinyToken, 60000).get(), wait, &view).ok());
  EXPECT_EQ(view.narratives(0).text(), "update 19-99");
  auto resumed = Digests();
  v1::RebuildProjectionRequest rebuild;
  rebuild.set_name("all");
  rebuild.set_wait(true);
  v1::ProjectionStatus status;
  ASSERT_TRUE(query_->RebuildProjection(Context(kAdminToken, 60000).get(), rebuild, &status).ok());
  EXPECT_EQ(Digests(), resumed);

  // Rebuilt in one large step, every model goes on following the log.
  wait.set_min_position(Do(kOtherOfficerToken, testing::RecordUpdate(kA2, kOct, "after")));
  ASSERT_TRUE(query_->GetAction(Context(kScrutinyToken, 10000).get(), wait, &view).ok());
  EXPECT_EQ(view.narratives(0).text(), "after");
}

TEST_F(QueriesTest, TheWholeLogsChangesPageAndWatchAcrossRecordBlocks) {
  Script();  // 17 corrects 14, in the full block before it
  // Single updates (a model step each) and a restart partway, so blocks of
  // records are begun in one step and filled in later ones, and one is read
  // back from the model; then corrections of a record in the block being
  // filled and of one in a full block.
  for (int i = 0; i < 12; ++i) {
    head_ = Do(kOfficerToken, testing::RecordUpdate(kA1, kOct, absl::StrCat("note ", i)));
  }
  Changes({});  // waits for the read models
  ASSERT_EQ(ledgerd_->Stop(), 0);
  ledgerd_ = std::make_unique<LedgerdProcess>(data_dir());
  Connect();
  const uint64_t just_before = Do(kOfficerToken, testing::RecordUpdate(kA1, kOct, "note 12"));
  ASSERT_EQ(just_before % projections::kChangesPerBlock, 15u);  // block 2 not yet full
  Do(kOfficerToken, testing::CorrectNarrative(just_before, "Note twelve", "Typo"));
  for (int i = 13; i < 30; ++i) {
    head_ = Do(kOfficerToken, testing::RecordUpdate(kA1, kOct, absl::StrCat("note ", i)));
  }
  head_ = Do(kOfficerToken, testing::CorrectNarrative(9, "The board is being set up", "Wording"));

  const std::vector<v1::Change> all = Changes({});
  ASSERT_EQ(all.size(), head_);
  for (uint64_t p = 1; p <= head_; ++p) EXPECT_EQ(all[p - 1].position(), p);
  EXPECT_EQ(all[just_before - 1].corrected_by(), just_before + 1);
  EXPECT_EQ(all[8].corrected_by(), head_);
  EXPECT_EQ(all[13].corrected_by(), 17u);
  auto serialized = [](const std::vector<v1::Change>& changes) {
    std::vector<std::string> out;
    for (const v1::Change& c : changes) out.push_back(c.SerializeAsString());
    return out;
  };
  for (int page_size : {1, 3, 16, 17}) {
    SCOPED_TRACE(page_size);
    EXPECT_EQ(serialized(Changes({}, page_size)), serialized(all));
  }
  // From a moment on: the first change recorded at or after it, found by
  // bisecting the log up to the model's last record.
  for (uint64_t p : {uint64_t{2}, uint64_t{16}, uint64_t{17}, uint64_t{33}, head_}) {
    SCOPED_TRACE(p);
    v1::ListChangesRequest since;
    *since.mutable_start_time() = RecordedAt(p);
    const std::vector<v1::Change> got = Changes(since, 5);
    std::vector<v1::Change> want;
    for (const v1::Change& c : all) {
      if (projections::Micros(c.recorded_at()) >= projections::Micros(RecordedAt(p))) {
        want.push_back(c);
      }
    }
    ASSERT_FALSE(got.empty());
    EXPECT_LE(got.front().position(), p);
    EXPECT_EQ(serialized(got), serialized(want));
  }
  // A watch from within a block, and from a block's first record.
  for (uint64_t start : {uint64_t{15}, uint64_t{17}, head_}) {
    SCOPED_TRACE(start);
    v1::WatchChangesRequest watch;
    watch.set_start_position(start);
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kScrutinyToken);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto stream = query_->WatchChanges(&context, watch);
    for (uint64_t p = start; p <= head_; ++p) {
      v1::Change c;
      ASSERT_TRUE(stream->Read(&c));
      EXPECT_EQ(c.SerializeAsString(), all[p - 1].SerializeAsString());
    }
    context.TryCancel();
  }
  ExpectARebuildGivesTheSameModels("changes");
}

TEST_F(QueriesTest, AnActorsAndATypesChangesSpanManyPostingBlocks) {
  Script();
  // Two officers' changes interleaved, in batches (several a model step)
  // and across a restart, so each list has blocks begun and finished in
  // many steps, and tails read back from the model.
  auto batches = [&](int count) {
    for (int batch = 0; batch < count; ++batch) {
      v1::ExecuteCommandsRequest mine;
      v1::ExecuteCommandsRequest theirs;
      for (int i = 0; i < 30 + batch % 7; ++i) {
        *mine.add_commands() = testing::RecordUpdate(kA1, kOct, absl::StrCat("a1 ", batch, "-", i));
        *theirs.add_commands() =
            testing::RecordUpdate(kA2, kOct, absl::StrCat("a2 ", batch, "-", i));
      }
      *mine.add_commands() = testing::ReviseTarget(kA1, absl::StrCat("June ", 2030 + batch),
                                                   absl::StrCat("slipped ", batch));
      v1::CommandResponse response;
      grpc::Status s = ledger_->ExecuteCommands(Context(kOfficerToken).get(), mine, &response);
      ASSERT_TRUE(s.ok()) << s.error_message();
      s = ledger_->ExecuteCommands(Context(kOtherOfficerToken).get(), theirs, &response);
      ASSERT_TRUE(s.ok()) << s.error_message();
      head_ = response.position();
    }
  };
  batches(5);
  Changes({});  // waits for the read models
  ASSERT_EQ(ledgerd_->Stop(), 0);
  ledgerd_ = std::make_unique<LedgerdProcess>(data_dir());
  Connect();
  batches(6);
  const std::vector<v1::Change> all = Changes({});
  ASSERT_GT(all.size(), 3 * projections::kBlockEntries);
  std::vector<v1::ListChangesRequest> queries(4);
  queries[0].set_actor("jsmith");
  queries[1].set_actor("akhan");
  queries[2].set_type("update_recorded");
  queries[3].set_type("target_date_revised");
  for (const v1::ListChangesRequest& query : queries) {
    std::vector<uint64_t> expected;
    for (const v1::Change& c : all) {
      if ((query.actor().empty() || c.actor() == query.actor()) &&
          (query.type().empty() || c.type() == query.type())) {
        expected.push_back(c.position());
      }
    }
    ASSERT_FALSE(expected.empty());
    for (int page_size : {0, 1, 7, 128, 129}) {
      std::vector<uint64_t> got;
      for (const v1::Change& c : Changes(query, page_size)) got.push_back(c.position());
      EXPECT_EQ(got, expected) << query.ShortDebugString() << " pages of " << page_size;
    }
    // From moments inside blocks and at their edges.
    for (size_t i = 0; i < expected.size(); i += 17) {
      for (uint64_t position : {expected[i], expected[i] + 1}) {
        if (position > head_) continue;
        v1::ListChangesRequest since = query;
        *since.mutable_start_time() = RecordedAt(position);
        const uint64_t from = projections::Micros(RecordedAt(position));
        std::vector<uint64_t> want;
        for (const v1::Change& c : all) {
          if (std::count(expected.begin(), expected.end(), c.position()) &&
              projections::Micros(c.recorded_at()) >= from) {
            want.push_back(c.position());
          }
        }
        std::vector<uint64_t> got;
        for (const v1::Change& c : Changes(since, 50)) got.push_back(c.position());
        EXPECT_EQ(got, want) << query.ShortDebugString() << " since event " << position;
      }
    }
  }
  // A filter cannot reach into another list's keys.
  v1::ListChangesRequest crafted;
  crafted.set_parent(kPlan);
  crafted.set_actor(std::string("jsmith\0", 7));
  v1::ListChangesResponse refused;
  grpc::Status s = query_->ListChanges(Context(kScrutinyToken).get(), crafted, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(s.error_message(), "actor: not a principal id");
  // The blocks of the changes model's lists and of the temporal model's
  // index went on after the restart where they had stopped.
  ExpectARebuildGivesTheSameModels("all");
}

TEST_F(QueriesTest, ATimelineOfManyDatedChangesPagesAcrossBlocks) {
  Script();
  // One action's status back and forth, most changes dated to a day of
  // November 2024 in no order (so many are back-dated behind others), in
  // batches: its timeline spans several blocks, with dated and undated
  // entries in each.
  std::mt19937 rng(11);
  bool paused = GetAction(kB1).status() == v1::PAUSED;
  for (int batch = 0; batch < 4; ++batch) {
    v1::ExecuteCommandsRequest request;
    for (int i = 0; i < 90; ++i) {
      const int n = batch * 90 + i;
      v1::Command c = paused ? testing::ChangeStatus(kB1, v1::ONGOING)
                             : testing::ChangeStatus(kB1, v1::PAUSED, absl::StrCat("held ", n));
      paused = !paused;
      if (n % 3 != 0) Effective(c, 2024, 11, 1 + static_cast<int>(rng() % 28));
      *request.add_commands() = std::move(c);
    }
    v1::CommandResponse response;
    grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    head_ = response.position();
  }
  std::vector<uint64_t> expected;
  for (const v1::Change& c : Changes({})) {
    if (c.stream() == kB1) expected.push_back(c.position());
  }
  ASSERT_GT(expected.size(), 2 * projections::kBlockEntries);
  v1::ListChangesRequest by_action;
  by_action.set_action(kB1);
  for (int page_size : {0, 1, 127, 128, 129}) {
    std::vector<uint64_t> listed;
    for (const v1::Change& c : Changes(by_action, page_size)) listed.push_back(c.position());
    EXPECT_EQ(listed, expected) << "ListChanges, pages of " << page_size;
    std::vector<uint64_t> timeline;
    v1::GetActionTimelineRequest request;
    request.set_name(kB1);
    request.set_page_size(page_size);
    request.set_min_position(head_);
    for (int pages = 0; pages < 1000; ++pages) {
      v1::GetActionTimelineResponse response;
      grpc::Status s = query_->GetActionTimeline(Context(kScrutinyToken).get(), request, &response);
      ASSERT_TRUE(s.ok()) << s.error_message();
      for (const v1::Change& c : response.changes()) timeline.push_back(c.position());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    EXPECT_EQ(timeline, expected) << "GetActionTimeline, pages of " << page_size;
  }
  // On the effective clock, the plan's undated entries merge with its
  // dated ones as a fold of the log does.
  std::vector<google::protobuf::Timestamp> days;
  for (int d = 1; d <= 30; d += 3) days.push_back(Day(2024, 11, d));
  ExpectAsOfEqualsAFold(AllEvents(), days, "many dated changes");
  ExpectARebuildGivesTheSameModels("all");
}

TEST_F(QueriesTest, ListActionsPagingReturnsEachActionOnce) {
  Script();
  for (int i = 0; i < 25; ++i) {
    Do(kAdminToken, testing::AddAction("plans/oxford/recommendations/r2", absl::StrCat("x", i)));
  }
  head_ = Head().position();
  std::vector<std::string> paged = ListNames({}, 4);
  std::vector<std::string> whole = ListNames({}, 1000);
  EXPECT_EQ(paged.size(), 28u);
  EXPECT_EQ(paged, whole);
  EXPECT_EQ(std::set<std::string>(paged.begin(), paged.end()).size(), paged.size());
}

}  // namespace
}  // namespace auditledger
