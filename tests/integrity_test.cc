// Tamper evidence: a real ledgerd whose RocksDB is altered behind its back
// (one byte of one event changed, or one event deleted, through RocksDB's
// own API) must say so, naming the first bad position; published
// checkpoints stop verifying; Merkle proofs hold for honest logs only.
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "auditledger/v1/integrity_service.grpc.pb.h"
#include "auditledger/v1/query_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "ledger/integrity/checkpoint.h"
#include "ledger/merkle/merkle.h"
#include "ledger/store/event_log.h"
#include "ledger/store/sha256.h"
#include "rocksdb/db.h"
#include "tests/support/commands.h"
#include "tests/support/ledgerd_process.h"

namespace auditledger {
namespace {

using testing::Context;
using testing::kAdminToken;
using testing::kScrutinyToken;
using testing::LedgerdProcess;
using testing::RunResult;

constexpr char kAction[] = "plans/p/recommendations/r1/actions/a1";

// Opens the data dir with plain RocksDB and lets `edit` change the events
// column family.
void AlterEvents(const std::string& dir,
                 const std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle*)>& edit) {
  testing::EditDataDir(
      dir, [&](rocksdb::DB* db, const std::map<std::string, rocksdb::ColumnFamilyHandle*>& cfs) {
        ASSERT_TRUE(cfs.count("events"));
        edit(db, cfs.at("events"));
      });
}

class IntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void Start() {
    ledgerd_ = std::make_unique<LedgerdProcess>(data());
    ledger_ = ledgerd_->LedgerStub();
    integrity_ = v1::IntegrityService::NewStub(ledgerd_->Channel());
  }
  std::string data() const { return dir_.path() + "/data"; }

  // 20 events: a plan and an action with 16 narrative updates.
  void Seed() {
    v1::ExecuteCommandsRequest request;
    *request.add_commands() = testing::CreatePlan("p");
    *request.add_commands() = testing::AddRecommendation("p", "r1", 1);
    *request.add_commands() = testing::AddAction("plans/p/recommendations/r1", "a1");
    *request.add_commands() = testing::OpenPeriod("p", "q1", "Quarter 1");
    for (int i = 0; i < 16; ++i) {
      *request.add_commands() =
          testing::RecordUpdate(kAction, "plans/p/periods/q1", absl::StrCat("Update number ", i));
    }
    v1::CommandResponse response;
    ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response).ok());
    ASSERT_EQ(response.position(), 20u);
  }

  // `n` more narrative updates.
  void Append(int n) {
    v1::ExecuteCommandsRequest request;
    for (int i = 0; i < n; ++i) {
      *request.add_commands() =
          testing::RecordUpdate(kAction, "plans/p/periods/q1", absl::StrCat("More ", i));
    }
    v1::CommandResponse response;
    ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response).ok());
  }

  // Waits for the read models to reach `tree_size`.
  v1::InclusionProof Prove(uint64_t position, uint64_t tree_size) {
    v1::GetInclusionProofRequest request;
    request.set_event(absl::StrCat("events/", position));
    request.set_tree_size(tree_size);
    v1::InclusionProof proof;
    grpc::Status s = integrity_->GetInclusionProof(Context(kScrutinyToken).get(), request, &proof);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return proof;
  }

  RunResult Ctl(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--addr", ledgerd_->address(), "--timeout", "20"};
    all.insert(all.end(), args.begin(), args.end());
    return testing::RunCommand(
        LEDGERCTL_PATH, all, {std::string("LEDGER_TOKEN=") + kScrutinyToken, "HOME=/nonexistent"});
  }

  v1::VerifyLedgerResponse Verify(uint64_t tree_size = 0) {
    v1::VerifyLedgerRequest request;
    request.set_tree_size(tree_size);
    v1::VerifyLedgerResponse response;
    EXPECT_TRUE(integrity_->VerifyLedger(Context(kScrutinyToken).get(), request, &response).ok());
    return response;
  }

  testing::TempDir dir_;
  std::unique_ptr<LedgerdProcess> ledgerd_;
  std::unique_ptr<v1::LedgerService::Stub> ledger_;
  std::unique_ptr<v1::IntegrityService::Stub> integrity_;
};

