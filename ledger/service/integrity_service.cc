#include "ledger/service/integrity_service.h"

#include <cassert>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ledger/domain/names.h"
#include "ledger/integrity/verify_log.h"
#include "ledger/merkle/merkle.h"
#include "ledger/service/grpc_status.h"
#include "ledger/service/model_reader.h"
#include "ledger/store/event_log.h"
#include "projections/read_models.h"

namespace auditledger::service {
namespace {

absl::StatusOr<std::optional<std::string>> StoredNode(ModelReader& reader, int level,
                                                      uint64_t index) {
  return reader.GetRaw(projections::kMerkle, projections::MerkleNodeKey(level, index));
}

// The leaves below the Merkle model's stored levels, hashed from the log as
// it holds them, each read once per call however many nodes of a proof and
// its root need it; and the blocks found to hash to what the tree recorded.
class LogLeaves {
 public:
  explicit LogLeaves(ModelReader& reader) : reader_(reader) {}

  // The complete subtree of 2^level leaves (level below the stored ones)
  // at `index`, once the events of its whole block are found to hash to
  // what the tree recorded of them (the last block, not yet complete, has
  // no record). Otherwise a proof would mix hashes of the log as it was
  // with hashes of it as it is.
  absl::StatusOr<std::string> Node(int level, uint64_t index) {
    constexpr int kBlock = projections::kMerkleLowestStoredLevel;
    assert(level < kBlock);
    const uint64_t block = (index << level) >> kBlock;
    if (!checked_.contains(block)) {
      absl::StatusOr<std::optional<std::string>> recorded = StoredNode(reader_, kBlock, block);
      if (!recorded.ok()) return recorded.status();
      if (recorded->has_value()) {
        absl::StatusOr<std::string> now = Subtree(kBlock, block << kBlock);
        if (!now.ok()) return now.status();
        if (*now != **recorded) {
          return absl::DataLossError(
              absl::StrCat("events ", (block << kBlock) + 1, " to ", (block + 1) << kBlock,
                           " no longer hash to what the Merkle tree recorded of them: the log was "
                           "altered there (run `ledgerctl verify`). A proof needs them when it is "
                           "of one of them or against a digest whose tree ends among them; "
                           "events of other blocks prove against a digest that ends outside "
                           "them"));
        }
      }
      checked_.insert(block);
    }
    return Subtree(level, index << level);
  }

 private:
  absl::StatusOr<std::string> Subtree(int level, uint64_t first) {
    std::vector<std::string> leaves;
    leaves.reserve(uint64_t{1} << level);
    for (uint64_t leaf = first; leaf < first + (uint64_t{1} << level); ++leaf) {
      auto [it, added] = leaves_.try_emplace(leaf);
      if (added) {
        absl::StatusOr<std::string> bytes = reader_.ReadStored(leaf + 1);
        if (!bytes.ok()) {
          leaves_.erase(it);
          return bytes.status();
        }
        it->second = merkle::LeafHash(store::EventLog::HashOf(*bytes));
      }
      leaves.push_back(it->second);
    }
    return merkle::CompleteSubtreeHash(std::move(leaves));
  }

