#ifndef AUDITLEDGER_LEDGER_INTEGRITY_CHECKPOINT_H_
#define AUDITLEDGER_LEDGER_INTEGRITY_CHECKPOINT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auditledger/v1/integrity_service.pb.h"

// Ed25519 signing of checkpoints (OpenSSL), and the digest text people
// publish.
namespace auditledger::integrity {

// The exact bytes a checkpoint's signature covers.
std::string CheckpointMessage(const v1::SignedCheckpoint& checkpoint);

class Signer {
 public:
  // Loads the PEM private key at `path`, or generates one there (mode 0600)
  // when the file does not exist.
  static absl::StatusOr<std::unique_ptr<Signer>> LoadOrCreate(const std::string& path);
  ~Signer();

  // Fills in public_key and signature.
  absl::Status Sign(v1::SignedCheckpoint* checkpoint) const;
  const std::string& public_key() const { return public_key_; }

 private:
  Signer() = default;
  void* key_ = nullptr;  // EVP_PKEY*
  std::string public_key_;
};

// Checks a checkpoint's signature against its own public key (pin the key
// by comparing it with the one you trust).
bool VerifySignature(const v1::SignedCheckpoint& checkpoint);

// "alcp1:" + base64url(serialized checkpoint), and back.
std::string EncodeDigest(const v1::SignedCheckpoint& checkpoint);
absl::StatusOr<v1::SignedCheckpoint> DecodeDigest(absl::string_view digest);

}  // namespace auditledger::integrity

#endif  // AUDITLEDGER_LEDGER_INTEGRITY_CHECKPOINT_H_
