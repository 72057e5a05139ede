#include "clients/ledgerctl/output.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "report/report_model.h"

namespace auditledger::ledgerctl {

absl::StatusOr<Format> ParseFormat(const std::string& text) {
  if (text == "table") return Format::kTable;
  if (text == "json") return Format::kJson;
  if (text == "csv") return Format::kCsv;
  return absl::InvalidArgumentError(
      absl::StrCat("--output: \"", text, "\" is not one of table, json, csv"));
}

size_t DisplayWidth(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text) {
    if ((c & 0xc0) != 0x80) ++n;
  }
  return n;
}

int TerminalWidth() {
  winsize size{};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20) {
    return size.ws_col;
  }
  if (const char* columns = std::getenv("COLUMNS")) {
    int n = std::atoi(columns);
    if (n > 20) return n;
  }
  return 100;
}

namespace {

// The byte offset after `chars` code points of `text` from `from`.
size_t Advance(const std::string& text, size_t from, size_t chars) {
  size_t i = from;
  while (i < text.size() && chars > 0) {
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xc0) == 0x80) ++i;
    --chars;
  }
  return i;
}

std::vector<std::string> Wrap(const std::string& cell, size_t width) {
  std::vector<std::string> lines;
  for (absl::string_view paragraph : absl::StrSplit(cell, '\n')) {
    std::string line;
    for (absl::string_view word : absl::StrSplit(paragraph, ' ', absl::SkipEmpty())) {
      std::string w(word);
      while (DisplayWidth(w) > width) {  // a word longer than the column
        if (!line.empty()) {
          lines.push_back(line);
          line.clear();
        }
        size_t cut = Advance(w, 0, width);
        // A resource name or method breaks after a '/', '.', '-' or ':' in
        // the second half of the line rather than mid-segment.
        const size_t after = w.find_last_of("/.-:_", cut - 1);
        if (after != std::string::npos && after + 1 > cut / 2 && after + 1 < cut) cut = after + 1;
        lines.push_back(w.substr(0, cut));
        w = w.substr(cut);
      }
      if (line.empty()) {
        line = w;
      } else if (DisplayWidth(line) + 1 + DisplayWidth(w) <= width) {
        absl::StrAppend(&line, " ", w);
      } else {
        lines.push_back(line);
        line = w;
      }
    }
    lines.push_back(line);
  }
  if (lines.empty()) lines.push_back("");
  return lines;
}

}  // namespace

void PrintTable(const Table& table, int width, std::ostream& out) {
  const size_t columns = table.headers.size();
  std::vector<size_t> widths(columns, 0);
  for (size_t c = 0; c < columns; ++c) widths[c] = DisplayWidth(table.headers[c]);
  for (const auto& row : table.rows) {
    for (size_t c = 0; c < columns && c < row.size(); ++c) {
      for (absl::string_view line : absl::StrSplit(row[c], '\n')) {
        widths[c] = std::max(widths[c], DisplayWidth(std::string(line)));
      }
    }
  }
  // Shrink the widest column until the table fits (two spaces between).
  const size_t budget = static_cast<size_t>(std::max(width, 40));
  auto total = [&] {
    size_t sum = 0;
    for (size_t w : widths) sum += w;
    return sum + 2 * (columns - 1);
  };
  // A column's longest word: narrower than that, a hash, id or time is cut
  // in two. Columns of long text (a narrative, a reason) give way first,
  // down to 16 characters; then any that wraps between words; only then are
  // words cut.
  std::vector<size_t> longest_word(columns, 0);
  for (size_t c = 0; c < columns; ++c) longest_word[c] = DisplayWidth(table.headers[c]);
  for (const auto& row : table.rows) {
    for (size_t c = 0; c < columns && c < row.size(); ++c) {
      for (absl::string_view word : absl::StrSplit(row[c], absl::ByAnyChar(" \n"))) {
        longest_word[c] = std::max(longest_word[c], DisplayWidth(std::string(word)));
      }
    }
  }
  const std::vector<size_t> natural = widths;
  auto widest = [&](auto floor_of) {
    size_t pick = columns;
    for (size_t c = 0; c < columns; ++c) {
      if (widths[c] > floor_of(c) && (pick == columns || widths[c] > widths[pick])) pick = c;
    }
    return pick;
  };
  for (int guard = 0; guard < 10000 && total() > budget; ++guard) {
    size_t pick = widest([&](size_t c) {
      return natural[c] > 24 ? std::max<size_t>(longest_word[c], 16) : SIZE_MAX;
    });
    if (pick == columns)
      pick = widest([&](size_t c) { return std::max<size_t>(longest_word[c], 8); });
    if (pick == columns) pick = widest([](size_t) { return size_t{8}; });
    if (pick == columns) break;
    --widths[pick];
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::vector<std::vector<std::string>> cells(columns);
    size_t height = 1;
    for (size_t c = 0; c < columns; ++c) {
      cells[c] = Wrap(c < row.size() ? row[c] : "", widths[c]);
      height = std::max(height, cells[c].size());
    }
    for (size_t line = 0; line < height; ++line) {
      std::string text;
      for (size_t c = 0; c < columns; ++c) {
        const std::string cell = line < cells[c].size() ? cells[c][line] : "";
        text += cell;
        if (c + 1 < columns) text.append(widths[c] - DisplayWidth(cell) + 2, ' ');
      }
      while (!text.empty() && text.back() == ' ') text.pop_back();
      out << text << "\n";
    }
  };
  print_row(table.headers);
  std::vector<std::string> rule;
  for (size_t w : widths) rule.push_back(std::string(w, '-'));
  print_row(rule);
  for (const auto& row : table.rows) print_row(row);
}

std::string ToCsv(const Table& table) {
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i) out += ",";
      out += report::CsvCell(cells[i]);
    }
    out += "\r\n";
  };
  line(table.headers);
  for (const auto& row : table.rows) line(row);
  return out;
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return "{}";
  // protobuf's mapping leaves out an empty list; a script reading
  // `.actions[]` wants one there, empty. The top level's fields in their
  // order, each empty list as []; within them, as protobuf gives them.
  const nlohmann::ordered_json given = nlohmann::ordered_json::parse(out, nullptr, false);
  if (!given.is_object()) return out;
  const google::protobuf::Descriptor* d = message.GetDescriptor();
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = d->field(i);
    if (auto it = given.find(field->name()); it != given.end()) {
      j[field->name()] = *it;
    } else if (field->is_repeated() && !field->is_map()) {
      j[field->name()] = nlohmann::ordered_json::array();
    }
  }
  return j.dump(2) + "\n";
}

}  // namespace auditledger::ledgerctl
