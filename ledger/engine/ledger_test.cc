// The command path end to end below gRPC: domain rules decided by the
// writer against a real RocksDB log in a temp dir.
#include "ledger/engine/ledger.h"

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ledger/store/sha256.h"
#include "tests/support/commands.h"
#include "tests/support/ledgerd_process.h"

namespace auditledger::engine {
namespace {

using ::auditledger::testing::AddAction;
using ::auditledger::testing::AddRecommendation;
using ::auditledger::testing::AmendDescription;
using ::auditledger::testing::AssignOwner;
using ::auditledger::testing::ChangeStatus;
using ::auditledger::testing::ClosePeriod;
using ::auditledger::testing::CorrectNarrative;
using ::auditledger::testing::CreatePlan;
using ::auditledger::testing::OpenPeriod;
using ::auditledger::testing::RecordUpdate;
using ::auditledger::testing::ReviseTarget;

const domain::Principal kAdmin{"admin", "Admin", v1::ADMIN};
const domain::Principal kOfficer{"jsmith", "J Smith", v1::OFFICER};
const domain::Principal kOther{"akhan", "A Khan", v1::OFFICER};

constexpr char kRec[] = "plans/p/recommendations/r1";
constexpr char kAction[] = "plans/p/recommendations/r1/actions/a1";
constexpr char kPeriod[] = "plans/p/periods/oct-2024";

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    auto log = store::EventLog::Open(dir_.path() + "/db", store::LogOptions{});
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    auto ledger = Ledger::Open(log_.get(), LedgerOptions{});
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    ledger_ = *std::move(ledger);
  }
  void Reopen() {
    ledger_.reset();
    log_.reset();
    Open();
  }

  absl::StatusOr<v1::CommandResponse> Run(const domain::Principal& who, v1::Command command,
                                          const std::string& request_id = "") {
    std::vector<v1::Command> commands;
    commands.push_back(std::move(command));
    return ledger_->Execute(who, std::move(commands), request_id);
  }

  void MustRun(const domain::Principal& who, v1::Command command) {
    auto result = Run(who, std::move(command));
    ASSERT_TRUE(result.ok()) << result.status();
  }

  // A plan with one recommendation, one action owned by jsmith, one open
  // period.
  void Seed() {
    MustRun(kAdmin, CreatePlan("p"));
    MustRun(kAdmin, AddRecommendation("p", "r1", 1));
    MustRun(kAdmin, AddAction(kRec, "a1", "December 2024", "jsmith"));
    MustRun(kAdmin, OpenPeriod("p", "oct-2024", "October 2024 & final update"));
  }

  // Expects `command` to fail with `code` and a message containing `text`,
  // and the log to be unchanged.
  void ExpectRejected(const domain::Principal& who, v1::Command command, absl::StatusCode code,
                      const std::string& text) {
    const uint64_t head = log_->head_position();
    auto result = Run(who, std::move(command));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), code) << result.status();
    EXPECT_NE(result.status().message().find(text), std::string::npos) << result.status();
    EXPECT_EQ(log_->head_position(), head) << "a rejected command appended";
  }

  testing::TempDir dir_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LedgerTest, AppendsEventsWithGaplessPositionsAndStreamVersions) {
  Seed();
  MustRun(kOfficer, ChangeStatus(kAction, v1::ONGOING));
  MustRun(kOfficer, RecordUpdate(kAction, kPeriod, "Work has started."));
  EXPECT_EQ(log_->head_position(), 6u);
  std::vector<store::LoggedEvent> events;
  ASSERT_TRUE(log_->ReadStream(kAction, 1, 100, &events).ok());
  ASSERT_EQ(events.size(), 3u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].event().version(), i + 1);
  }
  EXPECT_EQ(events[1].event().status_changed().from(), v1::NOT_STARTED);
  EXPECT_EQ(events[1].event().status_changed().to(), v1::ONGOING);
  EXPECT_EQ(events[1].event().actor().id(), "jsmith");
  EXPECT_EQ(events[1].event().actor().role(), v1::OFFICER);
}

