#include "ledger/service/admin_service.h"

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
  if (std::filesystem::exists(signing_key_)) {
    std::filesystem::copy_file(signing_key_, path + ".signing-key.pem", error);
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
  if (std::filesystem::exists(data_dir, error) && !std::filesystem::is_empty(data_dir, error)) {
    return absl::FailedPreconditionError(absl::StrCat("--restore: refusing to overwrite ", data_dir,
                                                      "; restore into a new --data_dir"));
  }
  std::filesystem::copy(from, data_dir, std::filesystem::copy_options::recursive, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("--restore: copying ", from, ": ", error.message()));
  }
  const std::string key = from + ".signing-key.pem";
  if (std::filesystem::exists(key) && !std::filesystem::exists(signing_key)) {
    std::filesystem::copy_file(key, signing_key, error);
  }
  return absl::OkStatus();
}

}  // namespace auditledger::service
