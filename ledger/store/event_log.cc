#include "ledger/store/event_log.h"

#include <cassert>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "ledger/store/sha256.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace auditledger::store {
namespace {

absl::string_view View(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

constexpr char kEventsCf[] = "events";
constexpr char kStreamsCf[] = "streams";
constexpr char kRequestsCf[] = "requests";

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(message);
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(message);
  return absl::UnavailableError(message);
}

}  // namespace

absl::Status ReadFailure(const rocksdb::Status& s, absl::string_view what) {
  assert(!s.ok());
  std::string message = what.empty() ? s.ToString() : absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) {
    return absl::DataLossError(absl::StrCat(
        message, " (stored data is damaged: run `ledgerctl verify`, and restore from a backup)"));
  }
  return absl::UnavailableError(message);
}

namespace {

std::string StreamKey(absl::string_view stream, uint64_t version) {
  std::string key(stream);
  key.push_back('\0');
  key += EncodePosition(version);
  return key;
}

// The part of a key that keys written in order share: up to and including
// the first NUL (an index's "kind, name, NUL"; a big-endian position's
// leading zero byte), else the kind byte. Keys under one prefix mostly
// arrive in order (positions, times), so the memtable inserts each next to
// the last one rather than searching from the top of its skip list.
class InsertPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "auditledger.InsertPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const void* nul = std::memchr(key.data(), '\0', key.size());
    const size_t size =
        nul == nullptr ? 1 : static_cast<size_t>(static_cast<const char*>(nul) - key.data()) + 1;
    return rocksdb::Slice(key.data(), size);
  }
  bool InDomain(const rocksdb::Slice& key) const override { return !key.empty(); }
};

// Reads of more events than this may be sequential scans of the log.
constexpr size_t kLongRead = 1024;

// For sequential scans of the log (a model catching up, a rebuild, a
// verification, the replay at open): read ahead, and leave the block cache
// to the point reads that need it. This made a model's rebuild about 12%
// faster.
rocksdb::ReadOptions ScanOptions() {
  rocksdb::ReadOptions options;
  options.readahead_size = 1 << 20;
  options.fill_cache = false;
  return options;
}

}  // namespace

std::string EncodePosition(uint64_t position) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(position & 0xff);
    position >>= 8;
  }
  return out;
}

// 0, which no event has, for bytes that are not a stored position (a
// damaged store): the callers then find no such event.
uint64_t DecodePosition(absl::string_view bytes) {
  if (bytes.size() != 8) return 0;
  uint64_t out = 0;
  for (unsigned char c : bytes.substr(0, 8)) out = (out << 8) | c;
  return out;
}

std::string EventLog::HashOf(absl::string_view stored_bytes) { return Sha256(stored_bytes); }

std::string EventLog::ZeroHash() { return std::string(kHashBytes, '\0'); }