TEST_F(LedgerTest, HashChainLinksEveryEventToTheStoredBytesOfThePrevious) {
  Seed();
  std::vector<store::LoggedEvent> events;
  ASSERT_TRUE(log_->ReadRange(1, 100, &events).ok());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].event().previous_hash(), store::EventLog::ZeroHash());
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].event().previous_hash(), events[i - 1].hash());
    EXPECT_EQ(events[i].event().position(), i + 1);
  }
  EXPECT_EQ(log_->head_hash(), events.back().hash());
}

// A narrative a period already has, recorded again, changes nothing and is
// refused, as a status set to what it is; so is the text of a correction
// that set it. Known again after a restart.
TEST_F(LedgerTest, ANarrativeThePeriodHasAlreadyIsRefused) {
  Seed();
  MustRun(kOfficer, RecordUpdate(kAction, kPeriod, "Work has started."));  // 5
  ExpectRejected(kOfficer, RecordUpdate(kAction, kPeriod, "Work has started."),
                 absl::StatusCode::kFailedPrecondition,
                 "narrative: plans/p/recommendations/r1/actions/a1 already has this narrative "
                 "for plans/p/periods/oct-2024 (events/5); nothing to record");
  MustRun(kOfficer, RecordUpdate(kAction, kPeriod, "Work has started!"));  // 6
  MustRun(kOfficer, CorrectNarrative(5, "Work began.", "typo"));  // an older one: no change now
  MustRun(kOfficer, RecordUpdate(kAction, kPeriod, "Work has started."));  // 8
  MustRun(kOfficer, CorrectNarrative(8, "Work began in May.", "date"));    // 9
  Reopen();
  ExpectRejected(kOfficer, RecordUpdate(kAction, kPeriod, "Work began in May."),
                 absl::StatusCode::kFailedPrecondition, "(events/9); nothing to record");
  MustRun(kOfficer, RecordUpdate(kAction, kPeriod, "Work has started."));
  // Another period may say the same.
  MustRun(kAdmin, OpenPeriod("p", "jan-2025", "January 2025"));
  MustRun(kOfficer, RecordUpdate(kAction, "plans/p/periods/jan-2025", "Work has started."));
}

TEST_F(LedgerTest, ReasonRequiredToPauseStopReopenReviseAndAmend) {
  Seed();
  ExpectRejected(kOfficer, ChangeStatus(kAction, v1::PAUSED), absl::StatusCode::kInvalidArgument,
                 "reason: required to pause");
  ExpectRejected(kOfficer, ChangeStatus(kAction, v1::STOPPED), absl::StatusCode::kInvalidArgument,
                 "reason: required to stop");
  ExpectRejected(kOfficer, ReviseTarget(kAction, "March 2025"), absl::StatusCode::kInvalidArgument,
                 "reason: required to revise a target date");
  ExpectRejected(kOfficer, AmendDescription(kAction, "New words"),
                 absl::StatusCode::kInvalidArgument, "reason: required to amend a description");
  MustRun(kOfficer, ChangeStatus(kAction, v1::COMPLETE));
  ExpectRejected(kOfficer, ChangeStatus(kAction, v1::ONGOING), absl::StatusCode::kInvalidArgument,
                 "reason: required to reopen a COMPLETE action");
  MustRun(kOfficer, ChangeStatus(kAction, v1::ONGOING, "Board asked again"));
  MustRun(kOfficer, ChangeStatus(kAction, v1::PAUSED, "Awaiting funds"));
  MustRun(kOfficer, ReviseTarget(kAction, "March 2025 (IPS)", "Funding delay"));
  MustRun(kOfficer, AmendDescription(kAction, "Clearer words", "Typo"));
}

