#ifndef AUDITLEDGER_LEDGER_ENGINE_LEDGER_H_
#define AUDITLEDGER_LEDGER_ENGINE_LEDGER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "auditledger/v1/ledger_service.pb.h"
#include "ledger/domain/decide.h"
#include "ledger/domain/plan_state.h"
#include "ledger/domain/principal.h"
#include "ledger/store/event_log.h"

// The command path: a bounded queue in front of one writer thread that
// decides commands against the write model and commits them in groups, one
// synced write per group (group commit).
namespace auditledger::engine {

struct LedgerOptions {
  size_t queue_capacity = 4096;  // requests waiting; beyond it RESOURCE_EXHAUSTED
  size_t max_group = 1024;       // requests committed by one synced write
  // Who may own an action; unset: any well-formed principal id. Called on
  // the writer thread.
  domain::OwnerCheck owners;
};

class Ledger {
 public:
  // Rebuilds the write model by replaying `log`, checking the hash chain on
  // the way, and starts the writer.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(store::EventLog* log,
                                                      const LedgerOptions& options);
  ~Ledger();

  // Decides and appends `commands` atomically on behalf of `actor`. Returns
  // once the events are durable, or the reason nothing was appended. With a
  // request_id, a retry returns the first answer (replayed = true).
  // With `validate_only`, decides them and answers as for appending them,
  // appending nothing.
  absl::StatusOr<v1::CommandResponse> Execute(const domain::Principal& actor,
                                              std::vector<v1::Command> commands,
                                              const std::string& request_id,
                                              bool validate_only = false);

  // The same without a thread waiting: `done` runs exactly once, on the
  // calling thread when the request is refused before it is queued, else on
  // the writer thread once the group is durable (or failed). `done` must not
  // block: it holds up the writer.
  using Done = absl::AnyInvocable<void(absl::StatusOr<v1::CommandResponse>) &&>;
  void ExecuteAsync(domain::Principal actor, std::vector<v1::Command> commands,
                    std::string request_id, Done done, bool validate_only = false);

  // Requests waiting for the writer.
  size_t queued() {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

  // Refuses new commands, lets the writer finish what is queued, stops it.
  void Shutdown();

  // The first position where the log was damaged when it was opened (the
  // hash chain broke, an event was missing or did not decode), or 0. A
  // damaged ledger refuses writes.
  uint64_t chain_break_at_open() const { return chain_break_; }
  // Damage found when the ledger opened by what is not the log itself (a
  // read model past the log's head: events lost from its end); from then on
  // as a break in the chain at `position`. Before serving.
  void NoteDamageAtOpen(uint64_t position) {
    uint64_t none = 0;
    chain_break_.compare_exchange_strong(none, position);
  }

 private:
  struct Pending;
  Ledger(store::EventLog* log, const LedgerOptions& options);
  absl::Status Replay();
  void WriterLoop();
  void ProcessGroup(std::vector<Pending*>& group);
  // The answer a request's record keeps (see RequestRecord), without its
  // fingerprint; `batch` holds the events of the group being decided.
  // DATA_LOSS unless the events it names are in the log (or the batch) and
  // are `actor`'s.
  absl::StatusOr<v1::CommandResponse> StoredAnswer(absl::string_view record,
                                                   const domain::Principal& actor,
                                                   const store::EventLog::Batch& batch);
  void Decide(Pending& p, store::EventLog::Batch& batch, absl::Time now,
              absl::flat_hash_map<std::string, std::string>& group_requests);

  store::EventLog* log_;
  LedgerOptions options_;
  domain::PlanState state_;  // touched only by the writer thread (and Replay)
  uint64_t last_recorded_us_ = 0;
  std::atomic<uint64_t> chain_break_{0};

  absl::Mutex mu_;
  std::deque<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;
};

}  // namespace auditledger::engine

#endif  // AUDITLEDGER_LEDGER_ENGINE_LEDGER_H_
