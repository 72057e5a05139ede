// Transport security and least privilege against a real ledgerd: TLS and
// mutual TLS with certificates the test makes, plaintext refused off
// loopback, every RPC's allowed and refused roles, refusals in the security
// log, principals disabled on SIGHUP.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "auditledger/v1/integrity_service.grpc.pb.h"
#include "auditledger/v1/query_service.grpc.pb.h"
#include "auditledger/v1/report_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/support/commands.h"
#include "tests/support/ledgerd_process.h"

namespace auditledger {
namespace {

using testing::Context;
using testing::kAdminToken;
using testing::kOfficerToken;
using testing::kOtherOfficerToken;
using testing::kScrutinyToken;
using testing::LedgerdProcess;
using testing::RunResult;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A CA, a server certificate for 127.0.0.1 and a client certificate, made
// with the openssl command.
class Certificates {
 public:
  Certificates() {
    const std::string d = dir_.path();
    auto run = [&](std::vector<std::string> args) {
      RunResult r = testing::RunCommand("/usr/bin/openssl", args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
    };
    std::ofstream(d + "/san.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    run({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", d + "/ca.key", "-out", d + "/ca.pem", "-days", "2", "-subj", "/CN=test-ca"});
    for (const char* who : {"server", "client"}) {
      const std::string base = d + "/" + who;
      run({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
           base + ".key", "-out", base + ".csr", "-subj", std::string("/CN=") + who});
      std::vector<std::string> sign = {"x509",
                                       "-req",
                                       "-in",
                                       base + ".csr",
                                       "-CA",
                                       d + "/ca.pem",
                                       "-CAkey",
                                       d + "/ca.key",
                                       "-CAcreateserial",
                                       "-out",
                                       base + ".pem",
                                       "-days",
                                       "2"};
      if (std::string(who) == "server") sign.insert(sign.end(), {"-extfile", d + "/san.ext"});
      run(sign);
    }
  }
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
  std::shared_ptr<grpc::ChannelCredentials> Client(bool with_certificate) const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Read(path("ca.pem"));
    if (with_certificate) {
      options.pem_cert_chain = Read(path("client.pem"));
      options.pem_private_key = Read(path("client.key"));
    }
    return grpc::SslCredentials(options);
  }

