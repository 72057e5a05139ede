#include "projections/temporal.h"

#include <algorithm>
#include <cassert>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "ledger/store/event_log.h"
#include "projections/blocks.h"
#include "projections/fold.h"
#include "projections/read_models.h"

namespace auditledger::projections {
namespace {

// Fewest index entries between two checkpoints; a plan of n actions has one
// every 2n + 2, so a checkpoint costs about as much to write as the events
// since the last one, and a query folds at most that many events.
constexpr uint64_t kMinCadence = 256;

constexpr int kRecorded = 0;
constexpr int kEffective = 1;
constexpr char kIndexKind[2] = {'x', 'e'};
constexpr char kCheckpointKind[2] = {'R', 'E'};

// One index entry: (the clock's time, position).
using Entry = std::pair<uint64_t, uint64_t>;

std::string Suffix(const Entry& entry) {
  return BigEndian64(entry.first) + BigEndian64(entry.second);
}

absl::string_view KeyOf(const rocksdb::Iterator& it) {
  return absl::string_view(it.key().data(), it.key().size());
}

absl::Status IteratorStatus(const rocksdb::Iterator& it) {
  if (it.status().ok()) return absl::OkStatus();
  return store::ReadFailure(it.status(), "temporal model");
}

// The entries of a plan's 'x' index (a list in blocks) after `after`
// (exclusive; empty for the start) whose time is at most `until_us`, in
// order; with `undated_only`, only those of events that took effect when
// they were recorded.
absl::Status ScanBlocks(rocksdb::Iterator& it, absl::string_view plan, const std::string& after,
                        uint64_t until_us, bool undated_only, std::vector<Entry>* out) {
  const std::optional<BlockEntry> from =
      after.empty() ? BlockEntry() : BlockEntry::FromSuffix(after);
  if (!from.has_value()) return absl::DataLossError("temporal model: a malformed checkpoint key");
  BlockCursor cursor(&it, IndexPrefix(kIndexKind[kRecorded], plan));
  absl::Status s = cursor.Seek(from->time, from->position);
  if (s.ok() && !after.empty() && cursor.Valid() && cursor.entry().Suffix() == after) {
    s = cursor.Next();
  }
  for (; s.ok() && cursor.Valid(); s = cursor.Next()) {
    const BlockEntry& e = cursor.entry();
    if (e.time > until_us) break;
    if (undated_only && e.dated) continue;
    out->emplace_back(e.time, e.position);
  }
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("temporal model: ", s.message()));
  return absl::OkStatus();
}

// The entries of a plan's 'e' index (one key an entry) after `after`
// (exclusive; empty for the start) whose time is at most `until_us`.
absl::Status ScanKeys(rocksdb::Iterator& it, absl::string_view plan, const std::string& after,
                      uint64_t until_us, std::vector<Entry>* out) {
  const std::string prefix = IndexPrefix(kIndexKind[kEffective], plan);
  const std::string start = prefix + after;
  it.Seek(start);
  if (!after.empty() && it.Valid() && KeyOf(it) == start) it.Next();
  for (; it.Valid() && absl::StartsWith(KeyOf(it), prefix); it.Next()) {
    absl::string_view rest = KeyOf(it).substr(prefix.size());
    if (rest.size() != 16) return absl::DataLossError("temporal model: a malformed index key");
    const uint64_t micros = ReadBigEndian64(rest.substr(0, 8));
    if (micros > until_us) break;
    out->emplace_back(micros, ReadBigEndian64(rest.substr(8)));
  }
  return IteratorStatus(it);
}

// The entries of `plan` on `clock` after `after` (exclusive; empty for the
// start) whose time is at most `until_us`, in the clock's order. On the
// effective clock: the 'x' entries of the events that took effect when they
// were recorded merged with the 'e' entries of the dated ones.
absl::Status EntriesAfter(rocksdb::Iterator& it, absl::string_view plan, int clock,
                          const std::string& after, uint64_t until_us, std::vector<Entry>* out) {
  if (clock == kRecorded) return ScanBlocks(it, plan, after, until_us, false, out);
  std::vector<Entry> undated;
  std::vector<Entry> dated;
  absl::Status s = ScanBlocks(it, plan, after, until_us, true, &undated);
  if (s.ok()) s = ScanKeys(it, plan, after, until_us, &dated);
  if (!s.ok()) return s;
  out->reserve(out->size() + undated.size() + dated.size());
  std::merge(undated.begin(), undated.end(), dated.begin(), dated.end(), std::back_inserter(*out));
  return absl::OkStatus();
}

// The latest checkpoint of `plan` on `clock` at or before `bound` (a suffix,
// or the end): parsed into `state`, its suffix in `after`; an empty state and
// suffix when there is none.
absl::Status CheckpointBefore(rocksdb::Iterator& it, absl::string_view plan, int clock,
                              const std::string& bound, PlanState* state, std::string* after) {
  *state = PlanState();
  after->clear();
  const std::string prefix = IndexPrefix(kCheckpointKind[clock], plan);
  it.SeekForPrev(prefix + bound);
  if (!it.Valid() || !absl::StartsWith(KeyOf(it), prefix)) return IteratorStatus(it);
  *after = std::string(KeyOf(it).substr(prefix.size()));
  if (clock == kEffective && it.value().empty()) {
    // The recorded clock's checkpoint of the same key holds the bytes.
    const std::string same = IndexPrefix(kCheckpointKind[kRecorded], plan) + *after;
    it.Seek(same);
    if (!it.Valid() || KeyOf(it) != same) {
      if (absl::Status s = IteratorStatus(it); !s.ok()) return s;
      return absl::DataLossError(
          "temporal model: a shared checkpoint has no recorded-clock checkpoint");
    }
  }
  absl::Status parsed = state->Parse(absl::string_view(it.value().data(), it.value().size()));
  if (!parsed.ok()) return parsed;
  return IteratorStatus(it);
}

// `*after` is a checkpoint holding an event after `known_at`. Replaces it
// (and `*state`) with the latest checkpoint before it that holds none, or
// with none at all. A checkpoint holds a prefix of the clock's order, so the
// highest position in it never falls along the keys: gallop back over the
// keys, then bisect, parsing O(log n) checkpoints rather than each one.
absl::Status LatestCheckpointKnownAt(rocksdb::Iterator& it, absl::string_view plan, int clock,
                                     uint64_t known_at, PlanState* state, std::string* after) {
  const std::string prefix = IndexPrefix(kCheckpointKind[clock], plan);
  std::vector<std::string> keys = {*after};  // suffixes, newest first; keys[0] holds a later one
  bool first_reached = false;
  // Extends `keys` back to `n` checkpoints, or to the first one.
  auto extend = [&](size_t n) -> absl::Status {
    if (keys.size() >= n || first_reached) return absl::OkStatus();
    it.Seek(prefix + keys.back());
    if (!it.Valid() || KeyOf(it) != prefix + keys.back()) {
      if (absl::Status s = IteratorStatus(it); !s.ok()) return s;
      return absl::DataLossError("temporal model: a checkpoint went missing during a read");
    }
    for (it.Prev(); keys.size() < n && it.Valid() && absl::StartsWith(KeyOf(it), prefix);
         it.Prev()) {
      keys.emplace_back(KeyOf(it).substr(prefix.size()));
    }
    if (absl::Status s = IteratorStatus(it); !s.ok()) return s;
    if (keys.size() < n) first_reached = true;
    return absl::OkStatus();
  };
  // Whether checkpoint `i` (keys.size(): none, the empty state) holds only
  // events up to `known_at`.
  auto known = [&](size_t i) -> absl::StatusOr<bool> {
    if (i == keys.size()) return true;
    PlanState probe;
    std::string at;
    if (absl::Status s = CheckpointBefore(it, plan, clock, keys[i], &probe, &at); !s.ok()) return s;
    return probe.max_position() <= known_at;
  };
  size_t later = 0;  // holds a later event
  size_t found = 0;  // holds none
  for (size_t step = 1;; step *= 2) {
    const size_t i = later + step;
    if (absl::Status s = extend(i + 1); !s.ok()) return s;
    if (i >= keys.size()) {
      found = keys.size();
      break;
    }
    absl::StatusOr<bool> ok = known(i);
    if (!ok.ok()) return ok.status();
    if (*ok) {
      found = i;
      break;
    }
    later = i;
  }
  while (found - later > 1) {
    const size_t mid = later + (found - later) / 2;
    absl::StatusOr<bool> ok = known(mid);
    if (!ok.ok()) return ok.status();
    (*ok ? found : later) = mid;
  }
  if (found == keys.size()) {
    *state = PlanState();
    after->clear();
    return absl::OkStatus();
  }
  return CheckpointBefore(it, plan, clock, keys[found], state, after);
}

absl::Status FoldEntry(const EventReader& read, const Entry& entry, PlanState* state) {
  absl::StatusOr<v1::Event> event = read(entry.second);
  if (!event.ok()) return event.status();
  if (event->position() != entry.second) {
    return absl::DataLossError(absl::StrCat("temporal model: the log gave event ",
                                            event->position(), " for ", entry.second));
  }
  state->Apply(*event);
  return absl::OkStatus();
}

}  // namespace