TEST_F(LedgerTest, InvalidTransitionsNameFromAndTo) {
  Seed();
  ExpectRejected(kOfficer, ChangeStatus(kAction, v1::NOT_STARTED),
                 absl::StatusCode::kFailedPrecondition, "from NOT_STARTED to NOT_STARTED");
  MustRun(kOfficer, ChangeStatus(kAction, v1::COMPLETE));
  ExpectRejected(kOfficer, ChangeStatus(kAction, v1::PAUSED, "why"),
                 absl::StatusCode::kFailedPrecondition, "from COMPLETE to PAUSED");
}

TEST_F(LedgerTest, StoppedActionChangesOnlyByReopeningWithReason) {
  Seed();
  MustRun(kOfficer, ChangeStatus(kAction, v1::STOPPED, "No longer needed"));
  ExpectRejected(kOfficer, RecordUpdate(kAction, kPeriod, "text"),
                 absl::StatusCode::kFailedPrecondition, "is STOPPED");
  ExpectRejected(kOfficer, ReviseTarget(kAction, "May 2025", "why"),
                 absl::StatusCode::kFailedPrecondition, "is STOPPED");
  ExpectRejected(kOfficer, AmendDescription(kAction, "x", "why"),
                 absl::StatusCode::kFailedPrecondition, "is STOPPED");
  ExpectRejected(kAdmin, AssignOwner(kAction, "akhan"), absl::StatusCode::kFailedPrecondition,
                 "is STOPPED");
  ExpectRejected(kOfficer, ChangeStatus(kAction, v1::COMPLETE),
                 absl::StatusCode::kFailedPrecondition, "from STOPPED to COMPLETE");
  ExpectRejected(kOfficer, ChangeStatus(kAction, v1::ONGOING), absl::StatusCode::kInvalidArgument,
                 "reason: required to reopen a STOPPED action");
  MustRun(kOfficer, ChangeStatus(kAction, v1::ONGOING, "Funding restored"));
  MustRun(kOfficer, RecordUpdate(kAction, kPeriod, "Back on track"));
}

TEST_F(LedgerTest, NoUpdateIntoAClosedPeriod) {
  Seed();
  MustRun(kAdmin, ClosePeriod(kPeriod));
  ExpectRejected(kOfficer, RecordUpdate(kAction, kPeriod, "late"),
                 absl::StatusCode::kFailedPrecondition, "is closed");
  ExpectRejected(kAdmin, ClosePeriod(kPeriod), absl::StatusCode::kFailedPrecondition,
                 "already closed");
  ExpectRejected(kAdmin, OpenPeriod("p", "oct-2024", "again"), absl::StatusCode::kAlreadyExists,
                 "never reopened");
  ExpectRejected(kOfficer, RecordUpdate(kAction, "plans/p/periods/nope", "text"),
                 absl::StatusCode::kNotFound, "period: reporting period");
}

TEST_F(LedgerTest, IdsUniqueWithinTheirParent) {
  Seed();
  ExpectRejected(kAdmin, CreatePlan("p"), absl::StatusCode::kAlreadyExists, "plan_id");
  ExpectRejected(kAdmin, AddRecommendation("p", "r1", 2), absl::StatusCode::kAlreadyExists,
                 "recommendation_id");
  ExpectRejected(kAdmin, AddAction(kRec, "a1"), absl::StatusCode::kAlreadyExists, "action_id");
  // The same id under another parent is a different action.
  MustRun(kAdmin, AddRecommendation("p", "r2", 2));
  MustRun(kAdmin, AddAction("plans/p/recommendations/r2", "a1"));
}

TEST_F(LedgerTest, UnknownResourcesAreNotFound) {
  Seed();
  ExpectRejected(kAdmin, AddRecommendation("nope", "r1", 1), absl::StatusCode::kNotFound,
                 "parent: plan plans/nope");
  ExpectRejected(kAdmin, AddAction("plans/p/recommendations/r9", "a1"), absl::StatusCode::kNotFound,
                 "parent: recommendation");
  ExpectRejected(kAdmin, ChangeStatus("plans/p/recommendations/r1/actions/zz", v1::ONGOING),
                 absl::StatusCode::kNotFound, "name: action");
}

