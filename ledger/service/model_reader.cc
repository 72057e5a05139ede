#include "ledger/service/model_reader.h"

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "ledger/domain/names.h"
#include "ledger/store/event_log.h"
#include "projections/blocks.h"
#include "projections/fold.h"
#include "projections/read_models.h"
#include "projections/temporal.h"

namespace auditledger::service {
namespace {

// Bounds how long a call without a deadline waits for the read models.
constexpr absl::Duration kMaxWait = absl::Seconds(30);

absl::string_view View(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

// Waits, within the call's deadline and kMaxWait, for every read model to
// reach `position`.
absl::Status WaitForModels(const projections::ProjectionRunner& runner,
                           const grpc::ServerContext& context, uint64_t position) {
  absl::Time deadline = absl::FromChrono(context.deadline());
  deadline = std::min(deadline, absl::Now() + kMaxWait);
  // A model that stopped on a failure is said at once, not at the deadline.
  absl::Status blocked;
  if (runner.WaitFor(position, deadline, &blocked)) return absl::OkStatus();
  if (!blocked.ok()) return blocked;
  if (runner.stopping()) return absl::UnavailableError("ledgerd is shutting down; retry shortly");
  return absl::DeadlineExceededError(absl::StrCat(
      "the read models had not reached position ", position, " by the deadline (they are at ",
      runner.position(), "); retry with a longer deadline"));
}

}  // namespace

absl::Status AuthenticateAndWait(const Authenticator& auth,
                                 const projections::ProjectionRunner& runner,
                                 grpc::ServerContext* context, uint64_t min_position) {
  absl::StatusOr<domain::Principal> principal = auth.Authenticate(*context);
  if (!principal.ok()) return principal.status();
  return WaitForModels(runner, *context, min_position);
}

ModelReader::ModelReader(projections::ProjectionRunner* runner)
    : runner_(runner), lock_(&runner->handles_mu()) {
  snapshot_ = runner_->db()->GetSnapshot();
  options_.snapshot = snapshot_;
}

ModelReader::~ModelReader() {
  reused_.clear();
  events_.reset();
  runner_->db()->ReleaseSnapshot(snapshot_);
}

absl::StatusOr<bool> ModelReader::Get(const char* projection, absl::string_view key,
                                      google::protobuf::Message* message) {
  std::string value;
  rocksdb::Status s = runner_->db()->Get(options_, runner_->cf(projection),
                                         rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return store::ReadFailure(s);
  if (!message->ParseFromString(value)) {
    return absl::DataLossError("read model value does not decode");
  }
  return true;
}

absl::StatusOr<std::optional<std::string>> ModelReader::GetRaw(const char* projection,
                                                               absl::string_view key) {
  std::string value;
  rocksdb::Status s = runner_->db()->Get(options_, runner_->cf(projection),
                                         rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return store::ReadFailure(s);
  return value;
}

std::unique_ptr<rocksdb::Iterator> ModelReader::Iterator(const char* projection) {
  return std::unique_ptr<rocksdb::Iterator>(
      runner_->db()->NewIterator(options_, runner_->cf(projection)));
}

rocksdb::Iterator* ModelReader::Reused(const char* projection) {
  std::unique_ptr<rocksdb::Iterator>& it = reused_[projection];
  if (it == nullptr) it = Iterator(projection);
  return it.get();
}

absl::StatusOr<std::string> ModelReader::ReadStored(uint64_t position) {
  const std::string key = store::EncodePosition(position);
  // Events read one after another (a plan's events folded onto its
  // checkpoint, most often) come from an iterator that steps along the log;
  // any other from a point lookup.
  if (position == last_read_ + 1 && last_read_ != 0) {
    if (events_ == nullptr) {
      events_.reset(runner_->db()->NewIterator(options_, runner_->events_cf()));
    }
    if (events_at_ == last_read_ && events_->Valid()) {
      events_->Next();
    } else {
      events_->Seek(key);
    }
    events_at_ = 0;
    last_read_ = 0;
    if (!events_->status().ok()) return store::ReadFailure(events_->status());
    if (!events_->Valid() || View(events_->key()) != key) {
      return absl::DataLossError(absl::StrCat("the log has no event at position ", position));
    }
    events_at_ = last_read_ = position;
    return std::string(View(events_->value()));
  }
  std::string bytes;
  rocksdb::Status s = runner_->db()->Get(options_, runner_->events_cf(), key, &bytes);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrCat("the log has no event at position ", position));
  }
  if (!s.ok()) return store::ReadFailure(s);
  last_read_ = position;
  return bytes;
}

absl::StatusOr<bool> ModelReader::GetStoredChange(uint64_t position, v1::Change* change) {
  if (position == 0) return false;
  const std::string key = projections::ChangeBlockKey(position);
  const uint64_t first = *projections::ChangeBlockFirst(key);
  if (change_block_ != first) {
    absl::StatusOr<std::optional<std::string>> value = GetRaw(projections::kChanges, key);
    if (!value.ok()) return value.status();
    change_block_ = first;
    change_block_value_ = *std::move(value);
  }
  if (!change_block_value_.has_value()) return false;
  return projections::FindInChangeBlock(*change_block_value_, position, change);
}

absl::StatusOr<bool> ModelReader::GetChange(uint64_t position, v1::Change* change) {
  absl::StatusOr<bool> got = GetStoredChange(position, change);
  if (!got.ok() || !*got) return got;
  if (absl::Status s = Complete(change); !s.ok()) return s;
  return true;
}

absl::Status ModelReader::Complete(v1::Change* change) {
  return projections::CompleteChange([this](uint64_t at) { return ReadEvent(at); }, change);
}

absl::StatusOr<v1::Event> ModelReader::ReadEvent(uint64_t position) {
  absl::StatusOr<std::string> bytes = ReadStored(position);
  if (!bytes.ok()) return bytes.status();
  v1::Event event;
  if (!event.ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat("event ", position, " does not decode"));
  }
  return event;
}

absl::Status CheckTimestamp(absl::string_view field, const google::protobuf::Timestamp& t) {
  if (t.seconds() < 0 || t.seconds() > google::protobuf::util::TimeUtil::kTimestampMaxSeconds ||
      t.nanos() < 0 || t.nanos() > 999'999'999) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": not a valid timestamp (from 1970-01-01 to 9999-12-31, nanos 0 to 999999999)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> KnownAt(const store::EventLog& log,
                                 const projections::ProjectionRunner& runner,
                                 grpc::ServerContext* context, uint64_t ledger_position) {
  if (ledger_position == 0) return projections::kWholeLedger;
  const uint64_t head = log.head_position();
  if (ledger_position > head) {
    return absl::OutOfRangeError(absl::StrCat("ledger_position: ", ledger_position,
                                              " is past the ledger's head, position ", head));
  }
  if (absl::Status s = WaitForModels(runner, *context, ledger_position); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("ledger_position: ", s.message()));
  }
  return ledger_position;
}

