#include "tests/support/fault_fs.h"

#include <unistd.h>

#include "absl/strings/match.h"

namespace auditledger::testing {
namespace {

bool IsWal(const std::string& name) { return absl::EndsWith(name, ".log"); }

class FaultFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultFile(std::unique_ptr<rocksdb::FSWritableFile> file, FaultFs* fs, std::string name,
            uint64_t size)
      : FSWritableFileOwnerWrapper(std::move(file)),
        fs_(fs),
        name_(std::move(name)),
        written_(size) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (rocksdb::IOStatus s = fs_->OnAppend(name_, data.size()); !s.ok()) return s;
    written_ += data.size();
    return target()->Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (rocksdb::IOStatus s = fs_->OnAppend(name_, data.size()); !s.ok()) return s;
    written_ += data.size();
    return target()->Append(data, options, info, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (rocksdb::IOStatus s = fs_->OnSync(name_, written_); !s.ok()) return s;
    return target()->Sync(options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (rocksdb::IOStatus s = fs_->OnSync(name_, written_); !s.ok()) return s;
    return target()->Fsync(options, dbg);
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    return target()->Close(options, dbg);
  }

 private:
  FaultFs* fs_;
  std::string name_;
  uint64_t written_;
};

}  // namespace

FaultFs::FaultFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {
  env_ = rocksdb::NewCompositeEnv(
      std::shared_ptr<rocksdb::FileSystem>(this, [](rocksdb::FileSystem*) {}));
}

void FaultFs::FailSync(int n, bool sticky) {
  sticky_ = sticky;
  failing_ = false;
  fail_at_ = syncs_.load() + n;
}

void FaultFs::HoldSyncs() {
  absl::MutexLock lock(&mu_);
  release_ = std::make_unique<absl::Notification>();
  hold_ = true;
}

void FaultFs::WaitUntilHeld(int n) {
  absl::MutexLock lock(&mu_);
  auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_ >= n; };
  mu_.Await(absl::Condition(&reached));
}

void FaultFs::Release() {
  absl::MutexLock lock(&mu_);
  hold_ = false;
  if (release_ && !release_->HasBeenNotified()) release_->Notify();
}

rocksdb::IOStatus FaultFs::OnAppend(const std::string& name, uint64_t) {
  if (disk_full_ && IsWal(name)) {
    return rocksdb::IOStatus::NoSpace("FaultFs: no space left on device");
  }
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus FaultFs::OnSync(const std::string& name, uint64_t written) {
  if (IsWal(name)) {
    if (hold_) {
      absl::Notification* gate;
      {
        absl::MutexLock lock(&mu_);
        gate = release_.get();
        held_++;
      }
      if (gate) gate->WaitForNotification();
    }
    const int n = ++syncs_;
    if (failing_ || (fail_at_ != 0 && n == fail_at_)) {
      failing_ = sticky_.load();
      return rocksdb::IOStatus::IOError("FaultFs: injected sync failure");
    }
  }
  absl::MutexLock lock(&mu_);
  synced_[name] = written;
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus FaultFs::NewWritableFile(const std::string& name,
                                           const rocksdb::FileOptions& options,
                                           std::unique_ptr<rocksdb::FSWritableFile>* result,
                                           rocksdb::IODebugContext* dbg) {
  if (read_only_) return rocksdb::IOStatus::IOError("FaultFs: read-only file system");
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = target()->NewWritableFile(name, options, &file, dbg);
  if (!s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    synced_[name] = 0;
  }
  *result = std::make_unique<FaultFile>(std::move(file), this, name, 0);
  return s;
}

rocksdb::IOStatus FaultFs::ReopenWritableFile(const std::string& name,
                                              const rocksdb::FileOptions& options,
                                              std::unique_ptr<rocksdb::FSWritableFile>* result,
                                              rocksdb::IODebugContext* dbg) {
  if (read_only_) return rocksdb::IOStatus::IOError("FaultFs: read-only file system");
  uint64_t size = 0;
  target()->GetFileSize(name, rocksdb::IOOptions(), &size, dbg);
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = target()->ReopenWritableFile(name, options, &file, dbg);
  if (!s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    synced_[name] = size;
  }
  *result = std::make_unique<FaultFile>(std::move(file), this, name, size);
  return s;
}

void FaultFs::DropUnsynced() {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, size] : synced_) {
    if (access(name.c_str(), F_OK) == 0) {
      if (truncate(name.c_str(), static_cast<off_t>(size)) != 0) continue;
    }
  }
}

}  // namespace auditledger::testing