TEST_F(LedgerTest, BadInputIsInvalidArgumentNamingTheField) {
  Seed();
  ExpectRejected(kAdmin, AddAction(kRec, "a2", "Decembr 2024"), absl::StatusCode::kInvalidArgument,
                 "target_date");
  ExpectRejected(kAdmin, AddAction(kRec, "Bad Id"), absl::StatusCode::kInvalidArgument,
                 "action_id");
  ExpectRejected(kOfficer, RecordUpdate(kAction, kPeriod, ""), absl::StatusCode::kInvalidArgument,
                 "narrative: required");
  ExpectRejected(kOfficer, RecordUpdate(kAction, kPeriod, std::string(16 * 1024 + 1, 'x')),
                 absl::StatusCode::kInvalidArgument, "narrative: too long");
  ExpectRejected(kOfficer, RecordUpdate(kAction, kPeriod, "bell\x07"),
                 absl::StatusCode::kInvalidArgument, "control character");
  ExpectRejected(kOfficer, ChangeStatus("plans/p/actions/a1", v1::ONGOING),
                 absl::StatusCode::kInvalidArgument, "name:");
  v1::Command future = ChangeStatus(kAction, v1::ONGOING);
  future.mutable_change_action_status()->mutable_effective_time()->set_seconds(
      absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
  ExpectRejected(kOfficer, future, absl::StatusCode::kInvalidArgument,
                 "effective_time: is in the future");
}

TEST_F(LedgerTest, EffectiveTimeKeptAndRecordedTimeFromServer) {
  // Entered afterwards: the plan and its action existed from November 2023.
  constexpr int64_t kNovember2023 = 1698796800;
  v1::Command plan = CreatePlan("p");
  plan.mutable_create_plan()->mutable_effective_time()->set_seconds(kNovember2023);
  MustRun(kAdmin, plan);
  v1::Command rec = AddRecommendation("p", "r1", 1);
  rec.mutable_add_recommendation()->mutable_effective_time()->set_seconds(kNovember2023);
  MustRun(kAdmin, rec);
  v1::Command action = AddAction(kRec, "a1", "December 2024", "jsmith");
  action.mutable_add_action()->mutable_effective_time()->set_seconds(kNovember2023);
  MustRun(kAdmin, action);
  v1::Command back = ChangeStatus(kAction, v1::ONGOING);
  back.mutable_change_action_status()->mutable_effective_time()->set_seconds(
      1701388800);  // 2023-12-01
  back.mutable_change_action_status()->mutable_effective_time()->set_nanos(123456789);
  const absl::Time before = absl::Now();
  auto result = Run(kOfficer, back);
  ASSERT_TRUE(result.ok()) << result.status();
  auto logged = log_->Read(result->position());
  ASSERT_TRUE(logged.ok());
  EXPECT_EQ(logged->event().effective_at().seconds(), 1701388800);
  EXPECT_EQ(logged->event().effective_at().nanos(), 123456000);  // microseconds
  EXPECT_GE(logged->event().recorded_at().seconds(), absl::ToUnixSeconds(before));
  EXPECT_EQ(logged->event().recorded_at().nanos() % 1000, 0);
}

TEST_F(LedgerTest, OfficersChangeOnlyTheActionsTheyOwn) {
  Seed();
  ExpectRejected(kOther, ChangeStatus(kAction, v1::ONGOING), absl::StatusCode::kPermissionDenied,
                 "owned by jsmith");
  ExpectRejected(kOfficer, AssignOwner(kAction, "akhan"), absl::StatusCode::kPermissionDenied,
                 "only an admin");
  ExpectRejected(kOfficer, OpenPeriod("p", "x", "X"), absl::StatusCode::kPermissionDenied,
                 "only an admin");
  MustRun(kAdmin, AssignOwner(kAction, "akhan"));
  MustRun(kOther, ChangeStatus(kAction, v1::ONGOING));
  ExpectRejected(kOfficer, ChangeStatus(kAction, v1::COMPLETE), absl::StatusCode::kPermissionDenied,
                 "owned by akhan");
}

TEST_F(LedgerTest, ExpectedVersionMismatchIsAbortedWithTheActualVersion) {
  Seed();
  v1::Command stale = ChangeStatus(kAction, v1::ONGOING);
  stale.mutable_change_action_status()->set_expected_version(7);
  ExpectRejected(kOfficer, stale, absl::StatusCode::kAborted,
                 "is at version 1, not the expected 7");
  stale.mutable_change_action_status()->set_expected_version(1);
  MustRun(kOfficer, stale);
}

TEST_F(LedgerTest, RetryWithSameRequestIdReturnsFirstResultAndAppendsNothing) {
  Seed();
  auto first = Run(kOfficer, ChangeStatus(kAction, v1::ONGOING), "req-1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed());
  const uint64_t head = log_->head_position();
  auto again = Run(kOfficer, ChangeStatus(kAction, v1::ONGOING), "req-1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  EXPECT_EQ(again->position(), first->position());
  EXPECT_EQ(again->events(0).event_id(), first->events(0).event_id());
  EXPECT_EQ(log_->head_position(), head);
  // Survives a restart.
  Reopen();
  auto after = Run(kOfficer, ChangeStatus(kAction, v1::ONGOING), "req-1");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->replayed());
  EXPECT_EQ(log_->head_position(), head);
}

// A request's record keeps its fingerprint and where its events are; a
// retry's answer is built again from the log, field for field the first.
TEST_F(LedgerTest, ARetryOfABatchIsAnsweredFromItsEventsAndOldRecordsStillAnswer) {
  Seed();
  auto batch = [] {
    std::vector<v1::Command> commands;
    commands.push_back(ChangeStatus(kAction, v1::ONGOING));
    commands.push_back(RecordUpdate(kAction, kPeriod, "Board being set up"));
    // After the plan began (today), so the first answer has no warning
    // either: a replayed one has none.
    commands.push_back(ReviseTarget(kAction, "March 2099", "Partner delays"));
    return commands;
  };
  auto first = ledger_->Execute(kOfficer, batch(), "req-batch");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->events_size(), 3);
  const std::string key = absl::StrCat(kOfficer.id, std::string(1, '\0'), "req-batch");
  auto record = log_->GetRequest(key);
  ASSERT_TRUE(record.ok()) << record.status();
  ASSERT_TRUE(record->has_value());
  // The fingerprint, a zero byte, two varints: not the answer's 3 events.
  EXPECT_LE((*record)->size(), store::kHashBytes + 1 + 2 * 10);
  Reopen();
  auto again = ledger_->Execute(kOfficer, batch(), "req-batch");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  v1::CommandResponse expected = *first;
  expected.set_replayed(true);
  EXPECT_EQ(again->SerializeAsString(), expected.SerializeAsString());

  // A record as a ledgerd before the compact ones wrote it: the fingerprint
  // and the whole answer.
  store::EventLog::Batch put = log_->NewBatch();
  put.PutRequest(key, (*record)->substr(0, store::kHashBytes) + first->SerializeAsString());
  ASSERT_TRUE(log_->Commit(put).ok());
  const uint64_t head = log_->head_position();
  auto old = ledger_->Execute(kOfficer, batch(), "req-batch");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->SerializeAsString(), expected.SerializeAsString());
  EXPECT_EQ(log_->head_position(), head);

  // A record that decodes as neither, names events the log does not hold
  // or another caller's, or is empty, is damage, named as such; it answers
  // nothing and appends nothing.
  auto varints = [](uint64_t first, uint64_t count) {
    std::string out(1, '\0');
    for (uint64_t v : {first, count}) {
      while (v >= 0x80) {
        out.push_back(static_cast<char>(v | 0x80));
        v >>= 7;
      }
      out.push_back(static_cast<char>(v));
    }
    return out;
  };
  const std::string fingerprint = (*record)->substr(0, store::kHashBytes);
  for (const auto& [tail, why] : std::vector<std::pair<std::string, std::string>>{
           {std::string("\0\x05", 2), "does not decode"},
           {varints(head + 1, 3), "which the log does not hold"},
           {varints(head, 3), "which the log does not hold"},
           {varints(UINT64_MAX - 1, 3), "which the log does not hold"},
           {varints(1, 3), "which jsmith did not make"},
           {"", "is empty"}}) {
    store::EventLog::Batch bad = log_->NewBatch();
    bad.PutRequest(key, fingerprint + tail);
    ASSERT_TRUE(log_->Commit(bad).ok());
    auto damaged = ledger_->Execute(kOfficer, batch(), "req-batch");
    ASSERT_FALSE(damaged.ok()) << why;
    EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss) << damaged.status();
    EXPECT_NE(damaged.status().message().find(why), std::string::npos) << damaged.status();
    EXPECT_EQ(log_->head_position(), head);
  }
}