TEST_F(IntegrityTest, HonestLedgerVerifiesAndProvesItsEvents) {
  Seed();
  v1::VerifyLedgerResponse ok = Verify(12);
  EXPECT_TRUE(ok.ok()) << ok.problem();
  EXPECT_EQ(ok.events_checked(), 20u);
  EXPECT_EQ(ok.streams_checked(), 4u);

  RunResult digest = Ctl({"digest"});
  ASSERT_EQ(digest.exit_code, 0) << digest.err;
  const std::string published(absl::StripAsciiWhitespace(digest.out));
  auto checkpoint = integrity::DecodeDigest(published);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_TRUE(integrity::VerifySignature(*checkpoint));
  EXPECT_EQ(checkpoint->tree_size(), 20u);
  EXPECT_EQ(checkpoint->root_hash(), ok.root_hash());
  // A forged field breaks the signature.
  v1::SignedCheckpoint forged = *checkpoint;
  forged.set_tree_size(19);
  EXPECT_FALSE(integrity::VerifySignature(forged));

  // More events later: the ledger still extends the published checkpoint.
  v1::ExecuteCommandsRequest more;
  *more.add_commands() = testing::RecordUpdate(kAction, "plans/p/periods/q1", "later");
  v1::CommandResponse response;
  ASSERT_TRUE(ledger_->ExecuteCommands(Context(kAdminToken).get(), more, &response).ok());
  RunResult verify = Ctl({"verify", "--against", published});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find("extends the digest of 20 events"), std::string::npos) << verify.out;
  for (int position : {1, 7, 20}) {
    RunResult prove = Ctl({"prove", absl::StrCat("events/", position), "--against", published});
    EXPECT_EQ(prove.exit_code, 0) << prove.err;
  }
  RunResult beyond = Ctl({"prove", "events/21", "--against", published});
  EXPECT_NE(beyond.exit_code, 0);

  // Consistency proofs, checked here as a client would.
  for (uint64_t old_size : {1u, 5u, 16u, 20u}) {
    v1::GetConsistencyProofRequest request;
    request.set_old_size(old_size);
    request.set_new_size(21);
    v1::ConsistencyProof proof;
    ASSERT_TRUE(
        integrity_->GetConsistencyProof(Context(kScrutinyToken).get(), request, &proof).ok());
    std::vector<std::string> path(proof.path().begin(), proof.path().end());
    EXPECT_TRUE(merkle::VerifyConsistency(old_size, 21, proof.old_root(), proof.new_root(), path));
    if (old_size == 20) {
      EXPECT_EQ(proof.old_root(), checkpoint->root_hash());
    }
  }

  // The same events under another signing key (as a restore without its
  // key gives): the digest's root still holds, and the key is what is said.
  ledgerd_->Stop();
  ledgerd_ = std::make_unique<LedgerdProcess>(
      data(), std::vector<std::string>{"--signing_key", dir_.path() + "/other-key.pem"});
  RunResult rekeyed = Ctl({"verify", "--against", published});
  EXPECT_EQ(rekeyed.exit_code, 8);
  EXPECT_NE(rekeyed.err.find("the ledger's first 20 events have the digest's Merkle root, but "
                             "ledgerd now signs with another key"),
            std::string::npos)
      << rekeyed.err;
}

