// Whole-system tests: a real ledgerd process on a loopback port with its own
// RocksDB data dir, driven over real gRPC.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auditledger/v1/query_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "standard/health.grpc.pb.h"
#include "standard/reflection.grpc.pb.h"
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

constexpr char kAction[] = "plans/oxford/recommendations/r1/actions/a1";
constexpr char kPeriod[] = "plans/oxford/periods/oct-2024";

// Creates a plan, a recommendation, an action owned by jsmith and an open
// period through the public API.
void SeedPlan(v1::LedgerService::Stub& stub) {
  v1::CommandResponse response;
  v1::CreatePlanRequest plan;
  plan.set_plan_id("oxford");
  plan.set_title("LGA Corporate Peer Challenge action plan");
  ASSERT_TRUE(stub.CreatePlan(Context(kAdminToken).get(), plan, &response).ok());
  v1::AddRecommendationRequest rec;
  rec.set_parent("plans/oxford");
  rec.set_recommendation_id("r1");
  rec.set_number(1);
  rec.set_title("Co-design shared outcomes");
  ASSERT_TRUE(stub.AddRecommendation(Context(kAdminToken).get(), rec, &response).ok());
  v1::AddActionRequest action;
  action.set_parent("plans/oxford/recommendations/r1");
  action.set_action_id("a1");
  action.set_description("Establish a delivery board");
  action.set_target_date("December 2024");
  action.set_owner("jsmith");
  ASSERT_TRUE(stub.AddAction(Context(kAdminToken).get(), action, &response).ok());
  v1::OpenPeriodRequest period;
  period.set_parent("plans/oxford");
  period.set_period_id("oct-2024");
  period.set_title("October 2024 & final update");
  ASSERT_TRUE(stub.OpenPeriod(Context(kAdminToken).get(), period, &response).ok());
}

