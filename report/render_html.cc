#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "ledger/domain/target_date.h"
#include "report/report_model.h"

namespace auditledger::report {
namespace {

constexpr char kStyle[] = R"css(
body { font-family: "Segoe UI", Arial, sans-serif; color: #1b1b1b; margin: 2rem auto;
       max-width: 70rem; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.6rem; border-bottom: 3px solid #1d4f91; padding-bottom: .3rem; }
h2 { font-size: 1.3rem; color: #1d4f91; margin-top: 2rem; }
h3 { font-size: 1.05rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #9aa5b1; padding: .3rem .45rem; vertical-align: top; text-align: left; }
th { background: #e8eef6; }
td.num, th.num { text-align: right; }
.draft { color: #a4000f; font-weight: bold; }
.note, .footer { color: #444; font-size: .85rem; }
.footer code { word-break: break-all; }
.status-complete { color: #0b6e2a; } .status-ongoing { color: #8a5a00; }
.status-paused, .status-stopped { color: #a4000f; }
nav ol { columns: 2; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { page-break-before: always; } h2.first { page-break-before: avoid; }
  table { page-break-inside: auto; } tr { page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
)css";

std::string E(const std::string& text) { return HtmlEscape(text); }

// Line breaks in a person's text are kept.
std::string Paragraphs(const std::string& text) {
  std::string out = E(text);
  std::string with_breaks;
  for (char c : out) {
    if (c == '\n') {
      with_breaks += "<br>";
    } else if (c != '\r') {
      with_breaks.push_back(c);
    }
  }
  return with_breaks;
}

void AppendTable(std::string* out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows,
                 const std::string& css_class = "") {
  absl::StrAppend(out, "<table", css_class.empty() ? "" : " class=\"" + css_class + "\"",
                  "><thead><tr>");
  for (const std::string& h : header) absl::StrAppend(out, "<th scope=\"col\">", E(h), "</th>");
  absl::StrAppend(out, "</tr></thead><tbody>\n");
  for (const auto& row : rows) {
    absl::StrAppend(out, "<tr>");
    for (const std::string& c : row) absl::StrAppend(out, "<td>", Paragraphs(c), "</td>");
    absl::StrAppend(out, "</tr>\n");
  }
  absl::StrAppend(out, "</tbody></table>\n");
}

void AppendSection(std::string* out, const TableData& t) {
  absl::StrAppend(out, "<h3>", E(t.title + t.note), "</h3>\n");
  if (t.rows.empty()) {
    absl::StrAppend(out, "<p>None.</p>\n");
    return;
  }
  AppendTable(out, t.header, t.rows);
}

// Stacked bars of status per recommendation.
std::string Chart(const ReportModel& m, std::map<std::string, Counts>& counts) {
  struct Part {
    const char* label;
    const char* color;
    int Counts::*field;
  };
  const Part parts[] = {{"Complete", "#2e7d32", &Counts::complete},
                        {"Ongoing", "#f0a202", &Counts::ongoing},
                        {"Not started", "#9aa5b1", &Counts::not_started},
                        {"Paused", "#d35400", &Counts::paused},
                        {"Stopped", "#a4000f", &Counts::stopped}};
  int most = 1;
  for (const auto& r : m.plan.recommendations()) most = std::max(most, counts[r.name()].total);
  const int label_width = 260, bar_width = 420, row_height = 26, top = 40;
  const int height = top + row_height * m.plan.recommendations_size() + 20;
  std::string svg = absl::StrFormat(
      "<svg id=\"status-chart\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
      "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"Arial, sans-serif\" "
      "font-size=\"12\"><title>Actions by status, per recommendation</title>\n",
      label_width + bar_width + 60, height, label_width + bar_width + 60, height);
  int legend_x = 0;
  for (const Part& p : parts) {
    absl::StrAppend(
        &svg, absl::StrFormat("<rect x=\"%d\" y=\"6\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                              "<text x=\"%d\" y=\"16\">%s</text>\n",
                              legend_x, p.color, legend_x + 16, p.label));
    legend_x += 110;
  }
  int y = top;
  for (const auto& r : m.plan.recommendations()) {
    const Counts& c = counts[r.name()];
    std::string label = absl::StrCat(r.number(), ". ", r.title());
    if (label.size() > 36) {
      size_t cut = 34;  // on a character boundary, not inside a UTF-8 sequence
      while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xc0) == 0x80) --cut;
      label = label.substr(0, cut) + "...";
    }
    absl::StrAppend(&svg, absl::StrFormat("<text x=\"0\" y=\"%d\">%s</text>", y + 15, E(label)));
    int x = label_width;
    for (const Part& p : parts) {
      const int n = c.*(p.field);
      if (n == 0) continue;
      const int w = bar_width * n / most;
      absl::StrAppend(
          &svg, absl::StrFormat("<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"18\" "
                                "fill=\"%s\"><title>%s: %d</title></rect>",
                                x, y + 2, w, p.color, p.label, n));
      x += w;
    }
    absl::StrAppend(&svg,
                    absl::StrFormat("<text x=\"%d\" y=\"%d\">%d</text>\n", x + 6, y + 15, c.total));
    y += row_height;
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

std::string StatusClass(const std::string& status_text) {
  std::string out = "status-";
  for (char c : status_text) out.push_back(c == ' ' ? '-' : static_cast<char>(std::tolower(c)));
  return out;
}

}  // namespace

std::string RenderHtml(const ReportModel& m) {
  std::map<std::string, Counts> counts = CountActions(m);
  std::string out;
  absl::StrAppend(&out,
                  "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n",
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
                  "<title>", E(m.plan.council()), " — ", E(m.heading), "</title>\n<style>", kStyle,
                  "</style>\n</head>\n<body>\n");
  absl::StrAppend(&out, "<header>\n<h1>", E(m.plan.council()), " — ", E(m.plan.title()), "</h1>\n");
  if (!m.damage.empty()) {
    absl::StrAppend(&out, "<p class=\"draft\" role=\"alert\">WARNING: ", E(m.damage), "</p>\n");
  }
  absl::StrAppend(&out, "<p><strong>", E(m.heading), "</strong>",
                  m.draft ? " <span class=\"draft\">(draft: the period is still open)</span>" : "",
                  "</p>\n<p>This report reflects the ledger as of ", E(m.moment), ".</p>\n");
  if (std::string amended = AmendmentNote(m); !amended.empty()) {
    absl::StrAppend(&out, "<p><strong>", E(amended), "</strong></p>\n");
  }
  if (m.generated_at) absl::StrAppend(&out, "<p>Generated at ", E(*m.generated_at), ".</p>\n");
  absl::StrAppend(&out, "</header>\n<nav><h2 class=\"first\">Contents</h2><ol>\n",
                  "<li><a href=\"#summary\">Summary</a></li>\n");
  for (const auto& r : m.plan.recommendations()) {
    absl::StrAppend(&out, absl::StrFormat("<li><a href=\"#recommendation-%d\">Recommendation %d: "
                                          "%s</a></li>\n",
                                          r.number(), r.number(), E(r.title())));
  }
  absl::StrAppend(&out,
                  "<li><a href=\"#what-changed\">What changed since the previous period</a></li>\n"
                  "<li><a href=\"#overdue-and-slipped\">Overdue and slipped actions</a></li>\n"
                  "<li><a href=\"#audit-appendix\">Audit appendix</a></li>\n"
                  "<li><a href=\"#verification\">Verification</a></li>\n</ol></nav>\n");

  absl::StrAppend(&out, "<section id=\"summary\"><h2>Summary</h2>\n", Chart(m, counts));
  std::vector<std::vector<std::string>> rows;
  auto count_row = [&](const std::string& label, const Counts& c) {
    const std::string share =
        c.total == 0 ? "-" : absl::StrFormat("%d%%", (c.complete * 100 + c.total / 2) / c.total);
    rows.push_back({label, absl::StrCat(c.total), absl::StrCat(c.complete), absl::StrCat(c.ongoing),
                    absl::StrCat(c.not_started), absl::StrCat(c.paused), absl::StrCat(c.stopped),
                    share, absl::StrCat(c.red), absl::StrCat(c.amber), absl::StrCat(c.green)});
  };
  for (const auto& r : m.plan.recommendations()) {
    count_row(absl::StrCat(r.number(), ". ", r.title()), counts[r.name()]);
  }
  count_row("Overall", counts[""]);
  AppendTable(&out,
              {"Recommendation", "Actions", "Complete", "Ongoing", "Not started", "Paused",
               "Stopped", "Complete %", "Red", "Amber", "Green"},
              rows, "summary");
  absl::StrAppend(&out, "<p class=\"note\">", E(SummaryNote(m)), "</p>\n</section>\n");

  for (const auto& r : m.plan.recommendations()) {
    absl::StrAppend(&out,
                    absl::StrFormat("<section class=\"recommendation\" id=\"recommendation-%d\">"
                                    "<h2>Recommendation %d: %s</h2>\n<ul>\n",
                                    r.number(), r.number(), E(r.title())));
    for (absl::string_view p : absl::StrSplit(r.text(), '\n', absl::SkipEmpty())) {
      std::string text(p);
      if (text.rfind("- ", 0) == 0) text = text.substr(2);
      absl::StrAppend(&out, "<li>", E(text), "</li>\n");
    }
    absl::StrAppend(&out,
                    "</ul>\n<table class=\"actions\"><thead><tr><th scope=\"col\">#</th>"
                    "<th scope=\"col\">Action</th><th scope=\"col\">Target date</th>"
                    "<th scope=\"col\">Status</th><th scope=\"col\">",
                    E(UpdateColumn(m)), "</th></tr></thead><tbody>\n");
    for (const v1::ActionView& a : m.actions) {
      if (a.recommendation() != r.name()) continue;
      std::vector<std::string> cells = ActionRow(m, a);
      absl::StrAppend(&out, "<tr><td>", E(cells[0]), "</td><td>", Paragraphs(cells[1]), "</td><td>",
                      E(cells[2]), "</td><td class=\"", StatusClass(cells[3]), "\">", E(cells[3]),
                      "</td><td>", Paragraphs(cells[4]), "</td></tr>\n");
    }
    absl::StrAppend(&out, "</tbody></table>\n</section>\n");
  }

  absl::StrAppend(&out,
                  "<section id=\"what-changed\"><h2>What changed since the previous "
                  "period</h2>\n<p>",
                  m.previous_heading.empty()
                      ? std::string("This is the first period: every action is new.")
                      : absl::StrCat("Compared with the end of: ", E(m.previous_heading), "."),
                  "</p>\n");
  for (const TableData& t : ChangeTables(m)) AppendSection(&out, t);
  absl::StrAppend(&out,
                  "</section>\n<section id=\"overdue-and-slipped\"><h2>Overdue and "
                  "slipped actions</h2>\n");
  for (const TableData& t : OverdueTables(m)) AppendSection(&out, t);
  absl::StrAppend(&out,
                  "</section>\n<section id=\"audit-appendix\"><h2>Audit appendix</h2>\n"
                  "<p>Every change to each action ",
                  E(AuditScope(m)),
                  ": who made it, when the ledger recorded it (server clock, UTC) and when it "
                  "took effect.</p>\n");
  if (m.audit.empty()) {
    absl::StrAppend(&out, "<p>No action changed ", E(AuditScope(m)), ".</p>\n");
  }
  for (const v1::ActionView& a : m.actions) {
    auto changes = m.audit.find(a.name());
    if (changes != m.audit.end()) AppendSection(&out, AuditTable(m, a, changes->second));
  }
  absl::StrAppend(&out,
                  "</section>\n<footer id=\"verification\" class=\"footer\"><h2>"
                  "Verification</h2>\n<p>Built from the ledger up to position ",
                  m.position, "; hash-chain head at that position (SHA-256): <code>",
                  E(m.head_hash_hex), "</code>.</p>\n");
  if (!m.again.empty()) {
    absl::StrAppend(&out, "<p>Asked for as the ledger stood at that position (<code>", E(m.again),
                    "</code>), this report comes out the same, byte for byte, whatever the "
                    "ledger records later.</p>\n");
  }
  absl::StrAppend(&out, "</footer>\n</body>\n</html>\n");
  return out;
}

std::string RenderCsv(const ReportModel& m) {
  // UTF-8's byte order mark first: without it, a spreadsheet opened by
  // double-click reads the file in the machine's legacy code page, and
  // "£" and "–" come out as "Â£" and "â€“".
  std::string out = "\xef\xbb\xbf";
  auto row = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i) out += ",";
      out += CsvCell(cells[i]);
    }
    out += "\r\n";
  };
  // Every row names the ledger position the report was built from and the
  // chain's head there, as the other formats' footers do: a spreadsheet
  // keeps what it was cut from, and `ledgerctl report --position` gives the
  // same rows again.
  const std::string position = absl::StrCat(m.position);
  row({"recommendation_number", "recommendation", "action", "description", "target_date",
       "original_target_date", "target_revisions", "status", "owner", "rag", "overdue", "period",
       "update", "last_changed_by", "ledger_position", "chain_head"});
  for (const auto& r : m.plan.recommendations()) {
    for (const v1::ActionView& a : m.actions) {
      if (a.recommendation() != r.name()) continue;
      const v1::Narrative* n = ShownNarrative(m, a);
      std::vector<std::string> cells = ActionRow(m, a);
      row({absl::StrCat(r.number()), r.title(), Short(a.name()), a.description(),
           domain::FormatTargetDate(a.target_date()),
           domain::FormatTargetDate(a.original_target_date()), absl::StrCat(a.target_revisions()),
           cells[3], a.owner(),
           a.rag() == v1::RED     ? "Red"
           : a.rag() == v1::AMBER ? "Amber"
                                  : "Green",
           a.overdue() ? "yes" : "no", n ? n->period_title() : "", n ? n->text() : "",
           a.last_changed_by(), position, m.head_hash_hex});
    }
  }
  return out;
}

}  // namespace auditledger::report
