#include "ledger/service/query_service.h"

#include <algorithm>
#include <cassert>
#include <memory>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "ledger/domain/limits.h"
#include "ledger/domain/names.h"
#include "ledger/domain/principal.h"
#include "ledger/service/grpc_status.h"
#include "ledger/service/ledger_service.h"
#include "ledger/service/model_reader.h"
#include "ledger/store/event_log.h"
#include "ledger/store/sha256.h"
#include "projections/blocks.h"
#include "projections/fold.h"
#include "projections/read_models.h"
#include "report/report_model.h"

namespace auditledger::service {
namespace {

using projections::BigEndian64;
using projections::ReadBigEndian64;

// Bounds the entries one page of a filtered scan looks at; a page may come
// back short, with a token to go on.
constexpr int kMaxScanPerPage = 200000;

absl::string_view View(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

// Page tokens: base64 of an 8-byte fingerprint of the query's filters and
// the cursor, so a token only continues the query it came from.
std::string Fingerprint(absl::string_view filters) { return store::Sha256(filters).substr(0, 8); }

std::string MakeToken(absl::string_view filters, absl::string_view cursor) {
  return absl::WebSafeBase64Escape(absl::StrCat(Fingerprint(filters), cursor));
}

absl::StatusOr<std::string> ParseToken(absl::string_view token, absl::string_view filters) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() < 8 ||
      raw.substr(0, 8) != Fingerprint(filters)) {
    return absl::InvalidArgumentError(
        "page_token: not a token issued for this query (the filters must stay "
        "the same while paging)");
  }
  return raw.substr(8);
}

// What a page token is bound to: the list (by its request type, which is
// each list's own) and its filters, that is the request without its paging
// fields and min_position (which only says how fresh the answer must be).
std::string Filters(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> filters(request.New());
  filters->CopyFrom(request);
  const google::protobuf::Descriptor* descriptor = filters->GetDescriptor();
  for (const char* paging : {"page_size", "page_token", "min_position"}) {
    if (const google::protobuf::FieldDescriptor* field = descriptor->FindFieldByName(paging)) {
      filters->GetReflection()->ClearField(filters.get(), field);
    }
  }
  return absl::StrCat(descriptor->full_name(), absl::string_view("\0", 1),
                      filters->SerializeAsString());
}

// One page of a list: how many entries (AIP-158), where it starts (the
// cursor its token carries; empty for the first page), and what its tokens
// are bound to.
struct Page {
  int size = 0;
  std::string cursor;
  std::string filters;
};

absl::StatusOr<Page> OpenPage(const google::protobuf::Message& request, int page_size,
                              const std::string& page_token) {
  absl::StatusOr<int> size = PageSize(page_size);
  if (!size.ok()) return size.status();
  Page page{*size, "", Filters(request)};
  if (!page_token.empty()) {
    absl::StatusOr<std::string> cursor = ParseToken(page_token, page.filters);
    if (!cursor.ok()) return cursor.status();
    page.cursor = *std::move(cursor);
  }
  return page;
}

uint64_t MicrosOf(const google::protobuf::Timestamp& t) { return projections::Micros(t); }

absl::CivilDay Today() { return absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()); }

absl::StatusOr<absl::CivilDay> ParseDay(absl::string_view field, absl::string_view text) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", text, "\" is not a date (YYYY-MM-DD)"));
  }
  return day;
}

// Where a page of a list in blocks resumes: the entry its token's cursor
// names, or the list's start for a first page.
absl::StatusOr<projections::BlockEntry> ListCursor(const std::string& cursor) {
  if (cursor.empty()) return projections::BlockEntry();
  std::optional<projections::BlockEntry> entry = projections::BlockEntry::FromSuffix(cursor);
  if (!entry.has_value()) {
    return absl::InvalidArgumentError("page_token: not a token of this query");
  }
  return *entry;
}

// The records of the changes model's block that `it` is at, into `block`;
// false once `it` is past the records.
absl::StatusOr<bool> ChangeBlockAt(const rocksdb::Iterator& it, std::vector<v1::Change>* block) {
  const std::optional<uint64_t> first = projections::ChangeBlockFirst(View(it.key()));
  if (!first.has_value()) return false;
  block->clear();
  if (absl::Status s = projections::DecodeChangeBlock(*first, View(it.value()), block); !s.ok()) {
    return s;
  }
  return true;
}

