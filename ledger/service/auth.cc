#include "ledger/service/auth.h"

#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "ledger/domain/names.h"
#include "ledger/store/sha256.h"
#include "nlohmann/json.hpp"

namespace auditledger::service {
namespace {

absl::StatusOr<v1::Role> ParseRole(absl::string_view role) {
  if (role == "admin") return v1::ADMIN;
  if (role == "officer") return v1::OFFICER;
  if (role == "scrutiny") return v1::SCRUTINY;
  return absl::InvalidArgumentError(
      absl::StrCat("role \"", role, "\" is not one of admin, officer, scrutiny"));
}

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<PrincipalRecord>> ParsePrincipals(const std::string& json_text) {
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError("principals file is not valid JSON");
  }
  if (!doc.is_object() || !doc.contains("principals") || !doc["principals"].is_array()) {
    return absl::InvalidArgumentError(
        "principals file must be an object with a \"principals\" array");
  }
  std::vector<PrincipalRecord> out;
  absl::flat_hash_set<std::string> ids;
  size_t index = 0;
  for (const nlohmann::json& entry : doc["principals"]) {
    std::string where = absl::StrCat("principals[", index++, "]");
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": not an object"));
    }
    for (const char* field : {"id", "role", "token_sha256"}) {
      if (!entry.contains(field) || !entry[field].is_string() ||
          entry[field].get<std::string>().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ".", field, ": required string"));
      }
    }
    PrincipalRecord record;
    record.principal.id = entry["id"].get<std::string>();
    if (absl::Status s = domain::CheckPrincipalId(absl::StrCat(where, ".id"), record.principal.id);
        !s.ok()) {
      return s;
    }
    if (entry.contains("name")) {
      // Events keep it, and reports print it.
      if (!entry["name"].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ".name: must be a string"));
      }
      record.principal.name = entry["name"].get<std::string>();
      if (absl::Status s =
              domain::CheckPrincipalName(absl::StrCat(where, ".name"), record.principal.name);
          !s.ok()) {
        return s;
      }
    }
    absl::StatusOr<v1::Role> role = ParseRole(entry["role"].get<std::string>());
    if (!role.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".role: ", role.status().message()));
    }
    record.principal.role = *role;
    std::string hex = absl::AsciiStrToLower(entry["token_sha256"].get<std::string>());
    if (hex.size() != 64 || !IsHex(hex)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".token_sha256: must be 64 hex digits"));
    }
    record.token_sha256 = absl::HexStringToBytes(hex);
    if (entry.contains("disabled")) {
      if (!entry["disabled"].is_boolean()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ".disabled: must be true or false"));
      }
      record.disabled = entry["disabled"].get<bool>();
    }
    if (!ids.insert(record.principal.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".id: \"", record.principal.id, "\" appears more than once"));
    }
    out.push_back(std::move(record));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Load(std::string path) {
  std::unique_ptr<Authenticator> auth(new Authenticator(std::move(path)));
  if (absl::Status s = auth->Reload(); !s.ok()) return s;
  return auth;
}

absl::Status Authenticator::Reload() {
  std::ifstream in(path_);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("principals file ", path_, " cannot be read"));
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<PrincipalRecord>> records = ParsePrincipals(text.str());
  if (!records.ok()) {
    return absl::Status(records.status().code(),
                        absl::StrCat(path_, ": ", records.status().message()));
  }
  absl::MutexLock lock(&mu_);
  records_ = *std::move(records);
  return absl::OkStatus();
}

size_t Authenticator::size() const {
  absl::MutexLock lock(&mu_);
  return records_.size();
}

absl::Status Authenticator::CheckOfficer(absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  for (const PrincipalRecord& record : records_) {
    if (record.principal.id != id) continue;
    if (record.principal.role != v1::OFFICER) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", id, "\" is ", domain::RoleName(record.principal.role),
                       ", not an officer; an action's owner is the officer who updates it"));
    }
    if (record.disabled) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", id, "\" is disabled and could not update the action"));
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", id,
      "\" is not a principal of this ledger; add the officer first (ledgerctl principal add), "
      "then send ledgerd SIGHUP so that it reads the file again"));
}

std::optional<PrincipalRecord> Authenticator::Match(absl::string_view token) const {
  const std::string presented = store::Sha256(token);
  absl::MutexLock lock(&mu_);
  // Every record is compared, so the time taken does not depend on which
  // one matches.
  const PrincipalRecord* match = nullptr;
  for (const PrincipalRecord& record : records_) {
    if (store::ConstantTimeEquals(record.token_sha256, presented)) match = &record;
  }
  if (match == nullptr) return std::nullopt;
  return *match;
}

absl::StatusOr<domain::Principal> Authenticator::AuthenticateToken(absl::string_view token) const {
  std::optional<PrincipalRecord> match = Match(token);
  if (!match.has_value()) {
    return absl::UnauthenticatedError(
        "the bearer token is not recognised (a principal added or rotated since ledgerd last "
        "read its principals file is known once ledgerd is sent SIGHUP)");
  }
  if (match->disabled) {
    return absl::UnauthenticatedError(
        absl::StrCat("principal ", match->principal.id,
                     " is disabled: its token is refused until an admin enables it again"));
  }
  return match->principal;
}

std::optional<domain::Principal> Authenticator::IdentifyToken(absl::string_view token) const {
  std::optional<PrincipalRecord> match = Match(token);
  if (!match.has_value()) return std::nullopt;
  return match->principal;
}

absl::StatusOr<domain::Principal> Authenticator::Authenticate(
    const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError("missing \"authorization: Bearer <token>\" metadata");
  }
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ") && !absl::ConsumePrefix(&value, "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata must be \"Bearer <token>\"");
  }
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return absl::UnauthenticatedError("empty bearer token");
  return AuthenticateToken(value);
}

}  // namespace auditledger::service
