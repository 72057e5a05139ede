#include "ledger/merkle/merkle.h"

#include <cassert>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "ledger/store/sha256.h"

namespace auditledger::merkle {
namespace {

// The largest power of two strictly less than n (n >= 2).
uint64_t SplitPoint(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

int Log2(uint64_t n) {
  int level = 0;
  while ((uint64_t{1} << level) < n) ++level;
  return level;
}

absl::Status SubProof(const NodeLookup& nodes, uint64_t m, uint64_t start, uint64_t n, bool whole,
                      std::vector<std::string>* out) {
  if (m == n) {
    if (!whole) {
      absl::StatusOr<std::string> h = SubtreeHash(nodes, start, n);
      if (!h.ok()) return h.status();
      out->push_back(*h);
    }
    return absl::OkStatus();
  }
  const uint64_t k = SplitPoint(n);
  if (m <= k) {
    if (absl::Status s = SubProof(nodes, m, start, k, whole, out); !s.ok()) return s;
    absl::StatusOr<std::string> right = SubtreeHash(nodes, start + k, n - k);
    if (!right.ok()) return right.status();
    out->push_back(*right);
  } else {
    if (absl::Status s = SubProof(nodes, m - k, start + k, n - k, false, out); !s.ok()) return s;
    absl::StatusOr<std::string> left = SubtreeHash(nodes, start, k);
    if (!left.ok()) return left.status();
    out->push_back(*left);
  }
  return absl::OkStatus();
}

}  // namespace

std::string LeafHash(absl::string_view event_hash) {
  return store::Sha256Concat({absl::string_view("\x00", 1), event_hash});
}

std::string NodeHash(absl::string_view left, absl::string_view right) {
  return store::Sha256Concat({absl::string_view("\x01", 1), left, right});
}

std::string EmptyRoot() { return store::Sha256(""); }

std::string CompleteSubtreeHash(std::vector<std::string> leaf_hashes) {
  assert(IsPowerOfTwo(leaf_hashes.size()));
  // Each pass pairs the nodes of one level into the level above.
  for (size_t n = leaf_hashes.size(); n > 1; n /= 2) {
    for (size_t i = 0; i < n / 2; ++i) {
      leaf_hashes[i] = NodeHash(leaf_hashes[2 * i], leaf_hashes[2 * i + 1]);
    }
  }
  return std::move(leaf_hashes[0]);
}

absl::StatusOr<std::string> SubtreeHash(const NodeLookup& nodes, uint64_t start, uint64_t size) {
  if (size == 0) return EmptyRoot();
  if (IsPowerOfTwo(size) && start % size == 0) {
    return nodes(Log2(size), start / size);
  }
  const uint64_t k = SplitPoint(size);
  absl::StatusOr<std::string> left = SubtreeHash(nodes, start, k);
  if (!left.ok()) return left.status();
  absl::StatusOr<std::string> right = SubtreeHash(nodes, start + k, size - k);
  if (!right.ok()) return right.status();
  return NodeHash(*left, *right);
}

absl::StatusOr<std::string> RootHash(const NodeLookup& nodes, uint64_t tree_size) {
  return SubtreeHash(nodes, 0, tree_size);
}

absl::StatusOr<std::vector<std::string>> InclusionProof(const NodeLookup& nodes, uint64_t index,
                                                        uint64_t tree_size) {
  if (index >= tree_size) {
    return absl::OutOfRangeError(absl::StrCat("leaf ", index, " is not in a tree of ", tree_size));
  }
  std::vector<std::string> path;
  uint64_t start = 0, n = tree_size, m = index;
  // Iterative form of PATH(m, D[start:start+n]); the proof lists siblings
  // from the leaf up, so collect top-down and reverse.
  std::vector<std::string> top_down;
  while (n > 1) {
    const uint64_t k = SplitPoint(n);
    if (m < k) {
      absl::StatusOr<std::string> right = SubtreeHash(nodes, start + k, n - k);
      if (!right.ok()) return right.status();
      top_down.push_back(*right);
      n = k;
    } else {
      absl::StatusOr<std::string> left = SubtreeHash(nodes, start, k);
      if (!left.ok()) return left.status();
      top_down.push_back(*left);
      start += k;
      m -= k;
      n -= k;
    }
  }
  path.assign(top_down.rbegin(), top_down.rend());
  return path;
}

absl::StatusOr<std::vector<std::string>> ConsistencyProof(const NodeLookup& nodes,
                                                          uint64_t old_size, uint64_t new_size) {
  if (old_size > new_size) {
    return absl::InvalidArgumentError("old tree is larger than the new one");
  }
  std::vector<std::string> proof;
  if (old_size == 0 || old_size == new_size) return proof;
  if (absl::Status s = SubProof(nodes, old_size, 0, new_size, true, &proof); !s.ok()) {
    return s;
  }
  return proof;
}

bool VerifyInclusion(absl::string_view leaf_hash, uint64_t index, uint64_t tree_size,
                     const std::vector<std::string>& proof, absl::string_view root) {
  if (index >= tree_size) return false;
  uint64_t fn = index, sn = tree_size - 1;
  std::string r(leaf_hash);
  for (const std::string& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = NodeHash(p, r);
      if (!(fn & 1)) {
        while (fn != 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool VerifyConsistency(uint64_t old_size, uint64_t new_size, absl::string_view old_root,
                       absl::string_view new_root, const std::vector<std::string>& proof) {
  if (old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (old_size == 0) return proof.empty();
  if (proof.empty()) return false;
  std::vector<std::string> path = proof;
  if (IsPowerOfTwo(old_size)) path.insert(path.begin(), std::string(old_root));
  uint64_t fn = old_size - 1, sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  std::string fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const std::string& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      if (!(fn & 1)) {
        while (fn != 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == old_root && sr == new_root;
}

void StreamingRoot::Add(absl::string_view leaf_hash) {
  std::string node(leaf_hash);
  // Merge equal-sized complete subtrees, as binary addition carries.
  uint64_t carry = size_;
  while (carry & 1) {
    node = NodeHash(stack_.back(), node);
    stack_.pop_back();
    carry >>= 1;
  }
  stack_.push_back(std::move(node));
  ++size_;
}

std::string StreamingRoot::Root() const {
  if (stack_.empty()) return EmptyRoot();
  std::string root = stack_.back();
  for (size_t i = stack_.size() - 1; i-- > 0;) root = NodeHash(stack_[i], root);
  return root;
}

}  // namespace auditledger::merkle
