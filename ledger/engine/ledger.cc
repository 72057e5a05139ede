#include "ledger/engine/ledger.h"

#include <pthread.h>

#include <algorithm>
#include <cassert>
#include <cstdio>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "ledger/domain/decide.h"
#include "ledger/domain/limits.h"
#include "ledger/domain/names.h"
#include "ledger/store/sha256.h"

namespace auditledger::engine {

struct Ledger::Pending {
  domain::Principal actor;
  std::vector<v1::Command> commands;
  std::string request_id;
  std::string request_key;  // empty without a request_id
  std::string fingerprint;
  absl::StatusOr<v1::CommandResponse> result;
  bool validate_only = false;  // decide and answer, append nothing
  bool accepted = false;       // decided and staged in the group's batch
  // Answered with events staged in the group's batch (a retry of a request
  // decided earlier in the group): they stand or fall with its commit.
  bool answered_from_group = false;
  Done done;
};

namespace {

std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

std::string NewEventId(absl::BitGen& gen) {
  // A version 4 UUID.
  uint64_t hi = absl::Uniform<uint64_t>(gen);
  uint64_t lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & ~0xf000ULL) | 0x4000ULL;
  lo = (lo & ~(0xcULL << 60)) | (0x8ULL << 60);
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff,
                         lo >> 48, lo & 0xffffffffffffULL);
}

// What is kept of a request with a request_id, to answer its retries: the
// fingerprint of the request, then a zero byte and the first position and
// number of its events as varints. The answer is built again from those
// events, which the log holds. (A ledgerd before this kept the fingerprint
// and the whole serialized answer, whose first byte, a field's tag, is never
// zero; those records are still read.)
std::string RequestRecord(const std::string& fingerprint, uint64_t first, uint64_t count) {
  std::string out = fingerprint;
  out.push_back('\0');
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.WriteVarint64(first);
  coded.WriteVarint64(count);
  coded.Trim();
  return out;
}

void SetAppended(const v1::Event& event, v1::AppendedEvent* appended) {
  appended->set_name(domain::EventName(event.position()));
  appended->set_event_id(event.event_id());
  appended->set_stream(event.stream());
  appended->set_version(event.version());
  appended->set_position(event.position());
}

void SetMicros(google::protobuf::Timestamp* ts, uint64_t micros) {
  ts->set_seconds(static_cast<int64_t>(micros / 1'000'000));
  ts->set_nanos(static_cast<int32_t>((micros % 1'000'000) * 1000));
}

}  // namespace

Ledger::Ledger(store::EventLog* log, const LedgerOptions& options) : log_(log), options_(options) {}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(store::EventLog* log,
                                                     const LedgerOptions& options) {
  std::unique_ptr<Ledger> ledger(new Ledger(log, options));
  if (absl::Status s = ledger->Replay(); !s.ok()) return s;
  ledger->writer_ = std::thread([l = ledger.get()] {
    pthread_setname_np(pthread_self(), "ledger-writer");
    l->WriterLoop();
  });
  return ledger;
}

Ledger::~Ledger() { Shutdown(); }

absl::Status Ledger::Replay() {
  std::string previous = store::EventLog::ZeroHash();
  uint64_t expected = 1;
  auto damaged = [this](uint64_t position) {
    if (chain_break_ == 0) chain_break_ = position;
  };
  // A damaged log still opens, so that it can be verified and read; the
  // damage refuses every write (see Execute).
  const bool open_damaged = !log_->damage_at_open().ok();
  const uint64_t head = log_->head_position();
  absl::Status read = log_->ForEachStored(1, [&](uint64_t key_position, absl::string_view bytes) {
    v1::Event event;
    if (key_position != expected) damaged(expected);
    if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
        event.position() != key_position || event.payload_case() == v1::Event::PAYLOAD_NOT_SET) {
      damaged(key_position);
    } else {
      if (event.previous_hash() != previous) damaged(key_position > 1 ? key_position - 1 : 1);
      domain::StateTxn txn(state_);
      txn.Apply(event);
      txn.CommitTo(state_);
      last_recorded_us_ = std::max(last_recorded_us_, domain::Micros(event.recorded_at()));
    }
    previous = store::EventLog::HashOf(bytes);
    expected = key_position + 1;
    // The head the log opened with is as far as it reads; past it, a
    // damaged block.
    return !open_damaged || key_position < head;
  });
  if (absl::IsDataLoss(read) || open_damaged) {
    // Unreadable from `expected` on: opened damaged all the same.
    damaged(expected);
    return absl::OkStatus();
  }
  if (!read.ok()) return read;
  if (expected - 1 != log_->head_position()) damaged(expected);
  return absl::OkStatus();
}

