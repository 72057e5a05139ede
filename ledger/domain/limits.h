#ifndef AUDITLEDGER_LEDGER_DOMAIN_LIMITS_H_
#define AUDITLEDGER_LEDGER_DOMAIN_LIMITS_H_

#include <cstddef>

// Bounds on what one command may carry. They are part of the API contract:
// a request beyond them is INVALID_ARGUMENT, never truncated.
namespace auditledger::domain {

inline constexpr size_t kMaxTitleBytes = 512;
inline constexpr size_t kMaxDescriptionBytes = 4 * 1024;
inline constexpr size_t kMaxNarrativeBytes = 16 * 1024;
inline constexpr size_t kMaxRecommendationTextBytes = 16 * 1024;
inline constexpr size_t kMaxReasonBytes = 2 * 1024;
inline constexpr size_t kMaxRequestIdBytes = 128;
inline constexpr size_t kMaxPrincipalIdBytes = 64;
inline constexpr size_t kMaxPrincipalNameBytes = 200;
inline constexpr size_t kMaxCommandsPerRequest = 1000;
inline constexpr int kMaxRecommendationNumber = 1000;

}  // namespace auditledger::domain

#endif  // AUDITLEDGER_LEDGER_DOMAIN_LIMITS_H_
