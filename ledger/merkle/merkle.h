#ifndef AUDITLEDGER_LEDGER_MERKLE_MERKLE_H_
#define AUDITLEDGER_LEDGER_MERKLE_MERKLE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// A Merkle tree over the log in the style of RFC 9162 (Certificate
// Transparency v2): leaf i is the event at position i + 1, its leaf hash is
// SHA-256(0x00 || event hash), an interior node SHA-256(0x01 || left ||
// right). Proofs are the RFC's inclusion and consistency proofs.
namespace auditledger::merkle {

std::string LeafHash(absl::string_view event_hash);
std::string NodeHash(absl::string_view left, absl::string_view right);
// The root of the empty tree: SHA-256 of nothing.
std::string EmptyRoot();
// The hash of the complete subtree over `leaf_hashes`, in order; there must
// be a power of two of them. Consumes them.
std::string CompleteSubtreeHash(std::vector<std::string> leaf_hashes);

// Hash of the complete subtree of 2^level leaves starting at leaf
// index << level; NOT_FOUND if not (yet) stored.
using NodeLookup = std::function<absl::StatusOr<std::string>(int level, uint64_t index)>;

// The hash of leaves [start, start + size), from stored complete subtrees:
// O(log size) lookups.
absl::StatusOr<std::string> SubtreeHash(const NodeLookup& nodes, uint64_t start, uint64_t size);
absl::StatusOr<std::string> RootHash(const NodeLookup& nodes, uint64_t tree_size);

// The audit path of leaf `index` in the tree of `tree_size` leaves.
absl::StatusOr<std::vector<std::string>> InclusionProof(const NodeLookup& nodes, uint64_t index,
                                                        uint64_t tree_size);
// The proof that the tree of `old_size` leaves is a prefix of the tree of
// `new_size` leaves.
absl::StatusOr<std::vector<std::string>> ConsistencyProof(const NodeLookup& nodes,
                                                          uint64_t old_size, uint64_t new_size);

// Client-side checks (RFC 9162 sections 2.1.3.2 and 2.1.4.2).
bool VerifyInclusion(absl::string_view leaf_hash, uint64_t index, uint64_t tree_size,
                     const std::vector<std::string>& proof, absl::string_view root);
bool VerifyConsistency(uint64_t old_size, uint64_t new_size, absl::string_view old_root,
                       absl::string_view new_root, const std::vector<std::string>& proof);

// Computes a root over leaves fed in order, in O(log n) memory.
class StreamingRoot {
 public:
  void Add(absl::string_view leaf_hash);
  uint64_t size() const { return size_; }
  std::string Root() const;

 private:
  // Complete subtrees, largest first; sizes are the set bits of size_.
  std::vector<std::string> stack_;
  uint64_t size_ = 0;
};

}  // namespace auditledger::merkle

#endif  // AUDITLEDGER_LEDGER_MERKLE_MERKLE_H_