TEST_F(LedgerTest, ReusedRequestIdForDifferentRequestIsRefused) {
  Seed();
  ASSERT_TRUE(Run(kOfficer, ChangeStatus(kAction, v1::ONGOING), "req-9").ok());
  const uint64_t head = log_->head_position();
  auto other = Run(kOfficer, ChangeStatus(kAction, v1::COMPLETE), "req-9");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log_->head_position(), head);
  // Request ids are per caller: another principal's "req-9" is its own.
  MustRun(kAdmin, AddAction(kRec, "a2"));
}

TEST_F(LedgerTest, BatchIsAtomic) {
  Seed();
  std::vector<v1::Command> batch;
  batch.push_back(AddAction(kRec, "a2", "", "jsmith"));
  batch.push_back(ChangeStatus("plans/p/recommendations/r1/actions/a2", v1::ONGOING));
  batch.push_back(ChangeStatus(kAction, v1::PAUSED));  // no reason: fails
  const uint64_t head = log_->head_position();
  auto result = ledger_->Execute(kAdmin, batch, "");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("commands[2].reason"), std::string::npos)
      << result.status();
  EXPECT_EQ(log_->head_position(), head);
  // A refusal that names no field names the command alone.
  auto refused = ledger_->Execute(
      kOfficer, {ChangeStatus(kAction, v1::ONGOING), AddAction(kRec, "a3", "", "jsmith")}, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::StartsWith(refused.status().message(), "commands[1]: jsmith (officer)"))
      << refused.status();
  // The write model was not touched by the failed batch either.
  batch.pop_back();
  auto ok = ledger_->Execute(kAdmin, batch, "");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->events_size(), 2);
  EXPECT_EQ(ok->position(), head + 2);
}