std::vector<v1::LoggedEvent> AllEvents(v1::LedgerService::Stub& stub) {
  std::vector<v1::LoggedEvent> out;
  v1::ListEventsRequest request;
  request.set_page_size(2);
  for (int pages = 0; pages < 10000; ++pages) {
    v1::ListEventsResponse response;
    grpc::Status s = stub.ListEvents(Context(kScrutinyToken).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) break;
    out.insert(out.end(), response.events().begin(), response.events().end());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return out;
}

v1::LogHead Head(v1::LedgerService::Stub& stub) {
  v1::LogHead head;
  EXPECT_TRUE(stub.GetLogHead(Context(kScrutinyToken).get(), {}, &head).ok());
  return head;
}

TEST(LedgerdTest, CommandsAppendEventsReadableFromTheLog) {
  LedgerdProcess ledgerd;
  auto stub = ledgerd.LedgerStub();
  SeedPlan(*stub);
  v1::ChangeActionStatusRequest change;
  change.set_name(kAction);
  change.set_status(v1::ONGOING);
  v1::CommandResponse response;
  grpc::Status s = stub->ChangeActionStatus(Context(kOfficerToken).get(), change, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.position(), 5u);
  ASSERT_EQ(response.events_size(), 1);
  EXPECT_EQ(response.events(0).name(), "events/5");
  EXPECT_EQ(response.events(0).stream(), kAction);
  EXPECT_EQ(response.events(0).version(), 2u);

  std::vector<v1::LoggedEvent> events = AllEvents(*stub);
  ASSERT_EQ(events.size(), 5u);
  const v1::Event& last = events.back().event();
  EXPECT_EQ(last.actor().id(), "jsmith");
  EXPECT_EQ(last.actor().role(), v1::OFFICER);
  EXPECT_EQ(last.status_changed().to(), v1::ONGOING);
  EXPECT_EQ(last.previous_hash(), events[3].hash());

  v1::ListEventsRequest by_stream;
  by_stream.set_stream(kAction);
  v1::ListEventsResponse stream_events;
  ASSERT_TRUE(stub->ListEvents(Context(kScrutinyToken).get(), by_stream, &stream_events).ok());
  ASSERT_EQ(stream_events.events_size(), 2);
  EXPECT_EQ(stream_events.events(0).event().version(), 1u);
  EXPECT_EQ(stream_events.events(1).event().version(), 2u);
}

TEST(LedgerdTest, ActorComesFromTheTokenNeverTheRequest) {
  LedgerdProcess ledgerd;
  auto stub = ledgerd.LedgerStub();
  SeedPlan(*stub);
  // There is no actor field to forge; the stored actor is the token's.
  v1::RecordUpdateRequest update;
  update.set_name(kAction);
  update.set_period(kPeriod);
  update.set_narrative("A cross-sector delivery board is being established.");
  v1::CommandResponse response;
  ASSERT_TRUE(stub->RecordUpdate(Context(kOfficerToken).get(), update, &response).ok());
  auto events = AllEvents(*stub);
  EXPECT_EQ(events.back().event().actor().id(), "jsmith");
  EXPECT_GT(events.back().event().recorded_at().seconds(), 1700000000);
}

TEST(LedgerdTest, AuthenticationAndRoles) {
  LedgerdProcess ledgerd;
  auto stub = ledgerd.LedgerStub();
  SeedPlan(*stub);
  const uint64_t head = Head(*stub).position();
  v1::ChangeActionStatusRequest change;
  change.set_name(kAction);
  change.set_status(v1::ONGOING);
  v1::CommandResponse response;

  grpc::Status none = stub->ChangeActionStatus(Context("").get(), change, &response);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(none.error_message().find("authorization"), std::string::npos);

  grpc::Status bad = stub->ChangeActionStatus(Context("not-a-token").get(), change, &response);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::Status scrutiny =
      stub->ChangeActionStatus(Context(kScrutinyToken).get(), change, &response);
  EXPECT_EQ(scrutiny.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(scrutiny.error_message().find("read-only"), std::string::npos);

  grpc::Status not_owner =
      stub->ChangeActionStatus(Context(kOtherOfficerToken).get(), change, &response);
  EXPECT_EQ(not_owner.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  v1::OpenPeriodRequest period;
  period.set_parent("plans/oxford");
  period.set_period_id("apr-2025");
  period.set_title("April 2025");
  grpc::Status officer_period = stub->OpenPeriod(Context(kOfficerToken).get(), period, &response);
  EXPECT_EQ(officer_period.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  v1::ListEventsResponse events;
  EXPECT_EQ(stub->ListEvents(Context("").get(), {}, &events).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Head(*stub).position(), head) << "a refused call appended";
}

TEST(LedgerdTest, BadInputGetsTheRightCodeAndAppendsNothing) {
  LedgerdProcess ledgerd;
  auto stub = ledgerd.LedgerStub();
  SeedPlan(*stub);
  const v1::LogHead head = Head(*stub);
  v1::CommandResponse response;

  v1::ChangeActionStatusRequest unknown;
  unknown.set_name("plans/oxford/recommendations/r1/actions/zz");
  unknown.set_status(v1::ONGOING);
  grpc::Status s = stub->ChangeActionStatus(Context(kAdminToken).get(), unknown, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("name: action"), std::string::npos);

  v1::ChangeActionStatusRequest transition;
  transition.set_name(kAction);
  transition.set_status(v1::NOT_STARTED);
  s = stub->ChangeActionStatus(Context(kOfficerToken).get(), transition, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("from NOT_STARTED to NOT_STARTED"), std::string::npos);

  // An id typed in capitals is named, with what it would be in lower case.
  v1::ChangeActionStatusRequest capitals;
  capitals.set_name("plans/oxford/recommendations/R1/actions/a1");
  capitals.set_status(v1::ONGOING);
  s = stub->ChangeActionStatus(Context(kAdminToken).get(), capitals, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("name: \"plans/oxford/recommendations/R1/actions/a1\" has "
                                   "\"R1\", which is not a valid id"),
            std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find("; ids are lower case: r1"), std::string::npos)
      << s.error_message();

  v1::RecordUpdateRequest empty;
  empty.set_name(kAction);
  empty.set_period(kPeriod);
  s = stub->RecordUpdate(Context(kOfficerToken).get(), empty, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("narrative"), std::string::npos);

  v1::ReviseTargetDateRequest date;
  date.set_name(kAction);
  date.set_target_date("the 12th of never");
  date.set_reason("because");
  s = stub->ReviseTargetDate(Context(kOfficerToken).get(), date, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("target_date"), std::string::npos);

  v1::ChangeActionStatusRequest future;
  future.set_name(kAction);
  future.set_status(v1::ONGOING);
  future.mutable_effective_time()->set_seconds(4102444800);  // 2100
  s = stub->ChangeActionStatus(Context(kOfficerToken).get(), future, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("effective_time"), std::string::npos);

  v1::ListEventsRequest list;
  list.set_page_size(-1);
  v1::ListEventsResponse events;
  s = stub->ListEvents(Context(kAdminToken).get(), list, &events);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  list.set_page_size(1);
  list.set_page_token("forged");
  s = stub->ListEvents(Context(kAdminToken).get(), list, &events);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("page_token"), std::string::npos);

  const v1::LogHead after = Head(*stub);
  EXPECT_EQ(after.position(), head.position());
  EXPECT_EQ(after.hash(), head.hash());
}

// An action belongs to an officer who can update it: never to an unknown
// id, a scrutiny member, an admin or a disabled officer.
TEST(LedgerdTest, AnActionsOwnerIsAnEnabledOfficer) {
  LedgerdProcess ledgerd;
  auto stub = ledgerd.LedgerStub();
  SeedPlan(*stub);
  const v1::LogHead head = Head(*stub);
  v1::CommandResponse response;
  auto assign = [&](const std::string& owner) {
    v1::AssignOwnerRequest request;
    request.set_name(kAction);
    request.set_owner(owner);
    return stub->AssignOwner(Context(kAdminToken).get(), request, &response);
  };
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"jdoe", "\"jdoe\" is not a principal of this ledger"},
      {"cllr", "\"cllr\" is scrutiny, not an officer"},
      {"admin", "\"admin\" is admin, not an officer"},
  };
  for (const auto& [owner, reason] : refused) {
    grpc::Status s = assign(owner);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << owner;
    EXPECT_EQ(s.error_message().rfind("owner: " + reason, 0), 0u) << s.error_message();
  }
  v1::AddActionRequest add;
  add.set_parent("plans/oxford/recommendations/r1");
  add.set_action_id("a2");
  add.set_description("Agree terms of reference");
  add.set_owner("jdoe");
  grpc::Status s = stub->AddAction(Context(kAdminToken).get(), add, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("owner: \"jdoe\""), std::string::npos) << s.error_message();
  // An officer asking learns nothing about who exists.
  v1::AssignOwnerRequest by_officer;
  by_officer.set_name(kAction);
  by_officer.set_owner("jdoe");
  s = stub->AssignOwner(Context(kOfficerToken).get(), by_officer, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_EQ(Head(*stub).position(), head.position()) << "a refused owner appended something";
  ASSERT_TRUE(assign("akhan").ok());
  ASSERT_TRUE(assign("jsmith").ok());

  // Disabled in the principals file and reloaded: no longer an owner.
  std::string principals = testing::TestPrincipalsJson();
  const std::string akhan = "\"id\":\"akhan\",";
  ASSERT_NE(principals.find(akhan), std::string::npos);
  principals.replace(principals.find(akhan), akhan.size(), akhan + "\"disabled\":true,");
  std::ofstream(ledgerd.principals_path(), std::ios::trunc) << principals;
  ledgerd.Signal(SIGHUP);
  // The reload is asynchronous: poll until akhan's token is refused, bounded.
  v1::LogHead ignored;
  grpc::StatusCode code = grpc::StatusCode::OK;
  for (int i = 0; i < 100 && code == grpc::StatusCode::OK; ++i) {
    code = stub->GetLogHead(Context(kOtherOfficerToken).get(), {}, &ignored).error_code();
    if (code == grpc::StatusCode::OK) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(code, grpc::StatusCode::UNAUTHENTICATED);
  s = assign("akhan");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "owner: \"akhan\" is disabled and could not update the action");
}

TEST(LedgerdTest, ConcurrencyConflictIsAbortedWithActualVersion) {
  LedgerdProcess ledgerd;
  auto stub = ledgerd.LedgerStub();
  SeedPlan(*stub);
  // Two officers' screens both read version 1; the first write wins.
  v1::ChangeActionStatusRequest first;
  first.set_name(kAction);
  first.set_status(v1::ONGOING);
  first.set_expected_version(1);
  v1::CommandResponse response;
  ASSERT_TRUE(stub->ChangeActionStatus(Context(kOfficerToken).get(), first, &response).ok());
  v1::ChangeActionStatusRequest second = first;
  second.set_status(v1::COMPLETE);
  grpc::Status s = stub->ChangeActionStatus(Context(kAdminToken).get(), second, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_NE(s.error_message().find("is at version 2"), std::string::npos) << s.error_message();
}

TEST(LedgerdTest, IdempotentRetryReturnsFirstResult) {
  LedgerdProcess ledgerd;
  auto stub = ledgerd.LedgerStub();
  SeedPlan(*stub);
  v1::RecordUpdateRequest update;
  update.set_name(kAction);
  update.set_period(kPeriod);
  update.set_narrative("Board terms of reference agreed.");
  update.set_request_id("7d0c1c2e-retry");
  v1::CommandResponse first, second;
  ASSERT_TRUE(stub->RecordUpdate(Context(kOfficerToken).get(), update, &first).ok());
  ASSERT_TRUE(stub->RecordUpdate(Context(kOfficerToken).get(), update, &second).ok());
  EXPECT_FALSE(first.replayed());
  EXPECT_TRUE(second.replayed());
  EXPECT_EQ(first.position(), second.position());
  EXPECT_EQ(first.events(0).event_id(), second.events(0).event_id());
  EXPECT_EQ(Head(*stub).position(), first.position());
}

TEST(LedgerdTest, ExecuteCommandsIsAtomic) {
  LedgerdProcess ledgerd;
  auto stub = ledgerd.LedgerStub();
  SeedPlan(*stub);
  const uint64_t head = Head(*stub).position();
  v1::ExecuteCommandsRequest batch;
  *batch.add_commands() = testing::AddAction("plans/oxford/recommendations/r1", "a2", "March 2025");
  *batch.add_commands() = testing::AddAction("plans/oxford/recommendations/r1", "a2", "March 2025");
  v1::CommandResponse response;
  grpc::Status s = stub->ExecuteCommands(Context(kAdminToken).get(), batch, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(s.error_message().find("commands[1]"), std::string::npos);
  EXPECT_EQ(Head(*stub).position(), head);
  batch.mutable_commands()->RemoveLast();
  batch.set_request_id("batch-1");
  ASSERT_TRUE(stub->ExecuteCommands(Context(kAdminToken).get(), batch, &response).ok());
  EXPECT_EQ(response.position(), head + 1);
}

// validate_only decides a request as it would be decided, refusal or
// events, and appends nothing, consuming no request_id.
TEST(LedgerdTest, ValidateOnlyDecidesAndAppendsNothing) {
  LedgerdProcess ledgerd;
  auto stub = ledgerd.LedgerStub();
  SeedPlan(*stub);
  const uint64_t head = Head(*stub).position();
  v1::ExecuteCommandsRequest request;
  request.set_request_id("validate-1");
  request.set_validate_only(true);
  *request.add_commands() = testing::ChangeStatus(kAction, v1::ONGOING);
  *request.add_commands() = testing::RecordUpdate(kAction, kPeriod, "Board being set up");
  v1::CommandResponse would;
  grpc::Status s = stub->ExecuteCommands(Context(kOfficerToken).get(), request, &would);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(would.events_size(), 2);
  EXPECT_EQ(would.events(0).position(), head + 1);
  EXPECT_EQ(would.events(1).name(), absl::StrCat("events/", head + 2));
  EXPECT_EQ(would.position(), 0u);
  EXPECT_FALSE(would.replayed());
  EXPECT_EQ(Head(*stub).position(), head);

  // A refusal is the one the request would get.
  v1::ExecuteCommandsRequest refused = request;
  *refused.add_commands() = testing::ChangeStatus(kAction, v1::NOT_STARTED);
  v1::CommandResponse none;
  s = stub->ExecuteCommands(Context(kOfficerToken).get(), refused, &none);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("commands[2].status: cannot change from ONGOING to "
                                   "NOT_STARTED"),
            std::string::npos)
      << s.error_message();
  EXPECT_EQ(Head(*stub).position(), head);

  // Done for real, with the same request_id, it appends what was foretold;
  // validated again, it is the recorded answer.
  request.set_validate_only(false);
  v1::CommandResponse done;
  s = stub->ExecuteCommands(Context(kOfficerToken).get(), request, &done);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(done.replayed());
  ASSERT_EQ(done.events_size(), 2);
  EXPECT_EQ(done.events(1).position(), would.events(1).position());
  EXPECT_EQ(done.events(1).stream(), would.events(1).stream());
  request.set_validate_only(true);
  v1::CommandResponse again;
  ASSERT_TRUE(stub->ExecuteCommands(Context(kOfficerToken).get(), request, &again).ok());
  EXPECT_TRUE(again.replayed());
  EXPECT_EQ(Head(*stub).position(), head + 2);
}

TEST(LedgerdTest, RestartKeepsEventsVersionsAndHashChain) {
  testing::TempDir dir;
  const std::string data = dir.path() + "/data";
  std::vector<v1::LoggedEvent> before;
  v1::LogHead head_before;
  {
    LedgerdProcess ledgerd(data);
    auto stub = ledgerd.LedgerStub();
    SeedPlan(*stub);
    before = AllEvents(*stub);
    head_before = Head(*stub);
    EXPECT_EQ(ledgerd.Stop(), 0);
  }
  LedgerdProcess again(data);
  auto stub = again.LedgerStub();
  std::vector<v1::LoggedEvent> after = AllEvents(*stub);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].SerializeAsString(), before[i].SerializeAsString()) << i;
  }
  const v1::LogHead head_after = Head(*stub);
  EXPECT_EQ(head_after.position(), head_before.position());
  EXPECT_EQ(head_after.hash(), head_before.hash());
  // Versions carry on from where they were.
  v1::ChangeActionStatusRequest change;
  change.set_name(kAction);
  change.set_status(v1::ONGOING);
  change.set_expected_version(1);
  v1::CommandResponse response;
  ASSERT_TRUE(stub->ChangeActionStatus(Context(kOfficerToken).get(), change, &response).ok());
  EXPECT_EQ(response.events(0).version(), 2u);
  EXPECT_EQ(response.position(), head_before.position() + 1);
}

