#include "projections/blocks.h"

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "tests/support/ledgerd_process.h"

namespace auditledger::projections {
namespace {

// A real RocksDB in a temp dir; each step is one write batch, as the
// projection runner commits them.
class BlocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir_.path() + "/db", &db).ok());
    db_.reset(db);
  }

  // Adds `entries` to the lists in one step of `lists`.
  void Step(BlockLists& lists, const std::vector<std::pair<std::string, BlockEntry>>& entries) {
    rocksdb::WriteBatch batch;
    ProjectionTxn txn(db_.get(), db_->DefaultColumnFamily(), &batch);
    for (const auto& [prefix, entry] : entries) {
      absl::Status s = lists.Add(txn, prefix, entry);
      ASSERT_TRUE(s.ok()) << s;
    }
    lists.Flush(txn);
    ASSERT_TRUE(db_->Write(rocksdb::WriteOptions(), &batch).ok());
  }

  // Every entry of the list under `prefix` from (time, position) on.
  std::vector<BlockEntry> Read(const std::string& prefix, uint64_t time, uint64_t position) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    BlockCursor cursor(it.get(), prefix);
    std::vector<BlockEntry> out;
    absl::Status s = cursor.Seek(time, position);
    for (size_t n = 0; s.ok() && cursor.Valid() && n < 100000; ++n, s = cursor.Next()) {
      out.push_back(cursor.entry());
    }
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  size_t Keys(const std::string& prefix) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    size_t n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
};

bool Same(const std::vector<BlockEntry>& a, const std::vector<BlockEntry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].time != b[i].time || a[i].position != b[i].position || a[i].dated != b[i].dated) {
      return false;
    }
  }
  return true;
}

TEST_F(BlocksTest, ListsReadBackFromAnyEntryAcrossStepsAndRestarts) {
  // Two lists interleaved, in steps of varying size, with a writer started
  // afresh (as after a restart) partway, when a block is half full; and
  // with a writer that may hold one list only, so it reads the other's
  // last block back from the model at every step.
  for (size_t max_lists : {size_t{1000}, size_t{1}}) {
    SCOPED_TRACE(max_lists);
    const std::string tag(1, static_cast<char>('0' + (max_lists == 1)));
    std::mt19937_64 rng(7);
    std::map<std::string, std::vector<BlockEntry>> want;
    auto lists = std::make_unique<BlockLists>(max_lists);
    uint64_t time = 1'000'000;
    uint64_t position = 0;
    for (int step = 0; step < 60; ++step) {
      if (step == 37) lists = std::make_unique<BlockLists>(max_lists);
      std::vector<std::pair<std::string, BlockEntry>> entries;
      const int n = 1 + static_cast<int>(rng() % 30);
      for (int i = 0; i < n; ++i) {
        time += rng() % 3;  // ties on the time, never back
        position += 1 + rng() % 2;
        const std::string prefix = rng() % 3 == 0 ? "a" + tag : "t" + tag;
        BlockEntry entry{time, position, rng() % 5 == 0};
        entries.emplace_back(prefix, entry);
        want[prefix].push_back(entry);
      }
      Step(*lists, entries);
    }
    for (const auto& [prefix, entries] : want) {
      ASSERT_GT(entries.size(), 2 * kBlockEntries);
      EXPECT_EQ(Keys(prefix), (entries.size() + kBlockEntries - 1) / kBlockEntries);
      EXPECT_TRUE(Same(Read(prefix, 0, 0), entries));
      for (size_t i = 0; i < entries.size(); ++i) {
        const std::vector<BlockEntry> rest(entries.begin() + static_cast<long>(i), entries.end());
        EXPECT_TRUE(Same(Read(prefix, entries[i].time, entries[i].position), rest)) << i;
        // Between two entries: from the next one on.
        const std::vector<BlockEntry> after(entries.begin() + static_cast<long>(i) + 1,
                                            entries.end());
        EXPECT_TRUE(Same(Read(prefix, entries[i].time, entries[i].position + 1), after)) << i;
      }
      EXPECT_TRUE(Read(prefix, UINT64_MAX, UINT64_MAX).empty());
    }
    EXPECT_TRUE(Read("a" + tag + "-", 0, 0).empty());
  }
}

