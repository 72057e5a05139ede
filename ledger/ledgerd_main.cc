// ledgerd: the audit ledger server.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "ledger/service/server.h"

// jemalloc's settings, read when it starts (MALLOC_CONF in the environment
// still overrides them). A background thread gives freed pages back to the
// system after 5 s unused: without it, an arena hands pages back only when
// it allocates or frees, so an idle ledgerd keeps what its busiest moment
// (a rebuild, an import) left free, about 100 MiB at 1M events. A shorter
// decay costs the rebuild about 8% more CPU in refaulted pages.
extern "C" {
// NOLINTNEXTLINE: the name is jemalloc's.
const char* malloc_conf = "background_thread:true,dirty_decay_ms:5000";
}

int main(int argc, char** argv) {
#ifdef NDEBUG
  // The distribution's Abseil checks every lock for cycles; that is for
  // debug builds (the tests run one), not for a server on the write path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  auditledger::service::ServerOptions options;
  CLI::App app{
      "ledgerd: the auditledger server. Appends every change to an action "
      "plan as an immutable, hash-chained event in RocksDB and serves the "
      "auditledger.v1 gRPC API."};
  app.add_option("--data_dir", options.data_dir, "RocksDB data directory")->capture_default_str();
  app.add_option("--listen", options.listen, "HOST:PORT to serve gRPC on")->capture_default_str();
  app.add_option("--principals", options.principals_path,
                 "JSON file of principals (id, name, role, token_sha256); "
                 "reloaded on SIGHUP (required)");
  app.add_option("--tls_cert", options.tls_cert, "server certificate chain (PEM)");
  app.add_option("--tls_key", options.tls_key, "server private key (PEM)");
  app.add_option("--client_ca", options.client_ca,
                 "CA (PEM) whose client certificates are required (mutual TLS)");
  app.add_flag("--insecure_listen", options.insecure_listen,
               "allow plaintext on a non-loopback address (TLS terminated in front)");
  app.add_option("--signing_key", options.signing_key,
                 "Ed25519 private key (PEM) that signs checkpoints; created if absent "
                 "(default: <data_dir>.signing-key.pem)");
  app.add_option("--backup_dir", options.backup_dir,
                 "where backups are written (default: <data_dir>-backups)");
  app.add_option("--restore", options.restore_from,
                 "copy this backup into --data_dir (which must not exist) and start on it");
  app.add_option("--rebuild", options.rebuild,
                 "drop a projection (current, changes, temporal, merkle, or all) and "
                 "rebuild it from the log before serving");
  app.add_option("--projection_threads", options.projection_threads,
                 "threads the read models share, each reading the log once for its models "
                 "(default 0: one a core)")
      ->check(CLI::Range(0, 64));
  // Exit 2 for a mistaken command line (CLI11's own codes are 100 and up),
  // as ledgerctl does; 1 for a start that fails.
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  // What ledgerd writes (the log, its backups, the key) is its user's
  // alone: the security log holds callers' addresses, and a backup the
  // whole ledger.
  umask(077);

  // Signals are taken by one thread with sigwait, so they are blocked in
  // every thread created from here on.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = auditledger::service::LedgerServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "ledgerd: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  if ((*server)->chain_break_at_open() != 0) {
    std::fprintf(stderr,
                 "ledgerd: WARNING: the log's integrity does not hold at position "
                 "%llu: it may have been altered. Writes are refused; run "
                 "`ledgerctl verify`\n",
                 static_cast<unsigned long long>((*server)->chain_break_at_open()));
  }
  std::printf("ledgerd: serving on %s (data dir %s)\n", (*server)->address().c_str(),
              options.data_dir.c_str());
  std::fflush(stdout);

  for (;;) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      absl::Status reloaded = (*server)->ReloadPrincipals();
      std::fprintf(stderr, "ledgerd: SIGHUP: %s\n",
                   reloaded.ok() ? "principals reloaded"
                                 : absl::StrCat(reloaded.message(),
                                                "; the principals loaded before stay in force")
                                       .c_str());
      continue;
    }
    std::fprintf(stderr, "ledgerd: %s: shutting down\n",
                 signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
  (*server)->Shutdown();
  std::fprintf(stderr, "ledgerd: stopped cleanly\n");
  return 0;
}
