#include "projections/read_models.h"

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/domain/target_date.h"
#include "ledger/merkle/merkle.h"
#include "ledger/store/event_log.h"
#include "projections/blocks.h"
#include "projections/fold.h"
#include "projections/temporal.h"

namespace auditledger::projections {

std::string ActionKey(absl::string_view action) { return absl::StrCat("A", action); }
std::string PlanKey(absl::string_view plan) { return absl::StrCat("P", plan); }

std::string IndexPrefix(char kind, absl::string_view value) {
  std::string key(1, kind);
  key.append(value.data(), value.size());
  key.push_back('\0');
  return key;
}

namespace {

// Plans and actions of every plan; far more than one council's plans.
constexpr size_t kMaxCachedViews = 100'000;

class CurrentProjection final : public Projection {
 public:
  std::string name() const override { return kCurrent; }
  // 2: a corrected status takes the correction's reason. 3: the first
  // target set on an action adopted without one is its original, not a
  // revision. 4: a status change corrected to what it changed from
  // restores the reason before it. 5: an action's reason for being added
  // is its status's only when paused or stopped. 6: an adoption given a
  // target by correction after a first target makes that one a revision.
  uint64_t layout() const override { return 6; }

  absl::Status Open(const ProjectionContext&) override {
    plans_.Clear();
    actions_.Clear();
    return absl::OkStatus();
  }

  absl::Status Apply(const v1::LoggedEvent& logged, ProjectionTxn& txn) override {
    const v1::Event& event = logged.event();
    if (IsPlanLevel(event)) {
      absl::StatusOr<v1::PlanView*> plan = plans_.Mutable(txn, PlanKey(PlanOf(event.stream())));
      if (!plan.ok()) return plan.status();
      FoldPlan(event, *plan);
      return absl::OkStatus();
    }
    absl::StatusOr<v1::ActionView*> action = actions_.Mutable(txn, ActionKey(event.stream()));
    if (!action.ok()) return action.status();
    FoldAction(event, *action);
    return absl::OkStatus();
  }

  absl::Status Finish(ProjectionTxn& txn) override {
    plans_.Flush(txn);
    actions_.Flush(txn);
    return absl::OkStatus();
  }

 private:
  ViewCache<v1::PlanView> plans_{kMaxCachedViews};
  ViewCache<v1::ActionView> actions_{kMaxCachedViews};
};

class ChangesProjection final : public Projection {
 public:
  std::string name() const override { return kChanges; }
  // 2: no 's' (stream, position) index; 't' gives the same order. 3: a
  // narrative update's texts are left to the log (StoredChange). 4: 'w'
  // holds dated events only. 5: 'a' and 'y' in blocks of positions. 6:
  // 'a', 'y' and 't' in blocks of entries (projections/blocks.h). 7: a full
  // block keyed by its last entry. 8: 'v' holds narrative marks alone. 9: a
  // narrative update holds only what its event does not say.
  // 10: records in blocks of kChangesPerBlock. 11: an action's creation
  // says the target, owner and status it was added with; a correction of a
  // corrected event has what the last correction said as its before-value.
  uint64_t layout() const override { return 11; }

  // A correction rewrites the change it corrects, which its step reads back
  // from the model: that change must be committed, not one of the step's
  // own (whose writes the step cannot read), so a correction is a step of
  // its own. Corrections are few; the changes of every other step are
  // written and forgotten.
  bool NeedsOwnStep(const v1::Event& event) const override { return event.has_event_corrected(); }

  absl::Status Open(const ProjectionContext& context) override {
    log_ = context.log;
    views_.Clear();
    lists_.Clear();
    records_.Clear();
    return absl::OkStatus();
  }

  absl::Status Finish(ProjectionTxn& txn) override {
    views_.Flush(txn);
    lists_.Flush(txn);
    records_.Flush(txn);
    return absl::OkStatus();
  }