  ModelReader& reader_;
  absl::flat_hash_map<uint64_t, std::string> leaves_;
  absl::flat_hash_set<uint64_t> checked_;
};

merkle::NodeLookup Nodes(ModelReader& reader) {
  auto leaves = std::make_shared<LogLeaves>(reader);
  return [&reader, leaves](int level, uint64_t index) -> absl::StatusOr<std::string> {
    if (level < projections::kMerkleLowestStoredLevel) return leaves->Node(level, index);
    absl::StatusOr<std::optional<std::string>> value = StoredNode(reader, level, index);
    if (!value.ok()) return value.status();
    if (!value->has_value()) {
      return absl::UnavailableError("the Merkle tree is not built that far yet");
    }
    return **value;
  };
}

// Checks 1 <= sizes <= what the Merkle projection holds.
absl::Status CheckSize(const char* field, uint64_t size, uint64_t built) {
  if (size == 0 || size > built) {
    return absl::OutOfRangeError(
        absl::StrCat(field, ": ", size, " is not between 1 and the log size ", built));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::Status IntegrityServiceImpl::VerifyLedger(grpc::ServerContext* context,
                                                const v1::VerifyLedgerRequest* request,
                                                v1::VerifyLedgerResponse* response) {
  absl::StatusOr<domain::Principal> principal = auth_->Authenticate(*context);
  if (!principal.ok()) return ToGrpc(principal.status());
  // Taken first: no model is past the head the check then reads.
  const std::vector<std::pair<std::string, uint64_t>> models = runner_->positions();
  absl::StatusOr<v1::VerifyLedgerResponse> result =
      integrity::VerifyLog(*log_, request->tree_size(), models);
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  // Models built again from a log that does not hold would prove nothing.
  if (!request->check_read_models() || !response->ok()) return grpc::Status::OK;
  for (std::unique_ptr<projections::Projection>& fresh : projections::DefaultProjections()) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    const std::string name = fresh->name();
    absl::StatusOr<projections::ModelCheck> check =
        runner_->CheckAgainstLog(name, std::move(fresh));
    if (!check.ok()) return ToGrpc(check.status());
    v1::ReadModelCheck* out = response->add_read_models();
    out->set_name(check->name);
    out->set_position(check->position);
    out->set_ok(check->ok());
    out->set_stored_digest(check->stored_digest);
    out->set_rebuilt_digest(check->rebuilt_digest);
  }
  return grpc::Status::OK;
}

grpc::Status IntegrityServiceImpl::GetCheckpoint(grpc::ServerContext* context,
                                                 const v1::GetCheckpointRequest* request,
                                                 v1::SignedCheckpoint* response) {
  const uint64_t head = std::max(log_->head_position(), request->min_position());
  if (absl::Status s = AuthenticateAndWait(*auth_, *runner_, context, head); !s.ok()) {
    return ToGrpc(s);
  }
  if (head == 0) {
    return ToGrpc(absl::FailedPreconditionError("the ledger is empty: nothing to sign yet"));
  }
  if (damaged_at_ != 0) {
    return ToGrpc(absl::FailedPreconditionError(absl::StrCat(
        "the ledger failed its integrity check at position ", damaged_at_,
        " when it was opened; it signs no checkpoint until it is restored from a backup "
        "(run `ledgerctl verify` for details)")));
  }
  ModelReader reader(runner_);
  absl::StatusOr<std::string> root = merkle::RootHash(Nodes(reader), head);
  if (!root.ok()) return ToGrpc(root.status());
  absl::StatusOr<store::LoggedEvent> last = log_->Read(head);
  if (!last.ok()) return ToGrpc(last.status());
  response->set_tree_size(head);
  response->set_root_hash(*root);
  response->set_head_hash(last->hash());
  const int64_t micros = absl::ToUnixMicros(absl::Now());
  response->mutable_time()->set_seconds(micros / 1000000);
  response->mutable_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  return ToGrpc(signer_->Sign(response));
}

grpc::Status IntegrityServiceImpl::GetInclusionProof(grpc::ServerContext* context,
                                                     const v1::GetInclusionProofRequest* request,
                                                     v1::InclusionProof* response) {
  absl::StatusOr<uint64_t> position = domain::ParseEventName("event", request->event());
  if (!position.ok()) return ToGrpc(position.status());
  const uint64_t size = request->tree_size() == 0 ? log_->head_position() : request->tree_size();
  if (absl::Status s = AuthenticateAndWait(*auth_, *runner_, context, size); !s.ok()) {
    return ToGrpc(s);
  }
  if (absl::Status s = CheckSize("tree_size", size, runner_->position()); !s.ok()) {
    return ToGrpc(s);
  }
  if (*position > size) {
    return ToGrpc(absl::OutOfRangeError(
        absl::StrCat("event: ", request->event(), " is after the checkpoint's ", size, " events")));
  }
  absl::StatusOr<std::string> bytes = log_->ReadStored(*position);
  if (absl::IsNotFound(bytes.status())) {
    return ToGrpc(absl::NotFoundError(absl::StrCat("event: ", request->event(), " not found")));
  }
  if (!bytes.ok()) return ToGrpc(bytes.status());
  ModelReader reader(runner_);
  merkle::NodeLookup nodes = Nodes(reader);
  absl::StatusOr<std::vector<std::string>> path =
      merkle::InclusionProof(nodes, *position - 1, size);
  if (!path.ok()) return ToGrpc(path.status());
  absl::StatusOr<std::string> root = merkle::RootHash(nodes, size);
  if (!root.ok()) return ToGrpc(root.status());
  response->set_leaf_index(*position - 1);
  response->set_tree_size(size);
  for (std::string& p : *path) response->add_path(std::move(p));
  response->set_event_bytes(*std::move(bytes));
  response->set_root_hash(*root);
  return grpc::Status::OK;
}

grpc::Status IntegrityServiceImpl::GetConsistencyProof(
    grpc::ServerContext* context, const v1::GetConsistencyProofRequest* request,
    v1::ConsistencyProof* response) {
  if (absl::Status s = AuthenticateAndWait(*auth_, *runner_, context, request->new_size());
      !s.ok()) {
    return ToGrpc(s);
  }
  if (absl::Status s = CheckSize("new_size", request->new_size(), runner_->position()); !s.ok())
    return ToGrpc(s);
  if (absl::Status s = CheckSize("old_size", request->old_size(), request->new_size()); !s.ok())
    return ToGrpc(s);
  ModelReader reader(runner_);
  merkle::NodeLookup nodes = Nodes(reader);
  absl::StatusOr<std::vector<std::string>> path =
      merkle::ConsistencyProof(nodes, request->old_size(), request->new_size());
  if (!path.ok()) return ToGrpc(path.status());
  absl::StatusOr<std::string> old_root = merkle::RootHash(nodes, request->old_size());
  absl::StatusOr<std::string> new_root = merkle::RootHash(nodes, request->new_size());
  if (!old_root.ok()) return ToGrpc(old_root.status());
  if (!new_root.ok()) return ToGrpc(new_root.status());
  for (std::string& p : *path) response->add_path(std::move(p));
  response->set_old_root(*old_root);
  response->set_new_root(*new_root);
  return grpc::Status::OK;
}

}  // namespace auditledger::service
