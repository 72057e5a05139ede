#ifndef AUDITLEDGER_LEDGER_SERVICE_REPORT_SERVICE_H_
#define AUDITLEDGER_LEDGER_SERVICE_REPORT_SERVICE_H_

#include "absl/status/statusor.h"
#include "auditledger/v1/report_service.grpc.pb.h"
#include "ledger/service/auth.h"
#include "ledger/store/event_log.h"
#include "projections/runner.h"
#include "report/report_model.h"

namespace auditledger::service {

// Builds the report model from the temporal read model (never by replaying
// the log) and renders it. Every role may ask for a report.
class ReportServiceImpl final : public v1::ReportService::Service {
 public:
  // `damaged_at`: where the ledger failed its integrity check when opened
  // (0: it did not); every report then says so.
  ReportServiceImpl(projections::ProjectionRunner* runner, store::EventLog* log,
                    const Authenticator* auth, uint64_t damaged_at = 0)
      : runner_(runner), log_(log), auth_(auth), damaged_at_(damaged_at) {}

  grpc::Status RenderReport(grpc::ServerContext* context, const v1::RenderReportRequest* request,
                            v1::Report* response) override;

 private:
  // The report's content as the ledger stood at `known_at`.
  absl::StatusOr<report::ReportModel> BuildModel(const v1::RenderReportRequest& request,
                                                 uint64_t known_at);

  projections::ProjectionRunner* runner_;
  store::EventLog* log_;
  const Authenticator* auth_;
  const uint64_t damaged_at_;
};

}  // namespace auditledger::service

#endif  // AUDITLEDGER_LEDGER_SERVICE_REPORT_SERVICE_H_
