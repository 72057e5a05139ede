// ledgerctl: the command-line client officers, scrutiny and the policy team
// use to record and question an action plan kept in ledgerd.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "clients/ledgerctl/client.h"
#include "clients/ledgerctl/csv_reader.h"
#include "clients/ledgerctl/output.h"
#include "clients/ledgerctl/plan_import.h"
#include "clients/ledgerctl/principals.h"
#include "ledger/domain/limits.h"
#include "ledger/domain/names.h"
#include "ledger/domain/target_date.h"
#include "ledger/integrity/checkpoint.h"
#include "ledger/merkle/merkle.h"
#include "ledger/store/sha256.h"
#include "nlohmann/json.hpp"
#include "projections/fold.h"
#include "report/report_model.h"

namespace auditledger::ledgerctl {
namespace {

// A failure that ends the command with its exit code.
struct Exit {
  int code;
  std::string message;
};

[[noreturn]] void Fail(int code, const std::string& message) { throw Exit{code, message}; }

// The flag that sets each request field a subcommand sends.
using FlagNames = std::map<std::string, std::string, std::less<>>;

// A server message names the request field it is about ("start_time: …",
// or in a batch "commands[1].reason: …", or only the command,
// "commands[1]: …"); the user typed a flag. Names the flag, keeping the
// field: "--since (start_time): …", and for a batch the flag that asked for
// that command: "--reason (with --target): …", "--status: …".
std::string NameFlags(const std::string& message, const FlagNames& flags,
                      const std::vector<std::string>& command_flags) {
  absl::string_view rest = message;
  std::string with;
  if (absl::ConsumePrefix(&rest, "commands[")) {
    const size_t close = rest.find(']');
    size_t index = 0;
    if (close == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, close), &index) ||
        index >= command_flags.size()) {
      return message;
    }
    with = command_flags[index];
    rest.remove_prefix(close + 1);
    // The command alone: what follows names no field, whatever colons it has.
    if (absl::ConsumePrefix(&rest, ": ")) return absl::StrCat(with, ": ", rest);
    if (!absl::ConsumePrefix(&rest, ".")) return message;
  }
  const size_t colon = rest.find(": ");
  const absl::string_view field = colon == absl::string_view::npos ? "" : rest.substr(0, colon);
  auto flag = flags.find(field);
  if (flag == flags.end()) {
    if (with.empty()) return message;
    if (field.empty()) return absl::StrCat(with, ": ", rest);
    return absl::StrCat(field, " (with ", with, ")", rest.substr(colon));
  }
  std::string named = absl::StrCat(flag->second, " (", field);
  if (!with.empty() && with != flag->second) absl::StrAppend(&named, ", with ", with);
  return absl::StrCat(named, ")", rest.substr(colon));
}

void Check(const grpc::Status& status, const Connection& connection, const FlagNames& flags = {},
           const std::vector<std::string>& command_flags = {}) {
  if (status.ok()) return;
  // The flags are named in the server's message, before any words of ours
  // go in front of it ("not allowed: ").
  const grpc::Status named(status.error_code(),
                           NameFlags(status.error_message(), flags, command_flags));
  Failure f = FromGrpc(named, connection);
  Fail(f.code, f.message);
}

struct Globals {
  std::string addr, token, plan, ca, client_cert, client_key, config, output = "table";
  double timeout_seconds = 30;
};

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// HOST:PORT, [IPv6]:PORT, or a gRPC target with its scheme (dns:///…,
// unix:…, ipv4:…), which gRPC checks itself.
absl::Status CheckAddress(const std::string& addr) {
  if (absl::StrContains(addr, ":///") || absl::StartsWith(addr, "unix:") ||
      absl::StartsWith(addr, "ipv4:") || absl::StartsWith(addr, "ipv6:")) {
    return absl::OkStatus();
  }
  const size_t colon = addr.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(addr).substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--addr: \"", addr,
                     "\" is not HOST:PORT (e.g. 127.0.0.1:50051; from --addr, LEDGER_ADDR or "
                     "the config file)"));
  }
  return absl::OkStatus();
}

Connection ResolveConnection(const Globals& g) {
  Connection c;
  std::string path = g.config.empty() ? Env("LEDGER_CONFIG") : g.config;
  if (path.empty() && !Env("HOME").empty()) {
    path = Env("HOME") + "/.config/auditledger/ledgerctl.json";
    if (access(path.c_str(), R_OK) != 0) path.clear();
  }
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) Fail(kUsage, absl::StrCat("config file ", path, " cannot be read"));
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      Fail(kUsage, absl::StrCat("config file ", path,
                                " is not a JSON object like {\"addr\": ..., \"token\": ...}"));
    }
    const std::map<std::string, std::string*> fields = {{"addr", &c.addr},
                                                        {"token", &c.token},
                                                        {"plan", &c.plan},
                                                        {"ca", &c.ca},
                                                        {"client_cert", &c.client_cert},
                                                        {"client_key", &c.client_key}};
    for (const auto& [key, value] : j.items()) {
      auto field = fields.find(key);
      if (field == fields.end()) {
        Fail(kUsage, absl::StrCat("config file ", path, ": unknown key \"", key,
                                  "\" (known: addr, token, plan, ca, client_cert, client_key)"));
      }
      if (!value.is_string()) {
        Fail(kUsage, absl::StrCat("config file ", path, ": \"", key, "\" must be a string"));
      }
      *field->second = value.get<std::string>();
    }
    // A token in a file others can read is anyone's on this machine.
    struct stat info {};
    if (j.contains("token") && stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
      std::cerr << "ledgerctl: warning: config file " << path
                << " holds a token and can be read by others; chmod 600 " << path << "\n";
    }
  }
  auto pick = [](std::string* field, const std::string& flag, const char* env) {
    if (!flag.empty()) {
      *field = flag;
    } else if (!Env(env).empty()) {
      *field = Env(env);
    }
  };
  pick(&c.addr, g.addr, "LEDGER_ADDR");
  pick(&c.token, g.token, "LEDGER_TOKEN");
  pick(&c.plan, g.plan, "LEDGER_PLAN");
  pick(&c.ca, g.ca, "LEDGER_CA");
  pick(&c.client_cert, g.client_cert, "LEDGER_CLIENT_CERT");
  pick(&c.client_key, g.client_key, "LEDGER_CLIENT_KEY");
  for (const std::string* path : {&c.ca, &c.client_cert, &c.client_key}) {
    if (!path->empty() && access(path->c_str(), R_OK) != 0) {
      Fail(kUsage, absl::StrCat(*path, " cannot be read"));
    }
  }
  // PEM that does not parse is said here, naming its flag; gRPC would only
  // fail to connect.
  auto pem = [](const char* flag, const std::string& path, bool key) {
    if (path.empty()) return;
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
    bool ok = false;
    if (bio != nullptr && key) {
      auto no_passphrase = [](char*, int, int, void*) { return 0; };
      EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
      ok = k != nullptr;
      EVP_PKEY_free(k);
    } else if (bio != nullptr) {
      X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
      ok = x != nullptr;
      X509_free(x);
    }
    ERR_clear_error();
    if (!ok) {
      Fail(kUsage, absl::StrCat(flag, ": ", path,
                                key ? " holds no unencrypted PEM private key"
                                    : " holds no PEM certificate (\"BEGIN CERTIFICATE\")"));
    }
  };
  pem("--ca", c.ca, false);
  pem("--client_cert", c.client_cert, false);
  pem("--client_key", c.client_key, true);
  if (c.client_cert.empty() != c.client_key.empty()) {
    Fail(kUsage, "--client_cert and --client_key: give both");
  }
  if (absl::Status s = CheckAddress(c.addr); !s.ok()) Fail(kUsage, std::string(s.message()));
  if (g.timeout_seconds <= 0) Fail(kUsage, "--timeout: must be positive");
  c.timeout = absl::Seconds(g.timeout_seconds);
  return c;
}

std::string PlanName(const Connection& c) {
  if (c.plan.empty()) {
    Fail(kUsage, "which plan? pass --plan ID or set LEDGER_PLAN (e.g. oxford-cpc-2023)");
  }
  return absl::StartsWith(c.plan, "plans/") ? c.plan : domain::PlanName(c.plan);
}

std::string PlanId(const Connection& c) { return PlanName(c).substr(6); }

// "r1/a3" (with --plan) or a full resource name.
std::string ActionName(const Connection& c, const std::string& id) {
  if (absl::StartsWith(id, "plans/")) {
    auto parsed = domain::ParseNameOf(domain::Kind::kAction, "ACTION", id);
    if (!parsed.ok()) Fail(kUsage, std::string(parsed.status().message()));
    // A name of another plan than the one chosen: said, as what is shown
    // of it (r1/a3) does not name its plan.
    const std::string chosen = c.plan.empty() ? "" : PlanName(c);
    if (!chosen.empty() && parsed->PlanName() != chosen) {
      std::cerr << "ledgerctl: note: ACTION is of " << parsed->PlanName() << ", not " << chosen
                << " (--plan, LEDGER_PLAN or the config file)\n";
    }
    return id;
  }
  size_t slash = id.find('/');
  if (slash == std::string::npos || id.find('/', slash + 1) != std::string::npos) {
    Fail(kUsage, absl::StrCat("ACTION \"", id,
                              "\": give RECOMMENDATION/ACTION, e.g. r1/a3, or a full "
                              "resource name"));
  }
  const std::string rec = id.substr(0, slash), action = id.substr(slash + 1);
  for (const std::string& part : {rec, action}) {
    if (domain::IsValidId(part)) continue;
    const std::string lower = absl::AsciiStrToLower(id);
    Fail(kUsage,
         absl::StrCat("ACTION \"", id, "\": \"", part, "\" is not a valid id (a-z, 0-9 and '-')",
                      lower != id && domain::IsValidId(absl::AsciiStrToLower(part))
                          ? absl::StrCat("; ids are lower case: ", lower)
                          : ""));
  }
  std::string name = domain::ActionName(PlanId(c), rec, action);
  auto parsed = domain::ParseNameOf(domain::Kind::kAction, "ACTION", name);
  if (!parsed.ok()) Fail(kUsage, std::string(parsed.status().message()));
  return name;
}

std::string ShortAction(const std::string& name) {
  auto parsed = domain::ParseName("name", name);
  if (!parsed.ok() || parsed->kind != domain::Kind::kAction) return name;
  return absl::StrCat(parsed->recommendation, "/", parsed->action);
}

std::string PeriodName(const Connection& c, const std::string& id) {
  if (absl::StartsWith(id, "plans/")) return id;
  return domain::PeriodName(PlanId(c), id);
}

// A moment: YYYY-MM-DD (UTC) or RFC 3339. `end_of_day` makes a bare date mean
// its last microsecond ("as of 9 April" includes the 9th).
google::protobuf::Timestamp ParseMoment(const std::string& flag, const std::string& text,
                                        bool end_of_day) {
  absl::Time t;
  std::string err;
  absl::CivilDay day;
  if (absl::ParseCivilTime(text, &day)) {
    t = absl::FromCivil(day, absl::UTCTimeZone());
    if (end_of_day) t += absl::Hours(24) - absl::Microseconds(1);
  } else if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    Fail(kUsage, absl::StrCat(flag, ": \"", text,
                              "\" is not a date (YYYY-MM-DD) or time (2024-04-09T10:00:00Z)"));
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  ts.set_nanos(static_cast<int>((absl::ToUnixMicros(t) % 1000000) * 1000));
  return ts;
}

