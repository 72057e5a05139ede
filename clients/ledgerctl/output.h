#ifndef AUDITLEDGER_CLIENTS_LEDGERCTL_OUTPUT_H_
#define AUDITLEDGER_CLIENTS_LEDGERCTL_OUTPUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace auditledger::ledgerctl {

enum class Format { kTable, kJson, kCsv };

absl::StatusOr<Format> ParseFormat(const std::string& text);

struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;
};

// Columns fitted to `width` characters, long cells wrapped at spaces.
void PrintTable(const Table& table, int width, std::ostream& out);

// RFC 4180 (report::CsvCell: formula-like cells neutralised).
std::string ToCsv(const Table& table);

// protobuf's canonical JSON mapping, indented.
std::string ToJson(const google::protobuf::Message& message);

// The terminal's width when stdout is one, else $COLUMNS, else 100.
int TerminalWidth();

// Characters (UTF-8 code points) in `text`.
size_t DisplayWidth(const std::string& text);

}  // namespace auditledger::ledgerctl

#endif  // AUDITLEDGER_CLIENTS_LEDGERCTL_OUTPUT_H_
