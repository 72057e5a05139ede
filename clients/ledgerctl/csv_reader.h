#ifndef AUDITLEDGER_CLIENTS_LEDGERCTL_CSV_READER_H_
#define AUDITLEDGER_CLIENTS_LEDGERCTL_CSV_READER_H_

#include <map>
#include <string>
#include <vector>

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

}  // namespace auditledger::ledgerctl

#endif  // AUDITLEDGER_CLIENTS_LEDGERCTL_CSV_READER_H_
