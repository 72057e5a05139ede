#ifndef AUDITLEDGER_LEDGER_SERVICE_QUERY_SERVICE_H_
#define AUDITLEDGER_LEDGER_SERVICE_QUERY_SERVICE_H_

#include <atomic>

#include "auditledger/v1/query_service.grpc.pb.h"
#include "ledger/service/auth.h"
#include "ledger/service/security_log.h"
#include "ledger/store/event_log.h"
#include "projections/runner.h"

namespace auditledger::service {

// Answers queries from the read models. Every role may query; only an admin
// may rebuild a projection.
class QueryServiceImpl final : public v1::QueryService::Service {
 public:
  QueryServiceImpl(projections::ProjectionRunner* runner, store::EventLog* log,
                   const Authenticator* auth, const SecurityLog* security)
      : runner_(runner), log_(log), auth_(auth), security_(security) {}

  grpc::Status ListPlans(grpc::ServerContext*, const v1::ListPlansRequest*,
                         v1::ListPlansResponse*) override;
  grpc::Status GetPlan(grpc::ServerContext*, const v1::GetPlanRequest*, v1::PlanView*) override;
  grpc::Status GetAction(grpc::ServerContext*, const v1::GetActionRequest*,
                         v1::ActionView*) override;
  grpc::Status ListActions(grpc::ServerContext*, const v1::ListActionsRequest*,
                           v1::ListActionsResponse*) override;
  grpc::Status GetActionTimeline(grpc::ServerContext*, const v1::GetActionTimelineRequest*,
                                 v1::GetActionTimelineResponse*) override;
  grpc::Status ListChanges(grpc::ServerContext*, const v1::ListChangesRequest*,
                           v1::ListChangesResponse*) override;
  grpc::Status GetPlanAsOf(grpc::ServerContext*, const v1::GetPlanAsOfRequest*,
                           v1::PlanSnapshot*) override;
  grpc::Status DiffPlan(grpc::ServerContext*, const v1::DiffPlanRequest*, v1::PlanDiff*) override;
  grpc::Status WatchChanges(grpc::ServerContext*, const v1::WatchChangesRequest*,
                            grpc::ServerWriter<v1::Change>*) override;
  grpc::Status ListSecurityEvents(grpc::ServerContext*, const v1::ListSecurityEventsRequest*,
                                  v1::ListSecurityEventsResponse*) override;
  grpc::Status ListProjections(grpc::ServerContext*, const v1::ListProjectionsRequest*,
                               v1::ListProjectionsResponse*) override;
  grpc::Status RebuildProjection(grpc::ServerContext*, const v1::RebuildProjectionRequest*,
                                 v1::ProjectionStatus*) override;

 private:
  // Authenticates and waits for the read models to reach min_position.
  absl::Status Begin(grpc::ServerContext* context, uint64_t min_position);

  projections::ProjectionRunner* runner_;
  store::EventLog* log_;
  const Authenticator* auth_;
  const SecurityLog* security_;
  std::atomic<int> open_streams_{0};
};

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_QUERY_SERVICE_H_
