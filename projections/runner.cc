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

// SHA-256 over a model's keys and values, and the checkpoint among them,
// from one snapshot, so the two describe the same model.
absl::Status Digest(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string* digest,
                    uint64_t* position) {
  const rocksdb::Snapshot* snapshot = db->GetSnapshot();
  rocksdb::ReadOptions options;
  options.snapshot = snapshot;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, cf));
  std::string running = store::EventLog::ZeroHash();
  *position = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::string_view key(it->key().data(), it->key().size());
    absl::string_view value(it->value().data(), it->value().size());
    if (key == kCheckpointKey) *position = ReadBigEndian64(value);
    const std::string lengths = BigEndian64(key.size()) + BigEndian64(value.size());
    running = store::Sha256Concat({running, lengths, key, value});
  }
  const rocksdb::Status status = it->status();
  it.reset();
  db->ReleaseSnapshot(snapshot);
  if (!status.ok()) return store::ReadFailure(status);
  *digest = running;
  return absl::OkStatus();
}

}  // namespace

ProjectionRunner::ProjectionRunner(store::EventLog* log,
                                   std::vector<std::unique_ptr<Projection>> projections,
                                   size_t threads)
    : log_(log), projections_(std::move(projections)) {
  const size_t n = projections_.size();
  if (threads == 0) threads = std::max<size_t>(1, std::thread::hardware_concurrency());
  threads = std::clamp<size_t>(threads, 1, std::max<size_t>(1, n));
  for (size_t t = 0; t < threads; ++t) threads_.push_back(std::make_unique<Thread>());
  for (size_t i = 0; i < n; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->projection = projections_[i].get();
    // In order, in runs of about equal length: with the default models on
    // two threads, current and changes on one, temporal and merkle on the
    // other, which take about as long.
    worker->thread = i * threads / n;
    threads_[worker->thread]->workers.push_back(worker.get());
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
    if (absl::Status s = PrepareWorker(*worker); !s.ok()) return s;
  }
  for (auto& thread : threads_) StartThread(*thread);
  return absl::OkStatus();
}

absl::Status ProjectionRunner::PrepareWorker(Worker& worker) {
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
  worker.ready_at = position == 0 ? log_->head_position() : 0;
  worker.started = absl::Now();
  {
    absl::MutexLock lock(&progress_mu_);
    worker.position = position;
    worker.failure = absl::OkStatus();
  }
  if (absl::Status opened = worker.projection->Open(context); !opened.ok()) {
    // As when a step fails: the model stays where it is, and the rest of
    // ledgerd (the log, verification) still serves.
    std::fprintf(stderr, "ledgerd: projection %s could not resume at position %llu: %s\n",
                 worker.projection->name().c_str(), static_cast<unsigned long long>(position),
                 opened.ToString().c_str());
    absl::MutexLock lock(&progress_mu_);
    worker.failure = opened;
  }
  return absl::OkStatus();
}

void ProjectionRunner::StartThread(Thread& thread) {
  thread.stop = false;
  thread.thread = std::thread([this, t = &thread] {
    // Named for profilers and top; Linux keeps 15 characters.
    std::vector<std::string> names;
    for (const Worker* w : t->workers) names.push_back(w->projection->name());
    const std::string name = absl::StrCat("proj-", absl::StrJoin(names, "+")).substr(0, 15);
    pthread_setname_np(pthread_self(), name.c_str());
    Run(t);
  });
}

void ProjectionRunner::StopThread(Thread& thread) {
  thread.stop = true;
  // Not left to its wait's timeout: a rebuild stops the threads one by one.
  log_->WakeWaiters();
  if (thread.thread.joinable()) thread.thread.join();
}

void ProjectionRunner::Stop() {
  for (auto& thread : threads_) StopThread(*thread);
}

void ProjectionRunner::Fail(Lane& lane, const absl::Status& status) {
  std::fprintf(stderr, "ledgerd: projection %s stopped at position %llu: %s\n",
               lane.worker->projection->name().c_str(),
               static_cast<unsigned long long>(lane.worker->position.load()),
               status.ToString().c_str());
  lane.failed = true;
  lane.txn.reset();
  absl::MutexLock lock(&progress_mu_);
  lane.worker->failure = status;
}