// A target date as the ledger reads it ("March 2025", "31 March 2025",
// "2025-03"), checked here so that one it cannot read is a usage error, as a
// moment that is no date is, rather than the ledger's invalid data.
void CheckTargetFlag(const std::string& flag, const std::string& text) {
  absl::StatusOr<v1::TargetDate> parsed = domain::ParseTargetDate(flag, text);
  if (!parsed.ok()) Fail(kUsage, std::string(parsed.status().message()));
}

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  absl::Time t = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", t, absl::UTCTimeZone());
}

std::string FormatDay(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(ts.seconds()), absl::UTCTimeZone());
}

std::string Target(const v1::ActionView& a) {
  std::string current = domain::FormatTargetDate(a.target_date());
  if (a.target_revisions() > 0 && domain::IsSet(a.original_target_date()) &&
      !domain::SameTargetDate(a.original_target_date(), a.target_date())) {
    absl::StrAppend(&current, " (was ", domain::FormatTargetDate(a.original_target_date()), ")");
  }
  return current;
}

std::string RagText(v1::Rag rag) {
  switch (rag) {
    case v1::RED:
      return "RED";
    case v1::AMBER:
      return "AMBER";
    case v1::GREEN:
      return "GREEN";
    default:
      return "";
  }
}

v1::ActionStatus ParseStatusFlag(const std::string& text) {
  std::string s = absl::AsciiStrToUpper(text);
  for (char& ch : s) {
    if (ch == ' ' || ch == '-') ch = '_';
  }
  v1::ActionStatus status;
  if (!v1::ActionStatus_Parse(s, &status) || status == v1::ACTION_STATUS_UNSPECIFIED) {
    Fail(kUsage, absl::StrCat("--status: \"", text,
                              "\" is not one of not-started, ongoing, complete, paused, "
                              "stopped"));
  }
  return status;
}

std::string NewRequestId() {
  absl::BitGen gen;
  return absl::StrFormat("ledgerctl-%016x%016x", absl::Uniform<uint64_t>(gen),
                         absl::Uniform<uint64_t>(gen));
}

// Prints a response in the chosen format; `table` is built lazily.
void Emit(Format format, const google::protobuf::Message& message,
          const std::function<Table()>& table) {
  switch (format) {
    case Format::kJson:
      std::cout << ToJson(message) << "\n";
      break;
    case Format::kCsv:
      std::cout << ToCsv(table());
      break;
    case Format::kTable:
      PrintTable(table(), TerminalWidth(), std::cout);
      break;
  }
}

void SortActions(google::protobuf::RepeatedPtrField<v1::ActionView>* actions) {
  std::sort(actions->begin(), actions->end(), [](const v1::ActionView& a, const v1::ActionView& b) {
    return report::NaturalLess(a.name(), b.name());
  });
}

Table ActionsTable(const google::protobuf::RepeatedPtrField<v1::ActionView>& actions) {
  Table t{{"ACTION", "STATUS", "TARGET", "OWNER", "RAG", "DESCRIPTION"}, {}};
  for (const auto& a : actions) {
    t.rows.push_back({ShortAction(a.name()), projections::StatusText(a.status()), Target(a),
                      a.owner(), RagText(a.rag()), a.description()});
  }
  return t;
}

// The read models' states; digests as the first 16 hex digits (JSON gives
// them whole, in base64 as protobuf's JSON does for bytes).
Table ProjectionsTable(const v1::ListProjectionsResponse& response) {
  Table t{{"NAME", "POSITION", "STATE", "DIGEST", "FAILURE"}, {}};
  for (const v1::ProjectionStatus& p : response.projections()) {
    t.rows.push_back({p.name(), absl::StrCat(p.position()),
                      v1::ProjectionStatus::State_Name(p.state()),
                      store::ToHex(p.digest()).substr(0, 16), p.failure()});
  }
  return t;
}

// Every value given on the command line is text the ledger keeps or the
// name of something: it must be UTF-8, as a protobuf string must be, and a
// value that is not is refused here, naming its flag, rather than by the
// client's serializer.
void CheckUtf8(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& value : option->results()) {
      if (std::string problem = Utf8Problem(value); !problem.empty()) {
        Fail(kInvalid, absl::StrCat(option->get_name(), ": ", problem));
      }
    }
  }
  // Every subcommand, option groups too (get_subcommands() alone gives only
  // those named on the command line, and no group); one not used has no
  // values.
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    CheckUtf8(*sub);
  }
}

// Text read from a file or stdin for `flag`: UTF-8, and without a byte
// order mark (as editors on Windows write), which is not text.
std::string ReadText(const std::string& flag, std::string text) {
  if (std::string problem = Utf8Problem(text); !problem.empty()) {
    Fail(kInvalid, absl::StrCat(flag, ": ", problem));
  }
  if (absl::StartsWith(text, "\xef\xbb\xbf")) text.erase(0, 3);
  return text;
}

// A --note's narrative: the text, or stdin for '-', without the newline
// that ends a here-document; empty is a usage error.
std::string Narrative(const std::string& note) {
  std::string text = note;
  if (note == "-") {
    std::stringstream in;
    in << std::cin.rdbuf();
    text = ReadText("--note -", in.str());
  }
  absl::StripTrailingAsciiWhitespace(&text);
  if (absl::StripAsciiWhitespace(text).empty()) {
    Fail(kUsage, note == "-" ? "--note -: stdin was empty"
                             : "--note: empty; give the narrative, or '-' to read it from stdin");
  }
  return text;
}

// The events a command appended.
Table AppendedTable(const v1::CommandResponse& response) {
  Table t{{"EVENT", "STREAM", "VERSION"}, {}};
  for (const auto& e : response.events()) {
    t.rows.push_back({e.name(), ShortAction(e.stream()), absl::StrCat(e.version())});
  }
  return t;
}

Table ChangesTable(const google::protobuf::RepeatedPtrField<v1::Change>& changes) {
  Table t{{"EVENT", "RECORDED", "EFFECTIVE", "WHO", "WHAT", "CHANGE", "REASON"}, {}};
  for (const auto& c : changes) {
    std::string what = c.field().empty() ? c.type() : c.field();
    if (c.corrects() != 0) what = absl::StrCat("correction of events/", c.corrects(), ": ", what);
    std::string change = projections::ChangeText(c);
    if (c.corrected_by() != 0) {
      absl::StrAppend(&change, " [corrected by events/", c.corrected_by(), "]");
    }
    t.rows.push_back({absl::StrCat(c.position()), FormatTime(c.recorded_at()),
                      FormatDay(c.effective_at()), projections::ActorText(c),
                      absl::StrCat(ShortAction(c.stream()), " ", what), change, c.reason()});
  }
  return t;
}

// ------------------------------------------------------------------ commands

// A server message about one command of an import names the command by its
// index ("commands[7].owner: …"); the officer wrote a file: names the file
// and line it came from ("actions.csv:9: owner: …").
std::string NameOrigin(const std::string& message, const std::vector<std::string>& origins) {
  absl::string_view rest = message;
  if (!absl::ConsumePrefix(&rest, "commands[")) return message;
  const size_t close = rest.find(']');
  size_t index = 0;
  if (close == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, close), &index) ||
      index >= origins.size()) {
    return message;
  }
  rest.remove_prefix(close + 1);
  absl::ConsumePrefix(&rest, ".") || absl::ConsumePrefix(&rest, ": ");
  return absl::StrCat(origins[index], ": ", rest);
}

void RunExecute(Client& client, std::vector<v1::Command> commands, const std::string& rid,
                v1::CommandResponse* response, const FlagNames& flags = {},
                const std::vector<std::string>& command_flags = {},
                const std::vector<std::string>* origins = nullptr, bool validate_only = false) {
  v1::ExecuteCommandsRequest request;
  for (auto& c : commands) *request.add_commands() = std::move(c);
  request.set_request_id(rid);
  request.set_validate_only(validate_only);
  // A retry carries the same request_id, so it is applied at most once.
  grpc::Status status;
  for (int attempt = 0; attempt < 3; ++attempt) {
    response->Clear();
    status = client.ledger().ExecuteCommands(client.Context().get(), request, response);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
  }
  if (origins != nullptr && !status.ok()) {
    status = grpc::Status(status.error_code(), NameOrigin(status.error_message(), *origins));
  }
  Check(status, client.connection(), flags, command_flags);
  for (const std::string& warning : response->warnings()) {
    std::cerr << "ledgerctl: warning: "
              << (origins != nullptr ? NameOrigin(warning, *origins)
                                     : NameFlags(warning, flags, command_flags))
              << "\n";
  }
}

int PlanImportCommand(Client& client, const std::string& directory, bool dry_run) {
  PlanImport plan = BuildPlanImport(directory);
  if (!plan.errors.empty()) {
    for (const std::string& e : plan.errors) std::cerr << "ledgerctl: " << e << "\n";
    Fail(kInvalid, absl::StrCat("import rejected: ", plan.errors.size(),
                                " problem(s) listed above; nothing was recorded"));
  }
  std::cerr << absl::StrFormat(
      "ledgerctl: %s: %d recommendations, %d actions, %d updates (%d commands)\n", plan.plan_name,
      plan.recommendations, plan.actions, plan.updates, plan.commands.size());
  // One atomic request when it fits; request ids come from the content, so
  // importing the same files again appends nothing.
  constexpr size_t kBatch = 1000;
  const bool progress = isatty(STDERR_FILENO);
  size_t sent = 0, appended = 0, replayed = 0;
  for (size_t start = 0; start < plan.commands.size(); start += kBatch) {
    std::vector<v1::Command> batch(
        plan.commands.begin() + start,
        plan.commands.begin() + std::min(plan.commands.size(), start + kBatch));
    v1::ExecuteCommandsRequest fingerprint;
    for (const auto& c : batch) *fingerprint.add_commands() = c;
    const std::string rid = absl::StrCat(
        "import-", store::ToHex(store::Sha256(fingerprint.SerializeAsString())).substr(0, 40));
    const std::vector<std::string> origins(
        plan.origins.begin() + start,
        plan.origins.begin() + std::min(plan.origins.size(), start + kBatch));
    v1::CommandResponse response;
    // A dry run has the ledger decide the import as it stands, recording
    // nothing: a refusal names its line as the import's would. Past the
    // first request, the commands depend on those before being recorded.
    RunExecute(client, std::move(batch), rid, &response, {}, {}, &origins, dry_run);
    if (dry_run) {
      const size_t decided = static_cast<size_t>(fingerprint.commands_size());
      if (response.replayed()) {
        // Recorded by an earlier import: the next request is the one to ask about.
        sent += decided;
        replayed += static_cast<size_t>(response.events_size());
        continue;
      }
      const size_t after = sent + decided;
      std::cerr << "ledgerctl: dry run: "
                << (sent > 0 ? absl::StrCat("the first ", sent,
                                            " commands were recorded by an earlier import; ")
                             : "")
                << "the ledger would accept "
                << (after == plan.commands.size()
                        ? absl::StrCat(sent > 0 ? "the rest: " : "the import: ",
                                       response.events_size(), " events")
                        : absl::StrCat("commands ", sent + 1, " to ", after, " of ",
                                       plan.commands.size(),
                                       " (the rest are decided only once those are recorded)"))
                << "\n";
      std::cerr << "ledgerctl: dry run: nothing was recorded\n";
      return kOk;
    }
    sent += static_cast<size_t>(fingerprint.commands_size());
    if (response.replayed()) {
      replayed += static_cast<size_t>(response.events_size());
    } else {
      appended += static_cast<size_t>(response.events_size());
    }
    if (progress) {
      std::cerr << absl::StrFormat("\rledgerctl: importing %d/%d commands", sent,
                                   plan.commands.size())
                << std::flush;
    }
  }
  if (dry_run) {
    std::cerr << "ledgerctl: dry run: " << plan.plan_name
              << " was imported from these files already: importing them again appends "
                 "nothing\n";
    std::cerr << "ledgerctl: dry run: nothing was recorded\n";
    return kOk;
  }
  if (progress) std::cerr << "\n";
  std::cout << absl::StrFormat("imported %s: %d events appended%s\n", plan.plan_name, appended,
                               replayed ? absl::StrFormat(" (%d already recorded by an earlier "
                                                          "import)",
                                                          replayed)
                                        : "");
  return kOk;
}

