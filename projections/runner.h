#ifndef AUDITLEDGER_PROJECTIONS_RUNNER_H_
#define AUDITLEDGER_PROJECTIONS_RUNNER_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ledger/store/event_log.h"
#include "projections/projection.h"

// Runs each projection as a worker that tails the log from its checkpoint.
// A step applies up to kStepEvents events (fewer when their stored bytes
// pass kStepBytes, or its writes kStepBatchBytes) and writes the read model
// together with the new checkpoint in one RocksDB write, so a crash never
// applies an event twice or skips one.
//
// The workers share threads (by default one a core, and never more than
// there are workers): the workers of one thread step together, reading the
// log once (kReadEvents at a time) and decoding each event once for all of
// them. A worker behind the others of its thread (one being rebuilt) is
// given the events the others already hold, and they wait for it: while a
// model is rebuilt, the others of its thread take no new events. No query
// sees that: every query waits until each model has finished any rebuild
// (WaitFor).
namespace auditledger::projections {

struct ProjectionState {
  std::string name;
  uint64_t position = 0;
  std::string digest;  // SHA-256 over the model's keys and values
  // Being built from the log and short of the head it started at.
  bool building = false;
  absl::Status failure;  // why it stopped; OK while it runs
};

// A read model as stored, against the same model built again from the log
// to the same position.
struct ModelCheck {
  std::string name;
  uint64_t position = 0;
  std::string stored_digest;   // as ProjectionState.digest
  std::string rebuilt_digest;  // of the model built again, to `position`
  bool ok() const { return stored_digest == rebuilt_digest; }
};

class ProjectionRunner {
 public:
  // Large steps while a worker catches up: views many events touch are
  // written once per step, not once per event. A step is one write batch,
  // so the bounds also bound its memory. (From 8,192 events and 4 MiB: a
  // rebuild of 1M events in 4.0 s rather than 4.7, bench/.)
  static constexpr size_t kStepEvents = 32768;
  static constexpr size_t kStepBytes = 16 << 20;
  // What a step's writes may reach before it ends (what Finish then adds,
  // views a step keeps in memory, is bounded by the projection): a 32,768
  // event step of the changes or temporal model writes 10 to 16 MiB, and
  // four of them at once are a rebuild's peak memory. Ending steps here
  // costs a rebuild nothing measurable (3.93-4.03 s either way).
  static constexpr size_t kStepBatchBytes = 4 << 20;
  // A thread holds this many stored events of the log at a time (fewer when
  // their bytes pass kReadBytes), however large its step.
  static constexpr size_t kReadEvents = 4096;
  static constexpr size_t kReadBytes = 2 << 20;
  // Each worker's write batch is reused from step to step: growing a fresh
  // one for every large step cost a rebuild a fifth of its time in copies
  // and page faults. Once caught up, its thread replaces a batch larger
  // than this.
  static constexpr size_t kIdleBatchBytes = 256 << 10;

  // `threads`: how many threads the workers share; 0 for one a core. The
  // projections are dealt to them in order, in runs of about equal length.
  ProjectionRunner(store::EventLog* log, std::vector<std::unique_ptr<Projection>> projections,
                   size_t threads = 0);
  ~ProjectionRunner();

  // Reads checkpoints and starts the workers.
  absl::Status Start();
  void Stop();

  // Drops the model(s) and rebuilds by replay; `name` may be "all".
  absl::Status Rebuild(const std::string& name);

  // Waits until every projection (only the one named `only`, when given)
  // has applied `position` and finished any rebuild; false when the
  // deadline passed first, when the runner is stopping and the position is
  // past the log's head or is not reached by `stop_by`, or at once when a
  // projection short of it has stopped on a failure: then `blocked_by`, if
  // given, says which and why (DATA_LOSS for damaged data, else
  // FAILED_PRECONDITION).
  bool WaitFor(uint64_t position, absl::Time deadline, absl::Status* blocked_by = nullptr,
               absl::string_view only = {}) const;
  // The server is shutting down and must not hold its calls until their
  // deadlines: waits end by `stop_by` (the grace period), and at once for a
  // position the log does not hold.
  void BeginStop(absl::Time stop_by);
  bool stopping() const;

  // The lowest position every projection has applied.
  uint64_t position() const;
  // Each projection's name and the position it has applied (its checkpoint
  // until it steps): none can be past the log's head, unless the log lost
  // events from its end.
  std::vector<std::pair<std::string, uint64_t>> positions() const;

