#ifndef AUDITLEDGER_CLIENTS_LEDGERCTL_PLAN_IMPORT_H_
#define AUDITLEDGER_CLIENTS_LEDGERCTL_PLAN_IMPORT_H_

#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "auditledger/v1/ledger_service.pb.h"

// Turns a plan kept as spreadsheets into the commands that record it.
//
// A plan directory holds plan.json:
//   {"plan_id": "oxford-cpc-2023", "title": "...", "council": "...",
//    "adopted": "2023-12-01",
//    "recommendations": "recommendations.csv", "actions": "actions.csv",
//    "periods": [{"id": "oct-2024", "title": "October 2024 & final update",
//                 "opened": "2024-10-01", "closed": "2024-10-31"}]}
// recommendations.csv: number,id,title,text
// actions.csv: recommendation,action_id,description,target_date,status,
//              owner,period,update
// The plan, its recommendations and actions are recorded as adopted
// (effective `adopted`, status NOT_STARTED, the first row's target date and
// owner); then, period by period, each row's status, target date, owner and
// update are recorded effective from the period's opening.
namespace auditledger::ledgerctl {

struct PlanImport {
  std::string plan_name;
  std::vector<v1::Command> commands;
  // Where each command came from, as "actions.csv:12" (one per command).
  std::vector<std::string> origins;
  std::vector<std::string> errors;  // "file:line: column name: problem"
  int recommendations = 0;
  int actions = 0;
  int updates = 0;
};

PlanImport BuildPlanImport(const std::string& directory);

// When a period closed on `day` closed: the end of that day (UTC), or now
// when that is still to come. The close includes the whole day.
google::protobuf::Timestamp PeriodCloseOn(absl::CivilDay day);

// Files given directly, with the manifest's fields from flags.
PlanImport BuildPlanImportFromFiles(const std::string& manifest_json,
                                    const std::string& base_directory);

}  // namespace auditledger::ledgerctl

#endif  // AUDITLEDGER_CLIENTS_LEDGERCTL_PLAN_IMPORT_H_