  absl::Status Apply(const v1::LoggedEvent& logged, ProjectionTxn& txn) override {
    const v1::Event& event = logged.event();
    const uint64_t position = event.position();
    // Of an action's view, a change needs which events set its narratives
    // (a narrative update's before-value), and only an event that sets one
    // changes that.
    v1::ActionView* before = nullptr;
    if (IsActionStream(event.stream()) && ChangesNarrative(event)) {
      absl::StatusOr<v1::ActionView*> view = views_.Mutable(txn, IndexPrefix('v', event.stream()));
      if (!view.ok()) return view.status();
      before = *view;
    }
    if (absl::Status s = records_.Prepare(txn, position); !s.ok()) return s;
    v1::Change* corrected = nullptr;
    v1::Change committed;
    if (event.has_event_corrected()) {
      absl::StatusOr<v1::Change*> found =
          Find(txn, event.event_corrected().corrected_position(), &committed);
      if (!found.ok()) return found.status();
      corrected = *found;
    }
    v1::Change& change = change_;  // each event's, in the same memory
    DescribeChangeInto(event, before, corrected, &change);
    if (corrected != nullptr) {
      if (absl::Status s = BeforeCorrection(txn, *corrected, &change); !s.ok()) return s;
    }
    if (corrected != nullptr) {
      // The corrected entry now links to its correction.
      corrected->set_corrected_by(position);
      if (absl::Status s =
              records_.Replace(txn, corrected->position(), StoredChange(*corrected, &slim_));
          !s.ok()) {
        return s;
      }
    }
    // A narrative update without what its event says (Find puts that back
    // for a correction).
    records_.Add(position, StoredChange(change, &slim_));
    // Most events take effect when they are recorded: their 't' entry is
    // their place on both clocks, and only a dated one has a 'w' entry too.
    const uint64_t recorded_us = Micros(event.recorded_at());
    const uint64_t effective_us = Micros(event.effective_at());
    const bool dated = effective_us != recorded_us;
    for (const auto& [prefix, entry] :
         {std::pair{IndexPrefix('a', event.actor().id()), BlockEntry{0, position, false}},
          std::pair{IndexPrefix('y', change.type()), BlockEntry{0, position, false}},
          std::pair{IndexPrefix('t', event.stream()), BlockEntry{recorded_us, position, dated}}}) {
      if (absl::Status s = lists_.Add(txn, prefix, entry); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("changes model: ", s.message()));
      }
    }
    if (dated) {
      txn.Put(IndexPrefix('w', event.stream()) + BigEndian64(effective_us) + BigEndian64(position),
              "");
    }
    if (before != nullptr) FoldNarratives(event, before, /*with_texts=*/false);
    return absl::OkStatus();
  }

 private:
  // What the field a correction replaces said until it: the last
  // correction's of that field, if the event was corrected before, else its
  // own (for an action's creation, which says more than one field, that
  // field's value in its event).
  absl::Status BeforeCorrection(ProjectionTxn& txn, const v1::Change& corrected,
                                v1::Change* change) {
    if (corrected.corrected_by() != 0) {
      absl::StatusOr<v1::Change*> last = Find(txn, corrected.corrected_by(), &last_correction_);
      if (!last.ok()) return last.status();
      if (*last == nullptr) {
        return absl::DataLossError(absl::StrCat("changes model: change ", corrected.position(),
                                                " is corrected by ", corrected.corrected_by(),
                                                ", which the model does not hold"));
      }
      // (Only the latest correction is linked: an earlier one of the other
      // field of a creation is passed over.)
      if ((*last)->field() == change->field()) {
        change->set_before((*last)->after());
        return absl::OkStatus();
      }
    }
    if (corrected.type() != "action_added") return absl::OkStatus();
    absl::StatusOr<v1::LoggedEvent> added = log_->Read(corrected.position());
    if (!added.ok()) return added.status();
    if (!added->event().has_action_added()) {
      return absl::DataLossError(absl::StrCat("changes model: event ", corrected.position(),
                                              " is not the action's creation its change says"));
    }
    const v1::ActionAdded& a = added->event().action_added();
    change->set_before(change->field() == "target_date" ? domain::FormatTargetDate(a.target_date())
                                                        : a.description());
    return absl::OkStatus();
  }

  // The change at `position`, read into `committed` from the model as
  // committed or the block being filled (a correction is alone in its step,
  // so no block it reads has writes of its own step); null when there is
  // none.
  absl::StatusOr<v1::Change*> Find(ProjectionTxn& txn, uint64_t position, v1::Change* committed) {
    absl::StatusOr<bool> got = records_.Get(txn, position, committed);
    if (!got.ok()) return got.status();
    if (!*got) return nullptr;
    const EventReader read = [this](uint64_t at) -> absl::StatusOr<v1::Event> {
      absl::StatusOr<v1::LoggedEvent> logged = log_->Read(at);
      if (!logged.ok()) return logged.status();
      return std::move(*logged->mutable_event());
    };
    if (absl::Status s = CompleteChange(read, committed); !s.ok()) return s;
    return committed;
  }