absl::StatusOr<std::unique_ptr<EventLog>> EventLog::Open(const std::string& dir,
                                                         const LogOptions& options) {
  std::unique_ptr<EventLog> log(new EventLog());

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // Recover to the last consistent point in the WAL; never skip a torn record
  // and go on, which could leave a hole.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 4;
  // A write group of several batches (the read models' steps, which wake
  // on the same append, often form one) is inserted into the memtables by
  // its leader alone, which uses the insert hints (InsertPrefix below);
  // inserted in parallel, each batch would search its skip lists from the
  // top. Pipelined, the models' batches (no WAL) go into the memtables
  // while the log's synced write is in its WAL stage, rather than queue
  // behind its sync. Measured on commands at 64 callers and the batched
  // import (bench/): 16.5k to 18.4k commands/s and 48k to 56k imported
  // events/s, with less ledgerd CPU per command.
  db_options.allow_concurrent_memtable_write = false;
  db_options.enable_pipelined_write = true;
  if (options.env != nullptr) db_options.env = options.env;

  // One memory budget for every column family's memtables (there is one per
  // read model too), so resident memory stays bounded as models are added.
  // Not a stalling write buffer manager: a write it stalls waits for a flush
  // without end, so after a failed flush (a full disk) commands would hang
  // rather than fail.
  db_options.db_write_buffer_size = options.write_buffer_bytes;
  rocksdb::BlockBasedTableOptions table;
  // Few shards: a shard holds at most its share of the capacity, and a
  // block larger than that is never cached at all.
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes, /*num_shard_bits=*/2);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Index and filter blocks live in the block cache too, so memory stays
  // within the cache's bound however large the data grows. They are
  // partitioned, so a read loads one small partition rather than a filter
  // or index the size of the whole file.
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.pin_top_level_index_and_filter = true;
  table.index_type = rocksdb::BlockBasedTableOptions::IndexType::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  log->cf_options_.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  log->cf_options_.write_buffer_size = options.write_buffer_bytes / 4;
  log->cf_options_.max_write_buffer_number = 2;
  log->cf_options_.memtable_insert_with_hint_prefix_extractor = std::make_shared<InsertPrefix>();

  std::vector<std::string> existing;
  rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(db_options, dir, &existing);
  if (!listed.ok()) existing = {rocksdb::kDefaultColumnFamilyName};
  for (const char* required : {kEventsCf, kStreamsCf, kRequestsCf}) {
    if (std::find(existing.begin(), existing.end(), required) == existing.end())
      existing.push_back(required);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : existing) {
    descriptors.emplace_back(name, log->cf_options_);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, descriptors, &handles, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && absl::StrContains(s.ToString(), "lock")) {
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", dir,
                       " is in use by another ledgerd (its RocksDB LOCK is held); stop it "
                       "first or choose another --data_dir"));
    }
    if (s.IsCorruption()) {
      // A file RocksDB lists is missing or fails its checks: nothing can be
      // opened to read or verify, and nothing is changed.
      return absl::DataLossError(absl::StrCat(
          "data dir ", dir, " is damaged: ", s.ToString(),
          "; nothing was changed. Restore it from a backup (ledgerd --restore) and verify it "
          "(ledgerctl verify); keep the damaged copy for inspection"));
    }
    return FromRocks(s, absl::StrCat("opening data dir ", dir));
  }
  log->db_.reset(raw);
  for (size_t i = 0; i < handles.size(); ++i) {
    log->handles_[existing[i]] = handles[i];
  }
  log->events_ = log->handles_[kEventsCf];
  log->streams_ = log->handles_[kStreamsCf];
  log->requests_ = log->handles_[kRequestsCf];
  log->write_options_.sync = options.sync;
  if (absl::Status loaded = log->LoadHead(); !loaded.ok()) return loaded;
  return log;
}

absl::StatusOr<std::unique_ptr<EventLog>> EventLog::OpenReadOnly(const std::string& dir) {
  std::unique_ptr<EventLog> log(new EventLog());
  rocksdb::DBOptions db_options;
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, dir, &names);
  if (!s.ok()) return FromRocks(s, absl::StrCat("opening ", dir));
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) descriptors.emplace_back(name, log->cf_options_);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(db_options, dir, descriptors, &handles, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("opening ", dir));
  log->db_.reset(raw);
  for (size_t i = 0; i < handles.size(); ++i) log->handles_[names[i]] = handles[i];
  log->events_ = log->handles_[kEventsCf];
  log->streams_ = log->handles_[kStreamsCf];
  log->requests_ = log->handles_[kRequestsCf];
  if (log->events_ == nullptr || log->streams_ == nullptr) {
    return absl::DataLossError(absl::StrCat(dir, " is not an auditledger data dir"));
  }
  if (absl::Status loaded = log->LoadHead(); !loaded.ok()) return loaded;
  return log;
}

EventLog::~EventLog() {
  BeginClose();
  if (db_ == nullptr) return;
  for (auto& [name, handle] : handles_) {
    db_->DestroyColumnFamilyHandle(handle);
  }
  handles_.clear();
  rocksdb::Status s = db_->Close();
  (void)s;  // Nothing left to do with a failed close: every write was synced.
  db_.reset();
}

