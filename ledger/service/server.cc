#include "ledger/service/server.h"

#include <netdb.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_interceptor.h"
#include "ledger/service/grpc_status.h"
#include "projections/read_models.h"

namespace auditledger::service {

namespace {
constexpr int kMaxMessageBytes = 32 << 20;
constexpr int kMaxServerThreads = 512;
constexpr int kMaxIdleServerThreads = 64;

bool IsLoopback(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  return host.rfind("127.", 0) == 0 || host == "localhost" || host == "[::1]" || host == "::1";
}

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, ": ", path, " cannot be read"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The first certificate of a PEM file, or why there is none.
absl::StatusOr<std::unique_ptr<X509, decltype(&X509_free)>> ParseCertificate(
    const char* flag, const std::string& path, const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), pem.size()), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio == nullptr ? nullptr : PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr),
      &X509_free);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", path, " holds no PEM certificate (\"BEGIN CERTIFICATE\")"));
  }
  return cert;
}

// What gRPC would find only when it starts serving, and then report as a
// port it cannot listen on: a certificate or key that does not parse, or a
// key that is not the certificate's.
absl::Status CheckKeyPair(const ServerOptions& options, const std::string& cert_pem,
                          const std::string& key_pem) {
  absl::StatusOr<std::unique_ptr<X509, decltype(&X509_free)>> cert =
      ParseCertificate("--tls_cert", options.tls_cert, cert_pem);
  if (!cert.ok()) return cert.status();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(key_pem.data(), key_pem.size()),
                                                &BIO_free);
  // No passphrase callback: an encrypted key is refused, not prompted for.
  auto no_passphrase = [](char*, int, int, void*) { return 0; };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio == nullptr ? nullptr
                     : PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr),
      &EVP_PKEY_free);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_key: ", options.tls_key,
                     " holds no unencrypted PEM private key (\"BEGIN PRIVATE KEY\")"));
  }
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--tls_key: ", options.tls_key,
                                                   " is not the key of the certificate in ",
                                                   options.tls_cert, " (--tls_cert)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& options) {
  const bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (!tls) {
    if (!options.client_ca.empty()) {
      return absl::InvalidArgumentError("--client_ca: needs --tls_cert and --tls_key");
    }
    if (!IsLoopback(options.listen) && !options.insecure_listen) {
      return absl::InvalidArgumentError(
          absl::StrCat("--listen: refusing to serve ", options.listen,
                       " without TLS: bearer tokens would cross the network in clear. Give "
                       "--tls_cert and --tls_key, or --insecure_listen if a proxy in front "
                       "terminates TLS"));
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_cert.empty() || options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key: give both");
  }
  absl::StatusOr<std::string> cert = ReadPem("--tls_cert", options.tls_cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem("--tls_key", options.tls_key);
  if (!key.ok()) return key.status();
  if (absl::Status pair = CheckKeyPair(options, *cert, *key); !pair.ok()) return pair;
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!options.client_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPem("--client_ca", options.client_ca);
    if (!ca.ok()) return ca.status();
    if (absl::StatusOr<std::unique_ptr<X509, decltype(&X509_free)>> parsed =
            ParseCertificate("--client_ca", options.client_ca, *ca);
        !parsed.ok()) {
      return parsed.status();
    }
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// HOST:PORT, the host a name or an address ([...] for IPv6), the port
// 0 to 65535 (0: any free one).
absl::StatusOr<std::pair<std::string, std::string>> SplitListen(const std::string& listen) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: \"", listen, "\" ", why));
  };
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return bad("is not HOST:PORT (e.g. 127.0.0.1:50051)");
  }
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  uint64_t number = 0;
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
    return bad("has no port after its last ':' (HOST:PORT, e.g. 127.0.0.1:50051)");
  }
  if (port.size() > 5 || !absl::SimpleAtoi(port, &number) || number > 65535) {
    return bad(absl::StrCat("has port ", port.substr(0, 20),
                            ", which is not from 0 to 65535 (0: any free port)"));
  }
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) return bad("has an unclosed [ in its host");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return bad("has an IPv6 host without [ ] (e.g. [::1]:50051)");
  }
  return std::make_pair(host, port);
}