 private:
  testing::TempDir dir_;
};

bool HeadWorks(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::LedgerService::NewStub(channel);
  v1::LogHead head;
  return stub->GetLogHead(Context(kScrutinyToken, 5000).get(), {}, &head).ok();
}

TEST(SecurityTest, TlsServesTlsClientsOnly) {
  Certificates certs;
  LedgerdProcess ledgerd(
      "", {"--tls_cert", certs.path("server.pem"), "--tls_key", certs.path("server.key")});
  EXPECT_TRUE(HeadWorks(ledgerd.Channel(certs.Client(false))));
  EXPECT_FALSE(HeadWorks(ledgerd.Channel()));  // plaintext is not spoken
  // ledgerctl with --ca.
  RunResult ctl = testing::RunCommand(
      LEDGERCTL_PATH, {"--addr", ledgerd.address(), "--ca", certs.path("ca.pem"), "verify"},
      {std::string("LEDGER_TOKEN=") + kScrutinyToken, "HOME=/nonexistent"});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.err;
  // Without --ca, ledgerctl says TLS may be what is missing; with a CA file
  // that holds no certificate, it names it.
  RunResult plain =
      testing::RunCommand(LEDGERCTL_PATH, {"--addr", ledgerd.address(), "--timeout", "5", "verify"},
                          {std::string("LEDGER_TOKEN=") + kScrutinyToken, "HOME=/nonexistent"});
  EXPECT_EQ(plain.exit_code, 6) << plain.err;
  EXPECT_NE(plain.err.find("one that serves TLS needs --ca"), std::string::npos) << plain.err;
  RunResult bad_ca = testing::RunCommand(
      LEDGERCTL_PATH, {"--addr", ledgerd.address(), "--ca", certs.path("server.key"), "verify"},
      {std::string("LEDGER_TOKEN=") + kScrutinyToken, "HOME=/nonexistent"});
  EXPECT_EQ(bad_ca.exit_code, 2) << bad_ca.err;
  EXPECT_NE(bad_ca.err.find("--ca: " + certs.path("server.key") + " holds no PEM certificate"),
            std::string::npos)
      << bad_ca.err;
}

// A key that is not the certificate's, or a file that is not what its flag
// asks for, is named before anything starts (gRPC would only fail to
// listen).
TEST(SecurityTest, AMismatchedTlsKeyIsNamed) {
  Certificates certs;
  LedgerdProcess other;
  testing::TempDir dir;
  auto start = [&](const std::string& cert, const std::string& key) {
    return testing::RunCommand(
        LEDGERD_PATH,
        {"--data_dir", dir.path() + "/d", "--listen", "127.0.0.1:0", "--principals",
         other.principals_path(), "--tls_cert", certs.path(cert), "--tls_key", certs.path(key)});
  };
  RunResult mismatched = start("server.pem", "client.key");
  EXPECT_EQ(mismatched.exit_code, 1);
  EXPECT_NE(mismatched.err.find(absl::StrCat("--tls_key: ", certs.path("client.key"),
                                             " is not the key of the certificate in ",
                                             certs.path("server.pem"))),
            std::string::npos)
      << mismatched.err;
  RunResult swapped = start("server.key", "server.pem");
  EXPECT_EQ(swapped.exit_code, 1);
  EXPECT_NE(
      swapped.err.find("--tls_cert: " + certs.path("server.key") + " holds no PEM certificate"),
      std::string::npos)
      << swapped.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/d"));
}

TEST(SecurityTest, MutualTlsRequiresAClientCertificate) {
  Certificates certs;
  LedgerdProcess ledgerd("", {"--tls_cert", certs.path("server.pem"), "--tls_key",
                              certs.path("server.key"), "--client_ca", certs.path("ca.pem")});
  EXPECT_FALSE(HeadWorks(ledgerd.Channel(certs.Client(false))));
  EXPECT_TRUE(HeadWorks(ledgerd.Channel(certs.Client(true))));
  RunResult ctl = testing::RunCommand(
      LEDGERCTL_PATH,
      {"--addr", ledgerd.address(), "--ca", certs.path("ca.pem"), "--client_cert",
       certs.path("client.pem"), "--client_key", certs.path("client.key"), "verify"},
      {std::string("LEDGER_TOKEN=") + kScrutinyToken, "HOME=/nonexistent"});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.err;
}

TEST(SecurityTest, PlaintextOffLoopbackIsRefused) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/p.json") << testing::TestPrincipalsJson();
  RunResult r =
      testing::RunCommand(LEDGERD_PATH, {"--data_dir", dir.path() + "/d", "--listen", "0.0.0.0:0",
                                         "--principals", dir.path() + "/p.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("without TLS"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--insecure_listen"), std::string::npos) << r.err;
}

