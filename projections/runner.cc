#include "projections/runner.h"

#include <pthread.h>

#include <algorithm>
#include <cassert>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "ledger/store/sha256.h"

namespace auditledger::projections {
namespace {

// Sort after every model key (they all start with a printable byte).
constexpr char kCheckpointKey[] =
    "\xff"
    "checkpoint";
constexpr char kLayoutKey[] =
    "\xff"
    "layout";

}  // namespace

ProjectionRunner::ProjectionRunner(store::EventLog* log,
                                   std::vector<std::unique_ptr<Projection>> projections)
    : log_(log), projections_(std::move(projections)) {
  for (auto& p : projections_) {
    auto worker = std::make_unique<Worker>();
    worker->projection = p.get();
    workers_.push_back(std::move(worker));
  }
}

ProjectionRunner::~ProjectionRunner() { Stop(); }

std::string ProjectionRunner::CfName(const std::string& projection) {
  return absl::StrCat("projection.", projection);
}

absl::Status ProjectionRunner::Start() {
  absl::WriterMutexLock lock(&handles_mu_);
  for (auto& worker : workers_) {
    if (absl::Status s = StartWorker(*worker); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ProjectionRunner::StartWorker(Worker& worker) {
  absl::StatusOr<rocksdb::ColumnFamilyHandle*> cf =
      log_->ColumnFamily(CfName(worker.projection->name()));
  if (!cf.ok()) return cf.status();
  worker.cf = *cf;
  std::string checkpoint;
  std::string layout;
  rocksdb::Status s =
      log_->db()->Get(rocksdb::ReadOptions(), worker.cf, kCheckpointKey, &checkpoint);
  if (s.ok()) s = log_->db()->Get(rocksdb::ReadOptions(), worker.cf, kLayoutKey, &layout);
  uint64_t position = 0;
  if (s.ok() || s.IsNotFound()) {
    position = checkpoint.empty() ? 0 : ReadBigEndian64(checkpoint);
  } else {
    return absl::UnavailableError(
        absl::StrCat("projection ", worker.projection->name(), ": ", s.ToString()));
  }
  // A model written by a ledgerd that laid it out differently is built
  // again from the log (models from before layouts were recorded are 1).
  const uint64_t stored_layout = layout.empty() ? 1 : ReadBigEndian64(layout);
  if (position > 0 && stored_layout != worker.projection->layout()) {
    std::fprintf(stderr,
                 "ledgerd: projection %s has layout %llu, this ledgerd writes %llu: "
                 "rebuilding it from the log\n",
                 worker.projection->name().c_str(), static_cast<unsigned long long>(stored_layout),
                 static_cast<unsigned long long>(worker.projection->layout()));
    if (absl::Status dropped = log_->DropColumnFamily(CfName(worker.projection->name()));
        !dropped.ok()) {
      return dropped;
    }
    absl::StatusOr<rocksdb::ColumnFamilyHandle*> fresh =
        log_->ColumnFamily(CfName(worker.projection->name()));
    if (!fresh.ok()) return fresh.status();
    worker.cf = *fresh;
    position = 0;
  }
  ProjectionContext context;
  context.log = log_;
  context.db = log_->db();
  context.cf = worker.cf;
  context.position = position;
  worker.position = position;
  worker.ready_at = position == 0 ? log_->head_position() : 0;
  worker.started = absl::Now();
  worker.stop = false;
  worker.failure = absl::OkStatus();
  if (absl::Status opened = worker.projection->Open(context); !opened.ok()) {
    // As when a step fails: the model stays where it is, and the rest of
    // ledgerd (the log, verification) still serves.
    std::fprintf(stderr, "ledgerd: projection %s could not resume at position %llu: %s\n",
                 worker.projection->name().c_str(), static_cast<unsigned long long>(position),
                 opened.ToString().c_str());
    absl::MutexLock lock(&progress_mu_);
    worker.failure = opened;
    return absl::OkStatus();
  }
  worker.thread = std::thread([this, w = &worker] {
    // Named for profilers and top; Linux keeps 15 characters.
    const std::string name = ("proj-" + w->projection->name()).substr(0, 15);
    pthread_setname_np(pthread_self(), name.c_str());
    Run(w);
  });
  return absl::OkStatus();
}

void ProjectionRunner::StopWorker(Worker& worker) {
  worker.stop = true;
  if (worker.thread.joinable()) worker.thread.join();
}

void ProjectionRunner::Stop() {
  for (auto& worker : workers_) StopWorker(*worker);
}

void ProjectionRunner::Run(Worker* worker) {
  // The events read ahead, as stored: each is decoded in turn into `logged`
  // (only its position, for a projection that does not need the event),
  // whose memory serves every event.
  ReadAhead read;
  auto batch = std::make_unique<rocksdb::WriteBatch>();
  v1::LoggedEvent logged;
  while (!worker->stop) {
    const uint64_t next = worker->position + 1;
    if (read.next == read.events.size() && log_->head_position() < next) {
      // Caught up: what the last read held goes back, and so does a large
      // batch.
      std::vector<store::EventLog::StoredEvent>().swap(read.events);
      read.next = 0;
      if (batch->Data().capacity() > kIdleBatchBytes) {
        batch = std::make_unique<rocksdb::WriteBatch>();
      }
      // Woken by the next append, also while the server shuts down; the
      // timeout bounds how long a stop request waits.
      log_->WaitForPosition(next, absl::Now() + absl::Milliseconds(200),
                            /*wake_on_close=*/false);
      continue;
    }
    absl::StatusOr<size_t> used = Step(*worker, read, *batch, logged);
    if (!used.ok()) {
      // A projection that cannot apply an event must not skip it: it stops
      // where it is, and queries waiting on it time out rather than read a
      // model with a hole.
      std::fprintf(stderr, "ledgerd: projection %s stopped at position %llu: %s\n",
                   worker->projection->name().c_str(),
                   static_cast<unsigned long long>(worker->position.load()),
                   used.status().ToString().c_str());
      absl::MutexLock lock(&progress_mu_);
      worker->failure = used.status();
      return;
    }
  }
}

absl::StatusOr<size_t> ProjectionRunner::Step(Worker& worker, ReadAhead& read,
                                              rocksdb::WriteBatch& batch, v1::LoggedEvent& logged) {
  batch.Clear();  // keeps its capacity
  ProjectionTxn txn(log_->db(), worker.cf, &batch);
  const bool with_hash = worker.projection->NeedsHash();
  const bool with_event = worker.projection->NeedsEvent();
  uint64_t position = worker.position;
  size_t used = 0;
  size_t bytes = 0;
  while (used < kStepEvents && bytes < kStepBytes && batch.GetDataSize() < kStepBatchBytes) {
    assert(read.next <= read.events.size());
    if (read.next == read.events.size()) {
      read.events.clear();
      read.next = 0;
      // Taken before the read: the log's head moves only once what it names
      // is readable.
      const uint64_t head = log_->head_position();
      if (absl::Status s =
              log_->ReadStoredRange(position + 1, kReadEvents, kReadBytes, &read.events);
          !s.ok()) {
        return s;
      }
      if (read.events.empty()) {
        // The head, for now; unless the log said it held more.
        if (head > position) {
          return absl::DataLossError(absl::StrCat("the log's head is at position ", head,
                                                  " but it holds no event at ", position + 1));
        }
        break;
      }
    }
    const store::EventLog::StoredEvent& stored = read.events[read.next];
    // Decoding the whole event is most of the work of a projection that
    // only hashes it.
    absl::Status decoded = with_event ? log_->DecodeInto(stored, with_hash, &logged)
                                      : log_->DecodeHeaderInto(stored, with_hash, &logged);
    if (!decoded.ok()) return decoded;
    const v1::Event& event = logged.event();
    if (event.position() != position + 1) {
      return absl::DataLossError(
          absl::StrCat("expected position ", position + 1, ", the log gave ", event.position()));
    }
    // An event that needs a step of its own ends the step before it, or is
    // the whole step.
    const bool alone = worker.projection->NeedsOwnStep(event);
    if (alone && used > 0) break;
    if (absl::Status s = worker.projection->Apply(logged, txn); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("event ", event.position(), ": ", s.message()));
    }
    position = event.position();
    bytes += stored.bytes.size();
    ++used;
    ++read.next;
    if (alone) break;
  }
  if (used == 0) return 0;
  if (absl::Status s = worker.projection->Finish(txn); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("at position ", position, ": ", s.message()));
  }
  txn.Put(kCheckpointKey, BigEndian64(position));
  txn.Put(kLayoutKey, BigEndian64(worker.projection->layout()));
  // A model is derived from the log, so its writes skip the WAL and stay
  // off the synced path of the commands. The model and its checkpoint are in
  // one column family and one batch, so whatever a crash leaves of a model
  // is a prefix of its steps, checkpoint included, and the worker resumes
  // from there. RocksDB flushes such data on a clean close and before a
  // backup checkpoint.
  rocksdb::WriteOptions options;
  options.disableWAL = true;
  rocksdb::Status s = log_->db()->Write(options, &batch);
  if (!s.ok()) return absl::UnavailableError(s.ToString());
  const uint64_t ready_at = worker.ready_at.load();
  if (ready_at > 0 && worker.position < ready_at && position >= ready_at) {
    const double seconds = absl::ToDoubleSeconds(absl::Now() - worker.started);
    std::fprintf(stderr,
                 "ledgerd: projection %s built from the log to position %llu in %.2f s "
                 "(%.0f events/s)\n",
                 worker.projection->name().c_str(), static_cast<unsigned long long>(position),
                 seconds, seconds > 0 ? static_cast<double>(position) / seconds : 0.0);
  }
  absl::MutexLock lock(&progress_mu_);
  worker.position = position;
  return used;
}

absl::Status ProjectionRunner::Rebuild(const std::string& name) {
  absl::MutexLock rebuild(&rebuild_mu_);
  bool found = false;
  for (auto& worker : workers_) {
    if (name != "all" && worker->projection->name() != name) continue;
    found = true;
    StopWorker(*worker);
    absl::WriterMutexLock lock(&handles_mu_);
    if (absl::Status s = log_->DropColumnFamily(CfName(worker->projection->name())); !s.ok())
      return s;
    worker->cf = nullptr;
    {
      absl::MutexLock progress(&progress_mu_);
      worker->position = 0;
    }
    if (absl::Status s = StartWorker(*worker); !s.ok()) return s;
  }
  if (!found) {
    return absl::NotFoundError(absl::StrCat(
        "name: no projection \"", name, "\" (known: ", absl::StrJoin(names(), ", "), ", or all)"));
  }
  return absl::OkStatus();
}

bool ProjectionRunner::WaitFor(uint64_t position, absl::Time deadline) const {
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress_mu_) {
    for (const auto& worker : workers_) {
      const uint64_t p = worker->position.load();
      if (p < position || p < worker->ready_at.load()) return false;
    }
    return true;
  };
  auto reached_or_stopping = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress_mu_) {
    return stopping_ || reached();
  };
  absl::MutexLock lock(&progress_mu_);
  progress_mu_.AwaitWithDeadline(absl::Condition(&reached_or_stopping), deadline);
  if (reached() || !stopping_) return reached();
  // Stopping. A position the log already holds (a command acknowledged
  // during the shutdown) is worth waiting for until the grace period ends;
  // one it does not hold will not come.
  if (position > log_->head_position()) return false;
  progress_mu_.AwaitWithDeadline(absl::Condition(&reached), std::min(deadline, stop_by_));
  return reached();
}

