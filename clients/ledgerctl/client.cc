#include "clients/ledgerctl/client.h"

#include <atomic>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/support/client_interceptor.h"
#include "ledger/service/grpc_status.h"

namespace auditledger::ledgerctl {
namespace {

std::atomic<uint64_t> damaged_at{0};

// Notes the position a damaged ledger's answers give (kDamagedAtMetadata).
class DamageNoticeInterceptor final : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      const auto* metadata = methods->GetRecvInitialMetadata();
      auto it = metadata->find(service::kDamagedAtMetadata);
      uint64_t position = 0;
      if (it != metadata->end() &&
          absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &position) &&
          position != 0) {
        damaged_at.store(position);
      }
    }
    methods->Proceed();
  }
};

class DamageNoticeFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new DamageNoticeInterceptor();
  }
};

}  // namespace

uint64_t DamagedAt() { return damaged_at.load(); }

Client::Client(const Connection& connection) : connection_(connection) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream pem;
    pem << in.rdbuf();
    return pem.str();
  };
  if (!connection.ca.empty()) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = read(connection.ca);
    if (!connection.client_cert.empty()) {
      options.pem_cert_chain = read(connection.client_cert);
      options.pem_private_key = read(connection.client_key);
    }
    credentials = grpc::SslCredentials(options);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<DamageNoticeFactory>());
  channel_ = grpc::experimental::CreateCustomChannelWithInterceptors(connection.addr, credentials,
                                                                     args, std::move(interceptors));
  ledger_ = v1::LedgerService::NewStub(channel_);
  query_ = v1::QueryService::NewStub(channel_);
  integrity_ = v1::IntegrityService::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> Client::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!connection_.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + connection_.token);
  }
  context->set_deadline(absl::ToChronoTime(absl::Now() + connection_.timeout));
  return context;
}

int ExitCodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return kOk;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kAuth;
    case absl::StatusCode::kNotFound:
      return kNotFound;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return kConflict;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return kUnavailable;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kInvalid;
    case absl::StatusCode::kDataLoss:  // the ledger's stored data is not what it was
      return kTampered;
    default:
      return kFailure;
  }
}

Failure FromGrpc(const grpc::Status& status, const Connection& connection) {
  Failure f;
  f.code = ExitCodeFor(static_cast<absl::StatusCode>(status.error_code()));
  const std::string& detail = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      if (detail.find("failed to connect") != std::string::npos ||
          detail.find("Connection refused") != std::string::npos ||
          detail.find("connect") != std::string::npos) {
        f.message = absl::StrCat(
            "cannot reach ledgerd at ", connection.addr,
            ": is it running? (set --addr or LEDGER_ADDR",
            connection.ca.empty() ? "; one that serves TLS needs --ca or LEDGER_CA" : "", ")");
      } else {
        f.message = absl::StrCat("ledgerd is unavailable: ", detail);
      }
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      f.message = absl::StrCat(
          "ledgerd at ", connection.addr, " did not answer within the deadline",
          detail.empty() ? "" : absl::StrCat(" (", detail, ")"), "; retry, or raise --timeout");
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      // A disabled principal's token is known: another token would not
      // help, an admin would.
      f.message = detail.find(" is disabled") != std::string::npos
                      ? absl::StrCat("not signed in: ", detail,
                                     " (ledgerctl principal enable, where ledgerd's principals "
                                     "file is)")
                      : absl::StrCat("not signed in: ", detail,
                                     " (pass --token, set LEDGER_TOKEN, or put a token in the "
                                     "config file)");
      break;
    case grpc::StatusCode::PERMISSION_DENIED:
      f.message = absl::StrCat("not allowed: ", detail);
      break;
    default:
      f.message =
          detail.empty() ? absl::StrCat("failed with gRPC code ", status.error_code()) : detail;
  }
  return f;
}

}  // namespace auditledger::ledgerctl
