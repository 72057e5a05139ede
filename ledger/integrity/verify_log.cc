#include "ledger/integrity/verify_log.h"

#include <functional>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "ledger/merkle/merkle.h"
#include "ledger/store/sha256.h"

namespace auditledger::integrity {

absl::StatusOr<v1::VerifyLedgerResponse> VerifyLog(
    const store::EventLog& log, uint64_t tree_size,
    const std::vector<std::pair<std::string, uint64_t>>& models) {
  v1::VerifyLedgerResponse out;
  // One snapshot for the whole check: events a serving ledgerd appends
  // meanwhile, and their index entries, are not half in it.
  const auto [snapshot, head] = log.SnapshotWithHead();
  const std::unique_ptr<const rocksdb::Snapshot, std::function<void(const rocksdb::Snapshot*)>>
      release(snapshot, [&log](const rocksdb::Snapshot* s) { log.db()->ReleaseSnapshot(s); });
  out.set_head_position(head.position);
  merkle::StreamingRoot root;
  absl::flat_hash_map<std::string, uint64_t> versions;  // stream -> last version
  std::string previous = store::EventLog::ZeroHash();
  uint64_t expected = 1;
  auto fail = [&](uint64_t position, std::string problem) {
    if (out.first_bad_position() == 0) {
      out.set_first_bad_position(position);
      out.set_problem(std::move(problem));
    }
    return false;
  };
  absl::Status read = log.ForEachStored(
      1,
      [&](uint64_t key_position, absl::string_view bytes) {
        if (key_position != expected) {
          return fail(expected, key_position > expected
                                    ? absl::StrCat("position ", expected,
                                                   " is missing (the next "
                                                   "stored event is at ",
                                                   key_position, ")")
                                    : absl::StrCat("a malformed key near position ", expected));
        }
        v1::Event event;
        if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
          return fail(expected,
                      absl::StrCat("position ", expected, ": the stored bytes do not decode"));
        }
        if (event.position() != expected) {
          return fail(expected, absl::StrCat("position ", expected, ": the event names position ",
                                             event.position()));
        }
        if (event.previous_hash() != previous) {
          // Either the event before changed after this one linked to it, or this
          // one's link was changed: the earlier is the first that can be bad.
          const uint64_t bad = expected > 1 ? expected - 1 : 1;
          return fail(bad, absl::StrCat("the hash chain breaks between positions ", expected - 1,
                                        " and ", expected, ": the stored bytes of ", expected - 1,
                                        " no longer hash to what ", expected, " recorded"));
        }
        uint64_t& version = versions[event.stream()];
        if (event.version() != version + 1) {
          return fail(expected,
                      absl::StrCat("position ", expected, ": ", event.stream(),
                                   " jumps from version ", version, " to ", event.version()));
        }
        version = event.version();
        absl::StatusOr<uint64_t> indexed =
            log.IndexedPosition(event.stream(), event.version(), snapshot);
        if (!indexed.ok() || *indexed != expected) {
          return fail(expected, absl::StrCat("position ", expected,
                                             ": the stream index does not "
                                             "point at it (",
                                             event.stream(), " version ", event.version(), ")"));
        }
        const std::string hash = store::EventLog::HashOf(bytes);
        root.Add(merkle::LeafHash(hash));
        if (root.size() == tree_size) out.set_root_at_size(root.Root());
        previous = hash;
        out.set_events_checked(expected);
        ++expected;
        return true;
      },
      snapshot);
  if (absl::IsDataLoss(read) && out.first_bad_position() == 0) {
    // Unreadable from here (a block fails its checksum): damage to report,
    // not a failure to verify.
    fail(expected, absl::StrCat("position ", expected, " cannot be read: ", read.message()));
  } else if (!read.ok()) {
    return read;
  }
  if (out.first_bad_position() == 0 && !log.damage_at_open().ok()) {
    fail(expected, std::string(log.damage_at_open().message()));
  }
  // The snapshot may hold events appended after the head was read; fewer
  // than the head is a log that lost events.
  if (out.first_bad_position() == 0 && expected - 1 < head.position) {
    out.set_first_bad_position(expected);
    out.set_problem(
        absl::StrCat("the log ends at ", expected - 1, " but its head was ", head.position));
  }
  for (const auto& [name, position] : models) {
    if (out.first_bad_position() != 0 || position <= out.events_checked()) continue;
    fail(out.events_checked() + 1,
         absl::StrCat("the read model ", name, " has applied events up to position ", position,
                      ", but the log ends at ", out.events_checked(),
                      ": events after it are missing from the log"));
  }
  if (out.first_bad_position() == 0) {
    absl::StatusOr<uint64_t> indexed = log.CountIndexed(snapshot);
    if (!indexed.ok()) return indexed.status();
    if (*indexed != out.events_checked()) {
      out.set_first_bad_position(out.events_checked() + 1);
      out.set_problem(absl::StrCat("the stream index holds ", *indexed, " entries for ",
                                   out.events_checked(), " events"));
    }
  }
  out.set_ok(out.first_bad_position() == 0);
  out.set_head_hash(previous);
  out.set_root_hash(root.Root());
  out.set_streams_checked(versions.size());
  return out;
}

}  // namespace auditledger::integrity
