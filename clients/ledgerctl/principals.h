#ifndef AUDITLEDGER_CLIENTS_LEDGERCTL_PRINCIPALS_H_
#define AUDITLEDGER_CLIENTS_LEDGERCTL_PRINCIPALS_H_

#include <string>

#include "absl/status/statusor.h"

namespace auditledger::ledgerctl {

// Adds a principal to the principals file (creating it if absent) with a
// new random token, and returns the token. Only its SHA-256 is written. The
// file is replaced atomically and readable by its owner only.
absl::StatusOr<std::string> AddPrincipal(const std::string& path, const std::string& id,
                                         const std::string& name, const std::string& role);

absl::Status DisablePrincipal(const std::string& path, const std::string& id);

}  // namespace auditledger::ledgerctl

#endif  // AUDITLEDGER_CLIENTS_LEDGERCTL_PRINCIPALS_H_
