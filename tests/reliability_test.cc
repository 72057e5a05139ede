// Nothing acknowledged is ever lost: a real ledgerd killed with SIGKILL at
// random moments under concurrent load, again and again (Jepsen's "set"
// check on our own process); SIGTERM under load; online backup and restore.
//
// CRASH_SEED=<n> replays a run; CRASH_CYCLES=<n> runs longer (default 20).
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "auditledger/v1/admin_service.grpc.pb.h"
#include "auditledger/v1/integrity_service.grpc.pb.h"
#include "auditledger/v1/query_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/support/commands.h"
#include "tests/support/ledgerd_process.h"

namespace auditledger {
namespace {

using testing::Context;
using testing::kAdminToken;
using testing::kScrutinyToken;
using testing::LedgerdProcess;

constexpr int kActions = 8;
constexpr int kClients = 4;

std::string ActionName(int i) { return absl::StrCat("plans/p/recommendations/r1/actions/a", i); }

v1::Command Update(int action, const std::string& text) {
  return testing::RecordUpdate(ActionName(action), "plans/p/periods/q1", text);
}

struct Sent {
  int action;
  std::string text;
};

class Cluster {
 public:
  explicit Cluster(std::string data) : data_(std::move(data)) {}
  void Start(std::vector<std::string> args = {}) {
    ledgerd_ = std::make_unique<LedgerdProcess>(data_, std::move(args));
    channel_ = ledgerd_->Channel();
  }
  LedgerdProcess& ledgerd() { return *ledgerd_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  void Reset() { ledgerd_.reset(); }

 private:
  std::string data_;
  std::unique_ptr<LedgerdProcess> ledgerd_;
  std::shared_ptr<grpc::Channel> channel_;
};

grpc::Status Send(v1::LedgerService::Stub& stub, const std::string& rid, const Sent& sent,
                  v1::CommandResponse* response) {
  v1::ExecuteCommandsRequest request;
  *request.add_commands() = Update(sent.action, sent.text);
  request.set_request_id(rid);
  return stub.ExecuteCommands(Context(kAdminToken, 5000).get(), request, response);
}

// Every request id in the log with how often it appears, and checks the
// positions are gapless.
std::map<std::string, int> ReadLog(v1::LedgerService::Stub& stub, uint64_t* head) {
  std::map<std::string, int> seen;
  v1::ListEventsRequest request;
  request.set_page_size(1000);
  uint64_t expected = 1;
  for (int pages = 0; pages < 100000; ++pages) {
    v1::ListEventsResponse response;
    grpc::Status s = stub.ListEvents(Context(kScrutinyToken).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) break;
    for (const auto& e : response.events()) {
      EXPECT_EQ(e.event().position(), expected) << "a gap in the log";
      expected = e.event().position() + 1;
      if (!e.event().request_id().empty()) seen[e.event().request_id()]++;
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  *head = expected - 1;
  return seen;
}

std::map<std::string, std::string> Digests(std::shared_ptr<grpc::Channel> channel, uint64_t head) {
  auto query = v1::QueryService::NewStub(channel);
  v1::GetPlanRequest wait;
  wait.set_name("plans/p");
  wait.set_min_position(head);
  v1::PlanView plan;
  EXPECT_TRUE(query->GetPlan(Context(kScrutinyToken, 60000).get(), wait, &plan).ok());
  v1::ListProjectionsResponse list;
  EXPECT_TRUE(query->ListProjections(Context(kScrutinyToken).get(), {}, &list).ok());
  std::map<std::string, std::string> out;
  for (const auto& p : list.projections()) {
    EXPECT_EQ(p.position(), head) << p.name();
    out[p.name()] = p.digest();
  }
  return out;
}

TEST(ReliabilityTest, CrashLoopLosesNothingAcknowledged) {
  const char* seed_env = std::getenv("CRASH_SEED");
  const uint64_t seed = seed_env ? std::strtoull(seed_env, nullptr, 10) : std::random_device{}();
  const char* cycles_env = std::getenv("CRASH_CYCLES");
  const int cycles = cycles_env ? std::atoi(cycles_env) : 20;
  std::printf(
      "crash loop: seed %llu, %d cycles (replay: CRASH_SEED=%llu CRASH_CYCLES=%d "
      "tests/reliability_test --gtest_filter=*CrashLoop*)\n",
      static_cast<unsigned long long>(seed), cycles, static_cast<unsigned long long>(seed), cycles);
  SCOPED_TRACE(absl::StrCat("CRASH_SEED=", seed, " CRASH_CYCLES=", cycles));
  std::mt19937_64 rng(seed);

  testing::TempDir dir;
  Cluster cluster(dir.path() + "/data");
  cluster.Start();
  {
    auto stub = v1::LedgerService::NewStub(cluster.channel());
    v1::ExecuteCommandsRequest seed_plan;
    *seed_plan.add_commands() = testing::CreatePlan("p");
    *seed_plan.add_commands() = testing::AddRecommendation("p", "r1", 1);
    for (int i = 0; i < kActions; ++i) {
      *seed_plan.add_commands() =
          testing::AddAction("plans/p/recommendations/r1", absl::StrCat("a", i));
    }
    *seed_plan.add_commands() = testing::OpenPeriod("p", "q1", "Q1");
    v1::CommandResponse r;
    ASSERT_TRUE(stub->ExecuteCommands(Context(kAdminToken).get(), seed_plan, &r).ok());
  }

  std::map<std::string, Sent> acknowledged;  // request id -> command
  std::map<std::string, Sent> in_flight;     // sent, no answer seen
  uint64_t total_acks = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    SCOPED_TRACE(absl::StrCat("cycle ", cycle));
    if (cycle > 0) cluster.Start();
    auto stub = v1::LedgerService::NewStub(cluster.channel());

    // Retry what was in flight at the kill: each applies exactly once.
    for (const auto& [rid, sent] : in_flight) {
      v1::CommandResponse response;
      grpc::Status s = Send(*stub, rid, sent, &response);
      ASSERT_TRUE(s.ok()) << rid << ": " << s.error_message();
      acknowledged[rid] = sent;
    }
    in_flight.clear();

    uint64_t head = 0;
    std::map<std::string, int> seen = ReadLog(*stub, &head);
    for (const auto& [rid, sent] : acknowledged) {
      ASSERT_EQ(seen[rid], 1) << "acknowledged " << rid << " appears " << seen[rid] << " times";
    }
    for (const auto& [rid, n] : seen) ASSERT_EQ(n, 1) << rid << " applied twice";
    auto integrity = v1::IntegrityService::NewStub(cluster.channel());
    v1::VerifyLedgerResponse verified;
    ASSERT_TRUE(integrity->VerifyLedger(Context(kScrutinyToken, 60000).get(), {}, &verified).ok());
    ASSERT_TRUE(verified.ok()) << verified.problem();
    if (cycle % 5 == 4 || cycle == cycles - 1) {
      // Projections resumed from their checkpoints equal a rebuild.
      auto resumed = Digests(cluster.channel(), head);
      auto query = v1::QueryService::NewStub(cluster.channel());
      v1::RebuildProjectionRequest rebuild;
      rebuild.set_name("all");
      rebuild.set_wait(true);
      v1::ProjectionStatus status;
      ASSERT_TRUE(
          query->RebuildProjection(Context(kAdminToken, 60000).get(), rebuild, &status).ok());
      ASSERT_EQ(Digests(cluster.channel(), head), resumed);
    }
    if (cycle == cycles - 1) break;

    // Concurrent clients; the kill comes after a random number of acks.
    const uint64_t kill_after = total_acks + 5 + rng() % 60;
    std::mutex mu;
    std::atomic<bool> killed{false};
    std::vector<std::thread> clients;
    const uint64_t client_seed = rng();
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        auto client_stub = v1::LedgerService::NewStub(cluster.channel());
        std::mt19937_64 local(client_seed + c);
        for (int i = 0; i < 10000 && !killed; ++i) {
          const std::string rid = absl::StrCat("c", cycle, "-", c, "-", i);
          Sent sent{static_cast<int>(local() % kActions), absl::StrCat("note ", rid)};
          {
            std::lock_guard<std::mutex> lock(mu);
            in_flight[rid] = sent;
          }
          v1::CommandResponse response;
          grpc::Status s = Send(*client_stub, rid, sent, &response);
          if (!s.ok()) break;  // the server is gone
          std::lock_guard<std::mutex> lock(mu);
          in_flight.erase(rid);
          acknowledged[rid] = sent;
          if (++total_acks >= kill_after && !killed.exchange(true)) {
            cluster.ledgerd().Kill();
          }
        }
      });
    }
    for (auto& t : clients) t.join();
    if (!killed) cluster.ledgerd().Kill();
    cluster.Reset();
  }
  EXPECT_GT(acknowledged.size(), static_cast<size_t>(cycles));
}

TEST(ReliabilityTest, SigtermUnderLoadLosesNothingAcknowledged) {
  testing::TempDir dir;
  Cluster cluster(dir.path() + "/data");
  cluster.Start();
  auto stub = v1::LedgerService::NewStub(cluster.channel());
  v1::ExecuteCommandsRequest seed_plan;
  *seed_plan.add_commands() = testing::CreatePlan("p");
  *seed_plan.add_commands() = testing::AddRecommendation("p", "r1", 1);
  *seed_plan.add_commands() = testing::AddAction("plans/p/recommendations/r1", "a0");
  *seed_plan.add_commands() = testing::OpenPeriod("p", "q1", "Q1");
  v1::CommandResponse r;
  ASSERT_TRUE(stub->ExecuteCommands(Context(kAdminToken).get(), seed_plan, &r).ok());
  std::mutex mu;
  std::set<std::string> acknowledged;
  std::atomic<int> acks{0};
  std::atomic<bool> stopped{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto client_stub = v1::LedgerService::NewStub(cluster.channel());
      for (int i = 0; i < 100000; ++i) {
        const std::string rid = absl::StrCat("t", c, "-", i);
        v1::CommandResponse response;
        if (!Send(*client_stub, rid, Sent{0, rid}, &response).ok()) break;
        std::lock_guard<std::mutex> lock(mu);
        acknowledged.insert(rid);
        if (++acks == 50 && !stopped.exchange(true)) cluster.ledgerd().Signal(SIGTERM);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(cluster.ledgerd().Stop(), 0) << "SIGTERM must end in a clean exit";
  cluster.Reset();
  cluster.Start();
  auto again = v1::LedgerService::NewStub(cluster.channel());
  uint64_t head = 0;
  std::map<std::string, int> seen = ReadLog(*again, &head);
  for (const std::string& rid : acknowledged) EXPECT_EQ(seen[rid], 1) << rid;
}

TEST(ReliabilityTest, OnlineBackupRestoresToTheSameLedger) {
  testing::TempDir dir;
  Cluster cluster(dir.path() + "/data");
  cluster.Start();
  auto stub = v1::LedgerService::NewStub(cluster.channel());
  v1::ExecuteCommandsRequest seed_plan;
  *seed_plan.add_commands() = testing::CreatePlan("p");
  *seed_plan.add_commands() = testing::AddRecommendation("p", "r1", 1);
  *seed_plan.add_commands() = testing::AddAction("plans/p/recommendations/r1", "a0");
  *seed_plan.add_commands() = testing::OpenPeriod("p", "q1", "Q1");
  v1::CommandResponse r;
  ASSERT_TRUE(stub->ExecuteCommands(Context(kAdminToken).get(), seed_plan, &r).ok());

  // Commands keep flowing while the backup is taken.
  std::atomic<bool> done{false};
  std::thread writer([&] {
    auto writer_stub = v1::LedgerService::NewStub(cluster.channel());
    for (int i = 0; i < 400 && !done; ++i) {
      v1::CommandResponse response;
      ASSERT_TRUE(
          Send(*writer_stub, absl::StrCat("w", i), Sent{0, absl::StrCat("w", i)}, &response).ok());
    }
  });
  auto admin = v1::AdminService::NewStub(cluster.channel());
  v1::CreateBackupRequest request;
  request.set_backup_id("during-load");
  v1::Backup backup;
  grpc::Status s = admin->CreateBackup(Context(kAdminToken, 60000).get(), request, &backup);
  done = true;
  writer.join();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GE(backup.position(), 4u);
  v1::CreateBackupRequest again;
  again.set_backup_id("during-load");
  EXPECT_EQ(admin->CreateBackup(Context(kAdminToken).get(), again, &backup).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  v1::Backup officer;
  again.set_backup_id("x");
  EXPECT_EQ(
      admin->CreateBackup(Context(testing::kOfficerToken).get(), again, &officer).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);

  // The backup holds the signing key: a copy of it taken elsewhere is
  // restored signing as the original did.
  ASSERT_TRUE(std::filesystem::exists(backup.path() + "/signing-key.pem"));
  const std::string offsite = dir.path() + "/offsite";
  std::filesystem::copy(backup.path(), offsite, std::filesystem::copy_options::recursive);
  // Restore into a new data dir and compare with the original up to the
  // backup's position.
  Cluster restored(dir.path() + "/restored");
  restored.Start({"--restore", offsite});
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/restored/signing-key.pem"));
  auto signed_by = [](std::shared_ptr<grpc::Channel> channel) {
    v1::SignedCheckpoint checkpoint;
    EXPECT_TRUE(v1::IntegrityService::NewStub(channel)
                    ->GetCheckpoint(Context(kScrutinyToken).get(), {}, &checkpoint)
                    .ok());
    return checkpoint.public_key();
  };
  EXPECT_EQ(signed_by(restored.channel()), signed_by(cluster.channel()));
  auto restored_stub = v1::LedgerService::NewStub(restored.channel());
  v1::LogHead head;
  ASSERT_TRUE(restored_stub->GetLogHead(Context(kScrutinyToken).get(), {}, &head).ok());
  EXPECT_EQ(head.position(), backup.position());
  EXPECT_EQ(head.hash(), backup.head_hash());
  auto integrity = v1::IntegrityService::NewStub(restored.channel());
  v1::VerifyLedgerResponse verified;
  ASSERT_TRUE(integrity->VerifyLedger(Context(kScrutinyToken).get(), {}, &verified).ok());
  EXPECT_TRUE(verified.ok()) << verified.problem();
  v1::ListEventsRequest list;
  list.set_page_size(1000);
  v1::ListEventsResponse original_events, restored_events;
  ASSERT_TRUE(stub->ListEvents(Context(kScrutinyToken).get(), list, &original_events).ok());
  ASSERT_TRUE(
      restored_stub->ListEvents(Context(kScrutinyToken).get(), list, &restored_events).ok());
  ASSERT_EQ(static_cast<uint64_t>(restored_events.events_size()), backup.position());
  for (int i = 0; i < restored_events.events_size(); ++i) {
    EXPECT_EQ(restored_events.events(i).SerializeAsString(),
              original_events.events(i).SerializeAsString());
  }
  // The same answers as the original gave at that position.
  auto as_of = [&](std::shared_ptr<grpc::Channel> channel) {
    auto query = v1::QueryService::NewStub(channel);
    v1::GetPlanAsOfRequest request;
    request.set_name("plans/p");
    *request.mutable_time() =
        restored_events.events(restored_events.events_size() - 1).event().recorded_at();
    request.set_clock(v1::RECORDED);
    request.set_min_position(backup.position());
    v1::PlanSnapshot snapshot;
    EXPECT_TRUE(query->GetPlanAsOf(Context(kScrutinyToken, 30000).get(), request, &snapshot).ok());
    return snapshot.SerializeAsString();
  };
  EXPECT_EQ(as_of(restored.channel()), as_of(cluster.channel()));

  // Restoring over an existing ledger is refused.
  testing::RunResult over = testing::RunCommand(
      LEDGERD_PATH, {"--data_dir", dir.path() + "/data", "--restore", backup.path(), "--principals",
                     cluster.ledgerd().principals_path()});
  EXPECT_EQ(over.exit_code, 1);
  EXPECT_NE(over.err.find("refusing to overwrite"), std::string::npos) << over.err;
  // So is the data dir of a running ledgerd, which would be copied
  // mid-write; nothing is left of the attempt.
  testing::RunResult live =
      testing::RunCommand(LEDGERD_PATH, {"--data_dir", dir.path() + "/from-live", "--restore",
                                         dir.path() + "/data", "--listen", "127.0.0.1:0",
                                         "--principals", cluster.ledgerd().principals_path()});
  EXPECT_EQ(live.exit_code, 1);
  EXPECT_NE(live.err.find("is the data dir of a running ledgerd"), std::string::npos) << live.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/from-live"));
}

}  // namespace
}  // namespace auditledger
