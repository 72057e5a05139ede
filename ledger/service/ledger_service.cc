#include "ledger/service/ledger_service.h"

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ledger/domain/decide.h"
#include "ledger/domain/names.h"
#include "ledger/service/grpc_status.h"

namespace auditledger::service {

absl::StatusOr<int> PageSize(int requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError("page_size: must not be negative");
  }
  if (requested == 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

namespace {

absl::Status RequireWriter(const domain::Principal& p) {
  if (p.role == v1::ADMIN || p.role == v1::OFFICER) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(p.id, " (", domain::RoleName(p.role),
                                                  ") is read-only: scrutiny may "
                                                  "query the ledger but not change it"));
}

// Page tokens are opaque to callers; inside they carry the filter they were
// issued for, so a token cannot be replayed against another query.
std::string MakeToken(absl::string_view stream, uint64_t next) {
  return absl::StrCat(next, "@", stream);
}

absl::StatusOr<uint64_t> ParseToken(absl::string_view token, absl::string_view stream) {
  absl::string_view number = token.substr(0, token.find('@'));
  uint64_t next = 0;
  if (token.find('@') == absl::string_view::npos || token.substr(token.find('@') + 1) != stream ||
      !absl::SimpleAtoi(number, &next) || next == 0) {
    return absl::InvalidArgumentError("page_token: not a token issued for this query");
  }
  return next;
}

}  // namespace

grpc::Status LedgerServiceImpl::Run(grpc::ServerContext* context, v1::Command command,
                                    const std::string& request_id, v1::CommandResponse* response) {
  absl::StatusOr<domain::Principal> principal = auth_->Authenticate(*context);
  if (!principal.ok()) return ToGrpc(principal.status());
  if (absl::Status s = RequireWriter(*principal); !s.ok()) return ToGrpc(s);
  std::vector<v1::Command> commands;
  commands.push_back(std::move(command));
  absl::StatusOr<v1::CommandResponse> result =
      ledger_->Execute(*principal, std::move(commands), request_id);
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

#define AUDITLEDGER_COMMAND_RPC(Method, Request, field)                                            \
  grpc::Status LedgerServiceImpl::Method(grpc::ServerContext* context, const v1::Request* request, \
                                         v1::CommandResponse* response) {                          \
    v1::Command command;                                                                           \
    *command.mutable_##field() = *request;                                                         \
    return Run(context, std::move(command), request->request_id(), response);                      \
  }

AUDITLEDGER_COMMAND_RPC(CreatePlan, CreatePlanRequest, create_plan)
AUDITLEDGER_COMMAND_RPC(AddRecommendation, AddRecommendationRequest, add_recommendation)
AUDITLEDGER_COMMAND_RPC(AddAction, AddActionRequest, add_action)
AUDITLEDGER_COMMAND_RPC(ChangeActionStatus, ChangeActionStatusRequest, change_action_status)
AUDITLEDGER_COMMAND_RPC(RecordUpdate, RecordUpdateRequest, record_update)
AUDITLEDGER_COMMAND_RPC(ReviseTargetDate, ReviseTargetDateRequest, revise_target_date)
AUDITLEDGER_COMMAND_RPC(AssignOwner, AssignOwnerRequest, assign_owner)
AUDITLEDGER_COMMAND_RPC(AmendDescription, AmendDescriptionRequest, amend_description)
AUDITLEDGER_COMMAND_RPC(OpenPeriod, OpenPeriodRequest, open_period)
AUDITLEDGER_COMMAND_RPC(ClosePeriod, ClosePeriodRequest, close_period)
AUDITLEDGER_COMMAND_RPC(CorrectEvent, CorrectEventRequest, correct_event)
#undef AUDITLEDGER_COMMAND_RPC

grpc::ServerUnaryReactor* LedgerServiceImpl::ExecuteCommands(
    grpc::CallbackServerContext* context, const v1::ExecuteCommandsRequest* request,
    v1::CommandResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto refuse = [reactor](const absl::Status& status) {
    reactor->Finish(ToGrpc(status));
    return reactor;
  };
  absl::StatusOr<domain::Principal> principal = auth_->Authenticate(*context);
  if (!principal.ok()) return refuse(principal.status());
  if (absl::Status s = RequireWriter(*principal); !s.ok()) return refuse(s);
  for (int i = 0; i < request->commands_size(); ++i) {
    if (!domain::CommandRequestId(request->commands(i)).empty()) {
      return refuse(absl::InvalidArgumentError(
          absl::StrCat("commands[", i,
                       "].request_id: must be empty; the request's own request_id covers "
                       "the whole batch")));
    }
  }
  std::vector<v1::Command> commands(request->commands().begin(), request->commands().end());
  // The request and response live until Finish.
  ledger_->ExecuteAsync(
      *std::move(principal), std::move(commands), request->request_id(),
      [reactor, response](absl::StatusOr<v1::CommandResponse> result) {
        if (!result.ok()) {
          reactor->Finish(ToGrpc(result.status()));
          return;
        }
        *response = *std::move(result);
        reactor->Finish(grpc::Status::OK);
      },
      request->validate_only());
  return reactor;
}

grpc::Status LedgerServiceImpl::ListEvents(grpc::ServerContext* context,
                                           const v1::ListEventsRequest* request,
                                           v1::ListEventsResponse* response) {
  absl::StatusOr<domain::Principal> principal = auth_->Authenticate(*context);
  if (!principal.ok()) return ToGrpc(principal.status());
  absl::StatusOr<int> page_size = PageSize(request->page_size());
  if (!page_size.ok()) return ToGrpc(page_size.status());
  uint64_t start = std::max<uint64_t>(request->start_position(), 1);
  if (!request->page_token().empty()) {
    absl::StatusOr<uint64_t> next = ParseToken(request->page_token(), request->stream());
    if (!next.ok()) return ToGrpc(next.status());
    start = *next;
  }
  std::vector<store::LoggedEvent> events;
  // One more than asked tells whether another page exists.
  const size_t want = static_cast<size_t>(*page_size) + 1;
  absl::Status read;
  if (request->stream().empty()) {
    read = log_->ReadRange(start, want, &events);
  } else {
    absl::StatusOr<domain::ResourceName> name = domain::ParseName("stream", request->stream());
    if (!name.ok()) return ToGrpc(name.status());
    read = log_->ReadStream(request->stream(), start, want, &events);
  }
  if (!read.ok()) return ToGrpc(read);
  if (events.size() == want) {
    const v1::Event& last = events.back().event();
    response->set_next_page_token(
        MakeToken(request->stream(), request->stream().empty() ? last.position() : last.version()));
    events.pop_back();
  }
  for (store::LoggedEvent& e : events) *response->add_events() = std::move(e);
  return grpc::Status::OK;
}

grpc::Status LedgerServiceImpl::StreamEvents(grpc::ServerContext* context,
                                             const v1::StreamEventsRequest* request,
                                             grpc::ServerWriter<v1::LoggedEvent>* writer) {
  absl::StatusOr<domain::Principal> principal = auth_->Authenticate(*context);
  if (!principal.ok()) return ToGrpc(principal.status());
  if (open_streams_.fetch_add(1) >= kMaxConcurrentStreams) {
    open_streams_.fetch_sub(1);
    return ToGrpc(absl::ResourceExhaustedError(
        absl::StrCat("at most ", kMaxConcurrentStreams, " event streams may be open at once")));
  }
  absl::Cleanup release = [this] { open_streams_.fetch_sub(1); };
  uint64_t next = std::max<uint64_t>(request->start_position(), 1);
  std::vector<store::LoggedEvent> events;
  while (!context->IsCancelled() && !log_->closing()) {
    events.clear();
    if (absl::Status s = log_->ReadRange(next, 256, &events); !s.ok()) {
      return ToGrpc(s);
    }
    for (const store::LoggedEvent& e : events) {
      if (!writer->Write(e)) return grpc::Status::CANCELLED;
      next = e.event().position() + 1;
    }
    if (events.empty()) {
      // Woken by the next append; the timeout only bounds how long a
      // cancelled call goes unnoticed.
      log_->WaitForPosition(next, absl::Now() + absl::Milliseconds(500));
    }
  }
  if (log_->closing()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "ledgerd is shutting down; resubscribe from the last "
                        "position received");
  }
  return grpc::Status::CANCELLED;
}

grpc::Status LedgerServiceImpl::GetLogHead(grpc::ServerContext* context,
                                           const v1::GetLogHeadRequest*, v1::LogHead* response) {
  absl::StatusOr<domain::Principal> principal = auth_->Authenticate(*context);
  if (!principal.ok()) return ToGrpc(principal.status());
  store::EventLog::Head head = log_->head();
  response->set_position(head.position);
  response->set_hash(head.hash);
  return grpc::Status::OK;
}

}  // namespace auditledger::service