absl::Status EventLog::LoadHead() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), events_));
  it->SeekToLast();
  if (it->status().IsCorruption()) {
    // Damaged where the head is stored (a block fails its checksum): the
    // head is the last event readable from the start, and the log opens
    // damaged, so that it can still be read and verified (writes refuse).
    uint64_t last = 0;
    std::string last_hash = ZeroHash();
    std::unique_ptr<rocksdb::Iterator> scan(db_->NewIterator(ScanOptions(), events_));
    for (scan->SeekToFirst(); scan->Valid(); scan->Next()) {
      if (scan->key().size() != 8) break;
      last = DecodePosition(View(scan->key()));
      last_hash = HashOf(View(scan->value()));
    }
    absl::MutexLock lock(&mu_);
    head_position_ = last;
    head_hash_ = last_hash;
    open_damage_ = FromRocks(scan->status().ok() ? it->status() : scan->status(),
                             absl::StrCat("the log cannot be read after position ", last));
    return absl::OkStatus();
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading log head");
  absl::MutexLock lock(&mu_);
  if (!it->Valid()) {
    head_position_ = 0;
    head_hash_ = ZeroHash();
    return absl::OkStatus();
  }
  if (it->key().size() != 8) {
    return absl::DataLossError("log head: malformed event key");
  }
  head_position_ = DecodePosition(View(it->key()));
  head_hash_ = HashOf(View(it->value()));
  return absl::OkStatus();
}

std::pair<const rocksdb::Snapshot*, EventLog::Head> EventLog::SnapshotWithHead() const {
  // The head moves under the mutex once its commit is readable: a snapshot
  // taken under it holds at least the head.
  absl::MutexLock lock(&mu_);
  return {db_->GetSnapshot(), Head{head_position_.load(), head_hash_}};
}

EventLog::Head EventLog::head() const {
  absl::MutexLock lock(&mu_);
  return Head{head_position_.load(), head_hash_};
}

EventLog::Batch::Batch(EventLog* log, uint64_t next_position, std::string previous_hash)
    : log_(log),
      next_position_(next_position),
      previous_hash_(std::move(previous_hash)),
      first_position_(next_position) {}

EventLog::Batch EventLog::NewBatch() {
  absl::MutexLock lock(&mu_);
  return Batch(this, head_position_.load() + 1, head_hash_);
}

const v1::Event& EventLog::Batch::Add(v1::Event event) {
  assert(event.version() >= 1);
  assert(next_position_ == first_position_ + events_.size());
  event.set_position(next_position_);
  event.set_previous_hash(previous_hash_);
  std::string bytes;
  bool serialized = event.SerializeToString(&bytes);
  assert(serialized);
  (void)serialized;
  previous_hash_ = HashOf(bytes);
  write_batch_.Put(log_->events_, EncodePosition(next_position_), bytes);
  write_batch_.Put(log_->streams_, StreamKey(event.stream(), event.version()),
                   EncodePosition(next_position_));
  ++next_position_;
  return events_.emplace_back(std::move(event));
}

void EventLog::Batch::PutRequest(absl::string_view key, absl::string_view value) {
  write_batch_.Put(log_->requests_, rocksdb::Slice(key.data(), key.size()),
                   rocksdb::Slice(value.data(), value.size()));
}

const v1::Event* EventLog::Batch::Find(uint64_t position) const {
  if (position < first_position_ || position - first_position_ >= events_.size()) return nullptr;
  return &events_[position - first_position_];
}

absl::Status EventLog::Commit(Batch& batch) {
  assert(batch.log_ == this);
  {
    absl::MutexLock lock(&mu_);
    if (failed_) {
      return absl::UnavailableError(
          "the ledger stopped accepting writes after a failed write; restart "
          "ledgerd to recover");
    }
    assert(batch.next_position_ - batch.events_.size() == head_position_ + 1);
  }
  if (batch.write_batch_.Count() == 0) return absl::OkStatus();
  rocksdb::Status s = db_->Write(write_options_, &batch.write_batch_);
  absl::MutexLock lock(&mu_);
  if (!s.ok()) {
    failed_ = true;
    return FromRocks(s, "writing to the log");
  }
  head_position_ = batch.next_position_ - 1;
  head_hash_ = batch.previous_hash_;
  return absl::OkStatus();
}

// What both decoders do once the bytes are read: `decoded` says whether
// they were a well-formed message, and `out`'s event holds its format.
absl::Status EventLog::FinishDecode(const StoredEvent& stored, bool decoded, bool with_hash,
                                    LoggedEvent* out) {
  if (!decoded) {
    return absl::DataLossError(
        absl::StrCat("event at position ", stored.position, " does not decode"));
  }
  if (out->event().format() > v1::EVENT_FORMAT_V1) {
    return absl::DataLossError(absl::StrCat("event at position ", stored.position, " has format ",
                                            out->event().format(),
                                            ", newer than this ledgerd reads"));
  }
  if (with_hash) {
    out->set_hash(HashOf(stored.bytes));
  } else {
    out->clear_hash();
  }
  return absl::OkStatus();
}

