// ledger_bench: drives a running ledgerd with many outstanding calls over a
// few channels (gRPC's callback API) and prints one JSON object of results.
//
// Scenarios: durable single-event commands at several concurrencies; batched
// import; filling the log to a target size; queries at that size; the
// update report; projection rebuild; full verification.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "auditledger/v1/integrity_service.grpc.pb.h"
#include "auditledger/v1/ledger_service.grpc.pb.h"
#include "auditledger/v1/query_service.grpc.pb.h"
#include "auditledger/v1/report_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"

namespace auditledger::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string addr = "127.0.0.1:50051";
  std::string token;
  int recommendations = 10;
  int actions_per_recommendation = 100;
  double seconds = 10;
  uint64_t fill_to = 1'000'000;
  int query_calls = 2000;
  std::vector<int> concurrency = {1, 16, 64};
  int channels = 4;
};

std::string Rec(int r) { return absl::StrCat("plans/bench/recommendations/r", r); }
// A well-mixed 64-bit function of `x` (the SplitMix64 finaliser).
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string Act(int r, int a) { return absl::StrCat(Rec(r), "/actions/a", a); }

nlohmann::json Summary(std::vector<double>& latencies_us, double seconds, uint64_t ops,
                       uint64_t events) {
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    if (latencies_us.empty()) return 0.0;
    size_t i = std::min(latencies_us.size() - 1,
                        static_cast<size_t>(p / 100.0 * static_cast<double>(latencies_us.size())));
    return latencies_us[i] / 1000.0;
  };
  return {{"ops", ops},
          {"seconds", seconds},
          {"ops_per_s", seconds > 0 ? static_cast<double>(ops) / seconds : 0},
          {"events_per_s", seconds > 0 ? static_cast<double>(events) / seconds : 0},
          {"p50_ms", pct(50)},
          {"p99_ms", pct(99)},
          {"p999_ms", pct(99.9)}};
}