void ProjectionRunner::Run(Thread* thread) {
  // The events read ahead, as stored: each is decoded in turn into `logged`
  // (only its position, for projections that do not need the event), whose
  // memory serves every event.
  ReadAhead read;
  v1::LoggedEvent logged;
  std::vector<Lane> lanes;
  {
    absl::MutexLock lock(&progress_mu_);
    for (Worker* worker : thread->workers) {
      // One that could not open stays stopped.
      if (!worker->failure.ok() || worker->cf == nullptr) continue;
      Lane& lane = lanes.emplace_back();
      lane.worker = worker;
      lane.batch = std::make_unique<rocksdb::WriteBatch>();
    }
  }
  while (!thread->stop) {
    uint64_t low = UINT64_MAX;
    for (const Lane& lane : lanes) {
      if (!lane.failed) low = std::min(low, lane.worker->position.load());
    }
    if (low == UINT64_MAX) return;  // every worker failed
    const uint64_t next = low + 1;
    if (read.next == read.events.size() && log_->head_position() < next) {
      // Caught up: what the last read held goes back, and so does a large
      // batch.
      std::vector<store::EventLog::StoredEvent>().swap(read.events);
      read.next = 0;
      for (Lane& lane : lanes) {
        if (lane.batch->Data().capacity() > kIdleBatchBytes) {
          lane.batch = std::make_unique<rocksdb::WriteBatch>();
        }
      }
      // Woken by the next append, also while the server shuts down, and by
      // a stop request (StopThread); the timeout bounds the wait anyway.
      log_->WaitForPosition(next, absl::Now() + absl::Milliseconds(200),
                            /*wake_on_close=*/false, &thread->stop);
      continue;
    }
    Step(lanes, low, read, logged);
  }
}