absl::Status EventLog::DecodeInto(const StoredEvent& stored, bool with_hash,
                                  LoggedEvent* out) const {
  // Parsing clears the message first, keeping what it had allocated.
  const bool decoded = out->mutable_event()->ParseFromArray(stored.bytes.data(),
                                                            static_cast<int>(stored.bytes.size()));
  return FinishDecode(stored, decoded, with_hash, out);
}

absl::Status EventLog::DecodeHeaderInto(const StoredEvent& stored, bool with_hash,
                                        LoggedEvent* out) const {
  using google::protobuf::internal::WireFormatLite;
  constexpr uint32_t kFormatTag =
      (v1::Event::kFormatFieldNumber << 3) | WireFormatLite::WIRETYPE_VARINT;
  constexpr uint32_t kPositionTag =
      (v1::Event::kPositionFieldNumber << 3) | WireFormatLite::WIRETYPE_VARINT;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(stored.bytes.data()),
                                            static_cast<int>(stored.bytes.size()));
  uint64_t format = 0;
  uint64_t position = 0;
  bool ok = true;
  // Each pass reads one field; the bytes bound the number of passes.
  for (uint32_t tag = in.ReadTag(); ok && tag != 0; tag = in.ReadTag()) {
    if (tag == kFormatTag) {
      ok = in.ReadVarint64(&format);
    } else if (tag == kPositionTag) {
      ok = in.ReadVarint64(&position);
    } else {
      ok = WireFormatLite::SkipField(&in, tag);
    }
  }
  v1::Event* event = out->mutable_event();
  event->Clear();
  event->set_format(static_cast<v1::EventFormat>(format));
  event->set_position(position);
  // A tag of 0 ends the loop at the end of the bytes, or where they are
  // malformed.
  return FinishDecode(stored, ok && in.ExpectAtEnd(), with_hash, out);
}

absl::StatusOr<std::string> EventLog::ReadStored(uint64_t position) const {
  std::string bytes;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), events_, EncodePosition(position), &bytes);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("no event at position ", position));
  }
  if (!s.ok()) return FromRocks(s, "reading the log");
  return bytes;
}

absl::StatusOr<LoggedEvent> EventLog::Read(uint64_t position) const {
  absl::StatusOr<std::string> bytes = ReadStored(position);
  if (!bytes.ok()) return bytes.status();
  LoggedEvent out;
  if (absl::Status s = DecodeInto({position, *std::move(bytes)}, /*with_hash=*/true, &out);
      !s.ok()) {
    return s;
  }
  return out;
}

absl::Status EventLog::ReadStoredRange(uint64_t from, size_t max, size_t max_bytes,
                                       std::vector<StoredEvent>* out) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(max > kLongRead ? ScanOptions() : rocksdb::ReadOptions(), events_));
  size_t n = 0;
  size_t bytes = 0;
  for (it->Seek(EncodePosition(std::max<uint64_t>(from, 1)));
       it->Valid() && n < max && bytes < max_bytes; it->Next(), ++n) {
    out->push_back({DecodePosition(View(it->key())), std::string(View(it->value()))});
    bytes += it->value().size();
  }
  return FromRocks(it->status(), "reading the log");
}

absl::Status EventLog::ReadRange(uint64_t from, size_t max, std::vector<LoggedEvent>* out) const {
  std::vector<StoredEvent> stored;
  if (absl::Status s = ReadStoredRange(from, max, SIZE_MAX, &stored); !s.ok()) return s;
  out->reserve(out->size() + stored.size());
  for (const StoredEvent& e : stored) {
    LoggedEvent event;
    if (absl::Status s = DecodeInto(e, /*with_hash=*/true, &event); !s.ok()) return s;
    out->push_back(std::move(event));
  }
  return absl::OkStatus();
}

