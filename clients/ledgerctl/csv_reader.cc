#include "clients/ledgerctl/csv_reader.h"

#include <csv.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace auditledger::ledgerctl {
namespace {

struct ParseState {
  CsvFile* file = nullptr;
  std::vector<std::string> fields;
  int current_line = 1;  // the physical line being fed
  int record_start = 1;
  bool in_record = false;
  bool said_how_to_save = false;  // how to save a file as UTF-8, said once
};

void OnField(void* data, size_t size, void* context) {
  auto* state = static_cast<ParseState*>(context);
  state->fields.emplace_back(static_cast<const char*>(data), size);
  state->in_record = true;
}

void OnRecord(int, void* context) {
  auto* state = static_cast<ParseState*>(context);
  CsvRow row;
  row.line = state->record_start;
  row.fields = std::move(state->fields);
  state->fields.clear();
  state->in_record = false;
  const std::vector<std::string>& header = state->file->header;
  for (size_t i = 0; i < row.fields.size(); ++i) {
    const std::string problem = Utf8Problem(row.fields[i]);
    if (problem.empty()) continue;
    // The column by its header's name where there is one to give.
    const std::string column =
        i < header.size() && !header[i].empty() && Utf8Problem(header[i]).empty()
            ? header[i]
            : absl::StrCat(i + 1);
    std::string message =
        absl::StrCat(state->file->path, ":", row.line, ": column ", column, ": ", problem);
    if (!state->said_how_to_save) {
      // Excel's "CSV (Comma delimited)" writes Windows-1252 ("£" is 0xa3).
      absl::StrAppend(&message,
                      ": the file is not UTF-8 (a spreadsheet's plain CSV is Windows-1252); "
                      "save it as \"CSV UTF-8\"");
      state->said_how_to_save = true;
    }
    state->file->errors.push_back(std::move(message));
  }
  // A row of empty cells (as a spreadsheet saves the rows below its table,
  // ",,,,,,,") is no row.
  bool blank = true;
  for (const std::string& field : row.fields) {
    blank = blank && absl::StripAsciiWhitespace(field).empty();
  }
  if (!blank) {
    if (state->file->header.empty() && state->file->rows.empty()) {
      for (std::string& h : row.fields) {
        state->file->header.push_back(absl::AsciiStrToLower(absl::StripAsciiWhitespace(h)));
      }
    } else {
      state->file->rows.push_back(std::move(row));
    }
  }
}

}  // namespace

CsvFile ParseCsv(const std::string& path, const std::string& input) {
  CsvFile file;
  file.path = path;
  std::string text = input;
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  csv_parser parser;
  csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI);
  ParseState state;
  state.file = &file;
  // Fed one physical line at a time, so each record knows where it began.
  size_t offset = 0;
  bool failed = false;
  while (offset < text.size() && !failed) {
    size_t end = text.find('\n', offset);
    end = end == std::string::npos ? text.size() : end + 1;
    // pstate 0 is libcsv's "row not begun": the next record starts here.
    if (parser.pstate == 0 && state.fields.empty()) {
      state.record_start = state.current_line;
    }
    size_t n = csv_parse(&parser, text.data() + offset, end - offset, OnField, OnRecord, &state);
    if (n != end - offset) {
      file.errors.push_back(absl::StrCat(path, ":", state.current_line, ": ",
                                         csv_strerror(csv_error(&parser)),
                                         " (a quote inside a quoted field must be "
                                         "doubled: \"\")"));
      failed = true;
    }
    offset = end;
    ++state.current_line;
  }
  if (!failed && csv_fini(&parser, OnField, OnRecord, &state) != 0) {
    file.errors.push_back(
        absl::StrCat(path, ":", state.record_start, ": a quoted field is never closed"));
  }
  csv_free(&parser);
  if (file.header.empty() && file.errors.empty()) {
    file.errors.push_back(absl::StrCat(path, ": empty file (a header row is required)"));
  }
  return file;
}

CsvFile ReadCsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    CsvFile file;
    file.path = path;
    file.errors.push_back(absl::StrCat(path, ": cannot be read"));
    return file;
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseCsv(path, text.str());
}

int Column(const CsvFile& file, const std::string& name) {
  for (size_t i = 0; i < file.header.size(); ++i) {
    if (file.header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::optional<size_t> FirstInvalidUtf8(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
    const unsigned char c = byte(0);
    size_t length = 0;
    // The range the second byte must be in: narrower than 0x80-0xbf after
    // the lead bytes that could otherwise encode overlong forms, surrogates
    // or code points past U+10FFFF.
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    if (c < 0x80) {
      length = 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) low = 0xa0;
      if (c == 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) low = 0x90;
      if (c == 0xf4) high = 0x8f;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (size_t k = 1; k < length; ++k) {
      const unsigned char lo = k == 1 ? low : 0x80;
      const unsigned char hi = k == 1 ? high : 0xbf;
      if (byte(k) < lo || byte(k) > hi) return i;
    }
    i += length;
  }
  return std::nullopt;
}

std::string Utf8Problem(absl::string_view text) {
  const std::optional<size_t> at = FirstInvalidUtf8(text);
  if (!at.has_value()) return "";
  return absl::StrCat("not valid UTF-8 (byte 0x",
                      absl::Hex(static_cast<unsigned char>(text[*at]), absl::kZeroPad2),
                      " at offset ", *at, ")");
}

}  // namespace auditledger::ledgerctl