void ProjectionRunner::Step(std::vector<Lane>& lanes, uint64_t low, ReadAhead& read,
                            v1::LoggedEvent& logged) {
  for (Lane& lane : lanes) {
    if (lane.failed) continue;
    lane.batch->Clear();  // keeps its capacity
    lane.txn.emplace(log_->db(), lane.worker->cf, lane.batch.get());
    lane.position = lane.worker->position;
    lane.used = 0;
  }
  // What was read ahead follows the lowest lane, unless that one failed.
  if (read.next < read.events.size() && read.events[read.next].position != low + 1) {
    read.events.clear();
    read.next = 0;
  }
  auto batches_full = [&] {
    for (const Lane& lane : lanes) {
      if (!lane.failed && lane.batch->GetDataSize() >= kStepBatchBytes) return true;
    }
    return false;
  };
  auto applies = [](const Lane& lane, uint64_t position) {
    return !lane.failed && lane.position < position;
  };
  // A projection that cannot apply an event must not skip it: it stops
  // where it is, and queries waiting on it time out rather than read a
  // model with a hole. An event the log cannot give stops every lane that
  // needs it; a lane past it goes on.
  auto unreadable = [&](uint64_t at, const absl::Status& status) {
    for (Lane& lane : lanes) {
      if (applies(lane, at)) Fail(lane, status);
    }
  };
  uint64_t position = low;
  size_t used = 0;
  size_t bytes = 0;
  while (used < kStepEvents && bytes < kStepBytes && !batches_full()) {
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
        unreadable(position + 1, s);
        break;
      }
      if (read.events.empty()) {
        // The head, for now; unless the log said it held more.
        if (head > position) {
          unreadable(position + 1,
                     absl::DataLossError(absl::StrCat("the log's head is at position ", head,
                                                      " but it holds no event at ", position + 1)));
        }
        break;
      }
    }
    const store::EventLog::StoredEvent& stored = read.events[read.next];
    // Only what the lanes that apply it need: decoding the whole event is
    // most of the work of a projection that only hashes it, and a lane
    // already past it (while another of its thread is rebuilt) needs nothing.
    bool with_hash = false;
    bool with_event = false;
    for (const Lane& lane : lanes) {
      if (!applies(lane, position + 1)) continue;
      with_hash = with_hash || lane.worker->projection->NeedsHash();
      with_event = with_event || lane.worker->projection->NeedsEvent();
    }
    absl::Status decoded = with_event ? log_->DecodeInto(stored, with_hash, &logged)
                                      : log_->DecodeHeaderInto(stored, with_hash, &logged);
    if (!decoded.ok()) {
      unreadable(position + 1, decoded);
      break;
    }
    const v1::Event& event = logged.event();
    if (event.position() != position + 1) {
      unreadable(position + 1,
                 absl::DataLossError(absl::StrCat("expected position ", position + 1,
                                                  ", the log gave ", event.position())));
      break;
    }
    // An event that needs a step of its own ends the step before it, or is
    // the whole step.
    bool alone = false;
    for (const Lane& lane : lanes) {
      if (applies(lane, event.position()) && lane.worker->projection->NeedsOwnStep(event)) {
        alone = true;
      }
    }
    if (alone && used > 0) break;
    bool applied = false;
    for (Lane& lane : lanes) {
      if (!applies(lane, event.position())) continue;
      if (absl::Status s = lane.worker->projection->Apply(logged, *lane.txn); !s.ok()) {
        Fail(lane,
             absl::Status(s.code(), absl::StrCat("event ", event.position(), ": ", s.message())));
        continue;
      }
      lane.position = event.position();
      ++lane.used;
      applied = true;
    }
    // The lowest lanes failed on it: the lanes left are past it, and their
    // next step reads from where they are.
    if (!applied) break;
    position = event.position();
    bytes += stored.bytes.size();
    ++used;
    ++read.next;
    if (alone) break;
  }
  for (Lane& lane : lanes) {
    if (lane.failed || lane.used == 0) {
      lane.txn.reset();
      continue;
    }
    Worker& worker = *lane.worker;
    ProjectionTxn& txn = *lane.txn;
    if (absl::Status s = worker.projection->Finish(txn); !s.ok()) {
      Fail(lane,
           absl::Status(s.code(), absl::StrCat("at position ", lane.position, ": ", s.message())));
      continue;
    }
    txn.Put(kCheckpointKey, BigEndian64(lane.position));
    txn.Put(kLayoutKey, BigEndian64(worker.projection->layout()));
    // A model is derived from the log, so its writes skip the WAL and stay
    // off the synced path of the commands. The model and its checkpoint are
    // in one column family and one batch, so whatever a crash leaves of a
    // model is a prefix of its steps, checkpoint included, and the worker
    // resumes from there. RocksDB flushes such data on a clean close and
    // before a backup checkpoint.
    rocksdb::WriteOptions options;
    options.disableWAL = true;
    rocksdb::Status s = log_->db()->Write(options, lane.batch.get());
    lane.txn.reset();
    if (!s.ok()) {
      Fail(lane, absl::UnavailableError(s.ToString()));
      continue;
    }
    const uint64_t ready_at = worker.ready_at.load();
    if (ready_at > 0 && worker.position < ready_at && lane.position >= ready_at) {
      const double seconds = absl::ToDoubleSeconds(absl::Now() - worker.started);
      std::fprintf(stderr,
                   "ledgerd: projection %s built from the log to position %llu in %.2f s "
                   "(%.0f events/s)\n",
                   worker.projection->name().c_str(),
                   static_cast<unsigned long long>(lane.position), seconds,
                   seconds > 0 ? static_cast<double>(lane.position) / seconds : 0.0);
    }
    absl::MutexLock lock(&progress_mu_);
    worker.position = lane.position;
  }
}

absl::Status ProjectionRunner::Rebuild(const std::string& name) {
  absl::MutexLock rebuild(&rebuild_mu_);
  std::vector<Worker*> rebuilt;
  std::vector<bool> stopped(threads_.size(), false);
  for (auto& worker : workers_) {
    if (name != "all" && worker->projection->name() != name) continue;
    rebuilt.push_back(worker.get());
    // The thread's other workers stop with it, and resume where they are.
    if (!stopped[worker->thread]) StopThread(*threads_[worker->thread]);
    stopped[worker->thread] = true;
  }
  if (rebuilt.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "name: no projection \"", name, "\" (known: ", absl::StrJoin(names(), ", "), ", or all)"));
  }
  absl::Status status;  // the first failure
  {
    absl::WriterMutexLock lock(&handles_mu_);
    for (Worker* worker : rebuilt) {
      absl::Status s = log_->DropColumnFamily(CfName(worker->projection->name()));
      if (s.ok()) {
        worker->cf = nullptr;
        {
          // Together, so no waiter sees the old failure with the new
          // position, or a model at 0 that is not being built.
          absl::MutexLock progress(&progress_mu_);
          worker->ready_at = log_->head_position();
          worker->failure = absl::OkStatus();
          worker->position = 0;
        }
        s = PrepareWorker(*worker);
        if (!s.ok()) {
          // Left without a model: it stays stopped, and the others of its
          // thread go on.
          absl::MutexLock progress(&progress_mu_);
          worker->failure = s;
        }
      }
      if (!s.ok() && status.ok()) {
        status = absl::Status(
            s.code(), absl::StrCat("rebuilding ", worker->projection->name(), ": ", s.message()));
      }
    }
  }
  // Restarted whatever happened.
  for (size_t t = 0; t < threads_.size(); ++t) {
    if (stopped[t]) StartThread(*threads_[t]);
  }
  return status;
}

