#ifndef AUDITLEDGER_TESTS_SUPPORT_FAULT_FS_H_
#define AUDITLEDGER_TESTS_SUPPORT_FAULT_FS_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"

// A RocksDB file system for tests that misbehaves on cue: it fails the Nth
// WAL sync (once, or from then on), reports the disk full, refuses to create
// files (a read-only data dir), holds syncs until released, and can drop
// everything not yet synced, as a power cut would.
namespace auditledger::testing {

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  FaultFs();
  const char* Name() const override { return "FaultFs"; }

  // The Nth WAL sync from now fails (1 = the next); `sticky`: and every one
  // after it.
  void FailSync(int n, bool sticky);
  // WAL appends fail with "no space left on device" while set.
  void SetDiskFull(bool full) { disk_full_ = full; }
  // Creating files fails while set, as on a read-only file system.
  void SetReadOnly(bool read_only) { read_only_ = read_only; }
  // WAL syncs wait until Release().
  void HoldSyncs();
  void Release();
  int syncs() const { return syncs_.load(); }
  // Blocks until `n` syncs are being held.
  void WaitUntilHeld(int n);

  // Truncates every file written through this file system to what was last
  // synced. Call after the database is closed (or its process gone).
  void DropUnsynced();

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;

  // Called by the files.
  rocksdb::IOStatus OnAppend(const std::string& name, uint64_t size);
  rocksdb::IOStatus OnSync(const std::string& name, uint64_t written);

  rocksdb::Env* env() { return env_.get(); }

 private:
  std::unique_ptr<rocksdb::Env> env_;
  std::atomic<int> syncs_{0};
  int held_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int> fail_at_{0};
  std::atomic<bool> sticky_{false};
  std::atomic<bool> failing_{false};
  std::atomic<bool> disk_full_{false};
  std::atomic<bool> read_only_{false};
  std::atomic<bool> hold_{false};
  std::unique_ptr<absl::Notification> release_;
  absl::Mutex mu_;
  std::map<std::string, uint64_t> synced_;  // file -> bytes synced
};

}  // namespace auditledger::testing

#endif  // AUDITLEDGER_TESTS_SUPPORT_FAULT_FS_H_