// Binds the address once, before anything is opened or created, so that a
// port in use (another ledgerd) or an address not of this machine is said
// plainly and leaves nothing behind. gRPC binds it again to serve, and
// does not share it (GRPC_ARG_ALLOW_REUSEPORT off below).
absl::Status ProbeListen(const std::string& listen) {
  absl::StatusOr<std::pair<std::string, std::string>> split = SplitListen(listen);
  if (!split.ok()) return split.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int e = getaddrinfo(split->first.c_str(), split->second.c_str(), &hints, &found); e != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: ", listen, ": host ", split->first, ": ", gai_strerror(e)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, &freeaddrinfo);
  absl::Status result = absl::OkStatus();
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;  // a family this machine lacks (IPv6 off)
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    const int bound = bind(fd, a->ai_addr, a->ai_addrlen);
    const int error = errno;
    close(fd);
    if (bound == 0) return absl::OkStatus();
    if (error == EADDRINUSE) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--listen: ", listen, " is in use (another ledgerd?); stop it or choose another port"));
    }
    result = absl::InvalidArgumentError(
        absl::StrCat("--listen: cannot bind ", listen, ": ", std::strerror(error),
                     error == EADDRNOTAVAIL ? " (not an address of this machine)"
                     : error == EACCES      ? " (a port below 1024 needs privileges)"
                                            : ""));
  }
  return result;
}

// On a ledger that failed its integrity check when opened, every answer
// says so in its initial metadata (kDamagedAtMetadata: the position), so a
// client shows it with whatever it asked, not only with a report.
class DamageNoticeInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit DamageNoticeInterceptor(uint64_t damaged_at) : damaged_at_(absl::StrCat(damaged_at)) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kDamagedAtMetadata, damaged_at_);
    }
    methods->Proceed();
  }

 private:
  const std::string damaged_at_;
};

class DamageNoticeInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit DamageNoticeInterceptorFactory(uint64_t damaged_at) : damaged_at_(damaged_at) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new DamageNoticeInterceptor(damaged_at_);
  }

 private:
  const uint64_t damaged_at_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LedgerServer>> LedgerServer::Start(const ServerOptions& options) {
  // What can be checked without touching the data dir is, so that a
  // mistaken flag leaves nothing behind: no data dir, key or restored copy.
  if (options.principals_path.empty()) {
    return absl::InvalidArgumentError(
        "--principals: required (a JSON file of principals and token hashes)");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = Credentials(options);
  if (!credentials.ok()) return credentials.status();
  if (absl::Status probed = ProbeListen(options.listen); !probed.ok()) return probed;
  if (!options.rebuild.empty() && options.rebuild != "all") {
    std::vector<std::string> names;
    for (const auto& p : projections::DefaultProjections()) names.push_back(p->name());
    if (std::find(names.begin(), names.end(), options.rebuild) == names.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--rebuild: no read model \"", options.rebuild,
                                                     "\" (one of ", absl::StrJoin(names, ", "),
                                                     ", or all)"));
    }
  }
  std::string base = options.data_dir;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  const std::string key_path =
      options.signing_key.empty() ? base + ".signing-key.pem" : options.signing_key;
  // A start that fails on a data dir it was to create (or restore into)
  // takes away what it made of it: the dir and a key it created.
  std::error_code error;
  const bool new_dir = !std::filesystem::exists(options.data_dir, error);
  const bool new_key = !std::filesystem::exists(key_path, error);
  absl::StatusOr<std::unique_ptr<LedgerServer>> started = StartOn(options, key_path, *credentials);
  if (!started.ok() && new_dir) {
    std::filesystem::remove_all(options.data_dir, error);
    if (new_key) std::filesystem::remove(key_path, error);
  }
  return started;
}