namespace {

template <typename Worker>
bool Short(const Worker& worker, uint64_t position) {
  const uint64_t p = worker.position.load();
  return p < position || p < worker.ready_at.load();
}

}  // namespace

bool ProjectionRunner::WaitFor(uint64_t position, absl::Time deadline, absl::Status* blocked_by,
                               absl::string_view only) const {
  auto counts = [&](const Worker& worker) {
    return only.empty() || worker.projection->name() == only;
  };
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress_mu_) {
    for (const auto& worker : workers_) {
      if (counts(*worker) && Short(*worker, position)) return false;
    }
    return true;
  };
  // A worker that stopped short of it will not get there.
  auto blocking = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress_mu_) -> const Worker* {
    for (const auto& worker : workers_) {
      if (counts(*worker) && !worker->failure.ok() && Short(*worker, position)) {
        return worker.get();
      }
    }
    return nullptr;
  };
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress_mu_) {
    return reached() || blocking() != nullptr;
  };
  auto done_or_stopping = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress_mu_) {
    return stopping_ || done();
  };
  // Says which worker blocks it, as the caller's error: DATA_LOSS for
  // damaged data, FAILED_PRECONDITION for anything else (the model needs a
  // rebuild or a restart, not a retry).
  auto report = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress_mu_) {
    const Worker* worker = blocking();
    if (worker == nullptr || blocked_by == nullptr) return;
    const absl::Status& failure = worker->failure;
    const std::string message =
        absl::StrCat("the read model ", worker->projection->name(), " stopped at position ",
                     worker->position.load(), ": ", failure.ToString(),
                     "; it answers again once rebuilt (RebuildProjection) or after a restart");
    *blocked_by = failure.code() == absl::StatusCode::kDataLoss
                      ? absl::DataLossError(message)
                      : absl::FailedPreconditionError(message);
  };
  absl::MutexLock lock(&progress_mu_);
  progress_mu_.AwaitWithDeadline(absl::Condition(&done_or_stopping), deadline);
  if (!stopping_ || done()) {
    report();
    return reached();
  }
  // Stopping. A position the log already holds (a command acknowledged
  // during the shutdown) is worth waiting for until the grace period ends;
  // one it does not hold will not come.
  if (position > log_->head_position()) return false;
  progress_mu_.AwaitWithDeadline(absl::Condition(&done), std::min(deadline, stop_by_));
  report();
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

std::vector<std::pair<std::string, uint64_t>> ProjectionRunner::positions() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& worker : workers_) {
    out.emplace_back(worker->projection->name(), worker->position.load());
  }
  return out;
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
  const Worker* found = nullptr;
  for (const auto& worker : workers_) {
    if (worker->projection->name() == name) found = worker.get();
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("name: no projection \"", name, "\""));
  }
  rocksdb::ColumnFamilyHandle* handle = found->cf;
  if (handle == nullptr) {
    // A rebuild that dropped the model could not make it again.
    ProjectionState state;
    state.name = name;
    absl::MutexLock progress(&progress_mu_);
    state.failure = found->failure;
    return state;
  }
  ProjectionState state;
  state.name = name;
  if (absl::Status s = Digest(log_->db(), handle, &state.digest, &state.position); !s.ok()) {
    return s;
  }
  absl::MutexLock progress(&progress_mu_);
  state.building = state.position < found->ready_at.load();
  state.failure = found->failure;
  return state;
}

