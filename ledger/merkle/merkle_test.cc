#include "ledger/merkle/merkle.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ledger/store/sha256.h"

namespace auditledger::merkle {
namespace {

// A tree held in memory: every complete subtree, as the projection stores.
class Tree {
 public:
  explicit Tree(uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) Add(LeafHash(store::Sha256(absl::StrCat("event ", i))));
  }
  void Add(const std::string& leaf) {
    uint64_t index = size_++;
    nodes_[{0, index}] = leaf;
    leaves_.push_back(leaf);
    std::string node = leaf;
    for (int level = 0; index & 1; ++level) {
      node = NodeHash(nodes_[{level, index - 1}], node);
      index >>= 1;
      nodes_[{level + 1, index}] = node;
    }
  }
  NodeLookup Lookup() const {
    return [this](int level, uint64_t index) -> absl::StatusOr<std::string> {
      auto it = nodes_.find({level, index});
      if (it == nodes_.end()) return absl::NotFoundError("no node");
      return it->second;
    };
  }
  const std::string& leaf(uint64_t i) const { return leaves_[i]; }

 private:
  uint64_t size_ = 0;
  std::vector<std::string> leaves_;
  std::map<std::pair<int, uint64_t>, std::string> nodes_;
};

// The RFC's recursive definition, for reference.
std::string Mth(const Tree& tree, uint64_t start, uint64_t n) {
  if (n == 0) return EmptyRoot();
  if (n == 1) return tree.leaf(start);
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return NodeHash(Mth(tree, start, k), Mth(tree, start + k, n - k));
}

TEST(MerkleTest, RootsAgreeWithTheDefinitionAndTheStreamingRoot) {
  for (uint64_t n = 0; n <= 70; ++n) {
    Tree tree(n);
    StreamingRoot streaming;
    for (uint64_t i = 0; i < n; ++i) streaming.Add(tree.leaf(i));
    auto root = RootHash(tree.Lookup(), n);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(*root, Mth(tree, 0, n)) << n;
    EXPECT_EQ(streaming.Root(), *root) << n;
  }
}

TEST(MerkleTest, CompleteSubtreeHashIsTheStoredNode) {
  Tree tree(64);
  for (int level = 0; level <= 6; ++level) {
    const uint64_t size = uint64_t{1} << level;
    for (uint64_t index = 0; index < 64 / size; ++index) {
      std::vector<std::string> leaves;
      for (uint64_t i = 0; i < size; ++i) leaves.push_back(tree.leaf(index * size + i));
      auto stored = tree.Lookup()(level, index);
      ASSERT_TRUE(stored.ok());
      EXPECT_EQ(CompleteSubtreeHash(leaves), *stored) << level << "/" << index;
    }
  }
}

TEST(MerkleTest, InclusionProofsVerifyAndDetectChanges) {
  for (uint64_t n = 1; n <= 40; ++n) {
    Tree tree(n);
    const std::string root = Mth(tree, 0, n);
    for (uint64_t m = 0; m < n; ++m) {
      auto proof = InclusionProof(tree.Lookup(), m, n);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(VerifyInclusion(tree.leaf(m), m, n, *proof, root)) << m << "/" << n;
      EXPECT_FALSE(VerifyInclusion(LeafHash("altered"), m, n, *proof, root));
      if (n > 1) {
        EXPECT_FALSE(VerifyInclusion(tree.leaf(m), (m + 1) % n, n, *proof, root));
      }
      if (!proof->empty()) {
        auto bad = *proof;
        bad[0][0] ^= 1;
        EXPECT_FALSE(VerifyInclusion(tree.leaf(m), m, n, bad, root));
      }
    }
  }
}

TEST(MerkleTest, ConsistencyProofsVerifyAndDetectChanges) {
  for (uint64_t n = 1; n <= 40; ++n) {
    Tree tree(n);
    const std::string new_root = Mth(tree, 0, n);
    for (uint64_t m = 1; m <= n; ++m) {
      const std::string old_root = Mth(tree, 0, m);
      auto proof = ConsistencyProof(tree.Lookup(), m, n);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(VerifyConsistency(m, n, old_root, new_root, *proof)) << m << "/" << n;
      EXPECT_FALSE(VerifyConsistency(m, n, LeafHash("x"), new_root, *proof));
      if (m < n) {
        EXPECT_FALSE(VerifyConsistency(m, n, old_root, LeafHash("x"), *proof));
        auto bad = *proof;
        bad.back()[0] ^= 1;
        EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, bad));
      }
    }
  }
}

}  // namespace
}  // namespace auditledger::merkle