TEST_F(BlocksTest, AnEntryNotAfterTheLastIsRefused) {
  BlockLists lists(10);
  Step(lists, {{"p", BlockEntry{5, 10, false}}});
  rocksdb::WriteBatch batch;
  ProjectionTxn txn(db_.get(), db_->DefaultColumnFamily(), &batch);
  EXPECT_EQ(lists.Add(txn, "p", BlockEntry{5, 10, false}).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(lists.Add(txn, "p", BlockEntry{4, 11, false}).code(), absl::StatusCode::kDataLoss);
  // Read back from the model by a writer that has not seen the list.
  BlockLists fresh(10);
  EXPECT_EQ(fresh.Add(txn, "p", BlockEntry{5, 9, false}).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(fresh.Add(txn, "p", BlockEntry{5, 11, true}).ok());
}

TEST(DecodeBlockTest, MalformedBlocksAreDataLoss) {
  const std::string open(kOpenBlock, 16);
  std::vector<BlockEntry> out;
  // The first entry whole, (3, 4); the next one as distances: a
  // microsecond and a position later, dated.
  ASSERT_TRUE(DecodeBlock(open, std::string("\x03\x08\x01\x03", 4), &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].time, 3u);
  EXPECT_EQ(out[0].position, 4u);
  EXPECT_FALSE(out[0].dated);
  EXPECT_EQ(out[1].time, 4u);
  EXPECT_EQ(out[1].position, 5u);
  EXPECT_TRUE(out[1].dated);
  const std::vector<std::string> bad = {
      std::string(),                       // no entry
      std::string("\x03", 1),              // half an entry
      std::string("\x03\x80", 2),          // a varint cut short
      std::string("\x03\x08\x00\x00", 4),  // a position twice
      std::string("\x03\x08\x00\x01", 4),  // the same position, dated
      std::string("\x03\x08\x01\x00", 4),  // a later time, the same position
  };
  for (const std::string& value : bad) {
    out.clear();
    EXPECT_EQ(DecodeBlock(open, value, &out).code(), absl::StatusCode::kDataLoss);
  }
  // Full: kBlockEntries entries, keyed by the last; one more is too many.
  std::string full("\x03\x08", 2);
  for (size_t i = 1; i < kBlockEntries; ++i) full += std::string("\x00\x02", 2);
  const std::string last = BlockEntry{3, 4 + kBlockEntries - 1, false}.Suffix();
  out.clear();
  EXPECT_TRUE(DecodeBlock(last, full, &out).ok());
  EXPECT_TRUE(DecodeBlock(open, full, &out).ok());
  for (const std::string& key : {BlockEntry{3, 4, false}.Suffix(), BlockEntry{3, 200}.Suffix()}) {
    out.clear();
    EXPECT_EQ(DecodeBlock(key, full, &out).code(), absl::StatusCode::kDataLoss);
  }
  out.clear();  // a block not full is the open one, not keyed by an entry
  EXPECT_EQ(
      DecodeBlock(BlockEntry{4, 5, true}.Suffix(), std::string("\x03\x08\x01\x03", 4), &out).code(),
      absl::StatusCode::kDataLoss);
  out.clear();
  EXPECT_EQ(DecodeBlock(open, full + std::string("\x00\x02", 2), &out).code(),
            absl::StatusCode::kDataLoss);
  out.clear();
  EXPECT_EQ(DecodeBlock("short", std::string("\x03\x08", 2), &out).code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(BlocksTest, AMalformedBlockStopsACursorWithDataLoss) {
  ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), "q" + std::string(kOpenBlock, 16), "\x03").ok());
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  BlockCursor cursor(it.get(), "q");
  EXPECT_EQ(cursor.Seek(0, 0).code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(cursor.Valid());
}

v1::Change Record(uint64_t position, uint64_t corrected_by = 0) {
  v1::Change change;
  change.set_position(position);
  change.set_type(position % 3 == 0 ? "status_changed" : "update_recorded");
  change.set_before_position(position / 2);
  change.set_corrected_by(corrected_by);
  return change;
}

// A changes model's records written as its steps write them: in steps of
// varying size, by a writer started afresh (as after a restart) partway,
// with corrections of records in the block being filled, in full blocks
// before it, and in the block being filled before a fresh writer has read
// it back.
TEST_F(BlocksTest, ChangeRecordsReadBackAcrossStepsRestartsAndCorrections) {
  std::mt19937_64 rng(11);
  std::map<uint64_t, v1::Change> want;
  auto records = std::make_unique<ChangeBlocks>();
  uint64_t position = 0;
  for (int step = 0; step < 40; ++step) {
    // Afresh before a correction of the record just before (its block not
    // read back yet) and before one far back.
    if (step == 11 || step == 31) records = std::make_unique<ChangeBlocks>();
    rocksdb::WriteBatch batch;
    ProjectionTxn txn(db_.get(), db_->DefaultColumnFamily(), &batch);
    // A correction is alone in its step; its first event in the step.
    const bool correct = step % 4 == 3;
    const int n = correct ? 1 : 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      ++position;
      ASSERT_TRUE(records->Prepare(txn, position).ok()) << position;
      if (correct) {
        // Alternately the record just before (often in the block being
        // filled, and after a restart not yet read back) and one far back.
        const uint64_t target = step % 8 == 3 ? position - 1 : 1 + rng() % (position / 2);
        v1::Change found;
        absl::StatusOr<bool> got = records->Get(txn, target, &found);
        ASSERT_TRUE(got.ok() && *got) << target;
        EXPECT_EQ(found.SerializeAsString(), want[target].SerializeAsString());
        want[target].set_corrected_by(position);
        ASSERT_TRUE(records->Replace(txn, target, want[target]).ok()) << target;
      }
      want[position] = Record(position);
      records->Add(position, want[position]);
    }
    records->Flush(txn);
    ASSERT_TRUE(db_->Write(rocksdb::WriteOptions(), &batch).ok());
  }
  ASSERT_GT(position, 10 * kChangesPerBlock);
  EXPECT_EQ(Keys("p"), (position + kChangesPerBlock - 1) / kChangesPerBlock);
  // Each record where a reader looks for it, and every block in order.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::vector<v1::Change> all;
  for (it->Seek("p"); it->Valid() && it->key().starts_with("p"); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    const absl::string_view value(it->value().data(), it->value().size());
    std::optional<uint64_t> first = ChangeBlockFirst(key);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(*first, all.size() + 1);
    ASSERT_TRUE(DecodeChangeBlock(*first, value, &all).ok());
  }
  ASSERT_EQ(all.size(), position);
  for (uint64_t p = 1; p <= position; ++p) {
    EXPECT_EQ(all[p - 1].SerializeAsString(), want[p].SerializeAsString()) << p;
    std::string value;
    ASSERT_TRUE(db_->Get(rocksdb::ReadOptions(), ChangeBlockKey(p), &value).ok());
    v1::Change found;
    absl::StatusOr<bool> got = FindInChangeBlock(value, p, &found);
    ASSERT_TRUE(got.ok() && *got) << p;
    EXPECT_EQ(found.SerializeAsString(), want[p].SerializeAsString()) << p;
  }
  size_t corrected = 0;
  for (const auto& [p, change] : want) corrected += change.corrected_by() > 0;
  EXPECT_GE(corrected, 8u);
}

TEST_F(BlocksTest, AChangeRecordOutOfPlaceIsRefused) {
  ChangeBlocks records;
  {
    rocksdb::WriteBatch batch;
    ProjectionTxn txn(db_.get(), db_->DefaultColumnFamily(), &batch);
    for (uint64_t p = 1; p <= 5; ++p) {
      ASSERT_TRUE(records.Prepare(txn, p).ok());
      records.Add(p, Record(p));
    }
    records.Flush(txn);
    ASSERT_TRUE(db_->Write(rocksdb::WriteOptions(), &batch).ok());
  }
  rocksdb::WriteBatch batch;
  ProjectionTxn txn(db_.get(), db_->DefaultColumnFamily(), &batch);
  EXPECT_EQ(records.Prepare(txn, 5).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(records.Prepare(txn, 7).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(records.Prepare(txn, 1 + kChangesPerBlock).code(), absl::StatusCode::kDataLoss);
  // A writer that reads the block back from the model.
  ChangeBlocks fresh;
  EXPECT_EQ(fresh.Prepare(txn, 4).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(fresh.Prepare(txn, 8).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(fresh.Prepare(txn, 1 + kChangesPerBlock).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(fresh.Prepare(txn, 6).ok());
  v1::Change found;
  absl::StatusOr<bool> got = fresh.Get(txn, 9, &found);
  EXPECT_TRUE(got.ok() && !*got);
  EXPECT_EQ(fresh.Replace(txn, 9, Record(9)).code(), absl::StatusCode::kDataLoss);
}

TEST(ChangeBlockTest, MalformedBlocksAreDataLoss) {
  std::string one;
  const std::string record = Record(1).SerializeAsString();
  one.push_back(static_cast<char>(record.size()));
  one += record;
  std::vector<v1::Change> out;
  ASSERT_TRUE(DecodeChangeBlock(1, one, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  const std::vector<std::string> bad = {
      one.substr(0, one.size() - 1),  // a record cut short
      std::string("\x80", 1),         // a length cut short
      std::string("\x01\xff", 2),     // a record that does not decode
      one + one,                      // position 1 twice
  };
  for (const std::string& value : bad) {
    out.clear();
    EXPECT_EQ(DecodeChangeBlock(1, value, &out).code(), absl::StatusCode::kDataLoss);
  }
  out.clear();  // in the wrong block
  EXPECT_EQ(DecodeChangeBlock(1 + kChangesPerBlock, one, &out).code(), absl::StatusCode::kDataLoss);
  v1::Change found;
  EXPECT_EQ(FindInChangeBlock(one + one, 2, &found).status().code(), absl::StatusCode::kDataLoss);
  absl::StatusOr<bool> absent = FindInChangeBlock(one, 2, &found);
  EXPECT_TRUE(absent.ok() && !*absent);
  // Keys: only the first position of a block.
  EXPECT_EQ(ChangeBlockKey(kChangesPerBlock), ChangeBlockKey(1));
  EXPECT_EQ(ChangeBlockFirst(ChangeBlockKey(kChangesPerBlock + 1)), kChangesPerBlock + 1);
  EXPECT_FALSE(ChangeBlockFirst("p" + BigEndian64(2)).has_value());
  EXPECT_FALSE(ChangeBlockFirst("p" + BigEndian64(0)).has_value());
  EXPECT_FALSE(ChangeBlockFirst("q" + BigEndian64(1)).has_value());
}

}  // namespace
}  // namespace auditledger::projections