absl::CivilDay DayOf(uint64_t micros) {
  return absl::ToCivilDay(absl::FromUnixMicros(static_cast<int64_t>(micros)), absl::UTCTimeZone());
}

void FillPeriodTitles(const v1::PlanView& plan, v1::ActionView* action) {
  for (v1::Narrative& n : *action->mutable_narratives()) {
    for (const v1::PeriodView& p : plan.periods()) {
      if (p.name() == n.period()) n.set_period_title(p.title());
    }
  }
}

absl::StatusOr<v1::PlanView> LoadPlan(ModelReader& reader, const std::string& name) {
  absl::StatusOr<domain::ResourceName> parsed =
      domain::ParseNameOf(domain::Kind::kPlan, "name", name);
  if (!parsed.ok()) return parsed.status();
  v1::PlanView plan;
  absl::StatusOr<bool> got = reader.Get(projections::kCurrent, projections::PlanKey(name), &plan);
  if (!got.ok()) return got.status();
  if (!*got) return absl::NotFoundError(absl::StrCat("plan ", name, " not found"));
  return plan;
}

absl::StatusOr<v1::PlanSnapshot> SnapshotOf(ModelReader& reader, const std::string& plan_name,
                                            uint64_t micros, v1::Clock clock, uint64_t known_at) {
  absl::StatusOr<domain::ResourceName> parsed =
      domain::ParseNameOf(domain::Kind::kPlan, "name", plan_name);
  if (!parsed.ok()) return parsed.status();
  auto it = reader.Iterator(projections::kTemporal);
  const projections::EventReader read = [&reader](uint64_t position) {
    return reader.ReadEvent(position);
  };
  absl::StatusOr<projections::PlanState> state =
      projections::PlanStateAsOf(*it, read, plan_name, micros, clock == v1::EFFECTIVE, known_at);
  if (!state.ok()) return state.status();
  if (!state->exists()) {
    // Distinguish "never existed" from "did not exist yet".
    absl::StatusOr<v1::PlanView> now = LoadPlan(reader, plan_name);
    if (!now.ok()) return now.status();
    // Most who ask about a past moment mean what was true then; a plan
    // entered afterwards is not in the ledger then on the recorded clock.
    const bool recorded_later = projections::Micros(now->created_at()) > micros &&
                                projections::Micros(now->created_effective()) <= micros;
    const std::string hint =
        clock == v1::EFFECTIVE || !recorded_later
            ? ""
            : absl::StrCat(" on the recorded clock (the ledger recorded it from ",
                           absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                            absl::FromUnixMicros(static_cast<int64_t>(
                                                projections::Micros(now->created_at()))),
                                            absl::UTCTimeZone()),
                           "; for what was true then, ask on the effective clock)");
    return absl::NotFoundError(
        absl::StrCat("plan ", plan_name, " did not exist yet at that moment", hint,
                     known_at == projections::kWholeLedger
                         ? ""
                         : absl::StrCat(" as the ledger stood at position ", known_at)));
  }
  v1::PlanSnapshot snapshot = state->Release();
  snapshot.set_clock(clock == v1::EFFECTIVE ? v1::EFFECTIVE : v1::RECORDED);
  const absl::CivilDay day = DayOf(micros);
  for (v1::ActionView& view : *snapshot.mutable_actions()) {
    FillPeriodTitles(snapshot.plan(), &view);
    projections::Assess(&view, day);
  }
  return snapshot;
}

