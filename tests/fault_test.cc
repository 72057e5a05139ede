// Faults inside the storage, injected under a real RocksDB: failed syncs,
// power cuts that drop unsynced data, a full disk, a read-only file system,
// and a writer stuck in a sync. What was acknowledged must survive; what
// was not must never have been acknowledged; the log must stay a
// consistent prefix.
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ledger/engine/ledger.h"
#include "ledger/integrity/verify_log.h"
#include "tests/support/commands.h"
#include "tests/support/fault_fs.h"
#include "tests/support/ledgerd_process.h"

namespace auditledger {
namespace {

const domain::Principal kAdmin{"admin", "Admin", v1::ADMIN};
constexpr char kAction[] = "plans/p/recommendations/r1/actions/a1";

class FaultTest : public ::testing::Test {
 protected:
  void Open(rocksdb::Env* env, engine::LedgerOptions options = {}) {
    store::LogOptions log_options;
    log_options.env = env;
    auto log = store::EventLog::Open(db_path_, log_options);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    auto ledger = engine::Ledger::Open(log_.get(), options);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    ledger_ = *std::move(ledger);
  }
  void Close() {
    ledger_.reset();
    log_.reset();
  }
  absl::StatusOr<v1::CommandResponse> Run(v1::Command command, const std::string& rid = "") {
    std::vector<v1::Command> commands;
    commands.push_back(std::move(command));
    return ledger_->Execute(kAdmin, std::move(commands), rid);
  }
  void Seed() {
    for (v1::Command c : {testing::CreatePlan("p"), testing::AddRecommendation("p", "r1", 1),
                          testing::AddAction("plans/p/recommendations/r1", "a1"),
                          testing::OpenPeriod("p", "q1", "Q1")}) {
      ASSERT_TRUE(Run(c).ok());
    }
  }
  v1::Command Update(int i) {
    return testing::RecordUpdate(kAction, "plans/p/periods/q1", absl::StrCat("update ", i));
  }
  // Reopens without faults and checks the log holds every acknowledged
  // position and verifies.
  void ExpectIntactWith(uint64_t acknowledged) {
    Close();
    Open(nullptr);
    auto verified = integrity::VerifyLog(*log_, 0);
    ASSERT_TRUE(verified.ok());
    EXPECT_TRUE(verified->ok()) << verified->problem();
    EXPECT_GE(log_->head_position(), acknowledged) << "an acknowledged event was lost";
  }

  testing::TempDir dir_;
  std::string db_path_ = dir_.path() + "/db";
  testing::FaultFs fs_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<engine::Ledger> ledger_;
};

TEST_F(FaultTest, FailedSyncIsNeverAcknowledgedAndStopsWrites) {
  for (int n = 1; n <= 6; ++n) {
    for (bool sticky : {false, true}) {
      SCOPED_TRACE(absl::StrCat("sync ", n, sticky ? " and after" : " once"));
      db_path_ = absl::StrCat(dir_.path(), "/db-", n, sticky ? "-sticky" : "-once");
      Open(fs_.env());
      Seed();
      fs_.FailSync(n, sticky);
      uint64_t acknowledged = log_->head_position();
      int failed_at = 0;
      for (int i = 0; i < 10; ++i) {
        auto r = Run(Update(i));
        if (r.ok()) {
          ASSERT_EQ(failed_at, 0) << "acknowledged after a failed write";
          acknowledged = r->position();
        } else {
          EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
          if (failed_at == 0) {
            failed_at = i + 1;
            EXPECT_NE(r.status().message().find("could not make the write durable"),
                      std::string::npos)
                << r.status();
          } else {
            EXPECT_NE(r.status().message().find("stopped accepting writes"), std::string::npos)
                << r.status();
          }
        }
      }
      EXPECT_EQ(failed_at, n);
      fs_.FailSync(0, false);
      Close();
      fs_.DropUnsynced();  // the power goes
      ExpectIntactWith(acknowledged);
      // And the ledger takes writes again after the restart.
      EXPECT_TRUE(Run(Update(99)).ok());
      Close();
    }
  }
}

TEST_F(FaultTest, DiskFullIsAClearErrorAndRecoversOnceSpaceReturns) {
  Open(fs_.env());
  Seed();
  const uint64_t acknowledged = log_->head_position();
  fs_.SetDiskFull(true);
  auto full = Run(Update(1));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(full.status().message().find("No space left"), std::string::npos) << full.status();
  fs_.SetDiskFull(false);
  Close();
  ExpectIntactWith(acknowledged);
  EXPECT_TRUE(Run(Update(2)).ok());
}

TEST_F(FaultTest, ReadOnlyDataDirIsAClearError) {
  Open(nullptr);
  Seed();
  Close();
  fs_.SetReadOnly(true);
  store::LogOptions options;
  options.env = fs_.env();
  auto refused = store::EventLog::Open(db_path_, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("read-only file system"), std::string::npos)
      << refused.status();
  fs_.SetReadOnly(false);
  ExpectIntactWith(4);
}

TEST_F(FaultTest, FullWriteQueueAnswersResourceExhausted) {
  engine::LedgerOptions options;
  options.queue_capacity = 3;
  options.max_group = 1;
  Open(fs_.env(), options);
  Seed();
  fs_.HoldSyncs();
  std::vector<std::thread> waiting;
  std::atomic<int> ok{0};
  // One request in the stuck writer, three in the queue.
  waiting.emplace_back([&] { ok += Run(Update(0)).ok(); });
  fs_.WaitUntilHeld(1);
  for (int i = 1; i <= 3; ++i) waiting.emplace_back([&, i] { ok += Run(Update(i)).ok(); });
  for (int spins = 0; ledger_->queued() < 3 && spins < 10'000'000; ++spins) {
    std::this_thread::yield();
  }
  ASSERT_EQ(ledger_->queued(), 3u);
  auto refused = Run(Update(4));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("queue is full"), std::string::npos);
  fs_.Release();
  for (auto& t : waiting) t.join();
  EXPECT_EQ(ok.load(), 4);
}

}  // namespace
}  // namespace auditledger
