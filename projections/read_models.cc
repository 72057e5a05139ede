#include "projections/read_models.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/merkle/merkle.h"
#include "projections/fold.h"

namespace auditledger::projections {

std::string ActionKey(absl::string_view action) { return absl::StrCat("A", action); }
std::string PlanKey(absl::string_view plan) { return absl::StrCat("P", plan); }
std::string ChangeKey(uint64_t position) { return "p" + BigEndian64(position); }

std::string IndexPrefix(char kind, absl::string_view value) {
  std::string key(1, kind);
  key.append(value.data(), value.size());
  key.push_back('\0');
  return key;
}

std::string SnapshotPrefix(char kind, absl::string_view entity) {
  return IndexPrefix(kind, entity);
}

std::string SnapshotKey(char kind, absl::string_view entity, uint64_t micros,
                        uint64_t position) {
  return SnapshotPrefix(kind, entity) + BigEndian64(micros) + BigEndian64(position);
}

namespace {

bool IsPlanLevel(const v1::Event& event) {
  switch (event.payload_case()) {
    case v1::Event::kPlanCreated:
    case v1::Event::kRecommendationAdded:
    case v1::Event::kPeriodOpened:
    case v1::Event::kPeriodClosed:
      return true;
    default:
      return false;
  }
}

absl::string_view KeyOf(const rocksdb::Iterator& it) {
  return absl::string_view(it.key().data(), it.key().size());
}

bool HasPrefix(const rocksdb::Iterator& it, absl::string_view prefix) {
  return it.Valid() && absl::StartsWith(KeyOf(it), prefix);
}

class CurrentProjection final : public Projection {
 public:
  std::string name() const override { return kCurrent; }

  absl::Status Apply(const v1::LoggedEvent& logged, ProjectionTxn& txn) override {
    const v1::Event& event = logged.event();
    if (IsPlanLevel(event)) {
      const std::string key = PlanKey(PlanOf(event.stream()));
      v1::PlanView plan;
      if (absl::StatusOr<bool> got = txn.GetMessage(key, &plan); !got.ok())
        return got.status();
      FoldPlan(event, &plan);
      txn.PutMessage(key, plan);
      return absl::OkStatus();
    }
    const std::string key = ActionKey(event.stream());
    v1::ActionView action;
    if (absl::StatusOr<bool> got = txn.GetMessage(key, &action); !got.ok())
      return got.status();
    FoldAction(event, &action);
    txn.PutMessage(key, action);
    return absl::OkStatus();
  }
};

class ChangesProjection final : public Projection {
 public:
  std::string name() const override { return kChanges; }

  absl::Status Apply(const v1::LoggedEvent& logged, ProjectionTxn& txn) override {
    const v1::Event& event = logged.event();
    const uint64_t position = event.position();
    const bool is_action = IsActionStream(event.stream());
    v1::ActionView before;
    const std::string view_key = IndexPrefix('v', event.stream());
    if (is_action) {
      if (absl::StatusOr<bool> got = txn.GetMessage(view_key, &before); !got.ok())
        return got.status();
    }
    v1::Change corrected;
    bool has_corrected = false;
    if (event.has_event_corrected()) {
      const std::string key = ChangeKey(event.event_corrected().corrected_position());
      absl::StatusOr<bool> got = txn.GetMessage(key, &corrected);
      if (!got.ok()) return got.status();
      has_corrected = *got;
      if (has_corrected) {
        // The corrected entry now links to its correction.
        v1::Change linked = corrected;
        linked.set_corrected_by(position);
        txn.PutMessage(key, linked);
      }
    }
    v1::Change change = DescribeChange(event, is_action ? &before : nullptr,
                                       has_corrected ? &corrected : nullptr);
    const std::string pos = BigEndian64(position);
    txn.PutMessage(ChangeKey(position), change);
    txn.Put(IndexPrefix('s', event.stream()) + pos, "");
    txn.Put(IndexPrefix('a', event.actor().id()) + pos, "");
    txn.Put(IndexPrefix('y', change.type()) + pos, "");
    txn.Put(IndexPrefix('w', event.stream()) + BigEndian64(Micros(event.effective_at())) + pos, "");
    txn.Put(IndexPrefix('t', event.stream()) + BigEndian64(Micros(event.recorded_at())) + pos, "");
    if (is_action) {
      FoldAction(event, &before);
      txn.PutMessage(view_key, before);
    }
    return absl::OkStatus();
  }
};

class TemporalProjection final : public Projection {
 public:
  std::string name() const override { return kTemporal; }