absl::StatusOr<std::unique_ptr<LedgerServer>> LedgerServer::StartOn(
    const ServerOptions& options, const std::string& key_path,
    std::shared_ptr<grpc::ServerCredentials> credentials) {
  std::unique_ptr<LedgerServer> s(new LedgerServer());
  s->options_ = options;
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      Authenticator::Load(options.principals_path);
  if (!auth.ok()) return auth.status();
  s->auth_ = *std::move(auth);
  std::string base = options.data_dir;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  // A key given is read now; one that is absent is created once the data
  // dir has opened.
  std::error_code error;
  if (std::filesystem::exists(key_path, error)) {
    absl::StatusOr<std::unique_ptr<integrity::Signer>> signer =
        integrity::Signer::LoadOrCreate(key_path);
    if (!signer.ok()) return signer.status();
    s->signer_ = *std::move(signer);
  }
  if (!options.restore_from.empty()) {
    if (absl::Status restored = RestoreBackup(options.restore_from, options.data_dir, key_path);
        !restored.ok()) {
      return restored;
    }
  }

  absl::StatusOr<std::unique_ptr<store::EventLog>> log =
      store::EventLog::Open(options.data_dir, store::LogOptions{});
  if (!log.ok()) return log.status();
  s->log_ = *std::move(log);

  absl::StatusOr<std::unique_ptr<engine::Ledger>> ledger = engine::Ledger::Open(
      s->log_.get(), engine::LedgerOptions{.owners = [auth = s->auth_.get()](absl::string_view id) {
        return auth->CheckOfficer(id);
      }});
  if (!ledger.ok()) return ledger.status();
  s->ledger_ = *std::move(ledger);

  s->projections_ = std::make_unique<projections::ProjectionRunner>(
      s->log_.get(), projections::DefaultProjections(), options.projection_threads);
  if (absl::Status started = s->projections_->Start(); !started.ok()) {
    return started;
  }
  // A read model that applied events the log no longer holds: the log lost
  // its end. It is damage like a broken chain, and refuses writes, which
  // would otherwise reuse those positions.
  // (A log unreadable past its head says so itself.)
  const uint64_t head = s->log_->head_position();
  for (const auto& [name, position] : s->projections_->positions()) {
    if (position <= head || !s->log_->damage_at_open().ok()) continue;
    std::fprintf(stderr,
                 "ledgerd: the read model %s has applied events up to position %llu, but the log "
                 "ends at %llu: events were lost from its end; writes are refused\n",
                 name.c_str(), static_cast<unsigned long long>(position),
                 static_cast<unsigned long long>(head));
    s->ledger_->NoteDamageAtOpen(head + 1);
  }
  if (!options.rebuild.empty()) {
    if (absl::Status rebuilt = s->projections_->Rebuild(options.rebuild); !rebuilt.ok()) {
      return absl::Status(rebuilt.code(), absl::StrCat("--rebuild: ", rebuilt.message()));
    }
  }

  s->ledger_service_ =
      std::make_unique<LedgerServiceImpl>(s->ledger_.get(), s->log_.get(), s->auth_.get());
  absl::StatusOr<std::unique_ptr<SecurityLog>> security = SecurityLog::Open(s->log_.get());
  if (!security.ok()) return security.status();
  s->security_log_ = *std::move(security);
  s->query_service_ = std::make_unique<QueryServiceImpl>(s->projections_.get(), s->log_.get(),
                                                         s->auth_.get(), s->security_log_.get());
  s->report_service_ = std::make_unique<ReportServiceImpl>(
      s->projections_.get(), s->log_.get(), s->auth_.get(), s->ledger_->chain_break_at_open());
  if (s->signer_ == nullptr) {
    absl::StatusOr<std::unique_ptr<integrity::Signer>> signer =
        integrity::Signer::LoadOrCreate(key_path);
    if (!signer.ok()) return signer.status();
    s->signer_ = *std::move(signer);
  }
  s->integrity_service_ =
      std::make_unique<IntegrityServiceImpl>(s->projections_.get(), s->log_.get(), s->auth_.get(),
                                             s->signer_.get(), s->ledger_->chain_break_at_open());
  s->admin_service_ = std::make_unique<AdminServiceImpl>(
      s->log_.get(), s->auth_.get(),
      options.backup_dir.empty() ? base + "-backups" : options.backup_dir, key_path);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Not SO_REUSEPORT: a second ledgerd on this port would otherwise serve
  // beside this one, and clients would be dealt to either ledger.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort(options.listen, credentials, &port);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(
      std::make_unique<SecurityLogInterceptorFactory>(s->security_log_.get(), s->auth_.get()));
  if (const uint64_t damaged_at = s->ledger_->chain_break_at_open(); damaged_at != 0) {
    interceptors.push_back(std::make_unique<DamageNoticeInterceptorFactory>(damaged_at));
  }
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(s->ledger_service_.get());
  builder.RegisterService(s->query_service_.get());
  builder.RegisterService(s->report_service_.get());
  builder.RegisterService(s->integrity_service_.get());
  builder.RegisterService(s->admin_service_.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  grpc::ResourceQuota quota("ledgerd");
  quota.SetMaxThreads(kMaxServerThreads);
  builder.SetResourceQuota(quota);
  // A synchronous call's thread stays to poll for the next call instead of
  // exiting and being created again under load.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              kMaxIdleServerThreads);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("--listen: cannot listen on ", options.listen,
                     " (address in use, or not an address of this machine)"));
  }
  s->ticker_ = std::make_unique<CallbackQueueTicker>(s->server_.get());
  std::string host = options.listen.substr(0, options.listen.rfind(':'));
  s->address_ = absl::StrCat(host, ":", port);
  return s;
}

