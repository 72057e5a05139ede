#ifndef AUDITLEDGER_CLIENTS_LEDGERCTL_PRINCIPALS_H_
#define AUDITLEDGER_CLIENTS_LEDGERCTL_PRINCIPALS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ledger/service/auth.h"

namespace auditledger::ledgerctl {

// Adds a principal to the principals file (creating it if absent) with a
// new random token, and returns the token. Only its SHA-256 is written. The
// file is replaced atomically and readable by its owner only.
absl::StatusOr<std::string> AddPrincipal(const std::string& path, const std::string& id,
                                         const std::string& name, const std::string& role);

// Refuses, or no longer refuses, a principal's token (NOT_FOUND for an id
// the file lacks).
absl::Status DisablePrincipal(const std::string& path, const std::string& id);
absl::Status EnablePrincipal(const std::string& path, const std::string& id);

// Gives a principal a new random token in place of its old one, and returns
// it; whether it is disabled stays as it was.
absl::StatusOr<std::string> RotatePrincipal(const std::string& path, const std::string& id);

// The principals of a file, as ledgerd reads them.
absl::StatusOr<std::vector<service::PrincipalRecord>> ListPrincipals(const std::string& path);

}  // namespace auditledger::ledgerctl

#endif  // AUDITLEDGER_CLIENTS_LEDGERCTL_PRINCIPALS_H_