TEST_F(IntegrityTest, ChangedByteIsFoundAndCheckpointsStopVerifying) {
  Seed();
  RunResult digest = Ctl({"digest"});
  ASSERT_EQ(digest.exit_code, 0);
  const std::string published(absl::StripAsciiWhitespace(digest.out));
  ASSERT_EQ(ledgerd_->Stop(), 0);

  // Rewrite "Update number 3" as "Update numbeR 3" in event 8's stored bytes.
  AlterEvents(data(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events) {
    std::string bytes;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), events, store::EncodePosition(8), &bytes).ok());
    size_t at = bytes.find("Update number 3");
    ASSERT_NE(at, std::string::npos);
    bytes[at + 11] = 'R';
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), events, store::EncodePosition(8), bytes).ok());
  });

  Start();
  EXPECT_NE(ledgerd_->Stderr().find("does not hold at position 8"), std::string::npos)
      << ledgerd_->Stderr();
  v1::VerifyLedgerResponse bad = Verify();
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.first_bad_position(), 8u);
  EXPECT_NE(bad.problem().find("between positions 8 and 9"), std::string::npos) << bad.problem();

  RunResult verify = Ctl({"verify"});
  EXPECT_EQ(verify.exit_code, 8);
  EXPECT_NE(verify.err.find("FAILED at position 8"), std::string::npos) << verify.err;
  RunResult against = Ctl({"verify", "--against", published});
  EXPECT_EQ(against.exit_code, 8);
  // The altered event is no longer proven to be in the published checkpoint,
  // nor is any event of its block of 8 (1-8): their proofs would hash the
  // block's events as the log holds them now, which no longer agree with
  // the tree, and ledgerd says so. An untouched one of another block still
  // is.
  RunResult altered = Ctl({"prove", "events/3", "--against", published});
  EXPECT_EQ(altered.exit_code, 8);
  EXPECT_NE(altered.err.find("events 1 to 8 no longer hash"), std::string::npos) << altered.err;
  EXPECT_EQ(Ctl({"prove", "events/8", "--against", published}).exit_code, 8);
  EXPECT_EQ(Ctl({"prove", "events/12", "--against", published}).exit_code, 0);
  // Nor does a damaged ledger sign a new checkpoint.
  RunResult resigned = Ctl({"digest"});
  EXPECT_NE(resigned.exit_code, 0);
  EXPECT_NE(resigned.err.find("signs no checkpoint"), std::string::npos) << resigned.err;
  // And it refuses to chain new events onto altered ones.
  v1::ExecuteCommandsRequest more;
  *more.add_commands() = testing::RecordUpdate(kAction, "plans/p/periods/q1", "more");
  v1::CommandResponse response;
  grpc::Status refused = ledger_->ExecuteCommands(Context(kAdminToken).get(), more, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_NE(refused.error_message().find("integrity check at position 8"), std::string::npos);
  // A report of it says so first, promises no same bytes again, and
  // ledgerctl exits as for failed verification.
  RunResult report = Ctl({"--plan", "p", "report", "--period", "q1"});
  EXPECT_EQ(report.exit_code, 8) << report.err;
  EXPECT_NE(report.out.find("**WARNING: This ledger failed its integrity check at position 8"),
            std::string::npos)
      << report.out.substr(0, 400);
  EXPECT_NE(report.err.find("WARNING: This ledger failed its integrity check"), std::string::npos)
      << report.err;
  // So does every other answer: the models were built from the log before
  // it was altered, and what they show is not to be taken as the record.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--plan", "p", "action", "list"}, {"--plan", "p", "changes"}, {"projections"}}) {
    RunResult answer = Ctl(args);
    EXPECT_EQ(answer.exit_code, 8) << args[args.size() - 1] << ": " << answer.err;
    EXPECT_NE(answer.err.find("WARNING: this ledger failed its integrity check at position 8"),
              std::string::npos)
        << answer.err;
    EXPECT_FALSE(answer.out.empty()) << "the answer is still shown";
  }
}

TEST_F(IntegrityTest, ProofsHoldAcrossBlocksAndARestartWithinOne) {
  Seed();
  Append(3);
  // The model reaches 23 events, 7 into a block of 8, and is flushed there by
  // the clean stop: on start it hashes those 7 again from the log, since the
  // next events pair with them.
  Prove(1, 23);
  ASSERT_EQ(ledgerd_->Stop(), 0);
  Start();
  Append(18);
  for (uint64_t size : {1u, 7u, 8u, 9u, 23u, 24u, 41u}) {
    const std::string root = Verify(size).root_at_size();  // from the log itself
    for (uint64_t position = 1; position <= size; ++position) {
      v1::InclusionProof proof = Prove(position, size);
      EXPECT_EQ(proof.root_hash(), root) << position << " in " << size;
      std::vector<std::string> path(proof.path().begin(), proof.path().end());
      EXPECT_TRUE(
          merkle::VerifyInclusion(merkle::LeafHash(store::EventLog::HashOf(proof.event_bytes())),
                                  position - 1, size, path, root))
          << position << " in " << size;
    }
  }
  for (auto [old_size, new_size] :
       std::vector<std::pair<uint64_t, uint64_t>>{{7, 23}, {8, 41}, {23, 24}, {23, 41}}) {
    v1::GetConsistencyProofRequest request;
    request.set_old_size(old_size);
    request.set_new_size(new_size);
    v1::ConsistencyProof proof;
    ASSERT_TRUE(
        integrity_->GetConsistencyProof(Context(kScrutinyToken).get(), request, &proof).ok());
    EXPECT_EQ(proof.old_root(), Verify(old_size).root_at_size());
    EXPECT_EQ(proof.new_root(), Verify(new_size).root_at_size());
    std::vector<std::string> path(proof.path().begin(), proof.path().end());
    EXPECT_TRUE(
        merkle::VerifyConsistency(old_size, new_size, proof.old_root(), proof.new_root(), path))
        << old_size << " to " << new_size;
  }

  // The model resumed within a block is the one a rebuild from the log makes.
  auto query = v1::QueryService::NewStub(ledgerd_->Channel());
  auto merkle_digest = [&] {
    v1::ListProjectionsResponse list;
    EXPECT_TRUE(query->ListProjections(Context(kScrutinyToken).get(), {}, &list).ok());
    for (const auto& p : list.projections()) {
      if (p.name() == "merkle") return p.digest();
    }
    return std::string();
  };
  const std::string resumed = merkle_digest();
  ASSERT_FALSE(resumed.empty());
  v1::RebuildProjectionRequest rebuild;
  rebuild.set_name("merkle");
  rebuild.set_wait(true);
  v1::ProjectionStatus status;
  ASSERT_TRUE(query->RebuildProjection(Context(kAdminToken).get(), rebuild, &status).ok());
  EXPECT_EQ(merkle_digest(), resumed);
}