void ProjectionRunner::BeginStop(absl::Time stop_by) {
  absl::MutexLock lock(&progress_mu_);
  stopping_ = true;
  stop_by_ = stop_by;
}

bool ProjectionRunner::stopping() const {
  absl::MutexLock lock(&progress_mu_);
  return stopping_;
}

uint64_t ProjectionRunner::position() const {
  uint64_t lowest = UINT64_MAX;
  for (const auto& worker : workers_) lowest = std::min(lowest, worker->position.load());
  return workers_.empty() ? 0 : lowest;
}

std::vector<std::string> ProjectionRunner::names() const {
  std::vector<std::string> out;
  for (const auto& p : projections_) out.push_back(p->name());
  return out;
}

rocksdb::ColumnFamilyHandle* ProjectionRunner::cf(const std::string& name) const {
  for (const auto& worker : workers_) {
    if (worker->projection->name() == name) return worker->cf;
  }
  return nullptr;
}

absl::StatusOr<ProjectionState> ProjectionRunner::State(const std::string& name) const {
  absl::ReaderMutexLock lock(&handles_mu_);
  rocksdb::ColumnFamilyHandle* handle = cf(name);
  if (handle == nullptr) {
    return absl::NotFoundError(absl::StrCat("name: no projection \"", name, "\""));
  }
  // One snapshot, so position and digest describe the same model.
  const rocksdb::Snapshot* snapshot = log_->db()->GetSnapshot();
  rocksdb::ReadOptions options;
  options.snapshot = snapshot;
  std::unique_ptr<rocksdb::Iterator> it(log_->db()->NewIterator(options, handle));
  std::string running = store::EventLog::ZeroHash();
  ProjectionState state;
  state.name = name;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::string_view key(it->key().data(), it->key().size());
    absl::string_view value(it->value().data(), it->value().size());
    if (key == kCheckpointKey) state.position = ReadBigEndian64(value);
    const std::string lengths = BigEndian64(key.size()) + BigEndian64(value.size());
    running = store::Sha256Concat({running, lengths, key, value});
  }
  log_->db()->ReleaseSnapshot(snapshot);
  if (!it->status().ok()) return absl::UnavailableError(it->status().ToString());
  state.digest = running;
  return state;
}

}  // namespace auditledger::projections