// Every RPC, as each role: refused exactly when the role may not.
TEST(SecurityTest, EveryRpcAllowsExactlyItsRoles) {
  LedgerdProcess ledgerd;
  auto channel = ledgerd.Channel();
  auto ledger = v1::LedgerService::NewStub(channel);
  auto query = v1::QueryService::NewStub(channel);
  auto report = v1::ReportService::NewStub(channel);
  auto integrity = v1::IntegrityService::NewStub(channel);
  {
    v1::ExecuteCommandsRequest seed;
    *seed.add_commands() = testing::CreatePlan("p");
    *seed.add_commands() = testing::AddRecommendation("p", "r1", 1);
    *seed.add_commands() =
        testing::AddAction("plans/p/recommendations/r1", "a1", "May 2025", "jsmith");
    *seed.add_commands() = testing::OpenPeriod("p", "q1", "Q1");
    *seed.add_commands() = testing::RecordUpdate("plans/p/recommendations/r1/actions/a1",
                                                 "plans/p/periods/q1", "first");
    v1::CommandResponse r;
    ASSERT_TRUE(ledger->ExecuteCommands(Context(kAdminToken).get(), seed, &r).ok());
  }
  const std::string action = "plans/p/recommendations/r1/actions/a1";
  int n = 0;  // fresh ids, so allowed calls do not trip over each other
  auto id = [&] { return absl::StrCat("x", ++n); };
  using Call = std::function<grpc::Status(const std::string& token)>;
  auto ctx = [](const std::string& token) { return Context(token); };
  v1::CommandResponse out;
  struct Row {
    const char* rpc;
    Call call;
    std::set<std::string> allowed;  // principal ids
  };
  const std::set<std::string> everyone = {"admin", "jsmith", "akhan", "cllr"};
  const std::set<std::string> admin = {"admin"};
  const std::set<std::string> owner = {"admin", "jsmith"};
  std::vector<Row> rows = {
      {"CreatePlan",
       [&](const std::string& t) {
         v1::CreatePlanRequest r;
         r.set_plan_id(id());
         r.set_title("T");
         return ledger->CreatePlan(ctx(t).get(), r, &out);
       },
       admin},
      {"AddRecommendation",
       [&](const std::string& t) {
         v1::AddRecommendationRequest r;
         r.set_parent("plans/p");
         r.set_recommendation_id(id());
         r.set_number(2);
         r.set_title("T");
         return ledger->AddRecommendation(ctx(t).get(), r, &out);
       },
       admin},
      {"AddAction",
       [&](const std::string& t) {
         v1::AddActionRequest r;
         r.set_parent("plans/p/recommendations/r1");
         r.set_action_id(id());
         r.set_description("D");
         return ledger->AddAction(ctx(t).get(), r, &out);
       },
       admin},
      {"AssignOwner",
       [&](const std::string& t) {
         v1::AssignOwnerRequest r;
         r.set_name(action);
         r.set_owner("akhan");
         grpc::Status s = ledger->AssignOwner(ctx(t).get(), r, &out);
         if (s.ok()) {  // hand it back to jsmith for the rows that follow
           r.set_owner("jsmith");
           ledger->AssignOwner(Context(kAdminToken).get(), r, &out);
         }
         return s;
       },
       admin},
      {"OpenPeriod",
       [&](const std::string& t) {
         v1::OpenPeriodRequest r;
         r.set_parent("plans/p");
         r.set_period_id(id());
         r.set_title("Q");
         return ledger->OpenPeriod(ctx(t).get(), r, &out);
       },
       admin},
      {"ClosePeriod",
       [&](const std::string& t) {
         v1::ClosePeriodRequest r;
         r.set_name("plans/p/periods/nope");
         return ledger->ClosePeriod(ctx(t).get(), r, &out);
       },
       admin},
      {"RecordUpdate",
       [&](const std::string& t) {
         v1::RecordUpdateRequest r;
         r.set_name(action);
         r.set_period("plans/p/periods/q1");
         r.set_narrative(id());
         return ledger->RecordUpdate(ctx(t).get(), r, &out);
       },
       owner},
      {"ReviseTargetDate",
       [&](const std::string& t) {
         v1::ReviseTargetDateRequest r;
         r.set_name(action);
         r.set_target_date(absl::StrCat(1 + n % 28, " June 2025"));
         r.set_reason("why");
         ++n;
         return ledger->ReviseTargetDate(ctx(t).get(), r, &out);
       },
       owner},
      {"AmendDescription",
       [&](const std::string& t) {
         v1::AmendDescriptionRequest r;
         r.set_name(action);
         r.set_description(id());
         r.set_reason("why");
         return ledger->AmendDescription(ctx(t).get(), r, &out);
       },
       owner},
      {"CorrectEvent",
       [&](const std::string& t) {
         v1::CorrectEventRequest r;
         r.set_event("events/5");
         r.set_narrative(id());
         r.set_reason("typo");
         return ledger->CorrectEvent(ctx(t).get(), r, &out);
       },
       owner},
      {"ChangeActionStatus",
       [&](const std::string& t) {
         v1::ChangeActionStatusRequest r;
         r.set_name("plans/p/recommendations/r1/actions/zz");
         r.set_status(v1::ONGOING);
         grpc::Status s = ledger->ChangeActionStatus(ctx(t).get(), r, &out);
         // Unknown action: the role check comes first only for scrutiny.
         return s.error_code() == grpc::StatusCode::NOT_FOUND ? grpc::Status::OK : s;
       },
       {"admin", "jsmith", "akhan"}},
      {"ExecuteCommands",
       [&](const std::string& t) {
         v1::ExecuteCommandsRequest r;
         *r.add_commands() = testing::RecordUpdate(action, "plans/p/periods/q1", id());
         return ledger->ExecuteCommands(ctx(t).get(), r, &out);
       },
       owner},
      {"ListEvents",
       [&](const std::string& t) {
         v1::ListEventsResponse r;
         return ledger->ListEvents(ctx(t).get(), {}, &r);
       },
       everyone},
      {"GetLogHead",
       [&](const std::string& t) {
         v1::LogHead r;
         return ledger->GetLogHead(ctx(t).get(), {}, &r);
       },
       everyone},
      {"GetPlan",
       [&](const std::string& t) {
         v1::GetPlanRequest r;
         r.set_name("plans/p");
         v1::PlanView v;
         return query->GetPlan(ctx(t).get(), r, &v);
       },
       everyone},
      {"GetAction",
       [&](const std::string& t) {
         v1::GetActionRequest r;
         r.set_name(action);
         v1::ActionView v;
         return query->GetAction(ctx(t).get(), r, &v);
       },
       everyone},
      {"ListActions",
       [&](const std::string& t) {
         v1::ListActionsRequest r;
         r.set_parent("plans/p");
         v1::ListActionsResponse v;
         return query->ListActions(ctx(t).get(), r, &v);
       },
       everyone},
      {"GetActionTimeline",
       [&](const std::string& t) {
         v1::GetActionTimelineRequest r;
         r.set_name(action);
         v1::GetActionTimelineResponse v;
         return query->GetActionTimeline(ctx(t).get(), r, &v);
       },
       everyone},
      {"ListChanges",
       [&](const std::string& t) {
         v1::ListChangesRequest r;
         r.set_parent("plans/p");
         v1::ListChangesResponse v;
         return query->ListChanges(ctx(t).get(), r, &v);
       },
       everyone},
      {"GetPlanAsOf",
       [&](const std::string& t) {
         v1::GetPlanAsOfRequest r;
         r.set_name("plans/p");
         r.mutable_time()->set_seconds(4e9);
         v1::PlanSnapshot v;
         return query->GetPlanAsOf(ctx(t).get(), r, &v);
       },
       everyone},
      {"DiffPlan",
       [&](const std::string& t) {
         v1::DiffPlanRequest r;
         r.set_name("plans/p");
         r.mutable_from_time()->set_seconds(1);
         r.mutable_to_time()->set_seconds(4e9);
         v1::PlanDiff v;
         return query->DiffPlan(ctx(t).get(), r, &v);
       },
       everyone},
      {"ListProjections",
       [&](const std::string& t) {
         v1::ListProjectionsResponse v;
         return query->ListProjections(ctx(t).get(), {}, &v);
       },
       everyone},
      {"RebuildProjection",
       [&](const std::string& t) {
         v1::RebuildProjectionRequest r;
         r.set_name("current");
         r.set_wait(true);
         v1::ProjectionStatus v;
         return query->RebuildProjection(ctx(t).get(), r, &v);
       },
       admin},
      {"ListSecurityEvents",
       [&](const std::string& t) {
         v1::ListSecurityEventsResponse v;
         return query->ListSecurityEvents(ctx(t).get(), {}, &v);
       },
       {"admin", "cllr"}},
      {"RenderReport",
       [&](const std::string& t) {
         v1::RenderReportRequest r;
         r.set_name("plans/p");
         r.set_period("plans/p/periods/q1");
         v1::Report v;
         return report->RenderReport(ctx(t).get(), r, &v);
       },
       everyone},
      {"VerifyLedger",
       [&](const std::string& t) {
         v1::VerifyLedgerResponse v;
         return integrity->VerifyLedger(ctx(t).get(), {}, &v);
       },
       everyone},
      {"GetCheckpoint",
       [&](const std::string& t) {
         v1::SignedCheckpoint v;
         return integrity->GetCheckpoint(ctx(t).get(), {}, &v);
       },
       everyone},
      {"GetInclusionProof",
       [&](const std::string& t) {
         v1::GetInclusionProofRequest r;
         r.set_event("events/1");
         v1::InclusionProof v;
         return integrity->GetInclusionProof(ctx(t).get(), r, &v);
       },
       everyone},
      {"GetConsistencyProof",
       [&](const std::string& t) {
         v1::GetConsistencyProofRequest r;
         r.set_old_size(1);
         r.set_new_size(2);
         v1::ConsistencyProof v;
         return integrity->GetConsistencyProof(ctx(t).get(), r, &v);
       },
       everyone},
  };
  const std::vector<std::pair<std::string, std::string>> principals = {
      {"admin", kAdminToken},
      {"jsmith", kOfficerToken},
      {"akhan", kOtherOfficerToken},
      {"cllr", kScrutinyToken}};
  for (const Row& row : rows) {
    for (const auto& [who, token] : principals) {
      grpc::Status s = row.call(token);
      if (row.allowed.count(who)) {
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << row.rpc << " as " << who << ": " << s.error_message();
        EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << row.rpc;
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << row.rpc << " as " << who << ": " << s.error_message();
      }
    }
    EXPECT_EQ(row.call("").error_code(), grpc::StatusCode::UNAUTHENTICATED) << row.rpc;
  }
}