void PlanState::Apply(const v1::Event& event) {
  if (IsPlanLevel(event)) {
    FoldPlan(event, &plan_);
  } else if (IsActionStream(event.stream())) {
    FoldAction(event, &actions_[event.stream()]);
  }
}

uint64_t PlanState::max_position() const {
  uint64_t most = plan_.max_position();
  for (const auto& [name, view] : actions_) most = std::max(most, view.max_position());
  return most;
}

uint64_t PlanState::Cadence() const {
  return std::max<uint64_t>(kMinCadence, 2 * (actions_.size() + 1));
}

std::string PlanState::Serialize() const {
  // Field by field rather than through a PlanSnapshot, to avoid copying
  // every view; the bytes are those of the equivalent PlanSnapshot.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    auto write = [&](int field, const google::protobuf::Message& message) {
      coded.WriteTag(static_cast<uint32_t>(field << 3 | 2));
      coded.WriteVarint64(message.ByteSizeLong());
      message.SerializeWithCachedSizes(&coded);
    };
    write(v1::PlanSnapshot::kPlanFieldNumber, plan_);
    for (const auto& [name, view] : actions_) {
      write(v1::PlanSnapshot::kActionsFieldNumber, view);
    }
  }
  return bytes;
}

absl::Status PlanState::Parse(absl::string_view bytes) {
  v1::PlanSnapshot snapshot;
  if (!snapshot.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("temporal model: a checkpoint does not decode");
  }
  plan_.Swap(snapshot.mutable_plan());
  actions_.clear();
  for (v1::ActionView& view : *snapshot.mutable_actions()) {
    std::string name = view.name();
    actions_[std::move(name)].Swap(&view);
  }
  return absl::OkStatus();
}

