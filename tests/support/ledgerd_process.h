#ifndef AUDITLEDGER_TESTS_SUPPORT_LEDGERD_PROCESS_H_
#define AUDITLEDGER_TESTS_SUPPORT_LEDGERD_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auditledger/v1/ledger_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "rocksdb/db.h"

// A real ledgerd child process on a free loopback port with its own data
// directory, for whole-system tests.
namespace auditledger::testing {

// Tokens of the principals every test server knows.
inline constexpr char kAdminToken[] = "admin-token-0123456789";
inline constexpr char kOfficerToken[] = "jsmith-token-0123456789";      // jsmith
inline constexpr char kOtherOfficerToken[] = "akhan-token-0123456789";  // akhan
inline constexpr char kScrutinyToken[] = "scrutiny-token-0123456789";   // cllr

// A fresh directory under $TMPDIR, removed by its destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The JSON principals file content for the test principals.
std::string TestPrincipalsJson();
std::string Sha256Hex(const std::string& text);

class LedgerdProcess {
 public:
  // Starts ledgerd on `data_dir` (a new temp dir when empty) and waits for it
  // to report its address. Fails the current test if it does not start.
  explicit LedgerdProcess(std::string data_dir = "", std::vector<std::string> extra_args = {});
  // Unless the test stopped it, killed it or sent it SIGTERM, stops it with
  // SIGTERM and fails the current test if it does not exit cleanly (status
  // 0) within 30 s.
  ~LedgerdProcess();

  const std::string& address() const { return address_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& principals_path() const { return principals_path_; }
  pid_t pid() const { return pid_; }

  // Plaintext unless credentials are given.
  std::shared_ptr<grpc::Channel> Channel(
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr) const;
  std::unique_ptr<v1::LedgerService::Stub> LedgerStub() const;

  // Sends SIGTERM and waits; returns the exit status (or -signal).
  int Stop();
  // SIGKILL, as a crash.
  void Kill();
  void Signal(int signal_number);
  // Everything the process wrote to stderr so far (after Stop/Kill).
  std::string Stderr() const;

 private:
  std::unique_ptr<TempDir> owned_dir_;
  std::string data_dir_;
  std::string principals_path_;
  std::string stderr_path_;
  std::string address_;
  pid_t pid_ = -1;
  bool started_ = false;      // reported its address
  bool told_to_end_ = false;  // sent SIGTERM, SIGINT or SIGKILL
};

// A client context carrying a bearer token and a deadline.
std::unique_ptr<grpc::ClientContext> Context(const std::string& token, int deadline_ms = 10000);

// Runs `binary` with `args`, returns exit code and captures stdout/stderr.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
RunResult RunCommand(const std::string& binary, const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {}, const std::string& stdin_text = "");

// Opens a stopped ledgerd's RocksDB directly, with every column family by
// name, for tests that damage or age what is on disk.
void EditDataDir(
    const std::string& dir,
    const std::function<void(rocksdb::DB*,
                             const std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>& edit);

}  // namespace auditledger::testing

#endif  // AUDITLEDGER_TESTS_SUPPORT_LEDGERD_PROCESS_H_
