#include "tests/support/ledgerd_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "ledger/store/sha256.h"

#ifndef LEDGERD_PATH
#error "LEDGERD_PATH must name the ledgerd binary"
#endif

namespace auditledger::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base ? base : "/tmp") + "/auditledger-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  char* made = mkdtemp(buffer.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string Sha256Hex(const std::string& text) { return store::ToHex(store::Sha256(text)); }

std::string TestPrincipalsJson() {
  auto entry = [](const char* id, const char* name, const char* role, const char* token) {
    return std::string("{\"id\":\"") + id + "\",\"name\":\"" + name + "\",\"role\":\"" + role +
           "\",\"token_sha256\":\"" + Sha256Hex(token) + "\"}";
  };
  // The officers have names other than their ids, as people do; the others
  // have their ids as names, as `ledgerctl principal add` gives one without.
  return "{\"principals\":[" + entry("admin", "admin", "admin", kAdminToken) + "," +
         entry("jsmith", "J Smith", "officer", kOfficerToken) + "," +
         entry("akhan", "A Khan", "officer", kOtherOfficerToken) + "," +
         entry("cllr", "cllr", "scrutiny", kScrutinyToken) + "]}";
}

LedgerdProcess::LedgerdProcess(std::string data_dir, std::vector<std::string> extra_args) {
  owned_dir_ = std::make_unique<TempDir>();
  data_dir_ = data_dir.empty() ? owned_dir_->path() + "/data" : data_dir;
  principals_path_ = owned_dir_->path() + "/principals.json";
  stderr_path_ = owned_dir_->path() + "/stderr.txt";
  std::ofstream(principals_path_) << TestPrincipalsJson();

  int out_pipe[2];
  if (pipe(out_pipe) != 0) {
    ADD_FAILURE() << "pipe failed";
    return;
  }
  std::vector<std::string> args = {LEDGERD_PATH, "--data_dir", data_dir_, "--principals",
                                   principals_path_};
  if (std::find(extra_args.begin(), extra_args.end(), "--listen") == extra_args.end()) {
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    int err = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(err, STDERR_FILENO);
    close(out_pipe[0]);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  // Wait for "ledgerd: serving on HOST:PORT ..." (bounded: 30 s).
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{out_pipe[0], POLLIN, 0};
    if (poll(&pfd, 1, 1000) <= 0) continue;
    char buf[256];
    ssize_t n = read(out_pipe[0], buf, sizeof(buf));
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  close(out_pipe[0]);
  const std::string marker = "serving on ";
  size_t at = line.find(marker);
  if (at == std::string::npos) {
    ADD_FAILURE() << "ledgerd did not start: stdout=" << line << " stderr=" << Stderr();
    return;
  }
  size_t end = line.find(' ', at + marker.size());
  address_ = line.substr(at + marker.size(), end - at - marker.size());
  started_ = true;
}

LedgerdProcess::~LedgerdProcess() {
  if (pid_ <= 0) return;
  if (told_to_end_ || !started_) {
    Kill();
    return;
  }
  // Left running by the test: stopped as an operator would stop it, and it
  // must stop cleanly. A crash, a sanitizer's report (leaks are reported at
  // a clean exit) or a failed shutdown fails the test, though nothing the
  // test asked afterwards noticed.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  kill(pid_, SIGTERM);
  pollfd exited{pidfd, POLLIN, 0};
  const bool in_time = pidfd >= 0 && poll(&exited, 1, /*timeout_ms=*/30000) == 1;
  if (pidfd >= 0) close(pidfd);
  if (!in_time) {
    Kill();
    ADD_FAILURE() << "ledgerd did not stop within 30 s of SIGTERM; its stderr:\n" << Stderr();
    return;
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                              : "signal " + std::to_string(WTERMSIG(status));
    ADD_FAILURE() << "ledgerd did not stop cleanly (" << how << "); its stderr:\n" << Stderr();
  }
}

std::shared_ptr<grpc::Channel> LedgerdProcess::Channel(
    std::shared_ptr<grpc::ChannelCredentials> credentials) const {
  return grpc::CreateChannel(address_,
                             credentials ? credentials : grpc::InsecureChannelCredentials());
}

std::unique_ptr<v1::LedgerService::Stub> LedgerdProcess::LedgerStub() const {
  return v1::LedgerService::NewStub(Channel());
}

int LedgerdProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return -WTERMSIG(status);
}

void LedgerdProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void LedgerdProcess::Signal(int signal_number) {
  if (pid_ <= 0) return;
  if (signal_number == SIGTERM || signal_number == SIGINT || signal_number == SIGKILL) {
    told_to_end_ = true;
  }
  kill(pid_, signal_number);
}

std::string LedgerdProcess::Stderr() const {
  std::ifstream in(stderr_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& token, int deadline_ms) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  return context;
}

namespace {
std::string Slurp(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}
}  // namespace

RunResult RunCommand(const std::string& binary, const std::vector<std::string>& args,
                     const std::vector<std::string>& env, const std::string& stdin_text) {
  TempDir dir;
  std::string out_path = dir.path() + "/out", err_path = dir.path() + "/err",
              in_path = dir.path() + "/in";
  std::ofstream(in_path) << stdin_text;
  pid_t pid = fork();
  if (pid == 0) {
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<std::string> all = {binary};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  int out = open(out_path.c_str(), O_RDONLY);
  result.out = Slurp(out);
  close(out);
  int err = open(err_path.c_str(), O_RDONLY);
  result.err = Slurp(err);
  close(err);
  return result;
}

void EditDataDir(
    const std::string& dir,
    const std::function<void(rocksdb::DB*,
                             const std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>& edit) {
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(options, dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir, descriptors, &handles, &db).ok());
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
  edit(db, by_name);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

}  // namespace auditledger::testing