  absl::Status Apply(const v1::LoggedEvent& logged, ProjectionTxn& txn) override {
    const v1::Event& event = logged.event();
    if (IsPlanLevel(event)) {
      return Advance<v1::PlanView>(event, PlanOf(event.stream()), txn, &FoldPlan);
    }
    return Advance<v1::ActionView>(event, event.stream(), txn, &FoldAction);
  }

 private:
  template <typename View>
  static absl::Status Advance(const v1::Event& event, const std::string& entity,
                              ProjectionTxn& txn,
                              void (*fold)(const v1::Event&, View*)) {
    const uint64_t position = event.position();
    const std::string max_suffix(16, '\xff');
    std::unique_ptr<rocksdb::Iterator> it = txn.NewIterator();

    // Recorded clock: positions follow recorded time, so the newest snapshot
    // is the base.
    View recorded;
    const std::string r_prefix = SnapshotPrefix('r', entity);
    it->SeekForPrev(r_prefix + max_suffix);
    if (HasPrefix(*it, r_prefix) &&
        !recorded.ParseFromArray(it->value().data(),
                                 static_cast<int>(it->value().size()))) {
      return absl::DataLossError("temporal snapshot does not decode");
    }
    fold(event, &recorded);

    // Effective clock: a back-dated event changes every later snapshot, so
    // the ones after it are folded again.
    const std::string e_prefix = SnapshotPrefix('e', entity);
    const std::string e_key =
        SnapshotKey('e', entity, Micros(event.effective_at()), position);
    View effective;
    it->SeekForPrev(e_key);
    if (HasPrefix(*it, e_prefix) &&
        !effective.ParseFromArray(it->value().data(),
                                  static_cast<int>(it->value().size()))) {
      return absl::DataLossError("temporal snapshot does not decode");
    }
    std::vector<std::string> later;
    for (it->Seek(e_key); HasPrefix(*it, e_prefix); it->Next()) {
      later.emplace_back(KeyOf(*it));
    }
    if (!it->status().ok()) return absl::UnavailableError(it->status().ToString());
    it.reset();

    txn.PutMessage(SnapshotKey('r', entity, Micros(event.recorded_at()), position),
                   recorded);
    txn.PutMessage(IndexPrefix('l', entity) + BigEndian64(position), event);
    fold(event, &effective);
    txn.PutMessage(e_key, effective);
    for (const std::string& key : later) {
      const uint64_t later_position =
          ReadBigEndian64(absl::string_view(key).substr(key.size() - 8));
      v1::Event earlier_logged;
      absl::StatusOr<bool> got = txn.GetMessage(
          IndexPrefix('l', entity) + BigEndian64(later_position), &earlier_logged);
      if (!got.ok()) return got.status();
      if (!*got) return absl::DataLossError("temporal: event copy missing");
      fold(earlier_logged, &effective);
      txn.PutMessage(key, effective);
    }
    return absl::OkStatus();
  }
};

// Complete subtrees of the Merkle tree over the log (see ledger/merkle):
// leaf i is the event at position i + 1.
class MerkleProjection final : public Projection {
 public:
  std::string name() const override { return kMerkle; }

  absl::Status Apply(const v1::LoggedEvent& logged, ProjectionTxn& txn) override {
    uint64_t index = logged.event().position() - 1;
    std::string node = merkle::LeafHash(logged.hash());
    txn.Put(MerkleNodeKey(0, index), node);
    // Each completed pair of subtrees completes their parent.
    for (int level = 0; (index & 1) == 1 && level < 64; ++level) {
      absl::StatusOr<std::optional<std::string>> left = txn.Get(MerkleNodeKey(level, index - 1));
      if (!left.ok()) return left.status();
      if (!left->has_value()) return absl::DataLossError("merkle: a left subtree is missing");
      node = merkle::NodeHash(**left, node);
      index >>= 1;
      txn.Put(MerkleNodeKey(level + 1, index), node);
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::string MerkleNodeKey(int level, uint64_t index) {
  std::string key = "n";
  key.push_back(static_cast<char>(level));
  return key + BigEndian64(index);
}

std::vector<std::unique_ptr<Projection>> DefaultProjections() {
  std::vector<std::unique_ptr<Projection>> out;
  out.push_back(std::make_unique<CurrentProjection>());
  out.push_back(std::make_unique<ChangesProjection>());
  out.push_back(std::make_unique<TemporalProjection>());
  out.push_back(std::make_unique<MerkleProjection>());
  return out;
}

}  // namespace auditledger::projections
