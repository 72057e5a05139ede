#include "projections/blocks.h"

#include <algorithm>
#include <cassert>
#include <memory>
#include <optional>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "ledger/store/event_log.h"

namespace auditledger::projections {
namespace {

absl::string_view KeyOf(const rocksdb::Iterator& it) {
  return absl::string_view(it.key().data(), it.key().size());
}

absl::Status IteratorStatus(const rocksdb::Iterator& it) {
  if (it.status().ok()) return absl::OkStatus();
  return store::ReadFailure(it.status());
}

bool Before(const BlockEntry& a, const BlockEntry& b) {
  return std::tie(a.time, a.position) < std::tie(b.time, b.position);
}

// The open block's key suffix, as a string of its 16 bytes.
absl::string_view OpenSuffix() { return absl::string_view(kOpenBlock, 16); }

// Appends `next` to a block whose last entry is `last`, or as its first
// entry when there is none.
void Append(const BlockEntry* last, const BlockEntry& next, std::string* value) {
  const uint64_t time = last == nullptr ? next.time : next.time - last->time;
  const uint64_t position = last == nullptr ? next.position : next.position - last->position;
  assert(last == nullptr || (next.time >= last->time && position > 0));
  AppendVarint(time, value);
  AppendVarint(position << 1 | (next.dated ? 1 : 0), value);
}

}  // namespace

std::string BlockEntry::Suffix() const { return BigEndian64(time) + BigEndian64(position); }

std::optional<BlockEntry> BlockEntry::FromSuffix(absl::string_view suffix) {
  if (suffix.size() != 16) return std::nullopt;
  BlockEntry entry;
  entry.time = ReadBigEndian64(suffix.substr(0, 8));
  entry.position = ReadBigEndian64(suffix.substr(8));
  return entry;
}

absl::Status DecodeBlock(absl::string_view suffix, absl::string_view value,
                         std::vector<BlockEntry>* out) {
  if (suffix.size() != 16) return absl::DataLossError("a malformed index block key");
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(value.data()),
                                               static_cast<int>(value.size()));
  BlockEntry at;
  size_t n = 0;
  for (; input.CurrentPosition() < static_cast<int>(value.size()); ++n) {
    uint64_t time = 0;
    uint64_t position = 0;
    if (n >= kBlockEntries || !input.ReadVarint64(&time) || !input.ReadVarint64(&position) ||
        (n > 0 && (time > UINT64_MAX - at.time || (position >> 1) == 0 ||
                   (position >> 1) > UINT64_MAX - at.position))) {
      return absl::DataLossError("a malformed index block");
    }
    at.time = n == 0 ? time : at.time + time;
    at.position = n == 0 ? position >> 1 : at.position + (position >> 1);
    at.dated = (position & 1) == 1;
    out->push_back(at);
  }
  if (n == 0) return absl::DataLossError("an empty index block");
  // A full block is keyed by its last entry.
  if (suffix != OpenSuffix() && (n != kBlockEntries || suffix != at.Suffix())) {
    return absl::DataLossError("an index block that is not where its entries put it");
  }
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
  // The first block whose last entry is at or after the target holds it, if
  // any does: a full block is keyed by its last entry, the open one after
  // every entry.
  BlockEntry target;
  target.time = time;
  target.position = position;
  it_->Seek(prefix_ + target.Suffix());
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

absl::Status BlockLists::Add(ProjectionTxn& txn, const std::string& prefix,
                             const BlockEntry& entry) {
  if (entry.position >= uint64_t{1} << 63) {
    return absl::DataLossError(absl::StrCat("position ", entry.position, " is out of range"));
  }
  auto [found, added] = tails_.try_emplace(prefix);
  Tail& tail = found->second;
  if (added) {
    absl::StatusOr<std::optional<std::string>> open = txn.Get(absl::StrCat(prefix, OpenSuffix()));
    if (!open.ok()) return open.status();
    if (open->has_value()) {
      std::vector<BlockEntry> entries;
      if (absl::Status s = DecodeBlock(OpenSuffix(), **open, &entries); !s.ok()) return s;
      tail.last = entries.back();
      tail.count = entries.size();
      tail.value = **std::move(open);
    }
  }
  if (tail.count > 0 && (!Before(tail.last, entry) || entry.position <= tail.last.position)) {
    return absl::DataLossError(
        absl::StrCat("position ", entry.position, " does not come after the last of its list"));
  }
  if (tail.count == kBlockEntries) {
    // The last block is full: it takes the key of its last entry, and the
    // entry begins the next one.
    txn.Put(prefix + tail.last.Suffix(), tail.value);
    tail.count = 0;
    tail.value.clear();
  }
  Append(tail.count == 0 ? nullptr : &tail.last, entry, &tail.value);
  ++tail.count;
  tail.last = entry;
  dirty_.insert(prefix);
  return absl::OkStatus();
}

void BlockLists::Flush(ProjectionTxn& txn) {
  for (const std::string* prefix : SortedKeys(dirty_)) {
    txn.Put(absl::StrCat(*prefix, OpenSuffix()), tails_.at(*prefix).value);
  }
  dirty_.clear();
  if (tails_.size() > max_lists_) tails_.clear();
}

namespace {

uint64_t FirstOfBlock(uint64_t position) {
  assert(position > 0);
  return (position - 1) / kChangesPerBlock * kChangesPerBlock + 1;
}

// Walks a block's records: each call gives the next one's bytes.
class RecordReader {
 public:
  explicit RecordReader(absl::string_view value)
      : value_(value),
        input_(reinterpret_cast<const uint8_t*>(value.data()), static_cast<int>(value.size())) {}
  bool done() const { return input_.CurrentPosition() >= static_cast<int>(value_.size()); }
  // False when the block is malformed.
  bool Next(absl::string_view* record) {
    uint32_t length = 0;
    if (!input_.ReadVarint32(&length)) return false;
    const int start = input_.CurrentPosition();
    if (length > value_.size() - static_cast<size_t>(start) ||
        !input_.Skip(static_cast<int>(length))) {
      return false;
    }
    *record = value_.substr(static_cast<size_t>(start), length);
    return true;
  }