absl::Status EventLog::ReadStream(const std::string& stream, uint64_t from_version, size_t max,
                                  std::vector<LoggedEvent>* out) const {
  std::string prefix = stream;
  prefix.push_back('\0');
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), streams_));
  size_t n = 0;
  for (it->Seek(StreamKey(stream, std::max<uint64_t>(from_version, 1)));
       it->Valid() && it->key().starts_with(prefix) && n < max; it->Next(), ++n) {
    absl::StatusOr<LoggedEvent> event = Read(DecodePosition(View(it->value())));
    if (!event.ok()) return event.status();
    out->push_back(*std::move(event));
  }
  return FromRocks(it->status(), "reading a stream");
}

absl::Status EventLog::ForEachStored(
    uint64_t from, const std::function<bool(uint64_t key_position, absl::string_view bytes)>& fn,
    const rocksdb::Snapshot* at) const {
  rocksdb::ReadOptions options = ScanOptions();
  options.snapshot = at;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, events_));
  for (it->Seek(EncodePosition(std::max<uint64_t>(from, 1))); it->Valid(); it->Next()) {
    const uint64_t position = it->key().size() == 8 ? DecodePosition(View(it->key())) : 0;
    if (!fn(position, View(it->value()))) break;
  }
  return FromRocks(it->status(), "reading the log");
}

absl::StatusOr<uint64_t> EventLog::IndexedPosition(const std::string& stream, uint64_t version,
                                                   const rocksdb::Snapshot* at) const {
  std::string value;
  rocksdb::ReadOptions options;
  options.snapshot = at;
  rocksdb::Status s = db_->Get(options, streams_, StreamKey(stream, version), &value);
  if (!s.ok()) return FromRocks(s, "reading the stream index");
  if (value.size() != 8) return absl::DataLossError("stream index entry is malformed");
  return DecodePosition(value);
}

absl::StatusOr<uint64_t> EventLog::CountIndexed(const rocksdb::Snapshot* at) const {
  rocksdb::ReadOptions options;
  options.snapshot = at;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, streams_));
  uint64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  if (!it->status().ok()) return FromRocks(it->status(), "reading the stream index");
  return n;
}

absl::StatusOr<std::optional<std::string>> EventLog::GetRequest(absl::string_view key) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), requests_, rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, "reading request ids");
  return value;
}

bool EventLog::WaitForPosition(uint64_t position, absl::Time deadline, bool wake_on_close,
                               const std::atomic<bool>* cancel) const {
  absl::MutexLock lock(&mu_);
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return head_position_.load() >= position || (wake_on_close && closing_) ||
           (cancel != nullptr && cancel->load());
  };
  mu_.AwaitWithDeadline(absl::Condition(&reached), deadline);
  return head_position_.load() >= position;
}

void EventLog::WakeWaiters() const {
  // Releasing the mutex has every waiter evaluate its condition again.
  absl::MutexLock lock(&mu_);
}

void EventLog::BeginClose() {
  absl::MutexLock lock(&mu_);
  closing_ = true;
}

absl::Status EventLog::damage_at_open() const {
  absl::MutexLock lock(&mu_);
  return open_damage_;
}

bool EventLog::closing() const {
  absl::MutexLock lock(&mu_);
  return closing_;
}

absl::StatusOr<rocksdb::ColumnFamilyHandle*> EventLog::ColumnFamily(const std::string& name) {
  absl::MutexLock lock(&cf_mu_);
  if (auto it = handles_.find(name); it != handles_.end()) return it->second;
  rocksdb::ColumnFamilyHandle* handle = nullptr;
  rocksdb::Status s = db_->CreateColumnFamily(cf_options_, name, &handle);
  if (!s.ok()) return FromRocks(s, absl::StrCat("creating column family ", name));
  handles_[name] = handle;
  return handle;
}

absl::Status EventLog::DropColumnFamily(const std::string& name) {
  absl::MutexLock lock(&cf_mu_);
  auto it = handles_.find(name);
  if (it == handles_.end()) return absl::OkStatus();
  rocksdb::Status s = db_->DropColumnFamily(it->second);
  if (!s.ok()) return FromRocks(s, absl::StrCat("dropping column family ", name));
  db_->DestroyColumnFamilyHandle(it->second);
  handles_.erase(it);
  return absl::OkStatus();
}

}  // namespace auditledger::store