v1::PlanSnapshot PlanState::Release() {
  v1::PlanSnapshot snapshot;
  snapshot.mutable_plan()->Swap(&plan_);
  for (auto& [name, view] : actions_) snapshot.add_actions()->Swap(&view);
  actions_.clear();
  return snapshot;
}

absl::StatusOr<PlanState> PlanStateAsOf(rocksdb::Iterator& it, const EventReader& read,
                                        absl::string_view plan, uint64_t micros, bool effective,
                                        uint64_t known_at) {
  const int clock = effective ? kEffective : kRecorded;
  PlanState state;
  if (known_at == 0) return state;  // as the ledger stood before its first event
  std::string bound = BigEndian64(micros) + BigEndian64(UINT64_MAX);
  if (known_at != kWholeLedger && !effective) {
    // Recorded order is log order: nothing at or before the key of the
    // event at `known_at` comes after it.
    absl::StatusOr<v1::Event> last = read(known_at);
    if (!last.ok()) return last.status();
    bound = std::min(bound, Suffix({Micros(last->recorded_at()), known_at}));
  }
  std::string after;
  absl::Status s = CheckpointBefore(it, plan, clock, bound, &state, &after);
  if (!s.ok()) return s;
  if (!after.empty() && state.max_position() > known_at) {
    // On the effective clock a checkpoint may hold back-dated events
    // recorded after `known_at`.
    s = LatestCheckpointKnownAt(it, plan, clock, known_at, &state, &after);
    if (!s.ok()) return s;
  }
  std::vector<Entry> entries;
  s = EntriesAfter(it, plan, clock, after, micros, &entries);
  if (!s.ok()) return s;
  for (const Entry& entry : entries) {
    if (entry.second > known_at) continue;
    if (s = FoldEntry(read, entry, &state); !s.ok()) return s;
  }
  return state;
}