absl::StatusOr<v1::CommandResponse> Ledger::Execute(const domain::Principal& actor,
                                                    std::vector<v1::Command> commands,
                                                    const std::string& request_id,
                                                    bool validate_only) {
  absl::StatusOr<v1::CommandResponse> result;
  absl::Notification finished;
  ExecuteAsync(
      actor, std::move(commands), request_id,
      [&](absl::StatusOr<v1::CommandResponse> r) {
        result = std::move(r);
        finished.Notify();
      },
      validate_only);
  // The writer always completes what it took from the queue, so this wait is
  // bounded by one group's decide-and-sync time.
  finished.WaitForNotification();
  return result;
}

void Ledger::ExecuteAsync(domain::Principal actor, std::vector<v1::Command> commands,
                          std::string request_id, Done done, bool validate_only) {
  auto refuse = [&done](absl::Status status) { std::move(done)(std::move(status)); };
  if (commands.empty()) {
    return refuse(absl::InvalidArgumentError("commands: at least one command is required"));
  }
  if (commands.size() > domain::kMaxCommandsPerRequest) {
    return refuse(absl::InvalidArgumentError(
        absl::StrCat("commands: ", commands.size(), " commands; at most ",
                     domain::kMaxCommandsPerRequest, " in one request")));
  }
  if (absl::Status s = domain::CheckRequestId("request_id", request_id); !s.ok()) {
    return refuse(std::move(s));
  }
  if (chain_break_ != 0) {
    return refuse(absl::DataLossError(
        absl::StrCat("the ledger failed its integrity check at position ", chain_break_.load(),
                     " when it was opened; it refuses writes until it is restored from a backup "
                     "(run `ledgerctl verify` for details)")));
  }
  auto pending = std::make_unique<Pending>();
  pending->actor = std::move(actor);
  pending->commands = std::move(commands);
  pending->request_id = std::move(request_id);
  pending->validate_only = validate_only;
  pending->done = std::move(done);
  if (!pending->request_id.empty()) {
    pending->request_key =
        absl::StrCat(pending->actor.id, absl::string_view("\0", 1), pending->request_id);
    v1::ExecuteCommandsRequest whole;
    for (const v1::Command& c : pending->commands) *whole.add_commands() = c;
    whole.set_request_id(pending->request_id);
    pending->fingerprint = store::Sha256(DeterministicBytes(whole));
  }
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError("ledgerd is shutting down; retry shortly");
    } else if (queue_.size() >= options_.queue_capacity) {
      refused = absl::ResourceExhaustedError(
          absl::StrCat("the ledger's write queue is full (", options_.queue_capacity,
                       " requests waiting); retry with backoff"));
    } else {
      queue_.push_back(pending.release());  // the writer owns it now
      return;
    }
  }
  std::move(pending->done)(std::move(refused));
}

void Ledger::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
}