int PlanListCommand(Client& client, Format format) {
  v1::ListPlansRequest request;
  request.set_page_size(1000);
  v1::ListPlansResponse all;
  for (int page = 0; page < 10000; ++page) {
    v1::ListPlansResponse response;
    Check(client.query().ListPlans(client.Context().get(), request, &response),
          client.connection());
    for (v1::PlanView& p : *response.mutable_plans()) *all.add_plans() = std::move(p);
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  Emit(format, all, [&] {
    Table t{{"PLAN", "COUNCIL", "TITLE", "RECOMMENDATIONS", "OPEN PERIODS"}, {}};
    for (const v1::PlanView& p : all.plans()) {
      std::vector<std::string> open;
      for (const v1::PeriodView& period : p.periods()) {
        if (period.open()) open.push_back(period.name().substr(period.name().rfind('/') + 1));
      }
      t.rows.push_back({p.name().substr(6), p.council(), p.title(),
                        absl::StrCat(p.recommendations_size()), absl::StrJoin(open, ", ")});
    }
    return t;
  });
  return kOk;
}

int PlanShowCommand(Client& client, Format format) {
  v1::GetPlanRequest request;
  request.set_name(PlanName(client.connection()));
  v1::PlanView plan;
  Check(client.query().GetPlan(client.Context().get(), request, &plan), client.connection());
  // Counts by status per recommendation.
  v1::ListActionsRequest list;
  list.set_parent(plan.name());
  list.set_page_size(1000);
  std::map<std::string, std::map<v1::ActionStatus, int>> counts;
  for (int page = 0; page < 10000; ++page) {
    v1::ListActionsResponse response;
    Check(client.query().ListActions(client.Context().get(), list, &response), client.connection());
    for (const auto& a : response.actions()) counts[a.recommendation()][a.status()]++;
    if (response.next_page_token().empty()) break;
    list.set_page_token(response.next_page_token());
  }
  if (format == Format::kJson) {
    std::cout << ToJson(plan) << "\n";
    return kOk;
  }
  Table t{{"#", "RECOMMENDATION", "ACTIONS", "COMPLETE", "ONGOING", "OTHER"}, {}};
  for (const auto& r : plan.recommendations()) {
    auto& c = counts[r.name()];
    int total = 0;
    for (auto& [s, n] : c) total += n;
    t.rows.push_back({absl::StrCat(r.number()), r.title(), absl::StrCat(total),
                      absl::StrCat(c[v1::COMPLETE]), absl::StrCat(c[v1::ONGOING]),
                      absl::StrCat(total - c[v1::COMPLETE] - c[v1::ONGOING])});
  }
  if (format == Format::kCsv) {
    std::cout << ToCsv(t);
    return kOk;
  }
  std::cout << plan.title() << "\n" << plan.council() << " (" << plan.name() << ")\n\n";
  PrintTable(t, TerminalWidth(), std::cout);
  std::cout << "\nReporting periods:\n";
  for (const auto& p : plan.periods()) {
    std::cout << "  " << p.name().substr(p.name().rfind('/') + 1) << "  " << p.title() << "  ("
              << (p.open() ? absl::StrCat("open since ", FormatDay(p.opened_effective()))
                           : absl::StrCat("closed; ", FormatDay(p.opened_effective()), " to ",
                                          FormatDay(p.closed_effective())))
              << ")\n";
  }
  return kOk;
}

}  // namespace
// What a RequiredError means to the user. When it is a command that is
// missing ("ledgerctl action", or a word that is not one of its commands,
// "ledgerctl action frob"), names the command, the word and the commands
// it has; otherwise CLI11's own message.
std::string MissingCommand(CLI::App& app, const CLI::RequiredError& e) {
  const std::string plain = absl::StrCat("ledgerctl: ", e.what());
  // The deepest command the arguments named.
  CLI::App* at = &app;
  for (int depth = 0; depth < 8 && !at->get_subcommands().empty(); ++depth) {
    at = at->get_subcommands().front();
  }
  const std::vector<CLI::App*> commands = at->get_subcommands([](CLI::App*) { return true; });
  if (commands.empty() || at->get_require_subcommand_min() == 0) return plain;
  std::vector<std::string> names;
  for (const CLI::App* c : commands) names.push_back(c->get_name());
  std::string path = "ledgerctl";
  std::vector<std::string> chain;
  for (CLI::App* a = at; a != &app && a != nullptr; a = a->get_parent()) {
    chain.push_back(a->get_name());
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) absl::StrAppend(&path, " ", *it);
  const std::vector<std::string> extra = app.remaining(/*recurse=*/true);
  std::string word;
  for (const std::string& arg : extra) {
    if (!arg.empty() && arg[0] != '-') {
      word = arg;
      break;
    }
  }
  if (word.empty()) {
    return absl::StrCat(path, ": a command is required (one of ", absl::StrJoin(names, ", "), ")");
  }
  return absl::StrCat(path, ": no command \"", word, "\" (one of ", absl::StrJoin(names, ", "),
                      ")");
}