TEST(LedgerdTest, SecondLedgerdOnTheSameDataDirFailsAtOnce) {
  LedgerdProcess first;
  std::string principals = first.principals_path();
  testing::RunResult second = testing::RunCommand(
      LEDGERD_PATH,
      {"--data_dir", first.data_dir(), "--listen", "127.0.0.1:0", "--principals", principals});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("in use by another ledgerd"), std::string::npos) << second.err;
}

// A second ledgerd on a port in use is refused (not served beside the
// first, as SO_REUSEPORT would), as are a port out of range and an unknown
// read model; none of them leaves a data dir or a signing key behind.
TEST(LedgerdTest, MistakenStartsAreNamedAndLeaveNothingBehind) {
  LedgerdProcess first;
  testing::TempDir dir;
  const std::string data = dir.path() + "/new";
  auto start = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--data_dir", data, "--principals", first.principals_path()});
    testing::RunResult r = testing::RunCommand(LEDGERD_PATH, args);
    EXPECT_FALSE(std::filesystem::exists(data)) << r.err;
    EXPECT_FALSE(std::filesystem::exists(data + ".signing-key.pem")) << r.err;
    return r;
  };
  testing::RunResult same_port = start({"--listen", first.address()});
  EXPECT_EQ(same_port.exit_code, 1);
  EXPECT_NE(same_port.err.find(absl::StrCat("--listen: ", first.address(), " is in use")),
            std::string::npos)
      << same_port.err;
  testing::RunResult range = start({"--listen", "127.0.0.1:99999"});
  EXPECT_EQ(range.exit_code, 1);
  EXPECT_NE(range.err.find("has port 99999, which is not from 0 to 65535"), std::string::npos)
      << range.err;
  testing::RunResult no_port = start({"--listen", "localhost"});
  EXPECT_EQ(no_port.exit_code, 1);
  EXPECT_NE(no_port.err.find("is not HOST:PORT"), std::string::npos) << no_port.err;
  testing::RunResult model = start({"--listen", "127.0.0.1:0", "--rebuild", "currnet"});
  EXPECT_EQ(model.exit_code, 1);
  EXPECT_NE(model.err.find("--rebuild: no read model \"currnet\""), std::string::npos) << model.err;
  // A mistaken command line exits 2, naming the flag.
  testing::RunResult flag = start({"--bogus"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.err.find("--bogus"), std::string::npos) << flag.err;
  // The first is still the only one serving its port.
  EXPECT_EQ(Head(*first.LedgerStub()).position(), 0u);
  // And what it wrote is its user's alone.
  namespace fs = std::filesystem;
  EXPECT_EQ(fs::status(first.data_dir()).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(first.data_dir() + "/CURRENT").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST(LedgerdTest, MissingPrincipalsFileIsAClearError) {
  testing::TempDir dir;
  testing::RunResult r =
      testing::RunCommand(LEDGERD_PATH, {"--data_dir", dir.path() + "/d", "--listen", "127.0.0.1:0",
                                         "--principals", dir.path() + "/none.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot be read"), std::string::npos) << r.err;
}

TEST(LedgerdTest, SubscriptionCatchesUpThenStaysLive) {
  LedgerdProcess ledgerd;
  auto stub = ledgerd.LedgerStub();
  SeedPlan(*stub);
  grpc::ClientContext context;
  context.AddMetadata("authorization", std::string("Bearer ") + kScrutinyToken);
  v1::StreamEventsRequest request;
  request.set_start_position(2);
  auto reader = stub->StreamEvents(&context, request);
  std::vector<uint64_t> seen;
  v1::LoggedEvent event;
  for (int i = 0; i < 3 && reader->Read(&event); ++i) {
    seen.push_back(event.event().position());
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 3, 4}));
  // A live append arrives on the open stream.
  v1::ChangeActionStatusRequest change;
  change.set_name(kAction);
  change.set_status(v1::ONGOING);
  v1::CommandResponse response;
  ASSERT_TRUE(stub->ChangeActionStatus(Context(kOfficerToken).get(), change, &response).ok());
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.event().position(), 5u);
  EXPECT_EQ(event.event().status_changed().to(), v1::ONGOING);
  context.TryCancel();
}