TEST_F(LedgerTest, CorrectionNamesTheCorrectedEvent) {
  Seed();
  auto update = Run(kOfficer, RecordUpdate(kAction, kPeriod, "Wrong text"));
  ASSERT_TRUE(update.ok());
  ExpectRejected(kOfficer, CorrectNarrative(update->position(), "Right", ""),
                 absl::StatusCode::kInvalidArgument, "reason: required");
  ExpectRejected(kOfficer, CorrectNarrative(1, "Right", "typo"),
                 absl::StatusCode::kFailedPrecondition, "cannot be corrected");
  ExpectRejected(kOfficer, CorrectNarrative(999, "Right", "typo"), absl::StatusCode::kNotFound,
                 "events/999");
  auto fixed = Run(kOfficer, CorrectNarrative(update->position(), "Right text", "typo"));
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  auto logged = log_->Read(fixed->position());
  ASSERT_TRUE(logged.ok());
  EXPECT_EQ(logged->event().event_corrected().corrected_position(), update->position());
  EXPECT_EQ(logged->event().stream(), kAction);
  // The corrected event is untouched.
  auto original = log_->Read(update->position());
  EXPECT_EQ(original->event().update_recorded().narrative(), "Wrong text");
}

// A correction must change what its event says now; back to what it first
// said is a change once it was corrected.
TEST_F(LedgerTest, ACorrectionThatChangesNothingIsRefused) {
  Seed();
  MustRun(kOfficer, RecordUpdate(kAction, kPeriod, "Board met"));           // 5
  MustRun(kOfficer, ChangeStatus(kAction, v1::ONGOING));                    // 6
  MustRun(kOfficer, ReviseTarget(kAction, "March 2025", "Partner delay"));  // 7
  auto correct = [](uint64_t position, auto set) {
    v1::Command c;
    c.mutable_correct_event()->set_event("events/" + std::to_string(position));
    c.mutable_correct_event()->set_reason("fix");
    set(*c.mutable_correct_event());
    return c;
  };
  auto target = [&](const char* date) {
    return correct(7, [date](v1::CorrectEventRequest& r) { r.set_target_date(date); });
  };
  ExpectRejected(kOfficer, CorrectNarrative(5, "Board met", "fix"),
                 absl::StatusCode::kFailedPrecondition,
                 "narrative: events/5 already says this; nothing to correct");
  MustRun(kOfficer, CorrectNarrative(5, "The board met", "fix"));  // 8
  ExpectRejected(kOfficer, CorrectNarrative(5, "The board met", "again"),
                 absl::StatusCode::kFailedPrecondition, "events/5 already says this");
  MustRun(kOfficer, CorrectNarrative(5, "Board met", "the first was right"));
  ExpectRejected(kOfficer,
                 correct(6, [](v1::CorrectEventRequest& r) { r.set_status(v1::ONGOING); }),
                 absl::StatusCode::kFailedPrecondition, "status: events/6 already says this");
  ExpectRejected(kOfficer, target("March 2025"), absl::StatusCode::kFailedPrecondition,
                 "target_date: events/7 already says this");
  MustRun(kOfficer, target("April 2025"));
  ExpectRejected(kOfficer, target("April 2025"), absl::StatusCode::kFailedPrecondition,
                 "events/7 already says this");
  MustRun(kOfficer, target("March 2025"));  // back to what it first said
  // An older event, no longer what the action says now, may be corrected.
  MustRun(kOfficer, ReviseTarget(kAction, "June 2025", "Another delay"));
  MustRun(kOfficer, target("May 2025"));
  Reopen();  // the same, from the log
  ExpectRejected(kOfficer, CorrectNarrative(5, "Board met", "again"),
                 absl::StatusCode::kFailedPrecondition, "events/5 already says this");
}