namespace {

class TemporalProjection final : public Projection {
 public:
  std::string name() const override { return kTemporal; }
  // 1: a copy of each view after every event; 2: every checkpoint whole;
  // 3: an 'e' entry for every event. 4: 'e' holds dated events only. 5:
  // 'x' in blocks. 6: 'x' in the blocks of projections/blocks.h. 7: a full
  // block keyed by its last entry. 8: a corrected status takes the
  // correction's reason; a target revision's from is the target in force
  // at its effective time. 9: the first target set on an action adopted
  // without one is its original, not a revision. 10: a status change
  // corrected to what it changed from restores the reason before it. 11:
  // an action's reason for being added is its status's only when paused
  // or stopped. 12: an adoption given a target by correction after a
  // first target makes that one a revision.
  uint64_t layout() const override { return 12; }
  // A back-dated event refolds from the model as committed, so it comes in
  // a step of its own, whose only index entries are its own.
  bool NeedsOwnStep(const v1::Event& event) const override {
    auto found = plans_.find(PlanOf(event.stream()));
    if (found == plans_.end()) return false;
    const Plan& p = found->second;
    return BackDated(p.clocks[kRecorded], {Micros(event.recorded_at()), event.position()}) ||
           BackDated(EffectiveClock(p), {Micros(event.effective_at()), event.position()});
  }