void Ledger::WriterLoop() {
  std::vector<Pending*> group;
  for (;;) {
    group.clear();
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and nothing left to do
      while (!queue_.empty() && group.size() < options_.max_group) {
        group.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    ProcessGroup(group);
  }
}

void Ledger::ProcessGroup(std::vector<Pending*>& group) {
  store::EventLog::Batch batch = log_->NewBatch();
  absl::flat_hash_map<std::string, std::string> group_requests;
  const absl::Time now = absl::Now();
  for (Pending* p : group) Decide(*p, batch, now, group_requests);

  absl::Status committed = log_->Commit(batch);
  if (!committed.ok()) {
    std::fprintf(stderr, "ledgerd: FATAL write failure, refusing further writes: %s\n",
                 committed.ToString().c_str());
  }
  for (Pending* p : group) {
    // A validation decided after requests of the group stood on their
    // events: it falls with them.
    const bool stood_on_group = p->validate_only && p->result.ok();
    if ((p->accepted || p->answered_from_group || stood_on_group) && !committed.ok()) {
      p->result = absl::UnavailableError(
          absl::StrCat("the ledger could not make the write durable, nothing was recorded "
                       "and it has stopped accepting writes: ",
                       committed.message()));
    }
    std::unique_ptr<Pending> owned(p);
    std::move(owned->done)(std::move(owned->result));
  }
}

namespace {

// A refusal of the command at `index` of a batch: a field path ("name: not
// found") becomes that command's ("commands[2].name: not found"), any other
// message is prefixed ("commands[2]: jsmith (officer) may not ...").
std::string InCommand(size_t index, absl::string_view message) {
  const size_t colon = message.find(':');
  const bool field_path =
      colon != absl::string_view::npos && colon > 0 &&
      std::all_of(message.begin(), message.begin() + static_cast<std::ptrdiff_t>(colon),
                  [](char c) {
                    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' ||
                           c == '.' || c == '[' || c == ']';
                  });
  return absl::StrCat("commands[", index, "]", field_path ? "." : ": ", message);
}

}  // namespace

void Ledger::Decide(Pending& p, store::EventLog::Batch& batch, absl::Time now,
                    absl::flat_hash_map<std::string, std::string>& group_requests) {
  // A retry: answer as the first time.
  if (!p.request_key.empty()) {
    std::optional<std::string> stored;
    if (auto it = group_requests.find(p.request_key); it != group_requests.end()) {
      stored = it->second;
      p.answered_from_group = true;
    } else {
      absl::StatusOr<std::optional<std::string>> found = log_->GetRequest(p.request_key);
      if (!found.ok()) {
        p.result = found.status();
        return;
      }
      stored = *found;
    }
    if (stored.has_value()) {
      if (stored->size() < store::kHashBytes ||
          !store::ConstantTimeEquals(stored->substr(0, store::kHashBytes), p.fingerprint)) {
        p.result = absl::InvalidArgumentError(
            "request_id: already used by this caller for a different request; "
            "use a new request_id");
        return;
      }
      absl::StatusOr<v1::CommandResponse> response =
          StoredAnswer(absl::string_view(*stored).substr(store::kHashBytes), p.actor, batch);
      if (!response.ok()) {
        p.result = std::move(response).status();
        return;
      }
      response->set_replayed(true);
      p.result = *std::move(response);
      return;
    }
  }

  const uint64_t recorded_us =
      std::max(static_cast<uint64_t>(absl::ToUnixMicros(now)), last_recorded_us_);
  domain::StateTxn txn(state_);
  std::vector<v1::Event> events;
  events.reserve(p.commands.size());
  domain::EventLookup lookup = [&](uint64_t position) -> absl::StatusOr<v1::Event> {
    for (const v1::Event& e : events) {
      if (e.position() == position) return e;
    }
    if (const v1::Event* e = batch.Find(position)) return *e;
    absl::StatusOr<store::LoggedEvent> logged = log_->Read(position);
    if (!logged.ok()) return logged.status();
    return logged->event();
  };
  domain::DecideContext ctx{p.actor, now, lookup, options_.owners ? &options_.owners : nullptr};
  std::vector<std::string> warnings;
  for (size_t i = 0; i < p.commands.size(); ++i) {
    const v1::Command& command = p.commands[i];
    absl::StatusOr<v1::Event> event = domain::Decide(txn, command, ctx);
    if (!event.ok()) {
      if (p.commands.size() > 1) {
        p.result = absl::Status(event.status().code(), InCommand(i, event.status().message()));
      } else {
        p.result = event.status();
      }
      return;
    }
    for (std::optional<std::string> warning :
         {domain::BehindALaterChange(txn, *event), domain::InClosedPeriods(txn, *event),
          domain::TargetBeforePlanBegan(txn, *event)}) {
      if (!warning.has_value()) continue;
      warnings.push_back(p.commands.size() > 1 ? InCommand(i, *warning) : *std::move(warning));
    }
    // Commands of a batch carry the batch's request id.
    if (event->request_id().empty()) event->set_request_id(p.request_id);
    event->set_position(batch.next_position() + events.size());
    // Stamped before the write model takes it in, which keeps its times
    // (when each plan, recommendation, action and period came to exist).
    SetMicros(event->mutable_recorded_at(), recorded_us);
    if (!event->has_effective_at()) *event->mutable_effective_at() = event->recorded_at();
    txn.Apply(*event);
    events.push_back(*std::move(event));
  }

  assert(!events.empty());  // one event a command, and at least one command
  if (p.validate_only) {
    // The answer as for appending them; the write model, the batch and the
    // request records are as they were.
    v1::CommandResponse response;
    for (const v1::Event& event : events) SetAppended(event, response.add_events());
    for (std::string& warning : warnings) response.add_warnings(std::move(warning));
    p.result = std::move(response);
    return;
  }
  static thread_local absl::BitGen gen;
  v1::CommandResponse response;
  const uint64_t first_position = events.front().position();
  const size_t count = events.size();
  for (v1::Event& event : events) {
    event.set_format(v1::EVENT_FORMAT_V1);
    event.set_event_id(NewEventId(gen));
    const uint64_t expected_position = event.position();
    // Moved: the batch holds it until the commit.
    const v1::Event& added = batch.Add(std::move(event));
    assert(added.position() == expected_position);
    (void)expected_position;
    SetAppended(added, response.add_events());
  }
  response.set_position(batch.next_position() - 1);
  for (std::string& warning : warnings) response.add_warnings(std::move(warning));
  if (!p.request_key.empty()) {
    assert(!events.empty());
    std::string record = RequestRecord(p.fingerprint, first_position, count);
    batch.PutRequest(p.request_key, record);
    group_requests[p.request_key] = std::move(record);
  }
  txn.CommitTo(state_);
  last_recorded_us_ = recorded_us;
  p.accepted = true;
  p.result = std::move(response);
}

absl::StatusOr<v1::CommandResponse> Ledger::StoredAnswer(absl::string_view record,
                                                         const domain::Principal& actor,
                                                         const store::EventLog::Batch& batch) {
  const auto damaged = [](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("request_id: the stored answer ", why));
  };
  v1::CommandResponse response;
  if (record.empty()) return damaged("is empty");
  if (record[0] != '\0') {
    // The whole answer, as a ledgerd before the compact records kept it.
    if (!response.ParseFromArray(record.data(), static_cast<int>(record.size())) ||
        response.events().empty()) {
      return damaged("does not decode");
    }
    return response;
  }
  google::protobuf::io::CodedInputStream coded(reinterpret_cast<const uint8_t*>(record.data()) + 1,
                                               static_cast<int>(record.size() - 1));
  uint64_t first = 0;
  uint64_t count = 0;
  if (!coded.ReadVarint64(&first) || !coded.ReadVarint64(&count) ||
      coded.CurrentPosition() != static_cast<int>(record.size() - 1)) {
    return damaged("does not decode");
  }
  // Events this ledger holds, committed or staged in this group.
  if (first == 0 || count == 0 || count > domain::kMaxCommandsPerRequest ||
      first >= batch.next_position() || count > batch.next_position() - first) {
    return damaged(
        absl::StrCat("names events ", first, " and on (", count, "), which the log does not hold"));
  }
  // The committed ones in one read of the log; any after them are the
  // group's own (a retry within the group that decided the request).
  const uint64_t staged = batch.next_position() - batch.size();
  std::vector<store::EventLog::StoredEvent> stored;
  if (first < staged) {
    const size_t committed = static_cast<size_t>(std::min(count, staged - first));
    if (absl::Status s = log_->ReadStoredRange(first, committed, SIZE_MAX, &stored); !s.ok()) {
      return s;
    }
    if (stored.size() != committed) return damaged("names events the log cannot give");
  }
  v1::LoggedEvent logged;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t position = first + i;
    const v1::Event* event = nullptr;
    if (i < stored.size()) {
      if (stored[i].position != position) return damaged("names events the log cannot give");
      if (absl::Status s = log_->DecodeInto(stored[i], /*with_hash=*/false, &logged); !s.ok()) {
        return s;
      }
      event = &logged.event();
    } else {
      event = batch.Find(position);
      if (event == nullptr) return damaged("names events the log cannot give");
    }
    // A caller's request ids are its own: the events are the caller's.
    if (event->actor().id() != actor.id) {
      return damaged(absl::StrCat("names event ", position, ", which ", actor.id, " did not make"));
    }
    SetAppended(*event, response.add_events());
  }
  response.set_position(first + count - 1);
  return response;
}

}  // namespace auditledger::engine
