#ifndef AUDITLEDGER_LEDGER_SERVICE_LEDGER_SERVICE_H_
#define AUDITLEDGER_LEDGER_SERVICE_LEDGER_SERVICE_H_

#include <atomic>
#include <functional>

#include "auditledger/v1/ledger_service.grpc.pb.h"
#include "ledger/engine/ledger.h"
#include "ledger/service/auth.h"
#include "ledger/store/event_log.h"

namespace auditledger::service {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kMaxConcurrentStreams = 64;

// Resolves a page_size: 0 means the default, above the maximum is clamped
// (AIP-158), negative is INVALID_ARGUMENT.
absl::StatusOr<int> PageSize(int requested);

// ExecuteCommands, the path for batches and heavy load, is served with the
// callback API: no thread waits while its group is made durable. The other
// RPCs are synchronous.
class LedgerServiceImpl final
    : public v1::LedgerService::WithCallbackMethod_ExecuteCommands<v1::LedgerService::Service> {
 public:
  LedgerServiceImpl(engine::Ledger* ledger, store::EventLog* log, const Authenticator* auth)
      : ledger_(ledger), log_(log), auth_(auth) {}

  grpc::Status CreatePlan(grpc::ServerContext*, const v1::CreatePlanRequest*,
                          v1::CommandResponse*) override;
  grpc::Status AddRecommendation(grpc::ServerContext*, const v1::AddRecommendationRequest*,
                                 v1::CommandResponse*) override;
  grpc::Status AddAction(grpc::ServerContext*, const v1::AddActionRequest*,
                         v1::CommandResponse*) override;
  grpc::Status ChangeActionStatus(grpc::ServerContext*, const v1::ChangeActionStatusRequest*,
                                  v1::CommandResponse*) override;
  grpc::Status RecordUpdate(grpc::ServerContext*, const v1::RecordUpdateRequest*,
                            v1::CommandResponse*) override;
  grpc::Status ReviseTargetDate(grpc::ServerContext*, const v1::ReviseTargetDateRequest*,
                                v1::CommandResponse*) override;
  grpc::Status AssignOwner(grpc::ServerContext*, const v1::AssignOwnerRequest*,
                           v1::CommandResponse*) override;
  grpc::Status AmendDescription(grpc::ServerContext*, const v1::AmendDescriptionRequest*,
                                v1::CommandResponse*) override;
  grpc::Status OpenPeriod(grpc::ServerContext*, const v1::OpenPeriodRequest*,
                          v1::CommandResponse*) override;
  grpc::Status ClosePeriod(grpc::ServerContext*, const v1::ClosePeriodRequest*,
                           v1::CommandResponse*) override;
  grpc::Status CorrectEvent(grpc::ServerContext*, const v1::CorrectEventRequest*,
                            v1::CommandResponse*) override;
  grpc::ServerUnaryReactor* ExecuteCommands(grpc::CallbackServerContext*,
                                            const v1::ExecuteCommandsRequest*,
                                            v1::CommandResponse*) override;
  grpc::Status ListEvents(grpc::ServerContext*, const v1::ListEventsRequest*,
                          v1::ListEventsResponse*) override;
  grpc::Status StreamEvents(grpc::ServerContext*, const v1::StreamEventsRequest*,
                            grpc::ServerWriter<v1::LoggedEvent>*) override;
  grpc::Status GetLogHead(grpc::ServerContext*, const v1::GetLogHeadRequest*,
                          v1::LogHead*) override;

 private:
  grpc::Status Run(grpc::ServerContext* context, v1::Command command, const std::string& request_id,
                   v1::CommandResponse* response);

  engine::Ledger* ledger_;
  store::EventLog* log_;
  const Authenticator* auth_;
  std::atomic<int> open_streams_{0};
};

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_LEDGER_SERVICE_H_