TEST_F(LedgerTest, StateAndChainSurviveRestart) {
  Seed();
  MustRun(kOfficer, ChangeStatus(kAction, v1::COMPLETE));
  const std::string hash = log_->head_hash();
  Reopen();
  EXPECT_EQ(log_->head_position(), 5u);
  EXPECT_EQ(log_->head_hash(), hash);
  EXPECT_EQ(ledger_->chain_break_at_open(), 0u);
  // The write model was rebuilt: COMPLETE -> PAUSED is still refused.
  ExpectRejected(kOfficer, ChangeStatus(kAction, v1::PAUSED, "x"),
                 absl::StatusCode::kFailedPrecondition, "from COMPLETE to PAUSED");
}

// A stored event that decodes and chains but carries no change (something
// wrote it other than the writer) is damage: found at open, writes refused.
TEST_F(LedgerTest, StoredEventWithoutPayloadIsDamageAtOpen) {
  Seed();
  ledger_.reset();  // the writer's batch is the only one open at a time
  store::EventLog::Batch batch = log_->NewBatch();
  v1::Event empty;
  empty.set_stream(kAction);
  empty.set_version(3);
  batch.Add(std::move(empty));
  ASSERT_TRUE(log_->Commit(batch).ok());
  Reopen();
  EXPECT_EQ(ledger_->chain_break_at_open(), 5u);
  auto refused = Run(kOfficer, ChangeStatus(kAction, v1::COMPLETE));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss) << refused.status();
  EXPECT_EQ(log_->head_position(), 5u);
}