absl::StatusOr<std::vector<v1::Change>> StreamChangesBetween(
    ModelReader& reader, const std::string& stream, v1::Clock clock, uint64_t after_us,
    uint64_t until_us, size_t max, uint64_t* left_out, uint64_t known_at,
    const std::vector<ChangeEntry>* dated_given) {
  // (time on the clock, position) of each change in the window, in order.
  using Entry = ChangeEntry;
  const uint64_t start = after_us == UINT64_MAX ? after_us : after_us + 1;
  // The 't' entries in the window (in blocks); with `undated_only`, only
  // those of events that took effect when they were recorded.
  auto timeline = [&](bool undated_only, std::vector<Entry>* out) -> absl::Status {
    rocksdb::Iterator* it = reader.Reused(projections::kChanges);
    projections::BlockCursor cursor(it, projections::IndexPrefix('t', stream));
    absl::Status s = cursor.Seek(start, 0);
    for (; s.ok() && cursor.Valid(); s = cursor.Next()) {
      const projections::BlockEntry& entry = cursor.entry();
      if (entry.time > until_us) break;
      if ((undated_only && entry.dated) || entry.position > known_at) continue;
      out->emplace_back(entry.time, entry.position);
    }
    return s;
  };
  // The 'w' entries in the window: one key each, for dated events only.
  auto dated_entries = [&](std::vector<Entry>* out) -> absl::Status {
    const std::string prefix = projections::IndexPrefix('w', stream);
    rocksdb::Iterator* it = reader.Reused(projections::kChanges);
    for (it->Seek(prefix + projections::BigEndian64(start));
         it->Valid() && absl::StartsWith(View(it->key()), prefix); it->Next()) {
      absl::string_view rest = View(it->key()).substr(prefix.size());
      if (rest.size() != 16) continue;
      const uint64_t time = projections::ReadBigEndian64(rest.substr(0, 8));
      if (time > until_us) break;
      const uint64_t position = projections::ReadBigEndian64(rest.substr(8));
      if (position > known_at) continue;
      out->emplace_back(time, position);
    }
    if (!it->status().ok()) return store::ReadFailure(it->status());
    return absl::OkStatus();
  };
  std::vector<Entry> entries;
  if (clock == v1::EFFECTIVE) {
    std::vector<Entry> undated;
    std::vector<Entry> dated;
    if (absl::Status s = timeline(/*undated_only=*/true, &undated); !s.ok()) return s;
    if (dated_given != nullptr) {
      dated = *dated_given;
    } else if (absl::Status s = dated_entries(&dated); !s.ok()) {
      return s;
    }
    entries.reserve(undated.size() + dated.size());
    std::merge(undated.begin(), undated.end(), dated.begin(), dated.end(),
               std::back_inserter(entries));
  } else if (absl::Status s = timeline(/*undated_only=*/false, &entries); !s.ok()) {
    return s;
  }
  *left_out = entries.size() > max ? entries.size() - max : 0;
  std::vector<v1::Change> out;
  for (size_t i = *left_out; i < entries.size(); ++i) {
    v1::Change change;
    absl::StatusOr<bool> got = reader.GetChange(entries[i].second, &change);
    if (!got.ok()) return got.status();
    if (*got) out.push_back(std::move(change));
  }
  return out;
}