// The first position recorded at or after `micros`, or one past the last
// when there is none. The recorded clock never goes back along the log and
// every event has a record in the changes model, so a binary search over
// the events up to the last change finds it in about log2(events) reads of
// the log (at the model's snapshot), where a scan from the first change
// would read every change before the moment.
absl::StatusOr<uint64_t> FirstRecordedAtOrAfter(ModelReader& reader, uint64_t micros) {
  auto it = reader.Iterator(projections::kChanges);
  it->Seek(std::string(1, 'p' + 1));  // past every block of records
  if (it->Valid()) {
    it->Prev();
  } else {
    it->SeekToLast();
  }
  if (!it->status().ok()) return store::ReadFailure(it->status());
  if (!it->Valid()) return 1;  // no change yet
  std::vector<v1::Change> block;
  absl::StatusOr<bool> read = ChangeBlockAt(*it, &block);
  if (!read.ok()) return read.status();
  if (!*read || block.empty()) return 1;
  uint64_t lo = 1;
  uint64_t hi = block.back().position() + 1;
  // Each turn halves [lo, hi): at most 64 of them.
  for (int turns = 0; lo < hi; ++turns) {
    assert(turns < 64);
    (void)turns;
    const uint64_t mid = lo + (hi - lo) / 2;
    absl::StatusOr<v1::Event> event = reader.ReadEvent(mid);
    if (!event.ok()) return event.status();
    if (MicrosOf(event->recorded_at()) >= micros) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

void SetStatus(const projections::ProjectionState& state, v1::ProjectionStatus* out) {
  out->set_name(state.name);
  out->set_position(state.position);
  out->set_digest(state.digest);
  if (!state.failure.ok()) {
    out->set_state(v1::ProjectionStatus::STOPPED);
    out->set_failure(state.failure.ToString());
  } else {
    out->set_state(state.building ? v1::ProjectionStatus::BUILDING : v1::ProjectionStatus::RUNNING);
  }
}

}  // namespace

absl::Status QueryServiceImpl::Begin(grpc::ServerContext* context, uint64_t min_position) {
  return AuthenticateAndWait(*auth_, *runner_, context, min_position);
}

grpc::Status QueryServiceImpl::ListPlans(grpc::ServerContext* context,
                                         const v1::ListPlansRequest* request,
                                         v1::ListPlansResponse* response) {
  if (absl::Status s = Begin(context, request->min_position()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<Page> page = OpenPage(*request, request->page_size(), request->page_token());
  if (!page.ok()) return ToGrpc(page.status());
  ModelReader reader(runner_);
  const std::string prefix = projections::PlanKey("plans/");
  const std::string& cursor = page->cursor;
  auto it = reader.Iterator(projections::kCurrent);
  for (it->Seek(cursor.empty() ? prefix : cursor);
       it->Valid() && absl::StartsWith(View(it->key()), prefix); it->Next()) {
    if (!cursor.empty() && View(it->key()) == cursor) continue;
    if (response->plans_size() == page->size) {
      response->set_next_page_token(
          MakeToken(page->filters, projections::PlanKey(response->plans().rbegin()->name())));
      break;
    }
    if (!response->add_plans()->ParseFromArray(it->value().data(),
                                               static_cast<int>(it->value().size()))) {
      return ToGrpc(absl::DataLossError(
          absl::StrCat("plan view ", View(it->key()).substr(1), " does not decode")));
    }
  }
  if (!it->status().ok()) return ToGrpc(store::ReadFailure(it->status()));
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::GetPlan(grpc::ServerContext* context,
                                       const v1::GetPlanRequest* request, v1::PlanView* response) {
  if (absl::Status s = Begin(context, request->min_position()); !s.ok()) return ToGrpc(s);
  ModelReader reader(runner_);
  absl::StatusOr<v1::PlanView> plan = LoadPlan(reader, request->name());
  if (!plan.ok()) return ToGrpc(plan.status());
  *response = *std::move(plan);
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::GetAction(grpc::ServerContext* context,
                                         const v1::GetActionRequest* request,
                                         v1::ActionView* response) {
  if (absl::Status s = Begin(context, request->min_position()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<domain::ResourceName> parsed =
      domain::ParseNameOf(domain::Kind::kAction, "name", request->name());
  if (!parsed.ok()) return ToGrpc(parsed.status());
  ModelReader reader(runner_);
  absl::StatusOr<bool> got =
      reader.Get(projections::kCurrent, projections::ActionKey(request->name()), response);
  if (!got.ok()) return ToGrpc(got.status());
  if (!*got) {
    return ToGrpc(
        absl::NotFoundError(absl::StrCat("name: action ", request->name(), " not found")));
  }
  absl::StatusOr<v1::PlanView> plan = LoadPlan(reader, parsed->PlanName());
  if (plan.ok()) FillPeriodTitles(*plan, response);
  projections::Assess(response, Today());
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::ListActions(grpc::ServerContext* context,
                                           const v1::ListActionsRequest* request,
                                           v1::ListActionsResponse* response) {
  if (absl::Status s = Begin(context, request->min_position()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<Page> page = OpenPage(*request, request->page_size(), request->page_token());
  if (!page.ok()) return ToGrpc(page.status());
  absl::StatusOr<domain::ResourceName> parent =
      domain::ParseNameOf(domain::Kind::kPlan, "parent", request->parent());
  if (!parent.ok()) return ToGrpc(parent.status());
  if (!request->recommendation().empty()) {
    absl::StatusOr<domain::ResourceName> rec = domain::ParseNameOf(
        domain::Kind::kRecommendation, "recommendation", request->recommendation());
    if (!rec.ok()) return ToGrpc(rec.status());
  }
  const absl::CivilDay today = Today();
  absl::CivilDay day = today;
  if (!request->overdue_on().empty()) {
    absl::StatusOr<absl::CivilDay> parsed = ParseDay("overdue_on", request->overdue_on());
    if (!parsed.ok()) return ToGrpc(parsed.status());
    day = *parsed;
    if (day < absl::CivilDay(1970, 1, 1)) {
      return ToGrpc(absl::InvalidArgumentError(
          "overdue_on: before 1970-01-01, which the ledger's times start at"));
    }
  }
  if (request->min_target_revisions() < 0) {
    return ToGrpc(absl::InvalidArgumentError("min_target_revisions: must not be negative"));
  }
  ModelReader reader(runner_);
  absl::StatusOr<v1::PlanView> plan = LoadPlan(reader, request->parent());
  if (!plan.ok()) return ToGrpc(plan.status());
  if (!request->recommendation().empty() &&
      std::none_of(
          plan->recommendations().begin(), plan->recommendations().end(),
          [&](const v1::RecommendationView& r) { return r.name() == request->recommendation(); })) {
    // As for a list of an unknown action's changes: not an empty list.
    return ToGrpc(absl::NotFoundError(
        absl::StrCat("recommendation: ", request->recommendation(), " not found")));
  }
  const std::string prefix = projections::ActionKey(request->parent() + "/");
  // The cursor is the last key of the previous page.
  const std::string& cursor = page->cursor;
  int scanned = 0;
  std::string last_key;
  // Each action in key order, assessed as of `day` (and its periods'
  // titles filled in); whether to go on.
  auto take = [&](std::string key, v1::ActionView view) {
    if (response->actions_size() == page->size || ++scanned > kMaxScanPerPage) {
      response->set_next_page_token(MakeToken(page->filters, last_key));
      return false;
    }
    last_key = std::move(key);
    if (!request->recommendation().empty() && view.recommendation() != request->recommendation())
      return true;
    if (request->status() != v1::ACTION_STATUS_UNSPECIFIED && view.status() != request->status())
      return true;
    if (!request->owner().empty() && view.owner() != request->owner()) return true;
    if (request->rag() != v1::RAG_UNSPECIFIED && view.rag() != request->rag()) return true;
    if (!request->overdue_on().empty() && !view.overdue()) return true;
    if (view.target_revisions() < request->min_target_revisions()) return true;
    *response->add_actions() = std::move(view);
    return true;
  };
  if (day < today) {
    // A day gone by: each action as it stood at that day's end, on the
    // effective clock (what was true then, knowing all we know now), as a
    // report of that day judges it. A day to come has no state of its own
    // yet: the actions as they stand now are judged on it.
    const uint64_t end_of_day =
        static_cast<uint64_t>(absl::ToUnixMicros(absl::FromCivil(day + 1, absl::UTCTimeZone()))) -
        1;
    absl::StatusOr<v1::PlanSnapshot> snapshot =
        SnapshotOf(reader, request->parent(), end_of_day, v1::EFFECTIVE);
    if (absl::IsNotFound(snapshot.status())) return grpc::Status::OK;  // no plan yet
    if (!snapshot.ok()) return ToGrpc(snapshot.status());
    std::vector<std::pair<std::string, v1::ActionView*>> actions;
    for (v1::ActionView& view : *snapshot->mutable_actions()) {
      actions.emplace_back(projections::ActionKey(view.name()), &view);
    }
    std::sort(actions.begin(), actions.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [key, view] : actions) {
      if (!cursor.empty() && key <= cursor) continue;
      if (!take(key, std::move(*view))) break;
    }
    return grpc::Status::OK;
  }
  auto it = reader.Iterator(projections::kCurrent);
  for (it->Seek(cursor.empty() ? prefix : cursor);
       it->Valid() && absl::StartsWith(View(it->key()), prefix); it->Next()) {
    if (!cursor.empty() && View(it->key()) == cursor) continue;
    v1::ActionView view;
    if (!view.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return ToGrpc(absl::DataLossError("action view does not decode"));
    }
    projections::Assess(&view, day);
    FillPeriodTitles(*plan, &view);
    if (!take(std::string(View(it->key())), std::move(view))) break;
  }
  if (!it->status().ok()) return ToGrpc(store::ReadFailure(it->status()));
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::GetActionTimeline(grpc::ServerContext* context,
                                                 const v1::GetActionTimelineRequest* request,
                                                 v1::GetActionTimelineResponse* response) {
  if (absl::Status s = Begin(context, request->min_position()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<Page> page = OpenPage(*request, request->page_size(), request->page_token());
  if (!page.ok()) return ToGrpc(page.status());
  absl::StatusOr<domain::ResourceName> parsed =
      domain::ParseNameOf(domain::Kind::kAction, "name", request->name());
  if (!parsed.ok()) return ToGrpc(parsed.status());
  ModelReader reader(runner_);
  v1::ActionView exists;
  absl::StatusOr<bool> got =
      reader.Get(projections::kCurrent, projections::ActionKey(request->name()), &exists);
  if (!got.ok()) return ToGrpc(got.status());
  if (!*got) {
    return ToGrpc(
        absl::NotFoundError(absl::StrCat("name: action ", request->name(), " not found")));
  }
  // The action's changes by recorded time, which is log order; a page
  // token carries the entry to resume at.
  absl::StatusOr<projections::BlockEntry> from = ListCursor(page->cursor);
  if (!from.ok()) return ToGrpc(from.status());
  auto it = reader.Iterator(projections::kChanges);
  projections::BlockCursor cursor(it.get(), projections::IndexPrefix('t', request->name()));
  absl::Status s = cursor.Seek(from->time, from->position);
  for (; s.ok() && cursor.Valid(); s = cursor.Next()) {
    if (response->changes_size() == page->size) {
      response->set_next_page_token(MakeToken(page->filters, cursor.entry().Suffix()));
      break;
    }
    absl::StatusOr<bool> change =
        reader.GetChange(cursor.entry().position, response->add_changes());
    if (!change.ok()) return ToGrpc(change.status());
  }
  return ToGrpc(s);
}

grpc::Status QueryServiceImpl::ListChanges(grpc::ServerContext* context,
                                           const v1::ListChangesRequest* request,
                                           v1::ListChangesResponse* response) {
  if (absl::Status s = Begin(context, request->min_position()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<Page> page = OpenPage(*request, request->page_size(), request->page_token());
  if (!page.ok()) return ToGrpc(page.status());
  absl::StatusOr<domain::ResourceName> parent =
      domain::ParseNameOf(domain::Kind::kPlan, "parent", request->parent());
  if (!parent.ok()) return ToGrpc(parent.status());
  if (!request->action().empty()) {
    absl::StatusOr<domain::ResourceName> action =
        domain::ParseNameOf(domain::Kind::kAction, "action", request->action());
    if (!action.ok()) return ToGrpc(action.status());
  }
  // An actor is any id the log holds (some may predate the principal id
  // rules); one with a NUL byte would read another list's keys.
  if (request->actor().find('\0') != std::string::npos ||
      request->actor().size() > domain::kMaxPrincipalIdBytes) {
    return ToGrpc(absl::InvalidArgumentError("actor: not a principal id"));
  }
  if (!request->type().empty()) {
    // A change's type is the name of its event's payload.
    const google::protobuf::OneofDescriptor* payload =
        v1::Event::descriptor()->FindOneofByName("payload");
    std::vector<std::string> types;
    for (int i = 0; i < payload->field_count(); ++i) types.push_back(payload->field(i)->name());
    if (std::find(types.begin(), types.end(), request->type()) == types.end()) {
      return ToGrpc(
          absl::InvalidArgumentError(absl::StrCat("type: no change type \"", request->type(),
                                                  "\" (one of ", absl::StrJoin(types, ", "), ")")));
    }
  }
  if (absl::Status s = CheckTimestamp("start_time", request->start_time()); !s.ok())
    return ToGrpc(s);
  if (absl::Status s = CheckTimestamp("end_time", request->end_time()); !s.ok()) return ToGrpc(s);
  const uint64_t start_us = request->has_start_time() ? MicrosOf(request->start_time()) : 0;
  const uint64_t end_us = request->has_end_time() ? MicrosOf(request->end_time()) : UINT64_MAX;
  if (start_us > end_us) {
    return ToGrpc(absl::InvalidArgumentError("end_time: before start_time"));
  }
  // The most selective index: a resource's timeline, an actor's changes, a
  // type's changes, or the whole log. Each is in log order, and each key
  // ends with the change's position. What follows the prefix is the cursor
  // a page token carries.
  std::string prefix = "p";
  if (!request->action().empty()) {
    prefix = projections::IndexPrefix('t', request->action());
  } else if (!request->actor().empty()) {
    prefix = projections::IndexPrefix('a', request->actor());
  } else if (!request->type().empty()) {
    prefix = projections::IndexPrefix('y', request->type());
  }
  const std::string plan_prefix = request->parent() + "/";
  ModelReader reader(runner_);
  // A plan that does not exist has no changes to list: not an empty list,
  // which would read as nothing having changed.
  if (absl::StatusOr<v1::PlanView> plan = LoadPlan(reader, request->parent()); !plan.ok()) {
    if (!absl::IsNotFound(plan.status())) return ToGrpc(plan.status());
    return ToGrpc(absl::NotFoundError(absl::StrCat("parent: ", plan.status().message())));
  }
  if (!request->action().empty()) {
    v1::ActionView exists;
    absl::StatusOr<bool> got =
        reader.Get(projections::kCurrent, projections::ActionKey(request->action()), &exists);
    if (!got.ok()) return ToGrpc(got.status());
    if (!*got) {
      return ToGrpc(absl::NotFoundError(absl::StrCat("action: ", request->action(), " not found")));
    }
  }
  // Each entry in turn: what a page token carries to resume at it, its
  // change's position, and the change as stored when the scan holds it
  // ('p'). Returns whether to go on.
  int scanned = 0;
  auto take = [&](absl::string_view rest, uint64_t position,
                  v1::Change* stored) -> absl::StatusOr<bool> {
    if (response->changes_size() == page->size || ++scanned > kMaxScanPerPage) {
      response->set_next_page_token(MakeToken(page->filters, rest));
      return false;
    }
    v1::Change change;
    if (stored != nullptr) {
      change = std::move(*stored);
    } else {
      absl::StatusOr<bool> got = reader.GetStoredChange(position, &change);
      if (!got.ok()) return got.status();
    }
    // A narrative update is stored without what its event says, which the
    // filters read.
    if (absl::Status s = reader.Complete(&change); !s.ok()) return s;
    if (change.stream() != request->parent() && !absl::StartsWith(change.stream(), plan_prefix))
      return true;
    const uint64_t recorded = MicrosOf(change.recorded_at());
    // Positions follow recorded time: past the end, nothing later matches.
    if (recorded >= end_us) return false;
    if (recorded < start_us) return true;
    if (!request->actor().empty() && change.actor() != request->actor()) return true;
    if (!request->type().empty() && change.type() != request->type()) return true;
    *response->add_changes() = std::move(change);
    return true;
  };
  auto it = reader.Iterator(projections::kChanges);
  if (prefix != "p") {
    // A list in blocks: a timeline ('t', by recorded time and position), an
    // actor's or a type's changes (by position). A page token carries the
    // entry to resume at; a first page starts at start_time.
    absl::StatusOr<projections::BlockEntry> from = ListCursor(page->cursor);
    if (!from.ok()) return ToGrpc(from.status());
    if (page->cursor.empty() && start_us > 0 && prefix[0] == 't') {
      from->time = start_us;
    } else if (page->cursor.empty() && start_us > 0) {
      absl::StatusOr<uint64_t> first = FirstRecordedAtOrAfter(reader, start_us);
      if (!first.ok()) return ToGrpc(first.status());
      from->position = *first;
    }
    projections::BlockCursor cursor(it.get(), prefix);
    absl::Status s = cursor.Seek(from->time, from->position);
    for (; s.ok() && cursor.Valid(); s = cursor.Next()) {
      const projections::BlockEntry& entry = cursor.entry();
      absl::StatusOr<bool> more = take(entry.Suffix(), entry.position, nullptr);
      if (!more.ok()) return ToGrpc(more.status());
      if (!*more) break;
    }
    return ToGrpc(s);
  }
  // The whole log, in order, a block of records at a time: the cursor is
  // the next change's position.
  uint64_t from = 1;
  if (!page->cursor.empty()) {
    if (page->cursor.size() != 8) {
      return ToGrpc(absl::InvalidArgumentError("page_token: not a token of this query"));
    }
    from = std::max<uint64_t>(ReadBigEndian64(page->cursor), 1);
  } else if (start_us > 0) {
    absl::StatusOr<uint64_t> first = FirstRecordedAtOrAfter(reader, start_us);
    if (!first.ok()) return ToGrpc(first.status());
    from = std::max<uint64_t>(*first, 1);
  }
  std::vector<v1::Change> block;
  bool more = true;
  // Each pass reads one block; a full page ends the scan before the next.
  for (it->Seek(projections::ChangeBlockKey(from)); it->Valid();) {
    absl::StatusOr<bool> read = ChangeBlockAt(*it, &block);
    if (!read.ok()) return ToGrpc(read.status());
    if (!*read) break;
    for (v1::Change& change : block) {
      if (change.position() < from) continue;
      const uint64_t position = change.position();
      absl::StatusOr<bool> go = take(BigEndian64(position), position, &change);
      if (!go.ok()) return ToGrpc(go.status());
      if (!*go) {
        more = false;
        break;
      }
    }
    if (!more) break;
    it->Next();
  }
  if (!it->status().ok()) return ToGrpc(store::ReadFailure(it->status()));
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::GetPlanAsOf(grpc::ServerContext* context,
                                           const v1::GetPlanAsOfRequest* request,
                                           v1::PlanSnapshot* response) {
  if (absl::Status s = Begin(context, request->min_position()); !s.ok()) return ToGrpc(s);
  if (!request->has_time()) {
    return ToGrpc(absl::InvalidArgumentError("time: required"));
  }
  if (absl::Status s = CheckTimestamp("time", request->time()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<uint64_t> known_at = KnownAt(*log_, *runner_, context, request->ledger_position());
  if (!known_at.ok()) return ToGrpc(known_at.status());
  ModelReader reader(runner_);
  absl::StatusOr<v1::PlanSnapshot> snapshot =
      SnapshotOf(reader, request->name(), MicrosOf(request->time()), request->clock(), *known_at);
  if (!snapshot.ok()) return ToGrpc(snapshot.status());
  *response = *std::move(snapshot);
  *response->mutable_time() = request->time();
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::DiffPlan(grpc::ServerContext* context,
                                        const v1::DiffPlanRequest* request,
                                        v1::PlanDiff* response) {
  if (absl::Status s = Begin(context, request->min_position()); !s.ok()) return ToGrpc(s);
  if (!request->has_from_time() || !request->has_to_time()) {
    return ToGrpc(absl::InvalidArgumentError("from_time and to_time: required"));
  }
  if (absl::Status s = CheckTimestamp("from_time", request->from_time()); !s.ok()) return ToGrpc(s);
  if (absl::Status s = CheckTimestamp("to_time", request->to_time()); !s.ok()) return ToGrpc(s);
  ModelReader reader(runner_);
  absl::StatusOr<v1::PlanSnapshot> to =
      SnapshotOf(reader, request->name(), MicrosOf(request->to_time()), request->clock());
  if (!to.ok()) return ToGrpc(to.status());
  absl::StatusOr<v1::PlanSnapshot> from =
      SnapshotOf(reader, request->name(), MicrosOf(request->from_time()), request->clock());
  v1::PlanSnapshot empty;
  if (!from.ok() && !absl::IsNotFound(from.status())) return ToGrpc(from.status());
  const v1::PlanSnapshot& before = from.ok() ? *from : empty;
  absl::flat_hash_map<std::string, const v1::ActionView*> earlier;
  for (const v1::ActionView& a : before.actions()) earlier[a.name()] = &a;
  // In the plan's order (r1/a2 before r1/a10), not as text.
  std::sort(to->mutable_actions()->begin(), to->mutable_actions()->end(),
            [](const v1::ActionView& a, const v1::ActionView& b) {
              return report::NaturalLess(a.name(), b.name());
            });
  for (const v1::ActionView& after : to->actions()) {
    auto found = earlier.find(after.name());
    if (found == earlier.end()) {
      response->add_new_actions(after.name());
      for (const v1::Narrative& n : after.narratives()) {
        v1::NewNarrative* added = response->add_new_narratives();
        added->set_action(after.name());
        added->set_period(n.period());
        added->set_text(n.text());
      }
      continue;
    }
    const v1::ActionView& was = *found->second;
    if (was.status() != after.status()) {
      v1::StatusChange* change = response->add_status_changes();
      change->set_action(after.name());
      change->set_from(was.status());
      change->set_to(after.status());
      change->set_reason(after.status_reason());
    }
    if (was.target_date().SerializeAsString() != after.target_date().SerializeAsString()) {
      v1::TargetChange* change = response->add_target_changes();
      change->set_action(after.name());
      *change->mutable_from() = was.target_date();
      *change->mutable_to() = after.target_date();
      absl::flat_hash_set<uint64_t> known;
      for (const v1::TargetRevision& r : was.revisions()) known.insert(r.position());
      for (const v1::TargetRevision& r : after.revisions()) {
        if (!known.contains(r.position())) change->add_reasons(r.reason());
      }
    }
    if (was.description() != after.description()) {
      v1::DescriptionChange* change = response->add_description_changes();
      change->set_action(after.name());
      change->set_from(was.description());
      change->set_to(after.description());
    }
    if (was.owner() != after.owner()) {
      response->add_owner_changes(
          absl::StrCat(after.name(), ": ", was.owner(), " -> ", after.owner()));
    }
    for (const v1::Narrative& n : after.narratives()) {
      const v1::Narrative* previous = nullptr;
      for (const v1::Narrative& m : was.narratives()) {
        if (m.period() == n.period()) previous = &m;
      }
      if (previous != nullptr && previous->text() == n.text()) continue;
      v1::NewNarrative* added = response->add_new_narratives();
      added->set_action(after.name());
      added->set_period(n.period());
      added->set_text(n.text());
      if (previous != nullptr) added->set_previous_text(previous->text());
    }
  }
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::WatchChanges(grpc::ServerContext* context,
                                            const v1::WatchChangesRequest* request,
                                            grpc::ServerWriter<v1::Change>* writer) {
  if (absl::Status s = Begin(context, 0); !s.ok()) return ToGrpc(s);
  if (open_streams_.fetch_add(1) >= kMaxConcurrentStreams) {
    open_streams_.fetch_sub(1);
    return ToGrpc(absl::ResourceExhaustedError(
        absl::StrCat("at most ", kMaxConcurrentStreams, " watches may be open at once")));
  }
  absl::Cleanup release = [this] { open_streams_.fetch_sub(1); };
  const std::string plan_prefix = request->parent() + "/";
  uint64_t next = std::max<uint64_t>(request->start_position(), 1);
  while (!context->IsCancelled() && !log_->closing()) {
    absl::Status blocked;
    if (!runner_->WaitFor(next, absl::Now() + absl::Milliseconds(500), &blocked)) {
      // A model that stopped will not come back by waiting.
      if (!blocked.ok()) return ToGrpc(blocked);
      continue;
    }
    std::vector<v1::Change> batch;
    {
      ModelReader reader(runner_);
      auto it = reader.Iterator(projections::kChanges);
      std::vector<v1::Change> block;
      for (it->Seek(projections::ChangeBlockKey(next)); it->Valid() && batch.size() < 256;
           it->Next()) {
        absl::StatusOr<bool> read = ChangeBlockAt(*it, &block);
        if (!read.ok()) return ToGrpc(read.status());
        if (!*read) break;
        for (v1::Change& change : block) {
          if (change.position() < next) continue;
          next = change.position() + 1;
          if (absl::Status s = reader.Complete(&change); !s.ok()) return ToGrpc(s);
          if (!request->parent().empty() && change.stream() != request->parent() &&
              !absl::StartsWith(change.stream(), plan_prefix))
            continue;
          batch.push_back(std::move(change));
        }
      }
      if (!it->status().ok()) return ToGrpc(store::ReadFailure(it->status()));
    }
    for (const v1::Change& change : batch) {
      if (!writer->Write(change)) return grpc::Status::CANCELLED;
    }
  }
  if (log_->closing()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "ledgerd is shutting down; watch again from the last "
                        "position received");
  }
  return grpc::Status::CANCELLED;
}

grpc::Status QueryServiceImpl::ListSecurityEvents(grpc::ServerContext* context,
                                                  const v1::ListSecurityEventsRequest* request,
                                                  v1::ListSecurityEventsResponse* response) {
  absl::StatusOr<domain::Principal> principal = auth_->Authenticate(*context);
  if (!principal.ok()) return ToGrpc(principal.status());
  if (principal->role != v1::ADMIN && principal->role != v1::SCRUTINY) {
    return ToGrpc(absl::PermissionDeniedError(
        absl::StrCat(principal->id, " (", domain::RoleName(principal->role),
                     ") may not read the security log: admin and scrutiny may")));
  }
  absl::StatusOr<Page> page = OpenPage(*request, request->page_size(), request->page_token());
  if (!page.ok()) return ToGrpc(page.status());
  const uint64_t from = page->cursor.empty() ? 1 : ReadBigEndian64(page->cursor);
  std::vector<v1::SecurityEvent> events;
  if (absl::Status s = security_->List(from, static_cast<size_t>(page->size) + 1, &events);
      !s.ok()) {
    return ToGrpc(s);
  }
  if (events.size() > static_cast<size_t>(page->size)) {
    response->set_next_page_token(MakeToken(page->filters, BigEndian64(events.back().sequence())));
    events.pop_back();
  }
  for (auto& e : events) *response->add_events() = std::move(e);
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::ListProjections(grpc::ServerContext* context,
                                               const v1::ListProjectionsRequest*,
                                               v1::ListProjectionsResponse* response) {
  // Answers at once, also while a model is rebuilt or has stopped: that is
  // what it tells.
  absl::StatusOr<domain::Principal> principal = auth_->Authenticate(*context);
  if (!principal.ok()) return ToGrpc(principal.status());
  for (const std::string& name : runner_->names()) {
    absl::StatusOr<projections::ProjectionState> state = runner_->State(name);
    if (!state.ok()) return ToGrpc(state.status());
    SetStatus(*state, response->add_projections());
  }
  return grpc::Status::OK;
}

grpc::Status QueryServiceImpl::RebuildProjection(grpc::ServerContext* context,
                                                 const v1::RebuildProjectionRequest* request,
                                                 v1::ProjectionStatus* response) {
  absl::StatusOr<domain::Principal> principal = auth_->Authenticate(*context);
  if (!principal.ok()) return ToGrpc(principal.status());
  if (principal->role != v1::ADMIN) {
    return ToGrpc(absl::PermissionDeniedError(
        absl::StrCat(principal->id, " (", domain::RoleName(principal->role),
                     ") may not rebuild projections: only an admin may")));
  }
  const uint64_t head = log_->head_position();
  if (absl::Status s = runner_->Rebuild(request->name()); !s.ok()) return ToGrpc(s);
  response->set_name(request->name());
  response->set_state(v1::ProjectionStatus::BUILDING);  // until it has caught up
  if (request->wait()) {
    absl::Time deadline =
        std::min(absl::FromChrono(context->deadline()), absl::Now() + absl::Minutes(10));
    // Only the model rebuilt: another that stopped before says nothing of it.
    absl::Status blocked;
    absl::string_view only;  // every model, for "all"
    if (request->name() != "all") only = request->name();
    if (!runner_->WaitFor(head, deadline, &blocked, only)) {
      if (!blocked.ok()) return ToGrpc(blocked);
      if (runner_->stopping()) {
        return ToGrpc(absl::UnavailableError(
            "ledgerd is shutting down; the rebuild goes on from where it stopped "
            "when ledgerd starts again"));
      }
      return ToGrpc(absl::DeadlineExceededError(
          "the rebuild is still running; it goes on in the background"));
    }
    if (request->name() != "all") {
      absl::StatusOr<projections::ProjectionState> state = runner_->State(request->name());
      if (!state.ok()) return ToGrpc(state.status());
      SetStatus(*state, response);
    } else {
      response->set_position(runner_->position());
      response->set_state(v1::ProjectionStatus::RUNNING);
    }
  }
  return grpc::Status::OK;
}

}  // namespace auditledger::service
