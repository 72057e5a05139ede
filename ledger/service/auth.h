#ifndef AUDITLEDGER_LEDGER_SERVICE_AUTH_H_
#define AUDITLEDGER_LEDGER_SERVICE_AUTH_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server_context.h"
#include "ledger/domain/principal.h"

// Bearer-token authentication against a principals file:
//   {"principals": [{"id": "jsmith", "name": "J Smith", "role": "officer",
//                    "token_sha256": "<64 hex>", "disabled": false}]}
// Only the SHA-256 of each token is stored; presented tokens are hashed and
// compared in constant time.
namespace auditledger::service {

struct PrincipalRecord {
  domain::Principal principal;
  std::string token_sha256;  // 32 raw bytes
  bool disabled = false;
};

// Parses a principals file's contents; every problem names the entry.
absl::StatusOr<std::vector<PrincipalRecord>> ParsePrincipals(const std::string& json_text);

class Authenticator {
 public:
  static absl::StatusOr<std::unique_ptr<Authenticator>> Load(std::string path);

  // Reads the file again; on error the old principals stay in force.
  absl::Status Reload();

  // The caller of `context`, from its "authorization: Bearer <token>"
  // metadata; UNAUTHENTICATED when missing, malformed, unknown or disabled.
  absl::StatusOr<domain::Principal> Authenticate(const grpc::ServerContextBase& context) const;
  absl::StatusOr<domain::Principal> AuthenticateToken(absl::string_view token) const;
  // Whom a token names, disabled or not (the security log's "who" of a
  // refused call); nullopt for a token no principal has.
  std::optional<domain::Principal> IdentifyToken(absl::string_view token) const;

  size_t size() const;

  // OK when `id` is an enabled officer; else INVALID_ARGUMENT naming the id
  // and why it cannot own an action.
  absl::Status CheckOfficer(absl::string_view id) const;

 private:
  explicit Authenticator(std::string path) : path_(std::move(path)) {}
  // The record whose token this is, compared with every record in constant
  // time.
  std::optional<PrincipalRecord> Match(absl::string_view token) const;
  std::string path_;
  mutable absl::Mutex mu_;
  std::vector<PrincipalRecord> records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_AUTH_H_
