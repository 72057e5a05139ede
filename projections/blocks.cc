#include "projections/blocks.h"

#include <algorithm>
#include <cassert>
#include <memory>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"

namespace auditledger::projections {
namespace {

absl::string_view KeyOf(const rocksdb::Iterator& it) {
  return absl::string_view(it.key().data(), it.key().size());
}

absl::Status IteratorStatus(const rocksdb::Iterator& it) {
  if (it.status().ok()) return absl::OkStatus();
  return absl::UnavailableError(it.status().ToString());
}

bool Before(const BlockEntry& a, const BlockEntry& b) {
  return std::tie(a.time, a.position) < std::tie(b.time, b.position);
}

void Append(const BlockEntry& last, const BlockEntry& next, std::string* value) {
  assert(next.time >= last.time && next.position >= last.position);
  AppendVarint(next.time - last.time, value);
  AppendVarint((next.position - last.position) << 1 | (next.dated ? 1 : 0), value);
}

}  // namespace

std::string BlockEntry::Suffix() const { return BigEndian64(time) + BigEndian64(position); }

absl::Status DecodeBlock(absl::string_view first, absl::string_view value,
                         std::vector<BlockEntry>* out) {
  if (first.size() != 16) return absl::DataLossError("a malformed index block key");
  BlockEntry at;
  at.time = ReadBigEndian64(first.substr(0, 8));
  at.position = ReadBigEndian64(first.substr(8));
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(value.data()),
                                               static_cast<int>(value.size()));
  size_t n = 0;
  for (; input.CurrentPosition() < static_cast<int>(value.size()); ++n) {
    uint64_t time = 0;
    uint64_t position = 0;
    if (n >= kBlockEntries || !input.ReadVarint64(&time) || !input.ReadVarint64(&position) ||
        time > UINT64_MAX - at.time || (position >> 1) > UINT64_MAX - at.position ||
        (n == 0) != (time == 0 && position >> 1 == 0)) {
      return absl::DataLossError("a malformed index block");
    }
    at.time += time;
    at.position += position >> 1;
    at.dated = (position & 1) == 1;
    out->push_back(at);
  }
  if (n == 0) return absl::DataLossError("an empty index block");
  return absl::OkStatus();
}

absl::Status BlockCursor::Load() {
  block_.clear();
  at_ = 0;
  if (it_->Valid() && absl::StartsWith(KeyOf(*it_), prefix_)) {
    return DecodeBlock(KeyOf(*it_).substr(prefix_.size()),
                       absl::string_view(it_->value().data(), it_->value().size()), &block_);
  }
  return IteratorStatus(*it_);
}

absl::Status BlockCursor::Seek(uint64_t time, uint64_t position) {
  // The block that can hold the entry is the last to begin at or before it.
  BlockEntry target;
  target.time = time;
  target.position = position;
  const std::string key = prefix_ + target.Suffix();
  it_->SeekForPrev(key);
  if (!it_->Valid() || !absl::StartsWith(KeyOf(*it_), prefix_)) {
    if (absl::Status s = IteratorStatus(*it_); !s.ok()) return s;
    it_->Seek(key);
  }
  if (absl::Status s = Load(); !s.ok()) return s;
  at_ = static_cast<size_t>(std::lower_bound(block_.begin(), block_.end(), target, Before) -
                            block_.begin());
  if (at_ == block_.size() && !block_.empty()) {
    it_->Next();
    return Load();
  }
  return absl::OkStatus();
}

absl::Status BlockCursor::Next() {
  assert(Valid());
  if (++at_ < block_.size()) return absl::OkStatus();
  it_->Next();
  return Load();
}

void BlockLists::Write(ProjectionTxn& txn, const std::string& prefix, Tail& tail) {
  txn.Put(prefix + tail.first, tail.value);
  tail.dirty = false;
}

absl::Status BlockLists::Add(ProjectionTxn& txn, const std::string& prefix,
                             const BlockEntry& entry) {
  auto [found, added] = tails_.try_emplace(prefix);
  Tail& tail = found->second;
  if (added) {
    std::unique_ptr<rocksdb::Iterator> it = txn.NewIterator();
    it->SeekForPrev(prefix + std::string(16, '\xff'));
    if (it->Valid() && absl::StartsWith(KeyOf(*it), prefix)) {
      std::vector<BlockEntry> entries;
      const absl::string_view value(it->value().data(), it->value().size());
      absl::Status s = DecodeBlock(KeyOf(*it).substr(prefix.size()), value, &entries);
      if (!s.ok()) return s;
      tail.first = std::string(KeyOf(*it).substr(prefix.size()));
      tail.last = entries.back();
      tail.count = entries.size();
      tail.value = std::string(value);
    }
    if (absl::Status s = IteratorStatus(*it); !s.ok()) return s;
  }
  if (tail.count > 0 && (!Before(tail.last, entry) || entry.position <= tail.last.position)) {
    return absl::DataLossError(
        absl::StrCat("position ", entry.position, " does not come after the last of its list"));
  }
  if (tail.count == 0 || tail.count == kBlockEntries) {
    if (tail.dirty) Write(txn, prefix, tail);
    tail.first = entry.Suffix();
    tail.count = 0;
    tail.value.clear();
    Append(entry, entry, &tail.value);  // the first entry: zero distances
  } else {
    Append(tail.last, entry, &tail.value);
  }
  ++tail.count;
  tail.last = entry;
  tail.dirty = true;
  return absl::OkStatus();
}

void BlockLists::Flush(ProjectionTxn& txn) {
  for (auto& [prefix, tail] : tails_) {
    if (tail.dirty) Write(txn, prefix, tail);
  }
  if (tails_.size() > max_lists_) tails_.clear();
}

}  // namespace auditledger::projections