int Main(int argc, char** argv) {
  CLI::App app{
      "ledgerctl: record and question a council's improvement action plan kept "
      "in ledgerd."};
  app.require_subcommand(1);
  // Global options (-o, --plan, --addr, …) are accepted after the subcommand
  // too; a subcommand's own option of the same name comes first.
  app.fallthrough();
  app.footer(
      "Connection: --addr/LEDGER_ADDR, --token/LEDGER_TOKEN, --plan/LEDGER_PLAN, or a "
      "config file (--config, LEDGER_CONFIG, ~/.config/auditledger/ledgerctl.json) "
      "holding any of {\"addr\", \"token\", \"plan\", \"ca\", \"client_cert\", "
      "\"client_key\"}.\n"
      "Exit codes: 0 ok, 2 usage, 3 not signed in / not allowed, 4 not found, "
      "5 conflict or refused by a rule, 6 ledgerd unreachable, 7 invalid data, 8 "
      "verification failed, 1 other.\n"
      "Examples:\n"
      "  ledgerctl --plan oxford-cpc-2023 action list --status ongoing\n"
      "  ledgerctl --plan oxford-cpc-2023 action update r1/a7 --status complete "
      "--note 'Board established' --period oct-2024");
  Globals g;
  app.add_option("--addr", g.addr, "ledgerd address HOST:PORT (default 127.0.0.1:50051)");
  app.add_option("--token", g.token, "bearer token");
  app.add_option("--plan", g.plan, "plan id, e.g. oxford-cpc-2023");
  app.add_option("--ca", g.ca, "PEM CA certificate: connect with TLS (LEDGER_CA)");
  app.add_option("--client_cert", g.client_cert,
                 "PEM client certificate for mutual TLS (LEDGER_CLIENT_CERT)");
  app.add_option("--client_key", g.client_key, "PEM client key for mutual TLS (LEDGER_CLIENT_KEY)");
  app.add_option("--config", g.config, "config file (JSON)");
  app.add_option("--timeout", g.timeout_seconds,
                 "deadline of each call, seconds (default 30; verify, rebuild and backup: an "
                 "hour)")
      ->capture_default_str();
  app.add_option("-o,--output", g.output, "table, json or csv")->capture_default_str();
  // Given twice (an alias that sets --plan, then --plan again), the last
  // one holds, as in most tools.
  for (CLI::Option* o : app.get_options()) {
    if (o->get_expected_max() == 1) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }

  int result = kOk;
  // A proof is checked here against a published digest, and holds or not
  // whatever the ledger serving it: its answer is not the damaged ledger's
  // word.
  bool checked_here = false;
  std::function<int()> run;
  auto connect = [&]() {
    auto format = ParseFormat(g.output);
    if (!format.ok()) Fail(kUsage, std::string(format.status().message()));
    return std::make_pair(ResolveConnection(g), *format);
  };
  // A call whose work grows with the ledger (verify, rebuild, backup) has
  // as long as it needs, up to an hour, unless --timeout says otherwise: a
  // large ledger's check must not fail as "too slow" for a deadline meant
  // for a query.
  auto connect_long = [&]() {
    auto connected = connect();
    if (app.count("--timeout") == 0) {
      connected.first.timeout = std::max(connected.first.timeout, absl::Hours(1));
    }
    return connected;
  };

  // plan
  auto* plan = app.add_subcommand("plan", "the plan: import it, list the plans, show one")
                   ->require_subcommand(1);
  std::string import_dir;
  bool dry_run = false;
  auto* plan_import =
      plan->add_subcommand("import",
                           "record a plan from its spreadsheets (a directory with plan.json, "
                           "recommendations.csv, actions.csv). Admin only.\n"
                           "Example: ledgerctl plan import examples/oxford-cpc-2023");
  plan_import->add_option("DIR", import_dir, "plan directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  plan_import->add_flag("--dry-run", dry_run,
                        "check the files, and have the ledger decide the import as it stands "
                        "(owners, periods, an existing plan), recording nothing");
  plan_import->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      return PlanImportCommand(client, import_dir, dry_run);
    };
  });
  auto* plan_list = plan->add_subcommand(
      "list", "the plans in the ledger, with their ids for --plan.\nExample: ledgerctl plan list");
  plan_list->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      return PlanListCommand(client, f);
    };
  });
  auto* plan_show =
      plan->add_subcommand("show",
                           "the plan, its recommendations and periods.\n"
                           "Example: ledgerctl --plan oxford-cpc-2023 plan show -o json");
  plan_show->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      return PlanShowCommand(client, f);
    };
  });

  // action
  auto* action = app.add_subcommand("action", "list, show, timeline, update and add actions")
                     ->require_subcommand(1);
  std::string filter_rec, filter_status, filter_owner, filter_rag, filter_overdue;
  int filter_slipped = 0;
  auto* action_list = action->add_subcommand(
      "list", "actions, filtered.\nExample: ledgerctl action list --overdue-on 2025-04-01");
  action_list->add_option("--recommendation", filter_rec, "e.g. r1");
  action_list->add_option("--status", filter_status, "not-started, ongoing, complete, ...");
  action_list->add_option("--owner", filter_owner, "principal id");
  action_list->add_option("--rag", filter_rag, "red, amber or green");
  action_list->add_option(
      "--overdue-on", filter_overdue,
      "YYYY-MM-DD or today: overdue on that day; for a day gone by, as the actions stood at "
      "its end (effective clock, as asof and that day's report give them), else as they "
      "stand now");
  action_list->add_option("--slipped", filter_slipped, "target date revised at least N times")
      ->check(CLI::NonNegativeNumber);
  action_list->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::ListActionsRequest request;
      request.set_parent(PlanName(c));
      if (!filter_rec.empty()) {
        request.set_recommendation(absl::StartsWith(filter_rec, "plans/")
                                       ? filter_rec
                                       : domain::RecommendationName(PlanId(c), filter_rec));
      }
      if (!filter_status.empty()) request.set_status(ParseStatusFlag(filter_status));
      request.set_owner(filter_owner);
      if (!filter_rag.empty()) {
        v1::Rag rag;
        if (!v1::Rag_Parse(absl::AsciiStrToUpper(filter_rag), &rag) || rag == v1::RAG_UNSPECIFIED) {
          Fail(kUsage, "--rag: one of red, amber, green");
        }
        request.set_rag(rag);
      }
      request.set_overdue_on(filter_overdue == "today" ? absl::FormatCivilTime(absl::ToCivilDay(
                                                             absl::Now(), absl::UTCTimeZone()))
                                                       : filter_overdue);
      request.set_min_target_revisions(filter_slipped);
      request.set_page_size(1000);
      v1::ListActionsResponse all;
      for (int page = 0; page < 10000; ++page) {
        v1::ListActionsResponse response;
        Check(client.query().ListActions(client.Context().get(), request, &response), c,
              {{"recommendation", "--recommendation"},
               {"owner", "--owner"},
               {"overdue_on", "--overdue-on"},
               {"min_target_revisions", "--slipped"}});
        all.mutable_actions()->MergeFrom(response.actions());
        if (response.next_page_token().empty()) break;
        request.set_page_token(response.next_page_token());
      }
      SortActions(all.mutable_actions());
      Emit(f, all, [&] { return ActionsTable(all.actions()); });
      return kOk;
    };
  });

  std::string action_id;
  auto* action_show =
      action->add_subcommand("show", "one action now.\nExample: ledgerctl action show r1/a7");
  action_show->add_option("ACTION", action_id, "REC/ACTION, e.g. r1/a7")->required();
  action_show->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::GetActionRequest request;
      request.set_name(ActionName(c, action_id));
      v1::ActionView a;
      Check(client.query().GetAction(client.Context().get(), request, &a), c);
      Emit(f, a, [&] {
        Table t{{"FIELD", "VALUE"}, {}};
        t.rows = {{"action", a.name()},
                  {"description", a.description()},
                  {"status", projections::StatusText(a.status())},
                  {"status reason", a.status_reason()},
                  {"target date", Target(a)},
                  {"target revisions", absl::StrCat(a.target_revisions())},
                  {"owner", a.owner()},
                  {"RAG", RagText(a.rag())},
                  {"overdue", a.overdue() ? "yes" : "no"},
                  {"last changed",
                   absl::StrCat(FormatTime(a.last_changed_at()), " by ", a.last_changed_by())},
                  {"version", absl::StrCat(a.version())}};
        for (const auto& n : a.narratives()) {
          t.rows.push_back({absl::StrCat("update: ", n.period_title()),
                            n.corrected_by() ? absl::StrCat(n.text(), " [corrected by events/",
                                                            n.corrected_by(), "]")
                                             : n.text()});
        }
        return t;
      });
      return kOk;
    };
  });

  auto* action_timeline =
      action->add_subcommand("timeline",
                             "every change to an action: who, when (both clocks), why, what.\n"
                             "Example: ledgerctl action timeline r1/a7 -o csv > r1-a7.csv");
  action_timeline->add_option("ACTION", action_id, "REC/ACTION")->required();
  action_timeline->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::GetActionTimelineRequest request;
      request.set_name(ActionName(c, action_id));
      request.set_page_size(1000);
      v1::GetActionTimelineResponse all;
      for (int page = 0; page < 10000; ++page) {
        v1::GetActionTimelineResponse response;
        Check(client.query().GetActionTimeline(client.Context().get(), request, &response), c);
        all.mutable_changes()->MergeFrom(response.changes());
        if (response.next_page_token().empty()) break;
        request.set_page_token(response.next_page_token());
      }
      Emit(f, all, [&] { return ChangesTable(all.changes()); });
      return kOk;
    };
  });

  std::string new_status, note, note_file, period, target, owner, reason, effective, rid;
  std::string new_description;
  int64_t expected_version = -1;
  auto* action_update = action->add_subcommand(
      "update",
      "change an action: status, narrative, target date, owner, description. All given "
      "changes are recorded together or not at all.\n"
      "Examples:\n"
      "  ledgerctl action update r1/a7 --status complete --note 'Board established'\n"
      "  ledgerctl action update r1/a10 --target 'June 2025' --reason 'Partner delay'\n"
      "  ledgerctl action update r1/a13 --note - < narrative.txt");
  action_update->add_option("ACTION", action_id, "REC/ACTION")->required();
  action_update->add_option("--status", new_status,
                            "new status: ongoing, complete, paused, stopped (pausing, stopping "
                            "and reopening need --reason)");
  action_update->add_option("--note", note, "narrative for the period ('-' reads stdin)");
  action_update->add_option("--note-file", note_file, "narrative from a file");
  action_update->add_option("--period", period,
                            "reporting period id (default: the plan's only open one)");
  action_update->add_option("--target", target, "new target date, e.g. 'March 2025'");
  action_update->add_option("--owner", owner, "new owner (admin only)");
  action_update->add_option("--description", new_description, "amended description");
  action_update->add_option("--reason", reason,
                            "why (required to pause, stop, reopen, "
                            "revise a target or amend)");
  action_update->add_option("--effective", effective,
                            "when it happened, if earlier (YYYY-MM-DD or RFC 3339)");
  action_update
      ->add_option("--expected-version", expected_version,
                   "fail if the action changed since this version")
      ->check(CLI::NonNegativeNumber);
  action_update->add_option("--request-id", rid, "idempotency key (default: generated)");
  action_update->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      const std::string name = ActionName(c, action_id);
      const bool note_given = action_update->count("--note") > 0;
      if (note_given && !note_file.empty()) Fail(kUsage, "--note and --note-file: give one");
      if (note_given) note = Narrative(note);
      if (!note_file.empty()) {
        std::ifstream in(note_file);
        if (!in) Fail(kUsage, absl::StrCat("--note-file: ", note_file, " cannot be read"));
        std::stringstream text;
        text << in.rdbuf();
        note = ReadText("--note-file", text.str());
        absl::StripTrailingAsciiWhitespace(&note);
        if (absl::StripAsciiWhitespace(note).empty()) {
          Fail(kUsage, absl::StrCat("--note-file: ", note_file, " is empty"));
        }
      }
      std::optional<google::protobuf::Timestamp> when;
      if (!effective.empty()) when = ParseMoment("--effective", effective, false);
      std::vector<v1::Command> commands;
      auto common = [&](auto* r) {
        r->set_reason(reason);
        if (when) *r->mutable_effective_time() = *when;
        if (expected_version >= 0 && commands.empty()) r->set_expected_version(expected_version);
      };
      // One command per change asked for, in the order the ledger applies them,
      // and the flag that asked for each.
      std::vector<std::string> command_flags;
      auto add = [&](auto mutable_part, const auto& set) {
        v1::Command cmd;
        auto* r = (cmd.*mutable_part)();
        r->set_name(name);
        set(*r);
        common(r);
        commands.push_back(std::move(cmd));
      };
      if (!new_description.empty()) {
        command_flags.push_back("--description");
        add(&v1::Command::mutable_amend_description,
            [&](auto& r) { r.set_description(new_description); });
      }
      if (!target.empty()) {
        CheckTargetFlag("--target", target);
        command_flags.push_back("--target");
        add(&v1::Command::mutable_revise_target_date, [&](auto& r) { r.set_target_date(target); });
      }
      if (!owner.empty()) {
        command_flags.push_back("--owner");
        add(&v1::Command::mutable_assign_owner, [&](auto& r) { r.set_owner(owner); });
      }
      const std::optional<v1::ActionStatus> status =
          new_status.empty() ? std::nullopt : std::optional(ParseStatusFlag(new_status));
      auto add_status = [&] {
        command_flags.push_back("--status");
        add(&v1::Command::mutable_change_action_status, [&](auto& r) { r.set_status(*status); });
      };
      // A stopped action takes no update: the note that says why it stopped
      // goes in before the stop.
      const bool note_first = status == v1::STOPPED && !note.empty();
      if (status && !note_first) add_status();
      if (!note.empty()) {
        std::string period_name;
        if (!period.empty()) {
          period_name = PeriodName(c, period);
        } else {
          v1::GetPlanRequest get;
          get.set_name(PlanName(c));
          v1::PlanView plan;
          Check(client.query().GetPlan(client.Context().get(), get, &plan), c);
          std::vector<std::string> open;
          for (const auto& p : plan.periods()) {
            if (p.open()) open.push_back(p.name());
          }
          if (open.empty()) {
            Fail(kUsage,
                 "--period: required, and the plan has no open period: an admin opens one "
                 "(ledgerctl period open ID --title TITLE)");
          }
          if (open.size() > 1) {
            std::vector<std::string> ids;
            for (const std::string& name : open) ids.push_back(name.substr(name.rfind('/') + 1));
            Fail(kUsage, absl::StrCat("--period: required, as the plan has ", open.size(),
                                      " open periods: ", absl::StrJoin(ids, ", ")));
          }
          period_name = open[0];
        }
        command_flags.push_back("--note");
        add(&v1::Command::mutable_record_update, [&](auto& r) {
          r.set_period(period_name);
          r.set_narrative(note);
        });
      }
      if (note_first) add_status();
      if (commands.empty()) {
        Fail(kUsage,
             "nothing to change: give --status, --note, --target, --owner or "
             "--description");
      }
      v1::CommandResponse response;
      const FlagNames update_flags = {{"reason", "--reason"},
                                      {"period", "--period"},
                                      {"narrative", "--note"},
                                      {"target_date", "--target"},
                                      {"owner", "--owner"},
                                      {"status", "--status"},
                                      {"description", "--description"},
                                      {"effective_time", "--effective"},
                                      {"expected_version", "--expected-version"},
                                      {"request_id", "--request-id"}};
      RunExecute(client, std::move(commands), rid.empty() ? NewRequestId() : rid, &response,
                 update_flags, command_flags);
      Emit(f, response, [&] { return AppendedTable(response); });
      return kOk;
    };
  });

  // action add: an action added to the plan after its adoption.
  std::string add_id, add_description, add_target, add_owner, add_status, add_reason, add_effective,
      add_rid;
  auto* action_add = action->add_subcommand(
      "add",
      "add an action to a recommendation of the plan (admin only). The report of the period "
      "it is added in lists it among the actions added.\n"
      "Example: ledgerctl action add r3/a8 --description 'Publish the delivery plan' "
      "--target 'June 2025' --owner jsmith --reason 'Agreed by Cabinet'");
  action_add
      ->add_option("ACTION", add_id,
                   "REC/ACTION, e.g. r3/a8: the recommendation and "
                   "the new action's id")
      ->required();
  action_add->add_option("--description", add_description, "what the action is")->required();
  action_add->add_option("--target", add_target,
                         "its target date, e.g. 'March 2025'; none if "
                         "not given");
  action_add->add_option("--owner", add_owner, "the officer who owns it (principal id)");
  action_add->add_option("--status", add_status,
                         "its status if not not-started: ongoing, complete, paused, stopped "
                         "(paused and stopped need --reason)");
  action_add->add_option("--reason", add_reason, "why it is added");
  action_add->add_option("--effective", add_effective,
                         "when it was agreed, if earlier (YYYY-MM-DD or RFC 3339)");
  action_add->add_option("--request-id", add_rid, "idempotency key (default: generated)");
  action_add->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      absl::StatusOr<domain::ResourceName> parsed =
          domain::ParseNameOf(domain::Kind::kAction, "ACTION", ActionName(c, add_id));
      if (!parsed.ok()) Fail(kUsage, std::string(parsed.status().message()));
      if (!add_target.empty()) CheckTargetFlag("--target", add_target);
      v1::Command cmd;
      auto* r = cmd.mutable_add_action();
      r->set_parent(parsed->RecommendationName());
      r->set_action_id(parsed->action);
      r->set_description(add_description);
      r->set_target_date(add_target);
      r->set_owner(add_owner);
      if (!add_status.empty()) r->set_status(ParseStatusFlag(add_status));
      r->set_reason(add_reason);
      if (!add_effective.empty()) {
        *r->mutable_effective_time() = ParseMoment("--effective", add_effective, false);
      }
      v1::CommandResponse response;
      RunExecute(client, {cmd}, add_rid.empty() ? NewRequestId() : add_rid, &response,
                 {{"parent", "ACTION"},
                  {"action_id", "ACTION"},
                  {"description", "--description"},
                  {"target_date", "--target"},
                  {"owner", "--owner"},
                  {"status", "--status"},
                  {"reason", "--reason"},
                  {"effective_time", "--effective"},
                  {"request_id", "--request-id"}});
      Emit(f, response, [&] { return AppendedTable(response); });
      return kOk;
    };
  });

  // recommendation add
  auto* recommendation =
      app.add_subcommand("recommendation", "add a recommendation to the plan (admin only)")
          ->require_subcommand(1);
  std::string rec_id, rec_title, rec_text, rec_reason, rec_effective, rec_rid;
  int rec_number = 0;
  auto* rec_add = recommendation->add_subcommand(
      "add",
      "add a recommendation to the plan; its actions are added with action add.\n"
      "Example: ledgerctl recommendation add r11 --number 11 --title 'Climate' "
      "--text 'Set out the route to net zero' --reason 'Added by the follow-up visit'");
  rec_add->add_option("ID", rec_id, "the recommendation's id, e.g. r11")->required();
  rec_add->add_option("--number", rec_number, "its number in the plan, its own")
      ->required()
      ->check(CLI::Range(1, domain::kMaxRecommendationNumber));
  rec_add->add_option("--title", rec_title, "its short title")->required();
  rec_add->add_option("--text", rec_text, "its full text ('-' reads stdin)");
  rec_add->add_option("--reason", rec_reason, "why it is added");
  rec_add->add_option("--effective", rec_effective,
                      "when it was agreed, if earlier (YYYY-MM-DD or RFC 3339)");
  rec_add->add_option("--request-id", rec_rid, "idempotency key (default: generated)");
  rec_add->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::Command cmd;
      auto* r = cmd.mutable_add_recommendation();
      r->set_parent(PlanName(c));
      r->set_recommendation_id(rec_id);
      r->set_number(rec_number);
      r->set_title(rec_title);
      if (rec_text == "-") {
        std::stringstream in;
        in << std::cin.rdbuf();
        rec_text = ReadText("--text -", in.str());
        absl::StripTrailingAsciiWhitespace(&rec_text);
      }
      r->set_text(rec_text);
      r->set_reason(rec_reason);
      if (!rec_effective.empty()) {
        *r->mutable_effective_time() = ParseMoment("--effective", rec_effective, false);
      }
      v1::CommandResponse response;
      RunExecute(client, {cmd}, rec_rid.empty() ? NewRequestId() : rec_rid, &response,
                 {{"recommendation_id", "ID"},
                  {"number", "--number"},
                  {"title", "--title"},
                  {"text", "--text"},
                  {"reason", "--reason"},
                  {"effective_time", "--effective"},
                  {"request_id", "--request-id"}});
      Emit(f, response, [&] { return AppendedTable(response); });
      return kOk;
    };
  });

  // correct
  std::string fix_event, fix_note, fix_target, fix_description, fix_status, fix_reason, fix_rid;
  auto* correct = app.add_subcommand(
      "correct",
      "put a recorded change right: a correction event names the event it corrects and "
      "replaces what it said (the original stays in the ledger, and a report or timeline shows "
      "the corrected text). It takes effect when the original did.\n"
      "Examples:\n"
      "  ledgerctl correct events/89 --note 'The board met in October.' --reason 'typo'\n"
      "  ledgerctl correct events/83 --target 'March 2025' --reason 'entered the wrong month'");
  correct->add_option("EVENT", fix_event, "events/N (or N), from a timeline or changes")
      ->required();
  auto* replacement = correct->add_option_group("replacement");
  replacement->add_option("--note", fix_note, "the narrative it should have said ('-': stdin)");
  replacement->add_option("--target", fix_target, "the target date it should have said");
  replacement->add_option("--description", fix_description, "the description it should have said");
  replacement->add_option("--status", fix_status,
                          "the status it should have set; the status it changed from if it "
                          "was made by mistake (it then changed nothing)");
  replacement->require_option(1);
  correct->add_option("--reason", fix_reason, "why (required)")->required();
  correct->add_option("--request-id", fix_rid, "idempotency key (default: generated)");
  correct->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::Command cmd;
      auto* r = cmd.mutable_correct_event();
      r->set_event(absl::StartsWith(fix_event, "events/") ? fix_event
                                                          : absl::StrCat("events/", fix_event));
      if (correct->count("--note") > 0) {
        r->set_narrative(Narrative(fix_note));
      } else if (!fix_target.empty()) {
        CheckTargetFlag("--target", fix_target);
        r->set_target_date(fix_target);
      } else if (!fix_description.empty()) {
        r->set_description(fix_description);
      } else {
        r->set_status(ParseStatusFlag(fix_status));
      }
      r->set_reason(fix_reason);
      v1::CommandResponse response;
      RunExecute(client, {cmd}, fix_rid.empty() ? NewRequestId() : fix_rid, &response,
                 {{"event", "EVENT"},
                  {"narrative", "--note"},
                  {"target_date", "--target"},
                  {"description", "--description"},
                  {"status", "--status"},
                  {"reason", "--reason"}});
      Emit(f, response, [&] { return AppendedTable(response); });
      return kOk;
    };
  });

  // changes
  std::string ch_actor, ch_since, ch_until, ch_action, ch_type;
  auto* changes =
      app.add_subcommand("changes",
                         "who changed what, when (recorded clock).\n"
                         "Example: ledgerctl changes --actor jsmith --since 2024-10-01");
  changes->add_option("--actor", ch_actor, "principal id");
  changes->add_option("--since", ch_since, "from this day or time (inclusive)");
  changes->add_option("--until", ch_until, "up to this day (inclusive) or time (exclusive)");
  changes->add_option("--action", ch_action, "REC/ACTION");
  changes->add_option("--type", ch_type,
                      "status_changed, update_recorded, target_date_revised, owner_assigned, "
                      "description_amended, event_corrected, action_added, ...");
  changes->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::ListChangesRequest request;
      request.set_parent(PlanName(c));
      request.set_actor(ch_actor);
      request.set_type(ch_type);
      if (!ch_action.empty()) request.set_action(ActionName(c, ch_action));
      if (!ch_since.empty())
        *request.mutable_start_time() = ParseMoment("--since", ch_since, false);
      if (!ch_until.empty()) {
        // A bare day includes the whole day: up to the next midnight.
        absl::CivilDay day;
        google::protobuf::Timestamp until = ParseMoment("--until", ch_until, false);
        if (absl::ParseCivilTime(ch_until, &day)) until.set_seconds(until.seconds() + 86400);
        *request.mutable_end_time() = until;
      }
      request.set_page_size(1000);
      v1::ListChangesResponse all;
      for (int page = 0; page < 100000; ++page) {
        v1::ListChangesResponse response;
        Check(client.query().ListChanges(client.Context().get(), request, &response), c,
              {{"start_time", "--since"},
               {"end_time", "--until"},
               {"actor", "--actor"},
               {"action", "--action"},
               {"type", "--type"}});
        all.mutable_changes()->MergeFrom(response.changes());
        if (response.next_page_token().empty()) break;
        request.set_page_token(response.next_page_token());
      }
      Emit(f, all, [&] { return ChangesTable(all.changes()); });
      if (all.changes().empty()) {
        // Said, not left to an empty table: a mistyped id matches nothing.
        std::vector<std::string> filters;
        if (!ch_actor.empty()) filters.push_back(absl::StrCat("--actor ", ch_actor));
        if (!ch_type.empty()) filters.push_back(absl::StrCat("--type ", ch_type));
        if (!ch_action.empty()) filters.push_back(absl::StrCat("--action ", ch_action));
        if (!ch_since.empty()) filters.push_back(absl::StrCat("--since ", ch_since));
        if (!ch_until.empty()) filters.push_back(absl::StrCat("--until ", ch_until));
        std::cerr << "ledgerctl: no changes in " << PlanName(c)
                  << (filters.empty() ? "" : absl::StrCat(" match ", absl::StrJoin(filters, ", ")))
                  << "\n";
      }
      return kOk;
    };
  });

  // asof
  std::string asof_when, clock = "recorded";
  auto* asof =
      app.add_subcommand("asof",
                         "the plan as it stood at a moment: --clock recorded (what the ledger said "
                         "then) or effective (what was true then).\n"
                         "Example: ledgerctl asof 2024-04-09 --clock effective");
  asof->add_option("WHEN", asof_when, "YYYY-MM-DD (end of that day, UTC) or RFC 3339")->required();
  asof->add_option("--clock", clock, "recorded or effective")->capture_default_str();
  uint64_t ledger_position = 0;
  asof->add_option("--position", ledger_position,
                   "as the ledger stood at position N: what it said then about WHEN (later "
                   "entries, back-dated or not, left out)");
  auto parse_clock = [&] {
    if (clock == "recorded") return v1::RECORDED;
    if (clock == "effective") return v1::EFFECTIVE;
    Fail(kUsage, "--clock: recorded or effective");
  };
  asof->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::GetPlanAsOfRequest request;
      request.set_name(PlanName(c));
      *request.mutable_time() = ParseMoment("WHEN", asof_when, true);
      request.set_clock(parse_clock());
      if (asof->count("--position") > 0 && ledger_position == 0) {
        Fail(kUsage, "--position: positions start at 1");
      }
      request.set_ledger_position(ledger_position);
      v1::PlanSnapshot snapshot;
      Check(client.query().GetPlanAsOf(client.Context().get(), request, &snapshot), c,
            {{"time", "WHEN"}, {"ledger_position", "--position"}});
      SortActions(snapshot.mutable_actions());
      if (f == Format::kTable) {
        std::cout << snapshot.plan().title() << ", as of " << FormatTime(snapshot.time())
                  << " UTC (" << clock << " clock)\n\n";
      }
      Emit(f, snapshot, [&] { return ActionsTable(snapshot.actions()); });
      return kOk;
    };
  });

  // diff
  std::string diff_from, diff_to;
  auto* diff =
      app.add_subcommand("diff",
                         "what changed between two moments. A date is the end of that day (the "
                         "plan as the day left it, as asof gives it): 2024-04-09 2024-10-31 is "
                         "what changed after 9 April, up to the end of 31 October; for a day's "
                         "own changes, give the day before it as FROM.\n"
                         "Example: ledgerctl diff 2024-04-09 2024-10-31 --clock effective");
  diff->add_option("FROM", diff_from, "YYYY-MM-DD (the end of that day) or RFC 3339")->required();
  diff->add_option("TO", diff_to, "YYYY-MM-DD (the end of that day) or RFC 3339")->required();
  diff->add_option("--clock", clock, "recorded or effective")->capture_default_str();
  diff->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::DiffPlanRequest request;
      request.set_name(PlanName(c));
      *request.mutable_from_time() = ParseMoment("FROM", diff_from, true);
      *request.mutable_to_time() = ParseMoment("TO", diff_to, true);
      request.set_clock(parse_clock());
      if (std::pair(request.to_time().seconds(), request.to_time().nanos()) <
          std::pair(request.from_time().seconds(), request.from_time().nanos())) {
        // Allowed (what changed, read backwards), but rarely meant.
        std::cerr << "ledgerctl: note: TO is before FROM, so each change reads from the later "
                     "state back to the earlier one\n";
      }
      v1::PlanDiff d;
      Check(client.query().DiffPlan(client.Context().get(), request, &d), c,
            {{"from_time", "FROM"}, {"to_time", "TO"}});
      Emit(f, d, [&] {
        Table t{{"ACTION", "WHAT", "FROM", "TO", "REASON"}, {}};
        for (const auto& s : d.status_changes()) {
          t.rows.push_back({ShortAction(s.action()), "status", projections::StatusText(s.from()),
                            projections::StatusText(s.to()), s.reason()});
        }
        for (const auto& s : d.target_changes()) {
          t.rows.push_back({ShortAction(s.action()), "target date",
                            domain::FormatTargetDate(s.from()), domain::FormatTargetDate(s.to()),
                            absl::StrJoin(s.reasons(), "; ")});
        }
        for (const auto& o : d.owner_changes()) {  // "NAME: FROM -> TO"
          const std::vector<std::string> parts = absl::StrSplit(o, absl::MaxSplits(": ", 1));
          const std::vector<std::string> owners =
              absl::StrSplit(parts.size() == 2 ? parts[1] : "", absl::MaxSplits(" -> ", 1));
          t.rows.push_back({ShortAction(parts[0]), "owner", owners.empty() ? "" : owners[0],
                            owners.size() == 2 ? owners[1] : "", ""});
        }
        for (const auto& dc : d.description_changes()) {
          t.rows.push_back({ShortAction(dc.action()), "description", dc.from(), dc.to(), ""});
        }
        for (const auto& a : d.new_actions()) {
          t.rows.push_back({ShortAction(a), "new action", "", "", ""});
        }
        for (const auto& n : d.new_narratives()) {
          t.rows.push_back({ShortAction(n.action()), "narrative", n.previous_text(), n.text(), ""});
        }
        // Each action's changes together, actions in the plan's order.
        std::stable_sort(t.rows.begin(), t.rows.end(), [](const auto& a, const auto& b) {
          return report::NaturalLess(a[0], b[0]);
        });
        return t;
      });
      return kOk;
    };
  });

  // report
  std::string report_period, report_as_of, report_format = "md", report_file;
  bool generated_at = false;
  auto* report_cmd = app.add_subcommand(
      "report",
      "the update report for a period or a moment, as the council publishes it. The "
      "same ledger gives the same bytes every time; with --position, the ledger as it stood "
      "then gives them however it has grown since.\n"
      "Examples:\n"
      "  ledgerctl report --period oct-2024 --format html -o update.html\n"
      "  ledgerctl report --period oct-2024 --position 180   # as published at position 180\n"
      "  ledgerctl report --as-of 2024-06-30 --clock effective --format csv");
  auto* report_moment = report_cmd->add_option_group("moment");
  report_moment->add_option("--period", report_period, "reporting period id");
  report_moment->add_option("--as-of", report_as_of, "YYYY-MM-DD (end of day) or RFC 3339");
  report_moment->require_option(1);
  report_cmd->add_option("--clock", clock, "for --as-of: recorded or effective")
      ->capture_default_str();
  report_cmd->add_option("--format", report_format, "md, html or csv")->capture_default_str();
  report_cmd->add_option("--position", ledger_position,
                         "as the ledger stood at position N, which a report's footer gives: "
                         "later entries, even back-dated corrections, are left out");
  report_cmd->add_option("-o,--file", report_file,
                         "write to FILE instead of stdout ('-': stdout); a .md, .html or .csv "
                         "name gives the format unless --format does");
  report_cmd->add_flag("--generated-at", generated_at,
                       "add a 'generated at' line (the bytes then differ run to run)");
  report_cmd->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      // -o means the output format everywhere else: a report asked for so
      // would otherwise come out as Markdown, or go to a file named "json".
      if (app.count("--output") > 0) {
        Fail(kUsage,
             "-o before report sets how listings are printed; give the report's format "
             "with --format (md, html or csv), and report -o FILE to write it to a file");
      }
      for (const char* format : {"json", "csv", "table", "md", "html", "markdown"}) {
        if (report_file == format) {
          const std::string example =
              std::string(format) == "json" || std::string(format) == "table" ? "md" : format;
          Fail(kUsage,
               absl::StrCat("-o: writes the report to a file, here one named \"", report_file,
                            "\"; give the format with --format (md, html or csv) and a file "
                            "name such as update.",
                            example));
        }
      }
      // A file named for a format is written in it; a format given that
      // its name contradicts is a mistake, not a file to mislabel.
      std::string extension =
          absl::AsciiStrToLower(std::filesystem::path(report_file).extension().string());
      if (!extension.empty()) extension.erase(0, 1);  // the dot
      const std::map<std::string, std::string> by_extension = {
          {"md", "md"}, {"markdown", "md"}, {"html", "html"}, {"htm", "html"}, {"csv", "csv"}};
      if (auto known = by_extension.find(extension); known != by_extension.end()) {
        const std::string given = report_format == "markdown" ? "md" : report_format;
        if (report_cmd->count("--format") == 0) {
          report_format = known->second;
        } else if (given != known->second) {
          Fail(kUsage, absl::StrCat("-o: ", report_file, " names a ", known->second,
                                    " file, but --format is ", report_format));
        }
      } else if (!extension.empty() && report_cmd->count("--format") == 0) {
        // update.pdf would hold Markdown under a name that promises else.
        Fail(kUsage, absl::StrCat("-o: ", report_file, ": a report is Markdown, HTML or CSV; ",
                                  "name the file .md, .html or .csv, or give --format"));
      }
      if (report_file == "-") report_file.clear();  // stdout
      if (!report_period.empty() && report_cmd->count("--clock") > 0) {
        Fail(kUsage, "--clock: only with --as-of; a period's report is its own");
      }
      v1::RenderReportRequest request;
      request.set_name(PlanName(c));
      if (!report_period.empty()) {
        request.set_period(PeriodName(c, report_period));
      } else {
        *request.mutable_as_of() = ParseMoment("--as-of", report_as_of, true);
        request.set_clock(parse_clock());
        // Today, on the recorded clock, is as far as the ledger has got: now,
        // not the end of the day, which has not come.
        // To the microsecond: a plan recorded within this second is there.
        absl::CivilDay day;
        const absl::Time now = absl::Now();
        const int64_t now_s = absl::ToUnixSeconds(now);
        if (request.clock() == v1::RECORDED && absl::ParseCivilTime(report_as_of, &day) &&
            request.as_of().seconds() > now_s) {
          request.mutable_as_of()->set_seconds(now_s);
          request.mutable_as_of()->set_nanos(static_cast<int32_t>(
              absl::ToInt64Microseconds(now - absl::FromUnixSeconds(now_s)) * 1000));
        }
      }
      if (report_format == "md" || report_format == "markdown") {
        request.set_format(v1::MARKDOWN);
      } else if (report_format == "html") {
        request.set_format(v1::HTML);
      } else if (report_format == "csv") {
        request.set_format(v1::CSV);
      } else {
        Fail(kUsage, "--format: md, html or csv");
      }
      request.set_include_generated_at(generated_at);
      if (report_cmd->count("--position") > 0 && ledger_position == 0) {
        Fail(kUsage, "--position: positions start at 1");
      }
      request.set_ledger_position(ledger_position);
      auto stub = v1::ReportService::NewStub(client.channel());
      v1::Report report;
      Check(stub->RenderReport(client.Context().get(), request, &report), c,
            {{"period", "--period"}, {"as_of", "--as-of"}, {"ledger_position", "--position"}});
      if (report_file.empty()) {
        std::cout << report.content();
      } else {
        std::ofstream out(report_file, std::ios::binary | std::ios::trunc);
        if (!out) {
          Fail(kFailure,
               absl::StrCat("-o: cannot write ", report_file, ": ", std::strerror(errno)));
        }
        out << report.content();
        if (!out.flush()) {
          Fail(kFailure,
               absl::StrCat("-o: cannot write ", report_file, ": ", std::strerror(errno)));
        }
        std::cerr << "ledgerctl: wrote " << report_file << " (ledger position " << report.position()
                  << ", chain head " << store::ToHex(report.head_hash()).substr(0, 16) << "...)\n";
      }
      if (!report.integrity_warning().empty()) {
        // Written, for whoever investigates; not to be published as it is.
        std::cerr << "ledgerctl: WARNING: " << report.integrity_warning() << "\n";
        return kTampered;
      }
      return kOk;
    };
  });

  auto* security =
      app.add_subcommand("security-log",
                         "every refused call: who, what, why, when, from where (admin and "
                         "scrutiny).\nExample: ledgerctl security-log -o json");
  security->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::ListSecurityEventsRequest request;
      request.set_page_size(1000);
      v1::ListSecurityEventsResponse all;
      for (int page = 0; page < 100000; ++page) {
        v1::ListSecurityEventsResponse response;
        Check(client.query().ListSecurityEvents(client.Context().get(), request, &response), c);
        all.mutable_events()->MergeFrom(response.events());
        if (response.next_page_token().empty()) break;
        request.set_page_token(response.next_page_token());
      }
      Emit(f, all, [&] {
        Table t{{"#", "WHEN", "WHO", "METHOD", "CODE", "WHY", "PEER"}, {}};
        for (const auto& e : all.events()) {
          // The table shows "LedgerService/ExecuteCommands" and "127.0.0.1:5000";
          // -o json keeps the full method and peer.
          absl::string_view method = e.method(), peer = e.peer();
          absl::ConsumePrefix(&method, "/auditledger.v1.");
          if (!absl::ConsumePrefix(&peer, "ipv4:")) absl::ConsumePrefix(&peer, "ipv6:");
          t.rows.push_back({absl::StrCat(e.sequence()), FormatTime(e.time()),
                            e.principal().empty() ? "(unknown)" : e.principal(),
                            std::string(method), e.code(), e.reason(), std::string(peer)});
        }
        return t;
      });
      return kOk;
    };
  });

  std::string backup_id;
  auto* backup =
      app.add_subcommand("backup",
                         "take a consistent online backup on ledgerd's machine (admin); restore it "
                         "with `ledgerd --restore DIR --data_dir NEW`.\nExample: ledgerctl backup "
                         "nightly-2025-01-31");
  backup->add_option("ID", backup_id, "backup name (a-z, 0-9, '-')")->required();
  backup->callback([&] {
    run = [&] {
      auto [c, f] = connect_long();
      Client client(c);
      auto stub = v1::AdminService::NewStub(client.channel());
      v1::CreateBackupRequest request;
      request.set_backup_id(backup_id);
      v1::Backup result;
      Check(stub->CreateBackup(client.Context().get(), request, &result), c);
      Emit(f, result, [&] {
        return Table{
            {"PATH", "POSITION", "HEAD"},
            {{result.path(), absl::StrCat(result.position()), store::ToHex(result.head_hash())}}};
      });
      return kOk;
    };
  });

  // read models
  auto* projections_cmd = app.add_subcommand(
      "projections",
      "the read models: each one's position in the log, state (RUNNING, BUILDING, or STOPPED "
      "and why) and digest.\nExample: ledgerctl projections");
  projections_cmd->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::ListProjectionsResponse response;
      Check(client.query().ListProjections(client.Context().get(), {}, &response), c);
      Emit(f, response, [&] { return ProjectionsTable(response); });
      return kOk;
    };
  });

  std::string rebuild_name;
  bool rebuild_no_wait = false;
  auto* rebuild = app.add_subcommand(
      "rebuild",
      "drop a read model and build it again from the log (admin); waits until it has caught "
      "up and prints its digest.\nExample: ledgerctl rebuild changes");
  rebuild->add_option("NAME", rebuild_name, "current, changes, temporal, merkle, or all")
      ->required();
  rebuild->add_flag("--no-wait,--no_wait", rebuild_no_wait, "return once the rebuild has started");
  rebuild->callback([&] {
    run = [&] {
      auto [c, f] = connect_long();
      Client client(c);
      v1::RebuildProjectionRequest request;
      request.set_name(rebuild_name);
      request.set_wait(!rebuild_no_wait);
      v1::ProjectionStatus status;
      Check(client.query().RebuildProjection(client.Context().get(), request, &status), c);
      if (rebuild_name == "all" && rebuild_no_wait) {
        if (f == Format::kJson) {
          std::cout << ToJson(status);
        } else {
          std::cerr << "ledgerctl: the rebuild of every model has started; "
                       "`ledgerctl projections` shows how far each has got\n";
        }
        return kOk;
      }
      if (rebuild_name == "all" && !rebuild_no_wait) {
        // Each model, with its digest.
        v1::ListProjectionsResponse response;
        Check(client.query().ListProjections(client.Context().get(), {}, &response), c);
        Emit(f, response, [&] { return ProjectionsTable(response); });
        return kOk;
      }
      Emit(f, status, [&] {
        return Table{{"NAME", "POSITION", "STATE", "DIGEST"},
                     {{status.name(), absl::StrCat(status.position()),
                       v1::ProjectionStatus::State_Name(status.state()),
                       store::ToHex(status.digest()).substr(0, 16)}}};
      });
      return kOk;
    };
  });

  // integrity
  auto* digest =
      app.add_subcommand("digest",
                         "a signed checkpoint of the ledger now, as one line to publish (e.g. in "
                         "committee minutes); later `verify --against` it.\n"
                         "Example: ledgerctl digest > digest-2025-01-31.txt");
  digest->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::SignedCheckpoint checkpoint;
      Check(client.integrity().GetCheckpoint(client.Context().get(), {}, &checkpoint), c);
      if (f == Format::kJson) {
        std::cout << ToJson(checkpoint) << "\n";
      } else {
        std::cout << integrity::EncodeDigest(checkpoint) << "\n";
        std::cerr << "ledgerctl: checkpoint of " << checkpoint.tree_size() << " events at "
                  << FormatTime(checkpoint.time()) << " UTC, signed by key "
                  << store::ToHex(checkpoint.public_key()).substr(0, 16) << "...\n";
      }
      return kOk;
    };
  });

  std::string against;
  auto* verify = app.add_subcommand(
      "verify",
      "recompute the whole hash chain, the stream indexes and the Merkle root from the "
      "stored events, and build each read model again from them to compare with the one "
      "that answers queries; with --against, also prove the ledger still extends a "
      "published digest. Exit 8 when anything does not hold.\n"
      "Example: ledgerctl verify --against alcp1:...");
  verify->add_option("--against", against, "a digest printed by `ledgerctl digest`");
  bool log_only = false;
  verify->add_flag("--log-only", log_only,
                   "check the log alone, not the read models built from it (quicker)");
  verify->callback([&] {
    run = [&] {
      auto [c, f] = connect_long();
      Client client(c);
      std::optional<v1::SignedCheckpoint> published;
      if (!against.empty()) {
        auto decoded = integrity::DecodeDigest(against);
        if (!decoded.ok()) Fail(kUsage, std::string(decoded.status().message()));
        if (!integrity::VerifySignature(*decoded)) {
          Fail(kTampered,
               "the digest's signature does not verify: it was not signed by "
               "its key, or was altered");
        }
        published = *decoded;
      }
      v1::VerifyLedgerRequest request;
      if (published) request.set_tree_size(published->tree_size());
      request.set_check_read_models(!log_only);
      v1::VerifyLedgerResponse result;
      Check(client.integrity().VerifyLedger(client.Context().get(), request, &result), c);
      if (f == Format::kJson) std::cout << ToJson(result) << "\n";
      if (!result.ok()) {
        Fail(kTampered, absl::StrCat("ledger verification FAILED at position ",
                                     result.first_bad_position(), ": ", result.problem()));
      }
      if (f != Format::kJson) {
        std::cout << "hash chain, stream indexes and Merkle tree hold for all "
                  << result.events_checked() << " events (" << result.streams_checked()
                  << " streams); head " << store::ToHex(result.head_hash()) << "\n";
      }
      for (const v1::ReadModelCheck& model : result.read_models()) {
        if (!model.ok()) {
          Fail(kTampered,
               absl::StrCat("read model ", model.name(), " is not what the log gives at position ",
                            model.position(), " (digest ",
                            store::ToHex(model.stored_digest()).substr(0, 16), ", built again ",
                            store::ToHex(model.rebuilt_digest()).substr(0, 16),
                            "): what it answers is not the record; it was altered where it is "
                            "stored. An admin's `ledgerctl rebuild ",
                            model.name(), "` builds it again from the log"));
        }
        if (f != Format::kJson) {
          std::cout << "read model " << model.name() << " is what the log gives at position "
                    << model.position() << "\n";
        }
      }
      if (published) {
        if (result.events_checked() < published->tree_size() ||
            result.root_at_size() != published->root_hash()) {
          Fail(kTampered, absl::StrCat("the ledger no longer extends the digest: its first ",
                                       published->tree_size(),
                                       " events do not have the published Merkle root"));
        }
        // And the server's own proof that today's tree extends it, checked here.
        v1::SignedCheckpoint now;
        Check(client.integrity().GetCheckpoint(client.Context().get(), {}, &now), c);
        v1::GetConsistencyProofRequest proof_request;
        proof_request.set_old_size(published->tree_size());
        proof_request.set_new_size(now.tree_size());
        v1::ConsistencyProof proof;
        Check(client.integrity().GetConsistencyProof(client.Context().get(), proof_request, &proof),
              c);
        std::vector<std::string> path(proof.path().begin(), proof.path().end());
        if (!integrity::VerifySignature(now) ||
            !merkle::VerifyConsistency(published->tree_size(), now.tree_size(),
                                       published->root_hash(), now.root_hash(), path)) {
          Fail(kTampered,
               "the consistency proof from the digest to today's checkpoint "
               "does not verify");
        }
        // The events still say what the digest was taken of (above), but
        // another key signs for the ledger now: it was replaced, or this is
        // a restore without it, and today's checkpoints are not the
        // digest's signer's word.
        if (now.public_key() != published->public_key()) {
          Fail(kTampered,
               absl::StrCat("the ledger's first ", published->tree_size(),
                            " events have the digest's Merkle root, but ledgerd now signs with "
                            "another key (",
                            store::ToHex(now.public_key()).substr(0, 16), "..., the digest's ",
                            store::ToHex(published->public_key()).substr(0, 16),
                            "...): its signing key was replaced, or it was restored without "
                            "the key (a backup holds it as signing-key.pem)"));
        }
        if (f != Format::kJson) {
          std::cout << "the ledger extends the digest of " << published->tree_size()
                    << " events signed at " << FormatTime(published->time()) << " UTC (now "
                    << now.tree_size() << " events; consistency proof of " << path.size()
                    << " hashes checked)\n";
        }
      }
      return kOk;
    };
  });

  std::string prove_event;
  auto* prove =
      app.add_subcommand("prove",
                         "prove one event is in a published checkpoint, with an O(log n) Merkle "
                         "inclusion proof checked here.\nExample: ledgerctl prove events/82 "
                         "--against alcp1:...");
  prove->add_option("EVENT", prove_event, "events/{position} or a position")->required();
  prove->add_option("--against", against, "a digest printed by `ledgerctl digest`")->required();
  prove->callback([&] {
    run = [&] {
      checked_here = true;
      auto [c, f] = connect();
      Client client(c);
      auto published = integrity::DecodeDigest(against);
      if (!published.ok()) Fail(kUsage, std::string(published.status().message()));
      if (!integrity::VerifySignature(*published)) {
        Fail(kTampered, "the digest's signature does not verify");
      }
      v1::GetInclusionProofRequest request;
      request.set_event(absl::StartsWith(prove_event, "events/") ? prove_event
                                                                 : "events/" + prove_event);
      request.set_tree_size(published->tree_size());
      v1::InclusionProof proof;
      Check(client.integrity().GetInclusionProof(client.Context().get(), request, &proof), c);
      std::vector<std::string> path(proof.path().begin(), proof.path().end());
      const std::string leaf = merkle::LeafHash(store::Sha256(proof.event_bytes()));
      v1::Event event;
      if (!event.ParseFromString(proof.event_bytes()) ||
          event.position() != proof.leaf_index() + 1 ||
          !merkle::VerifyInclusion(leaf, proof.leaf_index(), published->tree_size(), path,
                                   published->root_hash())) {
        Fail(kTampered, absl::StrCat(request.event(),
                                     " is NOT proven to be in the checkpoint "
                                     "of ",
                                     published->tree_size(), " events"));
      }
      if (f == Format::kJson) {
        std::cout << ToJson(event) << "\n";
      } else {
        std::cout << request.event() << " is in the checkpoint of " << published->tree_size()
                  << " events signed at " << FormatTime(published->time()) << " UTC ("
                  << path.size() << " hashes checked)\n"
                  << "  " << event.stream() << " v" << event.version() << ", "
                  << projections::EventType(event) << " by " << event.actor().id() << ", recorded "
                  << FormatTime(event.recorded_at()) << " UTC\n";
      }
      return kOk;
    };
  });

  // period
  auto* period_cmd = app.add_subcommand("period", "open or close a reporting period (admin)")
                         ->require_subcommand(1);
  std::string period_id, period_title;
  auto* period_open = period_cmd->add_subcommand(
      "open",
      "open a reporting period.\n"
      "Example: ledgerctl period open apr-2025 --title 'April 2025 progress review'");
  period_open->add_option("ID", period_id, "period id, e.g. apr-2025")->required();
  period_open->add_option("--title", period_title, "as it heads the report")->required();
  period_open->add_option("--effective", effective, "when it opened, if earlier");
  period_open->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::Command cmd;
      auto* r = cmd.mutable_open_period();
      r->set_parent(PlanName(c));
      r->set_period_id(period_id);
      r->set_title(period_title);
      // Today is now (a period closed earlier today was closed before it),
      // another day its start.
      absl::CivilDay day;
      const bool today = absl::ParseCivilTime(effective, &day) &&
                         day == absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
      if (!effective.empty() && !today)
        *r->mutable_effective_time() = ParseMoment("--effective", effective, false);
      v1::CommandResponse response;
      RunExecute(client, {cmd}, NewRequestId(), &response,
                 {{"effective_time", "--effective"}, {"title", "--title"}});
      Emit(f, response, [&] {
        return Table{{"EVENT", "PERIOD"},
                     {{response.events(0).name(), response.events(0).stream()}}};
      });
      return kOk;
    };
  });
  auto* period_close = period_cmd->add_subcommand("close",
                                                  "close a reporting period: no "
                                                  "more updates go into it.\nExample: "
                                                  "ledgerctl period close jan-2025");
  period_close->add_option("ID", period_id, "period id")->required();
  period_close->add_option("--effective", effective,
                           "when it closed, if earlier (a date: the end of that day)");
  period_close->callback([&] {
    run = [&] {
      auto [c, f] = connect();
      Client client(c);
      v1::Command cmd;
      auto* r = cmd.mutable_close_period();
      r->set_name(PeriodName(c, period_id));
      if (!effective.empty()) {
        absl::CivilDay day;
        *r->mutable_effective_time() = absl::ParseCivilTime(effective, &day)
                                           ? PeriodCloseOn(day)
                                           : ParseMoment("--effective", effective, false);
      }
      v1::CommandResponse response;
      RunExecute(client, {cmd}, NewRequestId(), &response,
                 {{"effective_time", "--effective"}, {"title", "--title"}});
      Emit(f, response, [&] {
        return Table{{"EVENT", "PERIOD"},
                     {{response.events(0).name(), response.events(0).stream()}}};
      });
      return kOk;
    };
  });

  // principal
  auto* principal = app.add_subcommand("principal",
                                       "manage the principals file (run where "
                                       "ledgerd's file lives; ledgerd reloads it "
                                       "on SIGHUP)")
                        ->require_subcommand(1);
  // Set before its subcommands are added, which take it: these work on the
  // file alone and never connect.
  principal->footer(
      "These work on the principals file alone and never connect to ledgerd; send "
      "ledgerd SIGHUP (or restart it) for a change to take effect.\n"
      "Exit codes: 0 ok, 2 usage, 4 no such file or principal, 5 an id already taken or a "
      "principal already in that state, "
      "7 invalid data, "
      "1 other (such as a file that cannot be written).");
  std::string pfile, pid, pname, prole;
  auto* principal_add = principal->add_subcommand(
      "add",
      "add a principal; prints its new token once, stores only its SHA-256.\n"
      "Example: ledgerctl principal add --file principals.json --id jsmith "
      "--name 'J Smith' --role officer");
  principal_add->add_option("--file", pfile, "principals JSON file")->required();
  principal_add->add_option("--id", pid, "principal id")->required();
  principal_add->add_option("--name", pname, "display name");
  principal_add->add_option("--role", prole, "admin, officer or scrutiny")->required();
  principal_add->callback([&] {
    run = [&] {
      absl::StatusOr<std::string> token = AddPrincipal(pfile, pid, pname, prole);
      if (!token.ok()) {
        Fail(ExitCodeFor(token.status().code()), std::string(token.status().message()));
      }
      std::cout << *token << "\n";
      std::cerr << "ledgerctl: added " << pid << " (" << prole << ") to " << pfile
                << ". The token above is shown only once; send SIGHUP to ledgerd to "
                   "load it.\n";
      return kOk;
    };
  });
  auto* principal_disable =
      principal->add_subcommand("disable",
                                "refuse a principal's token from now on (send ledgerd SIGHUP to "
                                "load it).\nExample: ledgerctl principal disable --file "
                                "principals.json --id jsmith");
  principal_disable->add_option("--file", pfile, "principals JSON file")->required();
  principal_disable->add_option("--id", pid, "principal id")->required();
  principal_disable->callback([&] {
    run = [&] {
      absl::Status s = DisablePrincipal(pfile, pid);
      if (!s.ok()) Fail(ExitCodeFor(s.code()), std::string(s.message()));
      std::cerr << "ledgerctl: disabled " << pid << "; send SIGHUP to ledgerd to apply\n";
      return kOk;
    };
  });
  auto* principal_enable = principal->add_subcommand(
      "enable",
      "accept a disabled principal's token again (send ledgerd SIGHUP to load it).\n"
      "Example: ledgerctl principal enable --file principals.json --id jsmith");
  principal_enable->add_option("--file", pfile, "principals JSON file")->required();
  principal_enable->add_option("--id", pid, "principal id")->required();
  principal_enable->callback([&] {
    run = [&] {
      absl::Status s = EnablePrincipal(pfile, pid);
      if (!s.ok()) Fail(ExitCodeFor(s.code()), std::string(s.message()));
      std::cerr << "ledgerctl: enabled " << pid << "; send SIGHUP to ledgerd to apply\n";
      return kOk;
    };
  });
  auto* principal_rotate = principal->add_subcommand(
      "rotate",
      "give a principal a new token; prints it once, and the old one is refused once ledgerd "
      "has the file (SIGHUP).\nExample: ledgerctl principal rotate --file principals.json "
      "--id jsmith");
  principal_rotate->add_option("--file", pfile, "principals JSON file")->required();
  principal_rotate->add_option("--id", pid, "principal id")->required();
  principal_rotate->callback([&] {
    run = [&] {
      absl::StatusOr<std::string> token = RotatePrincipal(pfile, pid);
      if (!token.ok()) {
        Fail(ExitCodeFor(token.status().code()), std::string(token.status().message()));
      }
      std::cout << *token << "\n";
      std::cerr << "ledgerctl: new token for " << pid << " in " << pfile
                << ". It is shown only once; send SIGHUP to ledgerd, and the old one is "
                   "refused from then on.\n";
      return kOk;
    };
  });
  auto* principal_list = principal->add_subcommand(
      "list",
      "the principals of a file: id, name, role and whether disabled (never tokens).\n"
      "Example: ledgerctl principal list --file principals.json");
  principal_list->add_option("--file", pfile, "principals JSON file")->required();
  principal_list->callback([&] {
    run = [&] {
      auto format = ParseFormat(g.output);
      if (!format.ok()) Fail(kUsage, std::string(format.status().message()));
      absl::StatusOr<std::vector<service::PrincipalRecord>> records = ListPrincipals(pfile);
      if (!records.ok()) {
        Fail(ExitCodeFor(records.status().code()), std::string(records.status().message()));
      }
      Table t{{"ID", "NAME", "ROLE", "STATE"}, {}};
      nlohmann::json json = nlohmann::json::array();
      for (const service::PrincipalRecord& r : *records) {
        const std::string role(domain::RoleName(r.principal.role));
        t.rows.push_back(
            {r.principal.id, r.principal.name, role, r.disabled ? "disabled" : "enabled"});
        json.push_back({{"id", r.principal.id},
                        {"name", r.principal.name},
                        {"role", role},
                        {"disabled", r.disabled}});
      }
      switch (*format) {
        case Format::kJson:
          std::cout << json.dump(2) << "\n";
          break;
        case Format::kCsv:
          std::cout << ToCsv(t);
          break;
        case Format::kTable:
          PrintTable(t, TerminalWidth(), std::cout);
          break;
      }
      return kOk;
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::RequiredError& e) {
    std::cerr << MissingCommand(app, e) << " (see --help)\n";
    return kUsage;
  } catch (const CLI::ParseError& e) {
    std::cerr << "ledgerctl: " << e.what() << " (see --help)\n";
    return kUsage;
  } catch (const Exit& e) {
    std::cerr << "ledgerctl: " << e.message << "\n";
    return e.code;
  }
  try {
    CheckUtf8(app);
    if (run) result = run();
  } catch (const Exit& e) {
    std::cerr << "ledgerctl: " << e.message << "\n";
    return e.code;
  }
  // Whatever was asked: an answer from a damaged ledger is not to be taken
  // as the record, and the run does not end as a success. (A report and
  // verify say so themselves, and end 8.)
  if (const uint64_t at = DamagedAt(); at != 0 && result == kOk && !checked_here) {
    std::cerr << "ledgerctl: WARNING: this ledger failed its integrity check at position " << at
              << " when ledgerd opened it: what it shows may not be what was recorded (run "
                 "`ledgerctl verify`; restore from a backup)\n";
    result = kTampered;
  }
  return result;
}

}  // namespace auditledger::ledgerctl

int main(int argc, char** argv) { return auditledger::ledgerctl::Main(argc, argv); }