TEST_F(IntegrityTest, DeletedEventIsFound) {
  Seed();
  const std::string published(absl::StripAsciiWhitespace(Ctl({"digest"}).out));
  ASSERT_EQ(ledgerd_->Stop(), 0);
  AlterEvents(data(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), events, store::EncodePosition(11)).ok());
  });
  Start();
  v1::VerifyLedgerResponse bad = Verify();
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.first_bad_position(), 11u);
  EXPECT_NE(bad.problem().find("position 11 is missing"), std::string::npos) << bad.problem();
  EXPECT_EQ(Ctl({"verify", "--against", published}).exit_code, 8);
}

// Events lost from the end of the log (with their stream index) leave no
// gap, but the read models applied them: verification says so, and writes,
// which would reuse their positions, are refused.
TEST_F(IntegrityTest, EventsLostFromTheEndAreFoundAndRefuseWrites) {
  Seed();
  ASSERT_FALSE(absl::StripAsciiWhitespace(Ctl({"digest"}).out).empty());  // the models reach 20
  ASSERT_EQ(ledgerd_->Stop(), 0);
  testing::EditDataDir(data(), [](rocksdb::DB* db,
                                  const std::map<std::string, rocksdb::ColumnFamilyHandle*>& cfs) {
    // Events 18 to 20: the action's versions 15 to 17.
    for (uint64_t position = 18; position <= 20; ++position) {
      ASSERT_TRUE(
          db->Delete(rocksdb::WriteOptions(), cfs.at("events"), store::EncodePosition(position))
              .ok());
      const std::string index = std::string(kAction) + '\0' + store::EncodePosition(position - 3);
      ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cfs.at("streams"), index).ok());
    }
  });
  Start();
  v1::VerifyLedgerResponse bad = Verify();
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.first_bad_position(), 18u);
  EXPECT_NE(bad.problem().find("has applied events up to position 20, but the log ends at 17"),
            std::string::npos)
      << bad.problem();
  EXPECT_EQ(Ctl({"verify"}).exit_code, 8);
  v1::ExecuteCommandsRequest request;
  *request.add_commands() = testing::RecordUpdate(kAction, "plans/p/periods/q1", "After the loss");
  v1::CommandResponse response;
  grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << s.error_message();
  EXPECT_NE(s.error_message().find("integrity check at position 18"), std::string::npos)
      << s.error_message();
}