// gRPC 1.51 runs callback methods (ExecuteCommands, grpc.health.v1) on a
// shared completion queue whose threads sleep 100 ms whenever a second passes
// without an event on it. When the thread that was polling the sockets goes
// to sleep, nothing else takes over, and calls of every kind wait out the
// sleep (seen as 100 ms tails on the queries of an idle server). Asking our
// own health service over an in-process channel every 200 ms keeps events on
// that queue, so its threads never sleep.
class CallbackQueueTicker {
 public:
  explicit CallbackQueueTicker(grpc::Server* server)
      : stub_(server->InProcessChannel(grpc::ChannelArguments())), thread_([this] { Run(); }) {}
  ~CallbackQueueTicker() {
    stop_.Notify();
    thread_.join();
  }

 private:
  void Run() {
    // An empty HealthCheckRequest: the whole server.
    grpc::Slice nothing;
    const grpc::ByteBuffer request(&nothing, 1);
    while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(200))) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
      grpc::ByteBuffer response;
      absl::Notification done;
      stub_.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                      &response, [&done](const grpc::Status&) { done.Notify(); });
      done.WaitForNotification();  // bounded by the deadline
    }
  }

  grpc::GenericStub stub_;
  absl::Notification stop_;
  std::thread thread_;
};

void LedgerServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Subscriptions end first (they would otherwise hold the grace period);
  // commands in flight still complete and are acknowledged.
  log_->BeginClose();
  // Calls waiting for the read models end within the grace period, not at
  // their deadlines.
  const absl::Time grace_ends = absl::Now() + options_.shutdown_grace;
  projections_->BeginStop(grace_ends);
  ticker_.reset();
  server_->Shutdown(absl::ToChronoTime(grace_ends));
  server_->Wait();
  ledger_->Shutdown();
  projections_->Stop();
  projections_.reset();
  ledger_.reset();
  log_.reset();  // closes RocksDB
}

LedgerServer::~LedgerServer() {
  if (server_ != nullptr) Shutdown();
}

}  // namespace auditledger::service