  absl::StatusOr<ProjectionState> State(const std::string& name) const;

  // Builds `fresh` (a new, empty instance of the model `name`) from the log
  // in a column family of its own, to the position the stored model has
  // reached, and compares the two: a model altered where it is stored
  // (which its own checksums cannot show once they were made to match)
  // differs. The stored model serves on meanwhile; the copy is dropped.
  // One check at a time; each reads the log to that position.
  absl::StatusOr<ModelCheck> CheckAgainstLog(const std::string& name,
                                             std::unique_ptr<Projection> fresh);
  std::vector<std::string> names() const;

  // Readers hold this (shared) while they use a column family handle, so a
  // rebuild cannot drop it under them.
  absl::Mutex& handles_mu() const { return handles_mu_; }
  rocksdb::ColumnFamilyHandle* cf(const std::string& name) const
      ABSL_SHARED_LOCKS_REQUIRED(handles_mu_);
  rocksdb::DB* db() const { return log_->db(); }
  rocksdb::ColumnFamilyHandle* events_cf() const { return log_->events_cf(); }

 private:
  struct Worker {
    Projection* projection = nullptr;
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    size_t thread = 0;  // index into threads_
    std::atomic<uint64_t> position{0};
    // The log head when the worker (re)started from nothing: until it gets
    // there its model is incomplete.
    std::atomic<uint64_t> ready_at{0};
    absl::Time started;    // when it (re)started from nothing, for the log line
    absl::Status failure;  // guarded by progress_mu_; a failed worker stays where it is
  };
  // A thread and the workers it steps.
  struct Thread {
    std::vector<Worker*> workers;
    std::thread thread;
    std::atomic<bool> stop{false};
  };
  // A worker as its thread steps it: the step's batch (reused from step to
  // step), its writes, and how far the step has taken it.
  struct Lane {
    Worker* worker = nullptr;
    std::unique_ptr<rocksdb::WriteBatch> batch;
    std::optional<ProjectionTxn> txn;
    uint64_t position = 0;
    size_t used = 0;
    bool failed = false;
  };
  static std::string CfName(const std::string& projection);
  // Reads the worker's checkpoint and opens its projection (a failure to
  // open is the worker's, and leaves it stopped).
  absl::Status PrepareWorker(Worker& worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(handles_mu_);
  // Replays events 1..`to` into `projection` over `cf`, in steps as a
  // worker takes them, and writes its checkpoint and layout as one does.
  absl::Status Replay(Projection& projection, rocksdb::ColumnFamilyHandle* cf, uint64_t to);
  void StartThread(Thread& thread);
  void StopThread(Thread& thread);
  void Run(Thread* thread);
  // Stored events read from the log and not yet applied: events[next] on.
  struct ReadAhead {
    std::vector<store::EventLog::StoredEvent> events;
    size_t next = 0;
  };
  // Applies the events after `low` (the lowest position of the lanes not
  // failed) to each lane that has not applied them, from `read` and then
  // from the log as `read` runs out, up to a step's bounds or an event that
  // needs a step of its own, and commits each lane's (nothing when the log
  // holds no event after `low` yet).
  // Each event is decoded into `logged` once for every lane. A lane whose
  // projection fails is marked failed and commits nothing of the step; so
  // is each lane that needs an event the log cannot give (unreadable, not
  // decoding, out of place), while the lanes past it go on.
  void Step(std::vector<Lane>& lanes, uint64_t low, ReadAhead& read, v1::LoggedEvent& logged);
  // Records a lane's failure; it stops at the position it committed.
  void Fail(Lane& lane, const absl::Status& status);

  store::EventLog* log_;
  std::vector<std::unique_ptr<Projection>> projections_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Thread>> threads_;
  mutable absl::Mutex handles_mu_;
  mutable absl::Mutex progress_mu_;
  bool stopping_ ABSL_GUARDED_BY(progress_mu_) = false;
  absl::Time stop_by_ ABSL_GUARDED_BY(progress_mu_) = absl::InfiniteFuture();
  absl::Mutex rebuild_mu_;  // one rebuild at a time
  absl::Mutex check_mu_;    // one CheckAgainstLog at a time
};

}  // namespace auditledger::projections

#endif  // AUDITLEDGER_PROJECTIONS_RUNNER_H_