  absl::Status Open(const ProjectionContext& context) override {
    context_ = context;
    plans_.clear();
    lists_.Clear();
    if (context.position == 0) return absl::OkStatus();
    std::unique_ptr<rocksdb::Iterator> it(
        context.db->NewIterator(rocksdb::ReadOptions(), context.cf));
    std::vector<std::string> names;
    for (it->Seek("k"); it->Valid() && absl::StartsWith(KeyOf(*it), "k"); it->Next()) {
      names.emplace_back(KeyOf(*it).substr(1));
    }
    if (absl::Status s = IteratorStatus(*it); !s.ok()) return s;
    for (const std::string& plan : names) {
      Plan& p = plans_[plan];
      if (absl::Status s = Resume(*it, plan, kRecorded, &p.clocks[kRecorded]); !s.ok()) return s;
      // Only a dated event has an 'e' entry.
      const std::string dated = IndexPrefix(kIndexKind[kEffective], plan);
      it->Seek(dated);
      p.dated = it->Valid() && absl::StartsWith(KeyOf(*it), dated);
      if (absl::Status s = IteratorStatus(*it); !s.ok()) return s;
      if (!p.dated) continue;
      if (absl::Status s = Resume(*it, plan, kEffective, &p.clocks[kEffective]); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Apply(const v1::LoggedEvent& logged, ProjectionTxn& txn) override {
    const v1::Event& event = logged.event();
    const std::string plan = PlanOf(event.stream());
    auto [found, added] = plans_.try_emplace(plan);
    if (added) txn.Put(absl::StrCat("k", plan), "");
    Plan& p = found->second;
    const Entry entry[2] = {
        {Micros(event.recorded_at()), event.position()},
        {Micros(event.effective_at()), event.position()},
    };
    // The ledger stamps events with a recorded time that never goes back,
    // so recorded checkpoints are never dropped, and effective ones may
    // refer to them.
    if (BackDated(p.clocks[kRecorded], entry[kRecorded])) {
      return absl::DataLossError(absl::StrCat("temporal model: event ", event.position(),
                                              " was recorded before the event it follows"));
    }
    // The bytes of the recorded clock's checkpoint at this event, if it has
    // one: the effective clock's checkpoint at the same key, when equal,
    // refers to it rather than storing them again.
    std::optional<std::string> recorded;
    // Most events take effect when they are recorded: their 'x' entry is
    // their place on both clocks, and only a dated one has an 'e' entry.
    const bool dated = entry[kEffective].first != entry[kRecorded].first;
    if (dated && !p.dated) {
      // The plan's first dated event: from here on the clocks may differ,
      // so the effective one becomes a clock of its own, as it stands.
      p.clocks[kEffective] = p.clocks[kRecorded];
      p.dated = true;
    }
    absl::Status added_entry =
        lists_.Add(txn, IndexPrefix(kIndexKind[kRecorded], plan),
                   BlockEntry{entry[kRecorded].first, entry[kRecorded].second, dated});
    if (!added_entry.ok()) {
      return absl::Status(added_entry.code(),
                          absl::StrCat("temporal model: ", added_entry.message()));
    }
    if (dated) txn.Put(IndexPrefix(kIndexKind[kEffective], plan) + Suffix(entry[kEffective]), "");
    for (int c : {kRecorded, kEffective}) {
      if (c == kEffective && !p.dated) {
        // The recorded clock is the effective one too: its checkpoint, if
        // it wrote one, is the effective clock's as well.
        if (recorded.has_value()) {
          txn.Put(IndexPrefix(kCheckpointKind[kEffective], plan) + p.clocks[kRecorded].frontier,
                  "");
        }
        continue;
      }
      Clock& clock = p.clocks[c];
      // A back-dated event is alone in its step (NeedsOwnStep), so nothing
      // is pending a refold when the next event comes.
      assert(!clock.refold_from.has_value());
      if (BackDated(clock, entry[c])) {
        // Finish folds again from before it.
        clock.refold_from = entry[c];
        continue;
      }
      clock.state.Apply(event);
      clock.frontier = Suffix(entry[c]);
      if (++clock.since < clock.cadence) continue;
      std::string bytes = clock.state.Serialize();
      const bool shared = c == kEffective && recorded.has_value() &&
                          p.clocks[kRecorded].frontier == clock.frontier && *recorded == bytes;
      Checkpoint(txn, plan, c, clock, shared ? std::string() : bytes);
      if (c == kRecorded) recorded = std::move(bytes);
    }
    return absl::OkStatus();
  }

  absl::Status Finish(ProjectionTxn& txn) override {
    lists_.Flush(txn);
    for (auto& [plan, p] : plans_) {
      for (int c : {kRecorded, kEffective}) {
        if (!p.clocks[c].refold_from.has_value()) continue;
        if (absl::Status s = Refold(txn, plan, c, &p.clocks[c]); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

 private:
  // One clock's view of a plan: the state after every index entry up to
  // `frontier`, and how many entries since the last checkpoint.
  struct Clock {
    PlanState state;
    std::string frontier;  // suffix of the last entry folded; empty for none
    uint64_t since = 0;
    uint64_t cadence = PlanState().Cadence();
    std::optional<Entry> refold_from;  // the back-dated entry of this step
  };
  struct Plan {
    Clock clocks[2];
    // Whether any of the plan's events is dated. Until one is, both clocks
    // order its events alike, so clocks[kRecorded] serves as both and
    // clocks[kEffective] is left empty: each event is folded, and each
    // checkpoint serialized, once rather than twice.
    bool dated = false;
  };
  static const Clock& EffectiveClock(const Plan& p) {
    return p.dated ? p.clocks[kEffective] : p.clocks[kRecorded];
  }

  static bool BackDated(const Clock& clock, const Entry& entry) {
    return !clock.frontier.empty() && Suffix(entry) <= clock.frontier;
  }

  absl::StatusOr<v1::Event> Read(uint64_t position) const {
    absl::StatusOr<v1::LoggedEvent> logged = context_.log->Read(position);
    if (!logged.ok()) return logged.status();
    return std::move(*logged->mutable_event());
  }

  // Folds the entries after `after` into `clock`, from its state there,
  // writing checkpoints on the way when `txn` is given.
  absl::Status FoldFrom(const std::vector<Entry>& entries, const std::string& plan, int c,
                        Clock* clock, ProjectionTxn* txn) {
    const EventReader read = [this](uint64_t position) { return Read(position); };
    for (const Entry& entry : entries) {
      if (absl::Status s = FoldEntry(read, entry, &clock->state); !s.ok()) return s;
      clock->frontier = Suffix(entry);
      ++clock->since;
      if (txn != nullptr && clock->since >= clock->cadence) {
        Checkpoint(*txn, plan, c, *clock, clock->state.Serialize());
      }
    }
    return absl::OkStatus();
  }

  // Restores a clock from its last checkpoint at or before `bound` and the
  // index entries after it (with `pending`, an entry not yet committed),
  // writing checkpoints on the way when `txn` is given.
  absl::Status Reload(rocksdb::Iterator& it, const std::string& plan, int c,
                      const std::string& bound, Clock* clock, ProjectionTxn* txn,
                      std::optional<Entry> pending = std::nullopt) {
    std::string after;
    absl::Status s = CheckpointBefore(it, plan, c, bound, &clock->state, &after);
    if (!s.ok()) return s;
    std::vector<Entry> entries;
    s = EntriesAfter(it, plan, c, after, UINT64_MAX, &entries);
    if (!s.ok()) return s;
    if (pending.has_value() && Suffix(*pending) > after) {
      auto at = std::lower_bound(entries.begin(), entries.end(), *pending);
      if (at == entries.end() || *at != *pending) entries.insert(at, *pending);
    }
    clock->frontier = after;
    clock->since = 0;
    clock->cadence = clock->state.Cadence();
    return FoldFrom(entries, plan, c, clock, txn);
  }

  // At start: the entries after the last checkpoint are fewer than a
  // cadence, or the checkpoint would have been written.
  absl::Status Resume(rocksdb::Iterator& it, const std::string& plan, int c, Clock* clock) {
    return Reload(it, plan, c, std::string(16, '\xff'), clock, nullptr);
  }

  // `bytes`: the state's, or "" for an effective checkpoint whose bytes are
  // those of the recorded one of the same key.
  static void Checkpoint(ProjectionTxn& txn, const std::string& plan, int c, Clock& clock,
                         const std::string& bytes) {
    txn.Put(IndexPrefix(kCheckpointKind[c], plan) + clock.frontier, bytes);
    clock.since = 0;
    clock.cadence = clock.state.Cadence();
  }

  // A back-dated entry, the only one of its step: the checkpoints from it
  // on no longer hold; fold again from the one before it, through the end
  // of the index. The step's reads see the committed model, which has every
  // entry but this one.
  absl::Status Refold(ProjectionTxn& txn, const std::string& plan, int c, Clock* clock) {
    const Entry pending = *clock->refold_from;
    clock->refold_from.reset();
    const std::string from = Suffix(pending);
    const std::string prefix = IndexPrefix(kCheckpointKind[c], plan);
    std::unique_ptr<rocksdb::Iterator> it = txn.NewIterator();
    std::vector<std::string> stale;
    for (it->Seek(prefix + from); it->Valid() && absl::StartsWith(KeyOf(*it), prefix); it->Next()) {
      stale.emplace_back(KeyOf(*it));
    }
    if (absl::Status s = IteratorStatus(*it); !s.ok()) return s;
    for (const std::string& key : stale) txn.Delete(key);
    // The checkpoint the reload starts from is before `from`, so not one of
    // those deleted; those it writes again come after the deletes.
    return Reload(*it, plan, c, from, clock, &txn, pending);
  }

  ProjectionContext context_;
  std::map<std::string, Plan> plans_;
  // Each plan's 'x' index: the plans are all held in `plans_` as well.
  BlockLists lists_{SIZE_MAX};
};

}  // namespace

std::unique_ptr<Projection> NewTemporalProjection() {
  return std::make_unique<TemporalProjection>();
}

}  // namespace auditledger::projections
