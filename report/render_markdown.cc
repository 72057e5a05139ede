#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "report/report_model.h"

namespace auditledger::report {
namespace {

// Running text: no raw HTML reaches a Markdown renderer, and no text an
// officer typed becomes a link, an image, code or emphasis in a published
// report (CommonMark's backslash escapes): nor strikethrough (GFM's '~'),
// nor an entity ("&amp;" stays those five characters). A lone '&', as in
// "October 2024 & final update", cannot start one, so it stays as typed.
std::string Text(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    switch (c) {
      case '<':
        out += "&lt;";
        continue;
      case '>':
        out += "&gt;";
        continue;
      case '\\':
      case '`':
      case '*':
      case '_':
      case '~':
      case '[':
      case ']':
        out.push_back('\\');
        break;
      case '&': {
        // Followed by an entity's name and ';': "&#42;", "&amp;".
        size_t j = i + 1;
        if (j < text.size() && text[j] == '#') ++j;
        const size_t name = j;
        while (j < text.size() && j - name < 32 && absl::ascii_isalnum(text[j])) ++j;
        if (j > name && j < text.size() && text[j] == ';') out.push_back('\\');
        break;
      }
      default:
        break;
    }
    out.push_back(c);
  }
  return out;
}

// A table cell: as Text, and no column or row breaks.
std::string Cell(const std::string& text) {
  return absl::StrReplaceAll(Text(text), {{"|", "\\|"}, {"\r\n", "<br>"}, {"\n", "<br>"}});
}

std::string Percent(int part, int whole) {
  if (whole == 0) return "-";
  return absl::StrFormat("%d%%", (part * 100 + whole / 2) / whole);
}

void AppendTable(std::string* out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::string> cells;
  for (const std::string& h : header) cells.push_back(Cell(h));
  absl::StrAppend(out, "| ", absl::StrJoin(cells, " | "), " |\n|");
  for (size_t i = 0; i < header.size(); ++i) absl::StrAppend(out, "---|");
  absl::StrAppend(out, "\n");
  for (const auto& row : rows) {
    cells.clear();
    for (const std::string& c : row) cells.push_back(Cell(c));
    absl::StrAppend(out, "| ", absl::StrJoin(cells, " | "), " |\n");
  }
}

void AppendSection(std::string* out, const TableData& t) {
  absl::StrAppend(out, "### ", Text(t.title), t.note, "\n\n");
  if (t.rows.empty()) {
    absl::StrAppend(out, "None.\n\n");
    return;
  }
  AppendTable(out, t.header, t.rows);
  absl::StrAppend(out, "\n");
}

}  // namespace

std::string RenderMarkdown(const ReportModel& m) {
  std::string out;
  auto line = [&](const std::string& s = "") { absl::StrAppend(&out, s, "\n"); };
  std::map<std::string, Counts> counts = CountActions(m);

  line(absl::StrCat("# ", Text(m.plan.council()), " — ", Text(m.plan.title())));
  line();
  if (!m.damage.empty()) {
    line(absl::StrCat("**WARNING: ", Text(m.damage), "**"));
    line();
  }
  line(absl::StrCat("## ", Text(m.heading), m.draft ? " (draft: the period is still open)" : ""));
  line();
  line(absl::StrCat("This report reflects the ledger as of ", Text(m.moment), "."));
  if (std::string amended = AmendmentNote(m); !amended.empty()) {
    line();
    line(absl::StrCat("**", Text(amended), "**"));
  }
  if (m.generated_at) line(absl::StrCat("Generated at ", *m.generated_at, "."));
  line();
  line("## Contents");
  line();
  line("- [Summary](#summary)");
  for (const v1::RecommendationView& r : m.plan.recommendations()) {
    line(absl::StrFormat("- [Recommendation %d: %s](#recommendation-%d)", r.number(),
                         Text(r.title()), r.number()));
  }
  line("- [What changed since the previous period](#what-changed)");
  line("- [Overdue and slipped actions](#overdue-and-slipped)");
  line("- [Audit appendix](#audit-appendix)");
  line("- [Verification](#verification)");
  line();

  line("<a id=\"summary\"></a>");
  line();
  line("## Summary");
  line();
  std::vector<std::vector<std::string>> rows;
  auto count_row = [&](const std::string& label, const Counts& c) {
    rows.push_back({label, absl::StrCat(c.total), absl::StrCat(c.complete), absl::StrCat(c.ongoing),
                    absl::StrCat(c.not_started), absl::StrCat(c.paused), absl::StrCat(c.stopped),
                    Percent(c.complete, c.total), absl::StrCat(c.red), absl::StrCat(c.amber),
                    absl::StrCat(c.green)});
  };
  for (const v1::RecommendationView& r : m.plan.recommendations()) {
    count_row(absl::StrCat(r.number(), ". ", r.title()), counts[r.name()]);
  }
  count_row("Overall", counts[""]);
  AppendTable(&out,
              {"Recommendation", "Actions", "Complete", "Ongoing", "Not started", "Paused",
               "Stopped", "Complete %", "Red", "Amber", "Green"},
              rows);
  line();
  line(Text(SummaryNote(m)));
  line();

  for (const v1::RecommendationView& r : m.plan.recommendations()) {
    line(absl::StrFormat("<a id=\"recommendation-%d\"></a>", r.number()));
    line();
    line(absl::StrFormat("## Recommendation %d: %s", r.number(), Text(r.title())));
    line();
    for (absl::string_view paragraph : absl::StrSplit(r.text(), '\n', absl::SkipEmpty())) {
      std::string p(paragraph);
      line(Text(p.rfind("- ", 0) == 0 ? p : "- " + p));
    }
    line();
    rows.clear();
    for (const v1::ActionView& a : m.actions) {
      if (a.recommendation() == r.name()) rows.push_back(ActionRow(m, a));
    }
    AppendTable(&out, {"#", "Action", "Target date", "Status", UpdateColumn(m)}, rows);
    line();
  }

  line("<a id=\"what-changed\"></a>");
  line();
  line("## What changed since the previous period");
  line();
  line(m.previous_heading.empty()
           ? "This is the first period: every action is new."
           : absl::StrCat("Compared with the end of: ", Text(m.previous_heading), "."));
  line();
  for (const TableData& t : ChangeTables(m)) AppendSection(&out, t);

  line("<a id=\"overdue-and-slipped\"></a>");
  line();
  line("## Overdue and slipped actions");
  line();
  for (const TableData& t : OverdueTables(m)) AppendSection(&out, t);

  line("<a id=\"audit-appendix\"></a>");
  line();
  line("## Audit appendix");
  line();
  line(Text(absl::StrCat("Every change to each action ", AuditScope(m),
                         ": who made it, when the ledger recorded it (server clock, UTC) and "
                         "when it took effect.")));
  line();
  if (m.audit.empty()) {
    line(Text(absl::StrCat("No action changed ", AuditScope(m), ".")));
    line();
  }
  for (const v1::ActionView& a : m.actions) {
    auto changes = m.audit.find(a.name());
    if (changes != m.audit.end()) AppendSection(&out, AuditTable(m, a, changes->second));
  }

  line("<a id=\"verification\"></a>");
  line();
  line("## Verification");
  line();
  line(absl::StrCat("Built from the ledger up to position ", m.position,
                    "; hash-chain head at that position (SHA-256): `", m.head_hash_hex, "`."));
  if (!m.again.empty()) {
    line();
    line(absl::StrCat("Asked for as the ledger stood at that position (`", m.again,
                      "`), this report comes out the same, byte for byte, whatever the ledger "
                      "records later."));
  }
  return out;
}

}  // namespace auditledger::report