class Bench {
 public:
  explicit Bench(const Options& o) : o_(o) {
    for (int i = 0; i < o.channels; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("auditledger.bench.channel", i);  // a connection each
      args.SetMaxReceiveMessageSize(64 << 20);
      auto channel = grpc::CreateCustomChannel(o.addr, grpc::InsecureChannelCredentials(), args);
      ledger_.push_back(v1::LedgerService::NewStub(channel));
      query_.push_back(v1::QueryService::NewStub(channel));
    }
    report_ =
        v1::ReportService::NewStub(grpc::CreateChannel(o.addr, grpc::InsecureChannelCredentials()));
    integrity_ = v1::IntegrityService::NewStub(
        grpc::CreateChannel(o.addr, grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<grpc::ClientContext> Context(int seconds = 60) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->AddMetadata("authorization", "Bearer " + o_.token);
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    return c;
  }

  bool Setup() {
    v1::ExecuteCommandsRequest r;
    auto add = [&](v1::Command c) { *r.add_commands() = std::move(c); };
    v1::Command plan;
    plan.mutable_create_plan()->set_plan_id("bench");
    plan.mutable_create_plan()->set_title("Benchmark plan");
    add(plan);
    v1::Command period;
    period.mutable_open_period()->set_parent("plans/bench");
    period.mutable_open_period()->set_period_id("q1");
    period.mutable_open_period()->set_title("Quarter 1");
    add(period);
    for (int rec = 0; rec < o_.recommendations; ++rec) {
      v1::Command c;
      c.mutable_add_recommendation()->set_parent("plans/bench");
      c.mutable_add_recommendation()->set_recommendation_id(absl::StrCat("r", rec));
      c.mutable_add_recommendation()->set_number(rec + 1);
      c.mutable_add_recommendation()->set_title(absl::StrCat("Recommendation ", rec + 1));
      add(c);
    }
    if (!Send(r)) return false;
    for (int rec = 0; rec < o_.recommendations; ++rec) {
      v1::ExecuteCommandsRequest actions;
      for (int a = 0; a < o_.actions_per_recommendation; ++a) {
        v1::Command c;
        auto* add_action = c.mutable_add_action();
        add_action->set_parent(Rec(rec));
        add_action->set_action_id(absl::StrCat("a", a));
        add_action->set_description(absl::StrCat("Action ", a, " of recommendation ", rec));
        add_action->set_target_date("December 2025");
        add_action->set_owner("bench-officer");
        *actions.add_commands() = c;
      }
      if (!Send(actions)) return false;
    }
    started_ = std::chrono::system_clock::now();
    return true;
  }

  bool Send(const v1::ExecuteCommandsRequest& r) {
    v1::CommandResponse response;
    grpc::Status s = ledger_[0]->ExecuteCommands(Context().get(), r, &response);
    if (!s.ok()) std::fprintf(stderr, "ledger_bench: %s\n", s.error_message().c_str());
    head_ = std::max(head_.load(), response.position());
    return s.ok();
  }

  // Runs `concurrency` outstanding calls until `seconds` pass or `max_ops`
  // calls complete; each call is `batch` record-update commands. With
  // `probe_lag`, also measures how far the read models trail the load (see
  // ProbeLag).
  nlohmann::json Load(int concurrency, double seconds, int batch, uint64_t max_ops,
                      bool probe_lag = false) {
    // Shared with the calls in flight, which may still be returning from
    // their completion callbacks when the last one has reported in.
    struct Run : std::enable_shared_from_this<Run> {
      std::mutex mu;
      std::condition_variable cv;
      std::vector<double> latencies;
      std::atomic<uint64_t> done{0}, failed{0}, issued{0};
      int outstanding = 0;
      Clock::time_point stop;
      std::function<void(int)> issue;
    };
    auto run = std::make_shared<Run>();
    run->latencies.reserve(1 << 20);
    const auto start = Clock::now();
    run->stop =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    const int run_id = ++run_;
    Run* r = run.get();  // the calls hold `run` itself
    r->issue = [this, r, batch, max_ops, run_id](int lane) {
      const uint64_t n = r->issued++;
      if (Clock::now() >= r->stop || n >= max_ops) {
        std::lock_guard<std::mutex> lock(r->mu);
        if (--r->outstanding == 0) r->cv.notify_all();
        return;
      }
      struct Call {
        grpc::ClientContext context;
        v1::ExecuteCommandsRequest request;
        v1::CommandResponse response;
        Clock::time_point begin;
      };
      auto call = std::make_shared<Call>();
      call->context.AddMetadata("authorization", "Bearer " + o_.token);
      call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      // Cheap to seed, unlike mt19937_64 (which fills 312 words first): the
      // load generator shares the cores with ledgerd. The call's number is
      // mixed first: minstd_rand's first draws are linear in its seed, and
      // calls in flight together would never pick the same action.
      std::minstd_rand rng(static_cast<std::minstd_rand::result_type>(
          SplitMix64(n) % (std::minstd_rand::modulus - 1) + 1));
      for (int i = 0; i < batch; ++i) {
        v1::Command c;
        auto* u = c.mutable_record_update();
        u->set_name(Act(static_cast<int>(rng() % o_.recommendations),
                        static_cast<int>(rng() % o_.actions_per_recommendation)));
        u->set_period("plans/bench/periods/q1");
        u->set_narrative(absl::StrCat(
            "Progress note ", n, "-", i,
            ": the working group met, reviewed the milestones and agreed the next steps "
            "with partners; the risk register was updated."));
        *call->request.add_commands() = c;
      }
      call->request.set_request_id(absl::StrCat("bench-", run_id, "-", n));
      call->begin = Clock::now();
      ledger_[lane % ledger_.size()]->async()->ExecuteCommands(
          &call->context, &call->request, &call->response,
          [this, keep = r->shared_from_this(), call, lane](grpc::Status s) {
            Run& run = *keep;
            const double us =
                std::chrono::duration<double, std::micro>(Clock::now() - call->begin).count();
            if (s.ok()) {
              run.done++;
              std::lock_guard<std::mutex> lock(run.mu);
              run.latencies.push_back(us);
              head_ = std::max(head_.load(), call->response.position());
            } else {
              run.failed++;
            }
            run.issue(lane);
          });
    };
    {
      std::lock_guard<std::mutex> lock(r->mu);
      r->outstanding = concurrency;
    }
    for (int i = 0; i < concurrency; ++i) r->issue(i);
    nlohmann::json lag;
    std::thread prober;
    if (probe_lag) prober = std::thread([&] { lag = ProbeLag(r->stop); });
    {
      std::unique_lock<std::mutex> lock(r->mu);
      r->cv.wait(lock, [r] { return r->outstanding == 0; });
    }
    if (prober.joinable()) prober.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    nlohmann::json out;
    {
      std::lock_guard<std::mutex> lock(r->mu);
      out = Summary(r->latencies, elapsed, r->done.load(), r->done.load() * batch);
    }
    out["concurrency"] = concurrency;
    out["events_per_call"] = batch;
    out["failed"] = r->failed.load();
    if (probe_lag) out["read_your_writes"] = lag;
    return out;
  }

  // The read models' lag as a reader sees it, while a load runs until
  // `stop`: every 20 ms, a query asks for the newest acknowledged position
  // (min_position) and is timed until it answers, that is until every model
  // has applied it, plus the query itself.
  nlohmann::json ProbeLag(Clock::time_point stop) {
    std::vector<double> waits_us;
    int failed = 0;
    const auto start = Clock::now();
    for (int i = 0; Clock::now() < stop && i < 100000; ++i) {
      v1::GetPlanRequest r;
      r.set_name("plans/bench");
      r.set_min_position(head_.load());
      v1::PlanView v;
      const auto t = Clock::now();
      const bool ok = query_[0]->GetPlan(Context(30).get(), r, &v).ok();
      if (ok) {
        waits_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      } else {
        ++failed;
      }
      std::this_thread::sleep_until(t + std::chrono::milliseconds(20));
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const uint64_t samples = waits_us.size();
    nlohmann::json out = Summary(waits_us, elapsed, samples, 0);
    out["max_ms"] = waits_us.empty() ? 0.0 : waits_us.back() / 1000.0;  // sorted by Summary
    out["failed"] = failed;
    return out;
  }

  // Times `calls` sequential calls of `fn`, after one untimed call that
  // brings the model's blocks into the cache (its time is reported apart).
  nlohmann::json Time(int calls, const std::function<bool(std::mt19937_64&)>& fn) {
    std::vector<double> latencies;
    std::mt19937_64 rng(42);
    const auto cold = Clock::now();
    const bool cold_ok = fn(rng);
    const double cold_ms = std::chrono::duration<double, std::milli>(Clock::now() - cold).count();
    const auto start = Clock::now();
    int ok = 0;
    for (int i = 0; i < calls; ++i) {
      const auto t = Clock::now();
      ok += fn(rng);
      latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    nlohmann::json out = Summary(latencies, elapsed, calls, 0);
    out["failed"] = calls - ok + (cold_ok ? 0 : 1);
    out["first_call_ms"] = cold_ms;
    return out;
  }

  // A reporting period of realistic size on top of all that history: one
  // narrative per action and a status change for every tenth, then closed.
  bool ReportPeriod() {
    v1::ExecuteCommandsRequest open;
    v1::Command c;
    c.mutable_open_period()->set_parent("plans/bench");
    c.mutable_open_period()->set_period_id("report");
    c.mutable_open_period()->set_title("Progress review");
    *open.add_commands() = c;
    if (!Send(open)) return false;
    for (int rec = 0; rec < o_.recommendations; ++rec) {
      v1::ExecuteCommandsRequest r;
      for (int a = 0; a < o_.actions_per_recommendation; ++a) {
        v1::Command u;
        u.mutable_record_update()->set_name(Act(rec, a));
        u.mutable_record_update()->set_period("plans/bench/periods/report");
        u.mutable_record_update()->set_narrative(
            "The action is progressing to plan; partners have agreed the next milestones.");
        *r.add_commands() = u;
        if (a % 10 == 0) {
          v1::Command s;
          s.mutable_change_action_status()->set_name(Act(rec, a));
          s.mutable_change_action_status()->set_status(v1::ONGOING);
          *r.add_commands() = s;
        }
      }
      if (!Send(r)) return false;
    }
    v1::ExecuteCommandsRequest close;
    v1::Command x;
    x.mutable_close_period()->set_name("plans/bench/periods/report");
    *close.add_commands() = x;
    return Send(close);
  }

  nlohmann::json Queries() {
    nlohmann::json out;
    auto& q = *query_[0];
    const int n = o_.query_calls;
    out["GetAction"] = Time(n, [&](std::mt19937_64& rng) {
      v1::GetActionRequest r;
      r.set_name(Act(rng() % o_.recommendations, rng() % o_.actions_per_recommendation));
      v1::ActionView v;
      return q.GetAction(Context().get(), r, &v).ok();
    });
    out["GetActionTimeline"] = Time(std::max(1, n / 4), [&](std::mt19937_64& rng) {
      v1::GetActionTimelineRequest r;
      r.set_name(Act(rng() % o_.recommendations, rng() % o_.actions_per_recommendation));
      r.set_page_size(100);
      v1::GetActionTimelineResponse v;
      return q.GetActionTimeline(Context().get(), r, &v).ok();
    });
    out["ListActions"] = Time(std::max(1, n / 20), [&](std::mt19937_64&) {
      v1::ListActionsRequest r;
      r.set_parent("plans/bench");
      r.set_page_size(1000);
      v1::ListActionsResponse v;
      return q.ListActions(Context().get(), r, &v).ok() && v.actions_size() > 0;
    });
    const int64_t from =
        std::chrono::duration_cast<std::chrono::seconds>(started_.time_since_epoch()).count();
    const int64_t to = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    out["GetPlanAsOf"] = Time(std::max(1, n / 10), [&](std::mt19937_64& rng) {
      v1::GetPlanAsOfRequest r;
      r.set_name("plans/bench");
      r.mutable_time()->set_seconds(from + static_cast<int64_t>(rng() % (to - from + 1)));
      r.set_clock(v1::RECORDED);
      v1::PlanSnapshot v;
      return q.GetPlanAsOf(Context().get(), r, &v).ok();
    });
    out["DiffPlan"] = Time(std::max(1, n / 20), [&](std::mt19937_64& rng) {
      v1::DiffPlanRequest r;
      r.set_name("plans/bench");
      r.mutable_from_time()->set_seconds(from + static_cast<int64_t>(rng() % (to - from + 1)));
      r.mutable_to_time()->set_seconds(to);
      v1::PlanDiff v;
      return q.DiffPlan(Context().get(), r, &v).ok();
    });
    // Who changed what since a moment: the first page of one actor's
    // changes recorded after a random past moment.
    out["ListChangesSince"] = Time(std::max(1, n / 10), [&](std::mt19937_64& rng) {
      v1::ListChangesRequest r;
      r.set_parent("plans/bench");
      r.set_actor("bench-admin");
      r.mutable_start_time()->set_seconds(from + static_cast<int64_t>(rng() % (to - from + 1)));
      r.set_page_size(100);
      v1::ListChangesResponse v;
      return q.ListChanges(Context().get(), r, &v).ok();
    });
    for (auto [name, format] :
         {std::pair{"ReportMarkdown", v1::MARKDOWN}, std::pair{"ReportHtml", v1::HTML}}) {
      out[name] = Time(std::max(1, n / 20), [&, format = format](std::mt19937_64&) {
        v1::RenderReportRequest r;
        r.set_name("plans/bench");
        r.set_period("plans/bench/periods/report");
        r.set_format(format);
        v1::Report v;
        return report_->RenderReport(Context().get(), r, &v).ok();
      });
    }
    return out;
  }

  // Seconds until the read models reach the log head (a query waits at most
  // 30 s per call, so keep asking; bounded at an hour).
  double CatchUp() {
    const auto start = Clock::now();
    for (int attempt = 0; attempt < 120; ++attempt) {
      v1::GetPlanRequest r;
      r.set_name("plans/bench");
      r.set_min_position(head_);
      v1::PlanView v;
      grpc::Status s = query_[0]->GetPlan(Context(600).get(), r, &v);
      if (s.ok()) break;
      if (s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        std::fprintf(stderr, "ledger_bench: catch-up: %s\n", s.error_message().c_str());
        break;
      }
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  // All the read models at once (the figure the target is for), then each
  // alone, as when one model's layout changes.
  nlohmann::json Rebuild() {
    nlohmann::json out = RebuildOne("all");
    v1::ListProjectionsResponse list;
    grpc::Status s = query_[0]->ListProjections(Context(60).get(), {}, &list);
    if (!s.ok()) {
      std::fprintf(stderr, "ledger_bench: ListProjections: %s\n", s.error_message().c_str());
      out["ok"] = false;
      return out;
    }
    for (const v1::ProjectionStatus& p : list.projections()) {
      nlohmann::json one = RebuildOne(p.name());
      if (!one["ok"].get<bool>()) out["ok"] = false;
      out["models"][p.name()] = std::move(one);
    }
    return out;
  }

  nlohmann::json RebuildOne(const std::string& name) {
    const auto start = Clock::now();
    v1::RebuildProjectionRequest r;
    r.set_name(name);
    r.set_wait(true);
    v1::ProjectionStatus v;
    grpc::Status s = query_[0]->RebuildProjection(Context(3600).get(), r, &v);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!s.ok()) {
      std::fprintf(stderr, "ledger_bench: rebuild %s: %s\n", name.c_str(),
                   s.error_message().c_str());
    }
    return {{"ok", s.ok()},
            {"seconds", seconds},
            {"events", head_.load()},
            {"events_per_s", static_cast<double>(head_.load()) / seconds}};
  }

  nlohmann::json Verify() {
    const auto start = Clock::now();
    v1::VerifyLedgerResponse v;
    grpc::Status s = integrity_->VerifyLedger(Context(3600).get(), {}, &v);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return {{"ok", s.ok() && v.ok()},
            {"seconds", seconds},
            {"events", v.events_checked()},
            {"events_per_s", static_cast<double>(v.events_checked()) / seconds}};
  }

  // Mixed load for `seconds`: commands at 16 callers with queries between,
  // reporting each interval's throughput, latency and ledgerd's memory.
  nlohmann::json Soak(double seconds, double interval, int pid) {
    nlohmann::json out = nlohmann::json::array();
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(seconds));
    for (int i = 0; Clock::now() < end && i < 100000; ++i) {
      nlohmann::json row = Load(16, interval, 1, UINT64_MAX);
      row["GetAction"] = Time(200, [&](std::mt19937_64& rng) {
        v1::GetActionRequest r;
        r.set_name(Act(rng() % o_.recommendations, rng() % o_.actions_per_recommendation));
        v1::ActionView v;
        return query_[0]->GetAction(Context().get(), r, &v).ok();
      });
      row["minute"] = static_cast<double>(i) * interval / 60.0;
      row["rss_mib"] = RssMib(pid);
      row["events"] = head_.load();
      std::fprintf(stderr,
                   "soak %5.1f min: %6.0f commands/s p99 %6.2f ms, GetAction p99 %5.2f ms, "
                   "RSS %5.1f MiB, %llu events\n",
                   row["minute"].get<double>(), row["ops_per_s"].get<double>(),
                   row["p99_ms"].get<double>(), row["GetAction"]["p99_ms"].get<double>(),
                   row["rss_mib"].get<double>(), static_cast<unsigned long long>(head_.load()));
      out.push_back(row);
    }
    return out;
  }

  static double RssMib(int pid) {
    if (pid <= 0) return 0;
    FILE* f = std::fopen(absl::StrCat("/proc/", pid, "/status").c_str(), "r");
    if (f == nullptr) return 0;
    char line[256];
    double kib = 0;
    while (std::fgets(line, sizeof(line), f)) {
      if (std::sscanf(line, "VmRSS: %lf kB", &kib) == 1) break;
    }
    std::fclose(f);
    return kib / 1024.0;
  }

  // CPU seconds `pid` has used, from /proc/PID/stat (utime + stime).
  static double CpuSeconds(int pid) {
    FILE* f = std::fopen(absl::StrCat("/proc/", pid, "/stat").c_str(), "r");
    if (f == nullptr) return -1;
    char buf[1024];
    const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Fields after the command name, which is in parentheses.
    const char* rest = std::strrchr(buf, ')');
    if (rest == nullptr) return -1;
    unsigned long utime = 0, stime = 0;
    if (std::sscanf(rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                    &stime) != 2) {
      return -1;
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }

  // Seconds until ledgerd is idle (under 5% of a core over a second: its
  // flushes and compactions after the fill are done), at most `limit`.
  static double Settle(int pid, double limit) {
    const auto start = Clock::now();
    if (pid <= 0) return 0;
    double before = CpuSeconds(pid);
    for (int i = 0; i < static_cast<int>(limit) && before >= 0; ++i) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      const double after = CpuSeconds(pid);
      if (after - before < 0.05) break;
      before = after;
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  uint64_t head() const { return head_.load(); }
  void set_started(std::chrono::system_clock::time_point t) { started_ = t; }

 private:
  Options o_;
  std::vector<std::unique_ptr<v1::LedgerService::Stub>> ledger_;
  std::vector<std::unique_ptr<v1::QueryService::Stub>> query_;
  std::unique_ptr<v1::ReportService::Stub> report_;
  std::unique_ptr<v1::IntegrityService::Stub> integrity_;
  std::atomic<uint64_t> head_{0};
  std::chrono::system_clock::time_point started_;
  int run_ = 0;
};

}  // namespace
}  // namespace auditledger::bench

int main(int argc, char** argv) {
  using namespace auditledger::bench;
  Options o;
  CLI::App app{"ledger_bench: load and query a running ledgerd; prints JSON"};
  app.add_option("--addr", o.addr);
  app.add_option("--token", o.token)->required();
  app.add_option("--seconds", o.seconds, "per load scenario");
  app.add_option("--fill_to", o.fill_to, "events in the log before the queries");
  app.add_option("--query_calls", o.query_calls);
  app.add_option("--concurrency", o.concurrency);
  double soak_seconds = 0;
  int pid = 0;
  int64_t queries_since = 0;
  app.add_option("--queries_since", queries_since,
                 "only time the queries, on a ledger filled earlier from this Unix time");
  app.add_option("--soak", soak_seconds, "run only the soak: mixed load for this long");
  app.add_option("--pid", pid, "ledgerd's pid, to sample its memory and wait for it to be idle");
  CLI11_PARSE(app, argc, argv);
#ifdef NDEBUG
  // As in ledgerd: the distribution's Abseil checks every lock (gRPC's too)
  // for cycles, which had cost the load generator a tenth of its CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif

  Bench bench(o);
  nlohmann::json out;
  if (queries_since > 0) {
    // Only the queries, on a ledger an earlier run filled (to profile them).
    bench.set_started(std::chrono::system_clock::from_time_t(queries_since));
    out["settle_seconds"] = Bench::Settle(pid, 300);
    out["queries"] = bench.Queries();
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (!bench.Setup()) return 1;
  if (soak_seconds > 0) {
    out["soak"] = bench.Soak(soak_seconds, 30, pid);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  for (int c : o.concurrency) {
    out["commands"].push_back(bench.Load(c, o.seconds, 1, UINT64_MAX, /*probe_lag=*/c == 64));
    std::fprintf(stderr, "ledger_bench: commands at %d: %.0f/s\n", c,
                 out["commands"].back()["ops_per_s"].get<double>());
  }
  out["import"] = bench.Load(16, o.seconds, 100, UINT64_MAX, /*probe_lag=*/true);
  std::fprintf(stderr, "ledger_bench: import: %.0f events/s\n",
               out["import"]["events_per_s"].get<double>());
  // Fill to the target size, then measure how far behind the read models are.
  if (bench.head() < o.fill_to) {
    const uint64_t calls = (o.fill_to - bench.head() + 99) / 100;
    out["fill"] = bench.Load(8, 3600, 100, calls);
  }
  if (!bench.ReportPeriod()) return 1;
  out["catch_up_seconds"] = bench.CatchUp();
  out["events"] = bench.head();
  std::fprintf(stderr, "ledger_bench: %llu events; read models caught up %.2f s later\n",
               static_cast<unsigned long long>(bench.head()),
               out["catch_up_seconds"].get<double>());
  // Queries are measured on a settled server: after the fill, RocksDB
  // compacts for a while, and that belongs to the write figures.
  out["settle_seconds"] = Bench::Settle(pid, 300);
  std::fprintf(stderr, "ledger_bench: ledgerd idle %.1f s after the catch-up\n",
               out["settle_seconds"].get<double>());
  out["queries"] = bench.Queries();
  out["verify"] = bench.Verify();
  out["rebuild"] = bench.Rebuild();
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