TEST_F(LedgerTest, ConcurrentCommandsShareSyncsAndStayGapless) {
  Seed();
  constexpr int kThreads = 16;
  constexpr int kPerThread = 20;
  for (int t = 0; t < kThreads; ++t) {
    MustRun(kAdmin, AddAction(kRec, absl::StrCat("c", t), "", "jsmith"));
  }
  const uint64_t start = log_->head_position();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string name = absl::StrCat(kRec, "/actions/c", t);
      for (int i = 0; i < kPerThread; ++i) {
        auto r = Run(kOfficer, RecordUpdate(name, kPeriod, absl::StrCat("n", i)));
        if (!r.ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(log_->head_position(), start + kThreads * kPerThread);
  std::vector<store::LoggedEvent> events;
  ASSERT_TRUE(log_->ReadRange(1, 100000, &events).ok());
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].event().position(), i + 1);
    if (i > 0) {
      ASSERT_EQ(events[i].event().previous_hash(), events[i - 1].hash());
    }
  }
}

TEST_F(LedgerTest, HeaderDecodeAgreesWithTheFullDecodeAndRefusesTheSameBytes) {
  Seed();
  MustRun(kOfficer, RecordUpdate(kAction, kPeriod, "Work has started."));
  std::vector<store::EventLog::StoredEvent> stored;
  ASSERT_TRUE(log_->ReadStoredRange(1, 100, 1 << 20, &stored).ok());
  ASSERT_EQ(stored.size(), 5u);
  store::LoggedEvent full;
  store::LoggedEvent header;
  for (const store::EventLog::StoredEvent& e : stored) {
    ASSERT_TRUE(log_->DecodeInto(e, /*with_hash=*/true, &full).ok());
    // `header` still holds the last full decode: nothing of it may remain.
    ASSERT_TRUE(log_->DecodeInto(e, /*with_hash=*/false, &header).ok());
    ASSERT_TRUE(log_->DecodeHeaderInto(e, /*with_hash=*/true, &header).ok());
    EXPECT_EQ(header.event().position(), e.position);
    EXPECT_EQ(header.event().position(), full.event().position());
    EXPECT_EQ(header.event().format(), full.event().format());
    EXPECT_EQ(header.hash(), full.hash());
    EXPECT_TRUE(header.event().stream().empty());
    EXPECT_FALSE(header.event().has_recorded_at());
  }

  // What a full decode refuses, the header decode refuses too.
  const store::EventLog::StoredEvent& last = stored.back();
  v1::Event newer;
  ASSERT_TRUE(newer.ParseFromString(last.bytes));
  newer.set_format(static_cast<v1::EventFormat>(v1::EVENT_FORMAT_V1 + 1));
  const std::vector<store::EventLog::StoredEvent> bad = {
      {last.position, last.bytes.substr(0, last.bytes.size() - 3)},  // cut in a field
      {last.position, last.bytes + std::string("\x0f", 1)},          // wire type 7
      {last.position, newer.SerializeAsString()},
  };
  for (const store::EventLog::StoredEvent& e : bad) {
    absl::Status whole = log_->DecodeInto(e, true, &full);
    absl::Status part = log_->DecodeHeaderInto(e, true, &header);
    EXPECT_EQ(whole.code(), absl::StatusCode::kDataLoss) << whole;
    EXPECT_EQ(part.code(), absl::StatusCode::kDataLoss) << part;
  }
}

}  // namespace
}  // namespace auditledger::engine