absl::StatusOr<absl::flat_hash_map<std::string, std::vector<ChangeEntry>>> DatedChangesUnder(
    ModelReader& reader, const std::string& parent, uint64_t after_us, uint64_t until_us,
    uint64_t known_at) {
  absl::flat_hash_map<std::string, std::vector<ChangeEntry>> out;
  if (after_us == UINT64_MAX) return out;
  const uint64_t start = after_us + 1;
  // 'w' stream 0 effective_us position: the resources' lists one after
  // another. Each is entered at the window's start and left at its end, by
  // seeking past the rest of it.
  const std::string prefix = absl::StrCat("w", parent, "/");
  constexpr size_t kSuffix = 1 + 16;  // 0, time, position
  rocksdb::Iterator* it = reader.Reused(projections::kChanges);
  it->Seek(prefix);
  while (it->Valid() && absl::StartsWith(View(it->key()), prefix)) {
    const absl::string_view key = View(it->key());
    if (key.size() < prefix.size() + kSuffix || key[key.size() - kSuffix] != '\0') {
      return absl::DataLossError("changes model: a dated entry's key is malformed");
    }
    const absl::string_view stream = key.substr(1, key.size() - 1 - kSuffix);
    const uint64_t time = projections::ReadBigEndian64(key.substr(key.size() - 16, 8));
    const uint64_t position = projections::ReadBigEndian64(key.substr(key.size() - 8));
    if (time < start) {
      it->Seek(
          absl::StrCat(projections::IndexPrefix('w', stream), projections::BigEndian64(start)));
      continue;
    }
    if (time > until_us) {
      // Past the window: on to the next resource ('\1' sorts after this
      // one's 0 and before any longer name).
      it->Seek(absl::StrCat("w", stream, std::string(1, '\1')));
      continue;
    }
    if (position <= known_at) out[stream].emplace_back(time, position);
    it->Next();
  }
  if (!it->status().ok()) return store::ReadFailure(it->status());
  return out;
}

}  // namespace auditledger::service
