#ifndef AUDITLEDGER_LEDGER_DOMAIN_PRINCIPAL_H_
#define AUDITLEDGER_LEDGER_DOMAIN_PRINCIPAL_H_

#include <string>

#include "absl/strings/string_view.h"
#include "auditledger/v1/event.pb.h"

namespace auditledger::domain {

// An authenticated caller.
struct Principal {
  std::string id;
  std::string name;
  v1::Role role = v1::ROLE_UNSPECIFIED;
};

absl::string_view RoleName(v1::Role role);  // "admin", "officer", "scrutiny"

}  // namespace auditledger::domain

#endif  // AUDITLEDGER_LEDGER_DOMAIN_PRINCIPAL_H_
