#include "ledger/integrity/checkpoint.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "ledger/store/sha256.h"

namespace auditledger::integrity {
namespace {

constexpr char kDigestPrefix[] = "alcp1:";

EVP_PKEY* Key(void* key) { return static_cast<EVP_PKEY*>(key); }

}  // namespace

std::string CheckpointMessage(const v1::SignedCheckpoint& c) {
  const uint64_t micros = static_cast<uint64_t>(c.time().seconds()) * 1000000 +
                          static_cast<uint64_t>(c.time().nanos() / 1000);
  return absl::StrCat("auditledger-checkpoint-v1\n", c.tree_size(), "\n",
                      store::ToHex(c.root_hash()), "\n", store::ToHex(c.head_hash()), "\n", micros,
                      "\n");
}

absl::StatusOr<std::unique_ptr<Signer>> Signer::LoadOrCreate(const std::string& path) {
  std::unique_ptr<Signer> signer(new Signer());
  if (FILE* in = std::fopen(path.c_str(), "r")) {
    signer->key_ = PEM_read_PrivateKey(in, nullptr, nullptr, nullptr);
    std::fclose(in);
    if (signer->key_ == nullptr || EVP_PKEY_get_id(Key(signer->key_)) != EVP_PKEY_ED25519) {
      return absl::InvalidArgumentError(
          absl::StrCat("--signing_key: ", path, " is not an Ed25519 private key (PEM)"));
    }
  } else {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
    EVP_PKEY* key = nullptr;
    bool ok = ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &key) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) return absl::InternalError("cannot generate an Ed25519 key");
    signer->key_ = key;
    const mode_t old_mask = umask(077);
    FILE* out = std::fopen(path.c_str(), "w");
    umask(old_mask);
    if (out == nullptr) {
      return absl::PermissionDeniedError(absl::StrCat("--signing_key: cannot create ", path));
    }
    ok = PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    ok = (std::fclose(out) == 0) && ok;
    if (!ok) return absl::UnavailableError(absl::StrCat("--signing_key: cannot write ", path));
  }
  size_t length = 32;
  signer->public_key_.resize(length);
  if (EVP_PKEY_get_raw_public_key(Key(signer->key_),
                                  reinterpret_cast<unsigned char*>(signer->public_key_.data()),
                                  &length) != 1 ||
      length != 32) {
    return absl::InternalError("cannot read the Ed25519 public key");
  }
  return signer;
}

Signer::~Signer() { EVP_PKEY_free(Key(key_)); }

absl::Status Signer::Sign(v1::SignedCheckpoint* checkpoint) const {
  checkpoint->set_public_key(public_key_);
  const std::string message = CheckpointMessage(*checkpoint);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t length = 64;
  std::string signature(length, '\0');
  bool ok =
      ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, Key(key_)) == 1 &&
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return absl::InternalError("signing the checkpoint failed");
  signature.resize(length);
  checkpoint->set_signature(signature);
  return absl::OkStatus();
}

bool VerifySignature(const v1::SignedCheckpoint& checkpoint) {
  if (checkpoint.public_key().size() != 32 || checkpoint.signature().size() != 64) return false;
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(checkpoint.public_key().data()), 32);
  if (key == nullptr) return false;
  const std::string message = CheckpointMessage(checkpoint);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(checkpoint.signature().data()),
                       checkpoint.signature().size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

std::string EncodeDigest(const v1::SignedCheckpoint& checkpoint) {
  return absl::StrCat(kDigestPrefix, absl::WebSafeBase64Escape(checkpoint.SerializeAsString()));
}

absl::StatusOr<v1::SignedCheckpoint> DecodeDigest(absl::string_view digest) {
  digest = absl::StripAsciiWhitespace(digest);
  std::string bytes;
  v1::SignedCheckpoint checkpoint;
  if (!absl::ConsumePrefix(&digest, kDigestPrefix) ||
      !absl::WebSafeBase64Unescape(digest, &bytes) || !checkpoint.ParseFromString(bytes) ||
      checkpoint.tree_size() == 0) {
    return absl::InvalidArgumentError(
        "DIGEST: not a checkpoint digest (it starts with \"alcp1:\"; print one with "
        "`ledgerctl digest`)");
  }
  return checkpoint;
}

}  // namespace auditledger::integrity