TEST(LedgerdTest, GracefulShutdownEndsStreamsFinishesCallsAndExitsZero) {
  testing::TempDir dir;
  const std::string data = dir.path() + "/data";
  uint64_t acknowledged = 0;
  {
    LedgerdProcess ledgerd(data);
    auto stub = ledgerd.LedgerStub();
    SeedPlan(*stub);
    acknowledged = Head(*stub).position();
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kScrutinyToken);
    auto reader = stub->StreamEvents(&context, v1::StreamEventsRequest());
    v1::LoggedEvent event;
    for (uint64_t i = 0; i < acknowledged; ++i) ASSERT_TRUE(reader->Read(&event));
    // A query waiting for a position the log will never reach, with a
    // deadline far beyond the shutdown's grace.
    auto query = v1::QueryService::NewStub(ledgerd.Channel());
    grpc::Status waited;
    std::thread waiting([&] {
      v1::GetPlanRequest request;
      request.set_name("plans/oxford");
      request.set_min_position(acknowledged + 1000);
      v1::PlanView plan;
      waited = query->GetPlan(Context(kScrutinyToken, 120000).get(), request, &plan);
    });
    // Most often the waiting call has reached the server by the time this
    // one is answered; if not, the server refuses it as it shuts down.
    Head(*stub);
    const absl::Time terminated = absl::Now();
    ledgerd.Signal(SIGTERM);
    // The open subscription is ended by the server, not left hanging.
    while (reader->Read(&event)) {
    }
    grpc::Status finished = reader->Finish();
    EXPECT_EQ(finished.error_code(), grpc::StatusCode::UNAVAILABLE) << finished.error_message();
    // So is the waiting query (UNAVAILABLE if its wait had begun, CANCELLED
    // if the server had not yet started it), within the shutdown's grace
    // period of 10 s rather than at its own deadline.
    waiting.join();
    EXPECT_TRUE(waited.error_code() == grpc::StatusCode::UNAVAILABLE ||
                waited.error_code() == grpc::StatusCode::CANCELLED)
        << waited.error_code() << " " << waited.error_message();
    EXPECT_LT(absl::Now() - terminated, absl::Seconds(10));
    EXPECT_EQ(ledgerd.Stop(), 0);
    EXPECT_NE(ledgerd.Stderr().find("stopped cleanly"), std::string::npos);
  }
  LedgerdProcess again(data);
  auto stub = again.LedgerStub();
  EXPECT_EQ(Head(*stub).position(), acknowledged);
}

TEST(LedgerdTest, ServesHealthAndReflection) {
  LedgerdProcess ledgerd;
  auto health = grpc::health::v1::Health::NewStub(ledgerd.Channel());
  grpc::health::v1::HealthCheckResponse status;
  grpc::ClientContext context;
  ASSERT_TRUE(health->Check(&context, {}, &status).ok());
  EXPECT_EQ(status.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(ledgerd.Channel());
  grpc::ClientContext rcontext;
  auto stream = reflection->ServerReflectionInfo(&rcontext);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
  EXPECT_NE(std::find(names.begin(), names.end(), "auditledger.v1.LedgerService"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "grpc.health.v1.Health"), names.end());
  stream->Finish();
}

}  // namespace
}  // namespace auditledger
