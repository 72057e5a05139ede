#ifndef AUDITLEDGER_REPORT_REPORT_MODEL_H_
#define AUDITLEDGER_REPORT_REPORT_MODEL_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "auditledger/v1/query_service.pb.h"

// Everything an update report shows, gathered from the read models. The
// renderers are pure functions of it: same model, same bytes.
namespace auditledger::report {

struct ReportModel {
  v1::PlanView plan;                    // as of the moment
  std::string heading;                  // "October 2024 & final update"
  std::string period;                   // the reported period's name, if any
  std::string moment;                   // "31 October 2024 (effective clock)"
  bool draft = false;                   // the period is still open
  absl::CivilDay day;                   // overdue and RAG are judged on this day
  std::vector<v1::ActionView> actions;  // as of the moment, in plan order
  // The same actions at the end of the previous period (absent if new).
  std::map<std::string, v1::ActionView> previous;
  std::string previous_heading;  // "" when there is no previous period
  // Changes in the reported window, per action name, oldest first.
  std::map<std::string, std::vector<v1::Change>> audit;
  // Earlier changes in the window not listed, per action name.
  std::map<std::string, uint64_t> audit_left_out;
  uint64_t position = 0;      // the highest position reflected
  std::string head_hash_hex;  // hash-chain head at `position`
  std::optional<std::string> generated_at;
  // Set when the ledger is known to be damaged: shown first, in full.
  std::string damage;
  // The ledgerctl command that gives these bytes again, whatever the ledger
  // records later; empty for a draft or with a "generated at" line.
  std::string again;
};

// The narrative shown for an action: the reported period's, or for an
// as-of report the latest recorded.
const v1::Narrative* ShownNarrative(const ReportModel& model, const v1::ActionView& action);

// "December 2024 (was September 2024)".
std::string TargetText(const v1::ActionView& action);

// Counts per recommendation name ("" = overall).
struct Counts {
  int total = 0, complete = 0, ongoing = 0, not_started = 0, paused = 0, stopped = 0;
  int red = 0, amber = 0, green = 0;
};
std::map<std::string, Counts> CountActions(const ReportModel& model);

std::string Short(const std::string& action_name);  // "r1/a7"

// "r2/a10" after "r2/a9": runs of digits compare by value.
bool NaturalLess(const std::string& a, const std::string& b);

// A table of plain text cells; each renderer escapes for its format.
struct TableData {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  // Ours, after the title: Markdown as it stands (a command in backticks),
  // where the title is text from the ledger and escaped.
  std::string note;
};

// Status changes, revised targets, amended descriptions (when there are
// any), new actions, paused and stopped ones.
std::vector<TableData> ChangeTables(const ReportModel& model);
// Overdue and slipped actions.
std::vector<TableData> OverdueTables(const ReportModel& model);
// One action's changes in the window.
TableData AuditTable(const ReportModel& model, const v1::ActionView& action,
                     const std::vector<v1::Change>& changes);
// The cells of one action's row in its recommendation's table.
std::vector<std::string> ActionRow(const ReportModel& model, const v1::ActionView& action);
std::string SummaryNote(const ReportModel& model);

// For a closed period's report that holds changes recorded after the period
// closed (back-dated into it, or corrections): which, and the command that
// gives the report as it stood at the close. Empty otherwise.
std::string AmendmentNote(const ReportModel& model);
// The heading of the actions' update column: the period's title, or for a
// report of a moment "Latest update".
std::string UpdateColumn(const ReportModel& model);
// What a change's field is called in a report's audit appendix.
std::string FieldLabel(const std::string& field);
// A day as a report writes it: "31 October 2024".
std::string LongDate(absl::CivilDay day);
// What the audit appendix covers, as its text says it: "since the previous
// period closed", the window of "what changed"; "in this period" for a
// first period; "since the plan began" for a moment before any closed.
std::string AuditScope(const ReportModel& model);

std::string RenderMarkdown(const ReportModel& model);
std::string RenderHtml(const ReportModel& model);
std::string RenderCsv(const ReportModel& model);

// RFC 4180 cell; formula-like text (= + - @ tab CR first) is neutralised
// with a leading single quote.
std::string CsvCell(const std::string& text);
std::string HtmlEscape(const std::string& text);

}  // namespace auditledger::report

#endif  // AUDITLEDGER_REPORT_REPORT_MODEL_H_