// A stored block that fails its checksum (a byte of the file changed, not
// through RocksDB) does not keep ledgerd from starting: it serves what it
// can read, verification names the damage, and writes are refused.
TEST_F(IntegrityTest, AnUnreadableBlockOpensDamagedAndVerifyNamesIt) {
  Seed();
  ASSERT_EQ(ledgerd_->Stop(), 0);
  std::string file;
  testing::EditDataDir(
      data(), [&](rocksdb::DB* db, const std::map<std::string, rocksdb::ColumnFamilyHandle*>& cfs) {
        ASSERT_TRUE(db->Flush(rocksdb::FlushOptions(), cfs.at("events")).ok());
        std::vector<rocksdb::LiveFileMetaData> files;
        db->GetLiveFilesMetaData(&files);
        for (const auto& f : files) {
          if (f.column_family_name == "events") file = f.db_path + f.name;
        }
      });
  ASSERT_FALSE(file.empty());
  {
    // A byte of the first data block, which holds the first events.
    std::fstream sst(file, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(sst.good()) << file;
    sst.seekg(40);
    char byte = 0;
    sst.get(byte);
    sst.seekp(40);
    sst.put(static_cast<char>(byte ^ 0x5a));
  }
  Start();
  v1::VerifyLedgerResponse bad = Verify();
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.first_bad_position(), 1u);
  EXPECT_NE(bad.problem().find("cannot be read"), std::string::npos) << bad.problem();
  EXPECT_EQ(Ctl({"verify"}).exit_code, 8);
  v1::ExecuteCommandsRequest request;
  *request.add_commands() = testing::RecordUpdate(kAction, "plans/p/periods/q1", "After it");
  v1::CommandResponse response;
  grpc::Status s = ledger_->ExecuteCommands(Context(kAdminToken).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << s.error_message();
  // A query that must read the damaged block says it is damaged (exit 8),
  // not that ledgerd is unavailable, which a retry would mend.
  RunResult timeline = Ctl({"--plan", "p", "action", "timeline", "r1/a1"});
  EXPECT_EQ(timeline.exit_code, 8) << timeline.err;
  EXPECT_NE(timeline.err.find("stored data is damaged"), std::string::npos) << timeline.err;
  EXPECT_EQ(timeline.err.find("unavailable"), std::string::npos) << timeline.err;
}

// A read model altered where it is stored, with checksums that match (as a
// tool that rewrites a record gives): the log holds, but the model answers
// what the log does not say. verify builds each model again and finds it.
TEST_F(IntegrityTest, AnAlteredReadModelIsFoundByVerify) {
  Seed();
  RunResult honest = Ctl({"verify"});
  ASSERT_EQ(honest.exit_code, 0) << honest.err;
  EXPECT_NE(honest.out.find("read model current is what the log gives at position 20"),
            std::string::npos)
      << honest.out;
  EXPECT_NE(honest.out.find("read model merkle is what the log gives at position 20"),
            std::string::npos)
      << honest.out;
  ASSERT_EQ(ledgerd_->Stop(), 0);
  bool altered = false;
  testing::EditDataDir(
      data(), [&](rocksdb::DB* db, const std::map<std::string, rocksdb::ColumnFamilyHandle*>& cfs) {
        rocksdb::ColumnFamilyHandle* current = cfs.at("projection.current");
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), current));
        for (it->SeekToFirst(); it->Valid() && !altered; it->Next()) {
          std::string value = it->value().ToString();
          const size_t at = value.find("Update number 15");
          if (at == std::string::npos) continue;
          value[at] = 'u';
          ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), current, it->key(), value).ok());
          altered = true;
        }
      });
  ASSERT_TRUE(altered);
  Start();
  // The model serves the altered text, and the log's own checks hold.
  RunResult shown = Ctl({"--plan", "p", "action", "show", "r1/a1", "-o", "json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("update number 15"), std::string::npos) << shown.out;
  EXPECT_EQ(Ctl({"verify", "--log-only"}).exit_code, 0);
  RunResult verify = Ctl({"verify"});
  EXPECT_EQ(verify.exit_code, 8) << verify.out;
  EXPECT_NE(verify.err.find("read model current is not what the log gives at position 20"),
            std::string::npos)
      << verify.err;
  EXPECT_NE(verify.err.find("ledgerctl rebuild current"), std::string::npos) << verify.err;
  // Built again from the log, it is what the log gives.
  auto query = v1::QueryService::NewStub(ledgerd_->Channel());
  v1::RebuildProjectionRequest rebuild;
  rebuild.set_name("current");
  v1::ProjectionStatus rebuilt;
  grpc::Status s = query->RebuildProjection(Context(kAdminToken, 30000).get(), rebuild, &rebuilt);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Ctl({"verify"}).exit_code, 0);
}

TEST_F(IntegrityTest, ForgedDigestIsRefused) {
  Seed();
  auto checkpoint = integrity::DecodeDigest(absl::StripAsciiWhitespace(Ctl({"digest"}).out));
  ASSERT_TRUE(checkpoint.ok());
  checkpoint->set_root_hash(std::string(32, 'x'));
  RunResult r = Ctl({"verify", "--against", integrity::EncodeDigest(*checkpoint)});
  EXPECT_EQ(r.exit_code, 8);
  EXPECT_NE(r.err.find("signature does not verify"), std::string::npos) << r.err;
  EXPECT_EQ(Ctl({"verify", "--against", "not-a-digest"}).exit_code, 2);
}

}  // namespace
}  // namespace auditledger