 private:
  absl::string_view value_;
  google::protobuf::io::CodedInputStream input_;
};

void AppendRecord(const v1::Change& record, std::string* value) {
  const size_t size = record.ByteSizeLong();
  AppendVarint(size, value);
  const size_t at = value->size();
  value->resize(at + size);
  record.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(value->data() + at));
}

absl::Status Malformed(uint64_t first) {
  return absl::DataLossError(
      absl::StrCat("changes model: the block of records at position ", first, " is malformed"));
}

}  // namespace

std::string ChangeBlockKey(uint64_t position) { return "p" + BigEndian64(FirstOfBlock(position)); }

std::optional<uint64_t> ChangeBlockFirst(absl::string_view key) {
  if (key.size() != 9 || key[0] != 'p') return std::nullopt;
  const uint64_t first = ReadBigEndian64(key.substr(1));
  if (first == 0 || FirstOfBlock(first) != first) return std::nullopt;
  return first;
}

absl::Status DecodeChangeBlock(uint64_t first, absl::string_view value,
                               std::vector<v1::Change>* out) {
  RecordReader reader(value);
  for (uint64_t i = 0; !reader.done(); ++i) {
    absl::string_view bytes;
    if (i >= kChangesPerBlock || !reader.Next(&bytes)) return Malformed(first);
    v1::Change& change = out->emplace_back();
    if (!change.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
        change.position() != first + i) {
      return Malformed(first);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> FindInChangeBlock(absl::string_view value, uint64_t position,
                                       v1::Change* out) {
  const uint64_t first = FirstOfBlock(position);
  RecordReader reader(value);
  for (uint64_t i = 0; i <= position - first; ++i) {
    if (reader.done()) return false;
    absl::string_view bytes;
    if (!reader.Next(&bytes)) return Malformed(first);
    if (i < position - first) continue;
    if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
        out->position() != position) {
      return Malformed(first);
    }
  }
  return true;
}

absl::Status ChangeBlocks::Prepare(ProjectionTxn& txn, uint64_t position) {
  const uint64_t first = FirstOfBlock(position);
  auto out_of_place = [position] {
    return absl::DataLossError(absl::StrCat("changes model: position ", position,
                                            " does not follow the records it holds"));
  };
  if (first_ == first && first_ + count_ == position) return absl::OkStatus();
  if (first_ != first && position == first) {
    // A new block, after the full one before it: the one in memory, or for
    // a writer that has none, the one the model holds.
    if (first_ != 0 && first_ + count_ != position) return out_of_place();
    if (first_ == 0 && position > 1) {
      absl::StatusOr<std::optional<std::string>> before = txn.Get(ChangeBlockKey(position - 1));
      if (!before.ok()) return before.status();
      std::vector<v1::Change> records;
      if (before->has_value()) {
        if (absl::Status s = DecodeChangeBlock(position - kChangesPerBlock, **before, &records);
            !s.ok()) {
          return s;
        }
      }
      if (records.size() != kChangesPerBlock) {
        return absl::DataLossError(absl::StrCat("changes model: the block before position ",
                                                position, " holds ", records.size(), " of ",
                                                kChangesPerBlock, " records"));
      }
    }
    Flush(txn);
    first_ = first;
    count_ = 0;
    value_.clear();
    dirty_ = false;
    return absl::OkStatus();
  }
  if (first_ == first || dirty_) return out_of_place();
  absl::StatusOr<std::optional<std::string>> stored = txn.Get(ChangeBlockKey(position));
  if (!stored.ok()) return stored.status();
  std::vector<v1::Change> records;
  if (stored->has_value()) {
    if (absl::Status s = DecodeChangeBlock(first, **stored, &records); !s.ok()) return s;
  }
  if (first + records.size() != position) {
    return absl::DataLossError(absl::StrCat("changes model: the block at position ", first,
                                            " holds ", records.size(), " records, so position ",
                                            position, " does not follow them"));
  }
  first_ = first;
  count_ = records.size();
  value_ = stored->has_value() ? **std::move(stored) : std::string();
  dirty_ = false;
  return absl::OkStatus();
}

void ChangeBlocks::Add(uint64_t position, const v1::Change& record) {
  assert(first_ > 0 && first_ + count_ == position && record.position() == position);
  (void)position;
  AppendRecord(record, &value_);
  ++count_;
  dirty_ = true;
}

absl::StatusOr<bool> ChangeBlocks::Get(ProjectionTxn& txn, uint64_t position, v1::Change* out) {
  if (position == 0) return false;
  if (FirstOfBlock(position) == first_) return FindInChangeBlock(value_, position, out);
  absl::StatusOr<std::optional<std::string>> stored = txn.Get(ChangeBlockKey(position));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return false;
  return FindInChangeBlock(**stored, position, out);
}

absl::Status ChangeBlocks::Replace(ProjectionTxn& txn, uint64_t position,
                                   const v1::Change& record) {
  assert(record.position() == position);
  const uint64_t first = FirstOfBlock(position);
  const bool open = first == first_;
  std::string stored;
  if (!open) {
    absl::StatusOr<std::optional<std::string>> got = txn.Get(ChangeBlockKey(position));
    if (!got.ok()) return got.status();
    if (!got->has_value()) {
      return absl::DataLossError(absl::StrCat("changes model: no record at position ", position));
    }
    stored = **std::move(got);
  }
  std::vector<v1::Change> records;
  if (absl::Status s = DecodeChangeBlock(first, open ? value_ : stored, &records); !s.ok()) {
    return s;
  }
  if (position - first >= records.size()) {
    return absl::DataLossError(absl::StrCat("changes model: no record at position ", position));
  }
  records[position - first] = record;
  std::string value;
  for (const v1::Change& r : records) AppendRecord(r, &value);
  if (open) {
    value_ = std::move(value);
    dirty_ = true;
  } else {
    txn.Put(ChangeBlockKey(position), value);
  }
  return absl::OkStatus();
}

void ChangeBlocks::Flush(ProjectionTxn& txn) {
  if (!dirty_) return;
  txn.Put(ChangeBlockKey(first_), value_);
  dirty_ = false;
}

}  // namespace auditledger::projections