  const store::EventLog* log_ = nullptr;
  // Actors, change types and resources: far more than one council's plans.
  BlockLists lists_{kMaxCachedViews};
  ViewCache<v1::ActionView> views_{kMaxCachedViews};
  ChangeBlocks records_;
  v1::Change change_;
  v1::Change slim_;             // a narrative update's stored form
  v1::Change last_correction_;  // of an event corrected again
};

// Complete subtrees of the Merkle tree over the log (see ledger/merkle):
// leaf i is the event at position i + 1. Subtrees of fewer than
// 2^kMerkleLowestStoredLevel leaves are not stored; they are hashed from
// their events when a proof needs them.
class MerkleProjection final : public Projection {
 public:
  std::string name() const override { return kMerkle; }
  // 2: no subtrees below kMerkleLowestStoredLevel (1 stored every leaf and
  // every node: two keys an event, where now there is one every four).
  uint64_t layout() const override { return 2; }
  bool NeedsHash() const override { return true; }
  // The tree is over the stored bytes: their hash and the position are all
  // it reads.
  bool NeedsEvent() const override { return false; }

  absl::Status Open(const ProjectionContext& context) override {
    last_.fill({UINT64_MAX, std::string()});
    // The events of the block the model holds only in part (none when it
    // ends on a block's end) are hashed again from the log, to hold the
    // unstored subtrees the next events pair with.
    constexpr uint64_t kBlock = uint64_t{1} << kMerkleLowestStoredLevel;
    const uint64_t first = context.position / kBlock * kBlock + 1;
    if (first > context.position) return absl::OkStatus();
    const uint64_t count = context.position - first + 1;
    std::vector<store::EventLog::StoredEvent> events;
    if (absl::Status s = context.log->ReadStoredRange(first, count, SIZE_MAX, &events); !s.ok()) {
      return s;
    }
    for (uint64_t i = 0; i < count; ++i) {
      if (i >= events.size() || events[i].position != first + i) {
        return absl::DataLossError(absl::StrCat("merkle: the log has no event at position ",
                                                first + i, ", which the model holds"));
      }
    }
    for (const store::EventLog::StoredEvent& event : events) {
      absl::Status s =
          Add(event.position - 1, merkle::LeafHash(store::EventLog::HashOf(event.bytes)), nullptr);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Apply(const v1::LoggedEvent& logged, ProjectionTxn& txn) override {
    return Add(logged.event().position() - 1, merkle::LeafHash(logged.hash()), &txn);
  }

 private:
  static constexpr int kLevels = 64;

  // Adds leaf `index`, whose hash is `node`: each completed pair of subtrees
  // completes their parent. Without `txn`, nothing is stored (nor read):
  // for the leaves of a partial block, whose subtrees are all unstored.
  absl::Status Add(uint64_t index, std::string node, ProjectionTxn* txn) {
    for (int level = 0; level < kLevels; ++level) {
      const bool stored = level >= kMerkleLowestStoredLevel && txn != nullptr;
      const bool right = (index & 1) == 1;
      std::string left;
      if (right) {
        if (last_[level].first == index - 1) {
          left = last_[level].second;
        } else if (stored) {
          absl::StatusOr<std::optional<std::string>> got =
              txn->Get(MerkleNodeKey(level, index - 1));
          if (!got.ok()) return got.status();
          if (!got->has_value()) return absl::DataLossError("merkle: a left subtree is missing");
          left = **got;
        } else {
          return absl::DataLossError(absl::StrCat("merkle: the left sibling of node ", index,
                                                  " at level ", level, " is not held"));
        }
      }
      if (stored) txn->Put(MerkleNodeKey(level, index), node);
      if (!right) {
        last_[level] = {index, std::move(node)};
        break;
      }
      last_[level] = {index, node};
      node = merkle::NodeHash(left, node);
      index >>= 1;
    }
    return absl::OkStatus();
  }

  // The last node at each level: the left sibling the next one needs,
  // without a read (and, below the stored levels, the only copy).
  std::array<std::pair<uint64_t, std::string>, kLevels> last_;
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
  out.push_back(NewTemporalProjection());
  out.push_back(std::make_unique<MerkleProjection>());
  return out;
}

}  // namespace auditledger::projections
