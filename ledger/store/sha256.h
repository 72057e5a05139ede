#ifndef AUDITLEDGER_LEDGER_STORE_SHA256_H_
#define AUDITLEDGER_LEDGER_STORE_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"

namespace auditledger::store {

inline constexpr size_t kHashBytes = 32;

// SHA-256 (OpenSSL) of `data`, as 32 raw bytes.
std::string Sha256(absl::string_view data);

// SHA-256 over the concatenation of `parts`.
std::string Sha256Concat(std::initializer_list<absl::string_view> parts);

std::string ToHex(absl::string_view bytes);

// Compares in time independent of where the inputs differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace auditledger::store

#endif  // AUDITLEDGER_LEDGER_STORE_SHA256_H_
