#include "ledger/service/admin_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "ledger/domain/names.h"
#include "ledger/domain/principal.h"
#include "ledger/service/grpc_status.h"
#include "rocksdb/utilities/checkpoint.h"

namespace auditledger::service {

grpc::Status AdminServiceImpl::CreateBackup(grpc::ServerContext* context,
                                            const v1::CreateBackupRequest* request,
                                            v1::Backup* response) {
  absl::StatusOr<domain::Principal> principal = auth_->Authenticate(*context);
  if (!principal.ok()) return ToGrpc(principal.status());
  if (principal->role != v1::ADMIN) {
    return ToGrpc(absl::PermissionDeniedError(
        absl::StrCat(principal->id, " (", domain::RoleName(principal->role),
                     ") may not take backups: only an admin may")));
  }
  if (absl::Status s = domain::CheckId("backup_id", request->backup_id()); !s.ok()) {
    return ToGrpc(s);
  }
  std::error_code error;
  std::filesystem::create_directories(backup_dir_, error);
  const std::string path = backup_dir_ + "/" + request->backup_id();
  if (std::filesystem::exists(path)) {
    return ToGrpc(absl::AlreadyExistsError(absl::StrCat("backup_id: ", path, " already exists")));
  }
  // Commands go on while the checkpoint is taken; its own head is read
  // back from it below.
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(log_->db(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  if (s.ok()) s = checkpoint->CreateCheckpoint(path);
  if (!s.ok()) {
    return ToGrpc(absl::UnavailableError(absl::StrCat("backup failed: ", s.ToString())));
  }
  // The signing key goes inside the backup, so that a copy of it taken
  // elsewhere keeps it (RocksDB ignores a file it does not know).
  if (std::filesystem::exists(signing_key_)) {
    std::filesystem::copy_file(signing_key_, path + "/" + kBackupSigningKey, error);
    if (error) {
      return ToGrpc(absl::UnavailableError(
          absl::StrCat("backup: copying the signing key into ", path, ": ", error.message())));
    }
  }
  // Read the backup's own head, opening it read-only.
  absl::StatusOr<std::unique_ptr<store::EventLog>> copy = store::EventLog::OpenReadOnly(path);
  if (!copy.ok()) return ToGrpc(copy.status());
  const store::EventLog::Head head = (*copy)->head();
  response->set_path(path);
  response->set_position(head.position);
  response->set_head_hash(head.hash);
  return grpc::Status::OK;
}

absl::Status RestoreBackup(const std::string& from, const std::string& data_dir,
                           const std::string& signing_key) {
  std::error_code error;
  if (!std::filesystem::is_directory(from, error)) {
    return absl::NotFoundError(absl::StrCat("--restore: ", from, " is not a backup directory"));
  }
  if (!std::filesystem::exists(std::filesystem::path(from) / "CURRENT", error)) {
    return absl::NotFoundError(
        absl::StrCat("--restore: ", from,
                     " is not a backup (no RocksDB CURRENT file in it); give the "
                     "directory `ledgerctl backup` wrote, e.g. <data_dir>-backups/ID"));
  }
  // A data dir a ledgerd is serving changes under the copy: the copy could
  // hold half of a write. RocksDB holds its LOCK file's lock while open.
  if (const int fd = open((std::filesystem::path(from) / "LOCK").c_str(), O_RDONLY); fd >= 0) {
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const bool held = fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
    close(fd);
    if (held) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--restore: ", from, " is the data dir of a running ledgerd (pid ", lock.l_pid,
          "), not a backup; take one with `ledgerctl backup ID` and restore that"));
    }
  }
  if (std::filesystem::exists(data_dir, error) && !std::filesystem::is_empty(data_dir, error)) {
    return absl::FailedPreconditionError(absl::StrCat("--restore: refusing to overwrite ", data_dir,
                                                      "; restore into a new --data_dir"));
  }
  std::filesystem::copy(from, data_dir, std::filesystem::copy_options::recursive, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("--restore: copying ", from, ": ", error.message()));
  }
  // The key the backup holds (or, from before backups held it, the one
  // beside it) signs from now on, unless the restored ledger has its own.
  const std::filesystem::path inside = std::filesystem::path(data_dir) / kBackupSigningKey;
  const std::string beside = from + ".signing-key.pem";
  const bool has_inside = std::filesystem::exists(inside, error);
  if (!std::filesystem::exists(signing_key, error)) {
    if (has_inside) {
      std::filesystem::copy_file(inside, signing_key, error);
    } else if (std::filesystem::exists(beside, error)) {
      std::filesystem::copy_file(beside, signing_key, error);
    } else {
      std::fprintf(stderr,
                   "ledgerd: --restore: %s holds no signing key (%s); a new key will sign "
                   "checkpoints, so `ledgerctl verify --against` a digest published before "
                   "will say it was signed by another key\n",
                   from.c_str(), kBackupSigningKey);
    }
    if (error) {
      return absl::UnavailableError(absl::StrCat("--restore: copying the signing key to ",
                                                 signing_key, ": ", error.message()));
    }
  }
  if (has_inside) std::filesystem::remove(inside, error);
  return absl::OkStatus();
}

}  // namespace auditledger::service
