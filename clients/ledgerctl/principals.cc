#include "clients/ledgerctl/principals.h"

#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ledger/domain/names.h"
#include "ledger/service/auth.h"
#include "ledger/store/sha256.h"
#include "nlohmann/json.hpp"

namespace auditledger::ledgerctl {
namespace {

absl::StatusOr<nlohmann::json> Load(const std::string& path, bool create) {
  std::ifstream in(path);
  if (!in) {
    if (create) return nlohmann::json{{"principals", nlohmann::json::array()}};
    return absl::NotFoundError(absl::StrCat("--file: ", path, " cannot be read"));
  }
  std::stringstream text;
  text << in.rdbuf();
  // The server's own parser decides what is valid.
  absl::StatusOr<std::vector<service::PrincipalRecord>> valid =
      service::ParsePrincipals(text.str());
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", valid.status().message()));
  }
  return nlohmann::json::parse(text.str());
}

absl::Status Save(const std::string& path, const nlohmann::json& doc) {
  const std::string text = doc.dump(2) + "\n";
  absl::StatusOr<std::vector<service::PrincipalRecord>> valid = service::ParsePrincipals(text);
  if (!valid.ok()) return valid.status();
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    if (!out) return absl::UnknownError(absl::StrCat("--file: ", temp, " cannot be written"));
    out << text;
    if (!out.flush()) return absl::UnknownError(absl::StrCat("--file: ", temp, ": write failed"));
  }
  chmod(temp.c_str(), 0600);
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::UnknownError(absl::StrCat("--file: cannot replace ", path));
  }
  return absl::OkStatus();
}

// 32 random bytes, web-safe base64, with a prefix that says what it is.
absl::StatusOr<std::string> NewToken() {
  unsigned char random[32];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("no randomness available for a token");
  }
  return absl::StrCat("alt_", absl::WebSafeBase64Escape(absl::string_view(
                                  reinterpret_cast<const char*>(random), sizeof(random))));
}

nlohmann::json* Find(nlohmann::json& doc, const std::string& id) {
  for (auto& p : doc["principals"]) {
    if (p.value("id", "") == id) return &p;
  }
  return nullptr;
}

absl::Status NoSuch(const std::string& path, const std::string& id) {
  return absl::NotFoundError(absl::StrCat("--id: no principal ", id, " in ", path));
}

}  // namespace

absl::StatusOr<std::string> AddPrincipal(const std::string& path, const std::string& id,
                                         const std::string& name, const std::string& role) {
  if (id.empty()) return absl::InvalidArgumentError("--id: required");
  if (absl::Status s = domain::CheckPrincipalId("--id", id); !s.ok()) return s;
  if (absl::Status s = domain::CheckPrincipalName("--name", name); !s.ok()) return s;
  if (role != "admin" && role != "officer" && role != "scrutiny") {
    return absl::InvalidArgumentError("--role: one of admin, officer, scrutiny");
  }
  absl::StatusOr<nlohmann::json> doc = Load(path, true);
  if (!doc.ok()) return doc.status();
  for (const auto& p : (*doc)["principals"]) {
    if (p.value("id", "") == id) {
      return absl::AlreadyExistsError(absl::StrCat("--id: ", id, " is already in ", path));
    }
  }
  absl::StatusOr<std::string> token = NewToken();
  if (!token.ok()) return token.status();
  (*doc)["principals"].push_back({{"id", id},
                                  {"name", name.empty() ? id : name},
                                  {"role", role},
                                  {"token_sha256", store::ToHex(store::Sha256(*token))}});
  if (absl::Status s = Save(path, *doc); !s.ok()) return s;
  return token;
}

absl::StatusOr<std::string> RotatePrincipal(const std::string& path, const std::string& id) {
  absl::StatusOr<nlohmann::json> doc = Load(path, false);
  if (!doc.ok()) return doc.status();
  nlohmann::json* entry = Find(*doc, id);
  if (entry == nullptr) return NoSuch(path, id);
  absl::StatusOr<std::string> token = NewToken();
  if (!token.ok()) return token.status();
  (*entry)["token_sha256"] = store::ToHex(store::Sha256(*token));
  if (absl::Status s = Save(path, *doc); !s.ok()) return s;
  return token;
}

absl::Status EnablePrincipal(const std::string& path, const std::string& id) {
  absl::StatusOr<nlohmann::json> doc = Load(path, false);
  if (!doc.ok()) return doc.status();
  nlohmann::json* entry = Find(*doc, id);
  if (entry == nullptr) return NoSuch(path, id);
  if (!entry->value("disabled", false)) {
    return absl::FailedPreconditionError(absl::StrCat("--id: ", id, " is not disabled"));
  }
  entry->erase("disabled");
  return Save(path, *doc);
}

absl::StatusOr<std::vector<service::PrincipalRecord>> ListPrincipals(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--file: ", path, " cannot be read"));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<service::PrincipalRecord>> records =
      service::ParsePrincipals(text.str());
  if (!records.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", records.status().message()));
  }
  return records;
}

absl::Status DisablePrincipal(const std::string& path, const std::string& id) {
  absl::StatusOr<nlohmann::json> doc = Load(path, false);
  if (!doc.ok()) return doc.status();
  nlohmann::json* entry = Find(*doc, id);
  if (entry == nullptr) return NoSuch(path, id);
  (*entry)["disabled"] = true;
  return Save(path, *doc);
}

}  // namespace auditledger::ledgerctl