absl::Status ProjectionRunner::Replay(Projection& projection, rocksdb::ColumnFamilyHandle* cf,
                                      uint64_t to) {
  ProjectionContext context;
  context.log = log_;
  context.db = log_->db();
  context.cf = cf;
  context.position = 0;
  if (absl::Status s = projection.Open(context); !s.ok()) return s;
  std::vector<store::EventLog::StoredEvent> events;
  v1::LoggedEvent logged;
  rocksdb::WriteBatch batch;
  uint64_t position = 0;
  // Each round is a step: at most kStepEvents events, or one event that
  // needs a step of its own, as the workers take them.
  while (position < to) {
    batch.Clear();
    std::optional<ProjectionTxn> txn(std::in_place, log_->db(), cf, &batch);
    size_t used = 0;
    while (position < to && used < kStepEvents && batch.GetDataSize() < kStepBatchBytes) {
      events.clear();
      const size_t want = static_cast<size_t>(std::min<uint64_t>(
          {kReadEvents, to - position, static_cast<uint64_t>(kStepEvents - used)}));
      if (absl::Status s = log_->ReadStoredRange(position + 1, want, kReadBytes, &events);
          !s.ok()) {
        return s;
      }
      if (events.empty()) {
        return absl::DataLossError(
            absl::StrCat("the log holds no event at position ", position + 1));
      }
      bool step_ends = false;
      for (const store::EventLog::StoredEvent& stored : events) {
        absl::Status decoded =
            projection.NeedsEvent()
                ? log_->DecodeInto(stored, projection.NeedsHash(), &logged)
                : log_->DecodeHeaderInto(stored, projection.NeedsHash(), &logged);
        if (!decoded.ok()) return decoded;
        if (logged.event().position() != position + 1) {
          return absl::DataLossError(absl::StrCat("expected position ", position + 1,
                                                  ", the log gave ", logged.event().position()));
        }
        const bool alone = projection.NeedsOwnStep(logged.event());
        if (alone && used > 0) {
          step_ends = true;
          break;
        }
        if (absl::Status s = projection.Apply(logged, *txn); !s.ok()) {
          return absl::Status(s.code(), absl::StrCat("event ", position + 1, ": ", s.message()));
        }
        ++position;
        ++used;
        if (alone || batch.GetDataSize() >= kStepBatchBytes) {
          step_ends = true;
          break;
        }
      }
      if (step_ends) break;
    }
    if (absl::Status s = projection.Finish(*txn); !s.ok()) return s;
    txn->Put(kCheckpointKey, BigEndian64(position));
    txn->Put(kLayoutKey, BigEndian64(projection.layout()));
    rocksdb::WriteOptions options;
    options.disableWAL = true;
    rocksdb::Status s = log_->db()->Write(options, &batch);
    txn.reset();
    if (!s.ok()) return absl::UnavailableError(s.ToString());
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelCheck> ProjectionRunner::CheckAgainstLog(const std::string& name,
                                                             std::unique_ptr<Projection> fresh) {
  assert(fresh != nullptr && fresh->name() == name);
  absl::MutexLock one(&check_mu_);
  ModelCheck check;
  check.name = name;
  {
    absl::ReaderMutexLock lock(&handles_mu_);
    rocksdb::ColumnFamilyHandle* stored = cf(name);
    if (stored == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("projection ", name, " has no model to check (rebuild it)"));
    }
    if (absl::Status s = Digest(log_->db(), stored, &check.stored_digest, &check.position);
        !s.ok()) {
      return s;
    }
  }
  // A copy a crash left behind goes first.
  const std::string scratch = absl::StrCat("check.", name);
  if (absl::Status s = log_->DropColumnFamily(scratch); !s.ok()) return s;
  absl::StatusOr<rocksdb::ColumnFamilyHandle*> copy = log_->ColumnFamily(scratch);
  if (!copy.ok()) return copy.status();
  absl::Status replayed =
      check.position == 0 ? absl::OkStatus() : Replay(*fresh, *copy, check.position);
  uint64_t copy_position = 0;
  if (replayed.ok()) replayed = Digest(log_->db(), *copy, &check.rebuilt_digest, &copy_position);
  absl::Status dropped = log_->DropColumnFamily(scratch);
  if (!replayed.ok()) {
    return absl::Status(replayed.code(), absl::StrCat("building ", name,
                                                      " again from the log: ", replayed.message()));
  }
  if (!dropped.ok()) return dropped;
  return check;
}

}  // namespace auditledger::projections