TEST(SecurityTest, RefusalsAreInTheSecurityLog) {
  LedgerdProcess ledgerd;
  auto ledger = ledgerd.LedgerStub();
  auto query = v1::QueryService::NewStub(ledgerd.Channel());
  v1::CommandResponse out;
  v1::CreatePlanRequest plan;
  plan.set_plan_id("p");
  plan.set_title("T");
  EXPECT_EQ(ledger->CreatePlan(Context("stolen-or-guessed").get(), plan, &out).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ledger->CreatePlan(Context(kScrutinyToken).get(), plan, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListSecurityEventsResponse log;
  EXPECT_EQ(query->ListSecurityEvents(Context(kOfficerToken).get(), {}, &log).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(query->ListSecurityEvents(Context(kScrutinyToken).get(), {}, &log).ok());
  ASSERT_EQ(log.events_size(), 3);
  EXPECT_EQ(log.events(0).code(), "UNAUTHENTICATED");
  EXPECT_EQ(log.events(0).principal(), "");
  EXPECT_EQ(log.events(0).method(), "/auditledger.v1.LedgerService/CreatePlan");
  EXPECT_NE(log.events(0).peer().find("127.0.0.1"), std::string::npos);
  EXPECT_EQ(log.events(1).principal(), "cllr");
  EXPECT_EQ(log.events(1).role(), v1::SCRUTINY);
  EXPECT_NE(log.events(1).reason().find("read-only"), std::string::npos);
  EXPECT_EQ(log.events(2).principal(), "jsmith");
  EXPECT_EQ(log.events(2).method(), "/auditledger.v1.QueryService/ListSecurityEvents");
  for (const auto& e : log.events()) {
    EXPECT_EQ(e.SerializeAsString().find("stolen-or-guessed"), std::string::npos)
        << "a token was logged";
  }
}

TEST(SecurityTest, DisabledPrincipalIsRefusedAfterSighup) {
  LedgerdProcess ledgerd;
  auto ledger = ledgerd.LedgerStub();
  EXPECT_TRUE(HeadWorks(ledgerd.Channel()));
  RunResult disable = testing::RunCommand(
      LEDGERCTL_PATH,
      {"principal", "disable", "--file", ledgerd.principals_path(), "--id", "cllr"});
  ASSERT_EQ(disable.exit_code, 0) << disable.err;
  ledgerd.Signal(SIGHUP);
  // The reload happens on ledgerd's signal thread: wait for it, bounded.
  bool refused = false;
  for (int i = 0; i < 50 && !refused; ++i) {
    v1::LogHead head;
    grpc::Status s = ledger->GetLogHead(Context(kScrutinyToken).get(), {}, &head);
    refused = s.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
              s.error_message().find("disabled") != std::string::npos;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(refused);
  // The security log names whom the refused token is of.
  auto query = v1::QueryService::NewStub(ledgerd.Channel());
  v1::ListSecurityEventsResponse log;
  ASSERT_TRUE(query->ListSecurityEvents(Context(kAdminToken).get(), {}, &log).ok());
  ASSERT_GE(log.events_size(), 1);
  EXPECT_EQ(log.events(log.events_size() - 1).principal(), "cllr");
  EXPECT_EQ(log.events(log.events_size() - 1).role(), v1::SCRUTINY);
  // ledgerctl says what would help: an admin, not another token.
  RunResult ctl =
      testing::RunCommand(LEDGERCTL_PATH, {"--addr", ledgerd.address(), "verify"},
                          {std::string("LEDGER_TOKEN=") + kScrutinyToken, "HOME=/nonexistent"});
  EXPECT_EQ(ctl.exit_code, 3);
  EXPECT_NE(ctl.err.find("principal cllr is disabled: its token is refused until an admin "
                         "enables it again (ledgerctl principal enable"),
            std::string::npos)
      << ctl.err;

  // Waits for the reload of the principals file that the count-th SIGHUP
  // asked for, by the line ledgerd writes when it has.
  int reloads = 1;
  auto reload = [&] {
    ledgerd.Signal(SIGHUP);
    ++reloads;
    for (int i = 0; i < 100; ++i) {
      const std::string err = ledgerd.Stderr();
      int seen = 0;
      for (size_t at = err.find("principals reloaded"); at != std::string::npos;
           at = err.find("principals reloaded", at + 1)) {
        ++seen;
      }
      if (seen >= reloads) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "no reload: " << ledgerd.Stderr();
  };
  auto principal = [&](const std::vector<std::string>& args) {
    std::vector<std::string> all = {"principal"};
    all.insert(all.end(), args.begin(), args.end());
    all.insert(all.end(), {"--file", ledgerd.principals_path()});
    return testing::RunCommand(LEDGERCTL_PATH, all);
  };
  // Enabled again, then given a new token: the old one is refused.
  ASSERT_EQ(principal({"enable", "--id", "cllr"}).exit_code, 0);
  EXPECT_EQ(principal({"enable", "--id", "cllr"}).exit_code, 5);
  reload();
  EXPECT_TRUE(HeadWorks(ledgerd.Channel()));
  RunResult rotated = principal({"rotate", "--id", "cllr"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  const std::string token(absl::StripAsciiWhitespace(rotated.out));
  reload();
  v1::LogHead head;
  EXPECT_EQ(ledger->GetLogHead(Context(kScrutinyToken).get(), {}, &head).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(ledger->GetLogHead(Context(token).get(), {}, &head).ok());
  EXPECT_EQ(principal({"rotate", "--id", "nobody"}).exit_code, 4);
  // The list names each principal and its state, never a token or its hash.
  ASSERT_EQ(principal({"disable", "--id", "jsmith"}).exit_code, 0);
  RunResult listed = principal({"list", "-o", "csv"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("\"cllr\",\"cllr\",\"scrutiny\",\"enabled\""), std::string::npos)
      << listed.out;
  EXPECT_NE(listed.out.find("\"jsmith\",\"J Smith\",\"officer\",\"disabled\""), std::string::npos)
      << listed.out;
  EXPECT_EQ(listed.out.find(testing::Sha256Hex(token)), std::string::npos) << listed.out;
  // A file that cannot be written is exit 1, as any other failure.
  RunResult unwritable = testing::RunCommand(
      LEDGERCTL_PATH, {"principal", "add", "--file", "/nonexistent-dir/principals.json", "--id",
                       "x", "--role", "officer"});
  EXPECT_EQ(unwritable.exit_code, 1) << unwritable.err;
  EXPECT_NE(unwritable.err.find("cannot be written"), std::string::npos) << unwritable.err;
  // A name is one line: events keep it and reports print it.
  RunResult two_lines =
      principal({"add", "--id", "pjones", "--name", "P Jones\nadmin", "--role", "officer"});
  EXPECT_EQ(two_lines.exit_code, 7) << two_lines.err;
  EXPECT_NE(two_lines.err.find("--name: holds a control character"), std::string::npos)
      << two_lines.err;
  // Their help says they work on the file alone, not how to connect.
  for (const char* sub : {"add", "rotate", "list"}) {
    RunResult help = testing::RunCommand(LEDGERCTL_PATH, {"principal", sub, "--help"});
    EXPECT_EQ(help.exit_code, 0) << sub;
    EXPECT_NE(help.out.find("never connect to ledgerd"), std::string::npos) << help.out;
    EXPECT_EQ(help.out.find("Connection:"), std::string::npos) << help.out;
  }
}

}  // namespace
}  // namespace auditledger
