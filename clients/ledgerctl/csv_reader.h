#ifndef AUDITLEDGER_CLIENTS_LEDGERCTL_CSV_READER_H_
#define AUDITLEDGER_CLIENTS_LEDGERCTL_CSV_READER_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace auditledger::ledgerctl {

// One CSV record with the physical line it starts on.
struct CsvRow {
  int line = 0;
  std::vector<std::string> fields;
};

struct CsvFile {
  std::string path;
  std::vector<std::string> header;  // trimmed, lower-cased
  std::vector<CsvRow> rows;
  std::vector<std::string> errors;  // "path:line: message"
};

// Parses RFC 4180 text with libcsv in strict mode: quoted fields with
// embedded commas, quotes and newlines; a UTF-8 byte order mark is skipped;
// every field must be valid UTF-8. Problems are collected, not thrown.
CsvFile ParseCsv(const std::string& path, const std::string& text);
CsvFile ReadCsv(const std::string& path);

// Column index by header name, or -1.
int Column(const CsvFile& file, const std::string& name);

// The offset of the first byte of `text` that is not well-formed UTF-8
// (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF);
// none when it all is. Every text a ledger stores is UTF-8 (a protobuf
// string must be).
std::optional<size_t> FirstInvalidUtf8(absl::string_view text);
// "not valid UTF-8 (byte 0xa3 at offset 10)", or "" when `text` is.
std::string Utf8Problem(absl::string_view text);

}  // namespace auditledger::ledgerctl

#endif  // AUDITLEDGER_CLIENTS_LEDGERCTL_CSV_READER_H_
