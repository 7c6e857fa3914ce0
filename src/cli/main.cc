// tokenledger: the admin command-line client of tokenledgerd, over gRPC.
//
//   tokenledger [global flags] <command> [args] [flags]      (flags may follow the arguments)
//
// Run `tokenledger help` for the commands. Exit status: 0 success; 1 health not SERVING;
// 2 the RPC failed (stderr: "error: <CODE>: <message>"); 64 bad usage.

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "tokenledger/v1/admin.grpc.pb.h"
#include "tokenledger/v1/authorization.grpc.pb.h"
#include "tokenledger/v1/budget.grpc.pb.h"

// Global flags.
ABSL_FLAG(std::string, key, "", "API key (default: env TOKENLEDGER_KEY)");
ABSL_FLAG(std::string, target, "",
          "tokenledgerd address host:port (default: env TOKENLEDGER_TARGET or 127.0.0.1:7443)");
ABSL_FLAG(bool, json, false, "print one JSON object per command instead of a table");
ABSL_FLAG(double, timeout, 10, "deadline of each RPC, in seconds");
ABSL_FLAG(bool, tls, false, "connect with TLS (system roots) instead of plaintext");
ABSL_FLAG(std::string, tls_ca, "", "TLS: PEM CA certificate(s) that the server's must chain to");
ABSL_FLAG(std::string, tls_cert, "", "mutual TLS: PEM client certificate (with --tls-key)");
ABSL_FLAG(std::string, tls_key, "", "mutual TLS: PEM private key of --tls-cert");
ABSL_FLAG(std::string, idempotency_key, "",
          "idempotency key of a mutating command (default: a random one, printed)");

// Command flags.
ABSL_FLAG(std::string, display_name, "", "display name (tenant create, account/team upsert)");
ABSL_FLAG(std::string, unit, "", "tenant unit: usd_micros (default) or tokens");
ABSL_FLAG(std::string, timezone, "", "tenant IANA time zone, e.g. Europe/Paris (default UTC)");
ABSL_FLAG(std::string, tenant, "", "tenant of a new key (operator keys must name one)");
ABSL_FLAG(std::string, team, "", "team of the account");
ABSL_FLAG(std::optional<int64_t>, monthly_allocation, std::nullopt, "policy: monthly allocation");
ABSL_FLAG(std::optional<int64_t>, rollover_max, std::nullopt, "policy: most carried over");
ABSL_FLAG(std::optional<int64_t>, daily_limit, std::nullopt, "policy: daily limit (0 = none)");
ABSL_FLAG(std::optional<int64_t>, overdraft_limit, std::nullopt, "policy: overdraft limit");
ABSL_FLAG(std::string, status, "", "account status: active, suspended or closed");
ABSL_FLAG(int64_t, monthly_cap, 0, "team monthly cap (0 = none)");
ABSL_FLAG(std::string, memo, "", "memo of a grant or adjustment");
ABSL_FLAG(int64_t, ttl, 0, "hold TTL in seconds (server default 600, at most 86400)");
ABSL_FLAG(std::string, model, "", "model name recorded with a hold or debit");
ABSL_FLAG(std::vector<std::string>, metadata, {}, "metadata k=v,k2=v2 of a hold or debit");
ABSL_FLAG(std::string, hold, "", "hold id that a debit captures");
ABSL_FLAG(std::string, request_id, "", "caller's request id recorded with a debit");
ABSL_FLAG(int32_t, limit, 0, "page size of transfers (server default 100, at most 1000)");
ABSL_FLAG(std::string, page_token, "", "next_page_token of the previous page");
ABSL_FLAG(int64_t, since, 0, "transfers at or after this unix time in microseconds");
ABSL_FLAG(int64_t, until, 0, "transfers before this unix time in microseconds");
ABSL_FLAG(bool, fix, false, "reconcile: repair the cache and stored balances");
ABSL_FLAG(int64_t, as_of, 0, "resets run: unix time in microseconds (0 = now)");

namespace {

namespace pb = ::google::protobuf;
namespace v1 = ::tokenledger::v1;

constexpr int kExitOk = 0;
constexpr int kExitNotServing = 1;
constexpr int kExitRpcError = 2;
constexpr int kExitUsage = 64;
constexpr char kDefaultTarget[] = "127.0.0.1:7443";
constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

constexpr char kHelp[] = R"(tokenledger: admin client of tokenledgerd (gRPC)

Usage: tokenledger [flags] <command> [args] [flags]

Commands:
  health [service]                       grpc.health.v1 check (no key needed); exit 1 unless SERVING
  tenant create <tenant_id> [--display-name X] [--unit usd_micros|tokens] [--timezone Area/City]
                                         (operator key)
  key create <role> [--tenant T]         role: admin, hr, gateway or auditor; prints the key once
  key revoke <key_id>
  account upsert <account_id> [--display-name X] [--team T] [--status active|suspended|closed]
                 [--monthly-allocation N] [--rollover-max N] [--daily-limit N] [--overdraft-limit N]
                                         any policy flag sends a policy (unset fields are 0);
                                         with none the account has no policy
  team upsert <team_id> [--display-name X] [--monthly-cap N]
  grant <account_id> <amount> [--memo M]
  adjust <account_id> <amount_delta> [--memo M]    e.g. adjust alice -500
  authorize <account_id> <amount> [--ttl S] [--model M] [--metadata k=v,...]
  debit <account_id> <amount> [--hold H] [--request-id R] [--model M] [--metadata k=v,...]
  release <hold_id>
  check <account_id> <amount>
  balance <account_id>
  transfers <account_id> [--limit N] [--page-token T] [--since US] [--until US]
  reconcile [--fix]
  audit [--limit N] [--page-token T]     the tenant's audit trail, newest first (admin or
                                         auditor key)
  resets run [--as-of US]                performs the period resets due at US (default now) that
                                         have not run yet; prints resets_performed (admin key)
  stats                                  the daemon's writer and cache figures (operator or
                                         admin key)
  help                                   this text

Global flags:
  --key K            API key (default: env TOKENLEDGER_KEY); sent as "authorization: Bearer K"
  --target H:P       server (default: env TOKENLEDGER_TARGET, else 127.0.0.1:7443)
  --json             one JSON object per command (proto field names, all fields printed)
  --timeout S        RPC deadline in seconds (default 10)
  --tls              TLS with the system roots instead of plaintext
  --tls-ca F         TLS, trusting the CA certificate(s) in PEM file F instead of the system's
  --tls-cert F --tls-key K   mutual TLS: present this client certificate and key (PEM)
  --idempotency-key K  for every mutating command; without it a random key is generated and
                     printed, so that a failed call can be retried safely with the same key

Amounts are integers in the tenant's unit. Times are unix microseconds.
Exit status: 0 ok, 1 health not SERVING, 2 RPC error ("error: <CODE>: <message>" on stderr),
64 bad usage.
)";

// ---- argument handling --------------------------------------------------------------------------

int UsageError(absl::string_view message) {
  std::cerr << "tokenledger: " << message << "\n(run `tokenledger help` for usage)\n";
  return kExitUsage;
}

bool IsNumber(absl::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Parses argv into flags (set through absl) and positional arguments. Accepts --flag-name and
// --flag_name, "--flag value" and "--flag=value", flags anywhere, and negative numbers as
// positional arguments. Returns false (after printing why) on a bad flag.
bool ParseArgs(int argc, char** argv, std::vector<std::string>* positional, bool* want_help) {
  std::vector<std::string> flags;
  std::string pending;  // a flag that waits for its value in the next argument
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!pending.empty()) {
      flags.push_back(absl::StrCat("--", pending, "=", arg));
      pending.clear();
      continue;
    }
    if (only_positional || arg.size() < 2 || arg[0] != '-' || IsNumber(arg)) {
      positional->push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    if (arg == "-h" || arg == "--help" || arg == "-help") {
      *want_help = true;
      continue;
    }
    absl::string_view body = arg;
    body.remove_prefix(absl::StartsWith(body, "--") ? 2 : 1);
    std::string name = absl::StrReplaceAll(body.substr(0, body.find('=')), {{"-", "_"}});
    const bool has_value = body.find('=') != absl::string_view::npos;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      absl::CommandLineFlag* negated = absl::FindCommandLineFlag(name.substr(2));
      if (negated != nullptr && negated->IsOfType<bool>() && !has_value) {
        flags.push_back(absl::StrCat("--", name));
        continue;
      }
    }
    if (flag == nullptr) {
      UsageError(absl::StrCat("unknown flag ", arg));
      return false;
    }
    if (has_value) {
      flags.push_back(absl::StrCat("--", name, body.substr(body.find('='))));
    } else if (flag->IsOfType<bool>()) {
      flags.push_back(absl::StrCat("--", name));
    } else {
      pending = name;
    }
  }
  if (!pending.empty()) {
    UsageError(absl::StrCat("flag --", pending, " needs a value"));
    return false;
  }
  // Check each value first so that a bad one is a usage error, not absl's exit(1).
  for (const std::string& f : flags) {
    const size_t eq = f.find('=');
    if (eq == std::string::npos) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(f.substr(2, eq - 2));
    std::string error;
    if (flag != nullptr && !flag->ParseFrom(f.substr(eq + 1), &error)) {
      UsageError(absl::StrCat("bad value in ", f, ": ", error));
      return false;
    }
  }
  std::vector<std::string> args = {argv[0]};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> ptrs;
  for (std::string& a : args) ptrs.push_back(a.data());
  ptrs.push_back(nullptr);
  absl::ParseCommandLine(static_cast<int>(args.size()), ptrs.data());
  return true;
}

bool ParseAmount(absl::string_view text, absl::string_view what, int64_t* out) {
  if (!IsNumber(text) || !absl::SimpleAtoi(text, out)) {
    UsageError(absl::StrCat(what, " must be an integer, got '", text, "'"));
    return false;
  }
  return true;
}

bool ParseMetadata(google::protobuf::Map<std::string, std::string>* out) {
  for (const std::string& kv : absl::GetFlag(FLAGS_metadata)) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      UsageError(absl::StrCat("--metadata wants k=v pairs, got '", kv, "'"));
      return false;
    }
    (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return true;
}

bool ParseStatus(v1::AccountStatus* out) {
  const std::string s = absl::AsciiStrToLower(absl::GetFlag(FLAGS_status));
  if (s.empty()) {
    *out = v1::ACCOUNT_STATUS_UNSPECIFIED;
  } else if (s == "active") {
    *out = v1::ACTIVE;
  } else if (s == "suspended") {
    *out = v1::SUSPENDED;
  } else if (s == "closed") {
    *out = v1::CLOSED;
  } else {
    UsageError(absl::StrCat("--status must be active, suspended or closed, got '", s, "'"));
    return false;
  }
  return true;
}

std::string RandomIdempotencyKey() {
  std::random_device rd;
  const uint64_t hi = (static_cast<uint64_t>(rd()) << 32) | rd();
  const uint64_t lo = (static_cast<uint64_t>(rd()) << 32) | rd();
  return absl::StrFormat("cli-%016x%016x", hi, lo);
}

// ---- human-readable output ----------------------------------------------------------------------

using Rows = std::vector<std::pair<std::string, std::string>>;

bool IsTimeField(const pb::FieldDescriptor* field) {
  const std::string& n = field->name();
  return field->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64 &&
         (absl::EndsWith(n, "_at") || n == "period_start" || n == "period_end");
}

std::string FormatMicros(int64_t us) {
  if (us == 0) return "0";
  const std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return absl::StrFormat("%s.%06dZ", buf, us % 1000000);
}

std::string FormatScalar(const pb::Message& m, const pb::FieldDescriptor* f, int index) {
  const pb::Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      const int64_t v = rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
      return IsTimeField(f) ? FormatMicros(v) : absl::StrCat(v);
    }
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return absl::StrCat(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumValueDescriptor* e = rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f);
      return e->name();
    }
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      return "";
  }
  return "";
}

// A map field as "k=v, k2=v2", sorted by key.
std::string FormatMap(const pb::Message& m, const pb::FieldDescriptor* f) {
  const pb::Reflection* r = m.GetReflection();
  std::map<std::string, std::string> entries;
  for (int i = 0; i < r->FieldSize(m, f); ++i) {
    const pb::Message& entry = r->GetRepeatedMessage(m, f, i);
    const pb::Descriptor* d = entry.GetDescriptor();
    entries[FormatScalar(entry, d->FindFieldByNumber(1), -1)] =
        FormatScalar(entry, d->FindFieldByNumber(2), -1);
  }
  return absl::StrJoin(entries, ",", absl::PairFormatter("="));
}

struct Table {
  const pb::Message* message;
  const pb::FieldDescriptor* field;
};

// Flattens a message into name/value rows; repeated message fields become tables. Fields of a
// top-level sub-message (e.g. the `account` of UpsertAccountResponse) are printed without prefix.
void CollectRows(const pb::Message& m, const std::string& prefix, int depth, Rows* rows,
                 std::vector<Table>* tables) {
  const pb::Descriptor* d = m.GetDescriptor();
  const pb::Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    const std::string name = prefix + f->name();
    if (f->is_map()) {
      rows->emplace_back(name, FormatMap(m, f));
    } else if (f->is_repeated() && f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      tables->push_back({&m, f});
    } else if (f->is_repeated()) {
      std::vector<std::string> values;
      for (int j = 0; j < r->FieldSize(m, f); ++j) values.push_back(FormatScalar(m, f, j));
      rows->emplace_back(name, absl::StrJoin(values, ","));
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (!r->HasField(m, f)) {
        rows->emplace_back(name, "(none)");
        continue;
      }
      CollectRows(r->GetMessage(m, f), depth == 0 ? "" : name + ".", depth + 1, rows, tables);
    } else {
      rows->emplace_back(name, FormatScalar(m, f, -1));
    }
  }
}

void PrintRows(const Rows& rows) {
  size_t width = 0;
  for (const auto& [name, value] : rows) width = std::max(width, name.size());
  for (const auto& [name, value] : rows) {
    std::string line = absl::StrFormat("%-*s  %s", static_cast<int>(width), name, value);
    absl::StripTrailingAsciiWhitespace(&line);
    std::cout << line << "\n";
  }
}

// A repeated message field as an aligned table; columns empty in every row are left out.
void PrintTable(const Table& t) {
  const pb::Reflection* r = t.message->GetReflection();
  const int n = r->FieldSize(*t.message, t.field);
  std::cout << "\n" << t.field->name() << " (" << n << ")" << (n == 0 ? "\n" : ":\n");
  if (n == 0) return;
  const pb::Descriptor* d = t.field->message_type();
  std::vector<std::vector<std::string>> cells(n);
  std::vector<const pb::FieldDescriptor*> columns;
  std::vector<size_t> widths;
  for (int c = 0; c < d->field_count(); ++c) {
    const pb::FieldDescriptor* f = d->field(c);
    if (f->is_repeated() && !f->is_map()) continue;
    if (!f->is_map() && f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    std::vector<std::string> values;
    bool any = false;
    for (int i = 0; i < n; ++i) {
      const pb::Message& row = r->GetRepeatedMessage(*t.message, t.field, i);
      values.push_back(f->is_map() ? FormatMap(row, f) : FormatScalar(row, f, -1));
      any = any || !values.back().empty();
    }
    if (!any) continue;
    size_t width = f->name().size();
    for (int i = 0; i < n; ++i) {
      width = std::max(width, values[i].size());
      cells[i].push_back(values[i]);
    }
    columns.push_back(f);
    widths.push_back(width);
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    std::string out;
    for (size_t c = 0; c < line.size(); ++c) {
      const bool last = c + 1 == line.size();
      absl::StrAppend(&out, last ? line[c] : absl::StrFormat("%-*s  ", widths[c], line[c]));
    }
    absl::StripTrailingAsciiWhitespace(&out);
    std::cout << out << "\n";
  };
  std::vector<std::string> header;
  for (const pb::FieldDescriptor* f : columns) header.push_back(f->name());
  print_line(header);
  for (const auto& line : cells) print_line(line);
}

void PrintHuman(const pb::Message& m, const Rows& extra) {
  Rows rows;
  std::vector<Table> tables;
  CollectRows(m, "", 0, &rows, &tables);
  rows.insert(rows.end(), extra.begin(), extra.end());
  PrintRows(rows);
  for (const Table& t : tables) PrintTable(t);
}

void PrintJson(const pb::Message& m) {
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status = pb::util::MessageToJsonString(m, &json, options);
  if (!status.ok()) {
    std::cerr << "error: INTERNAL: cannot print the response as JSON: " << status.ToString()
              << "\n";
    return;
  }
  std::cout << json << "\n";
}

// ---- RPCs ---------------------------------------------------------------------------------------

std::string StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return absl::StrCat("CODE_", static_cast<int>(code));
  }
}

bool ReadPemFlag(absl::string_view flag, const std::string& path, std::string* out) {
  if (path.empty()) return true;
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in || ss.str().empty()) {
    UsageError(absl::StrCat("cannot read ", flag, " ", path));
    return false;
  }
  *out = ss.str();
  return true;
}

// Plaintext, unless --tls or a --tls-* file asks for TLS. Returns null (after printing why) when
// a file cannot be read or the client certificate comes without its key.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFromFlags() {
  grpc::SslCredentialsOptions options;
  if (!ReadPemFlag("--tls-ca", absl::GetFlag(FLAGS_tls_ca), &options.pem_root_certs) ||
      !ReadPemFlag("--tls-cert", absl::GetFlag(FLAGS_tls_cert), &options.pem_cert_chain) ||
      !ReadPemFlag("--tls-key", absl::GetFlag(FLAGS_tls_key), &options.pem_private_key)) {
    return nullptr;
  }
  if (options.pem_cert_chain.empty() != options.pem_private_key.empty()) {
    UsageError("--tls-cert and --tls-key go together");
    return nullptr;
  }
  const bool tls = absl::GetFlag(FLAGS_tls) || !options.pem_root_certs.empty() ||
                   !options.pem_cert_chain.empty();
  return tls ? grpc::SslCredentials(options) : grpc::InsecureChannelCredentials();
}

class Cli {
 public:
  Cli(std::string target, std::string key, bool json, double timeout_s,
      std::shared_ptr<grpc::ChannelCredentials> creds)
      : key_(std::move(key)), json_(json), timeout_s_(timeout_s) {
    channel_ = grpc::CreateChannel(target, creds);
  }

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  bool json() const { return json_; }

  void SetUp(grpc::ClientContext* ctx, bool with_key) const {
    const auto timeout = std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::duration<double>(timeout_s_));
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    if (with_key) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", key_));
  }

  bool RequireKey() const {
    if (!key_.empty()) return true;
    UsageError("no API key: set TOKENLEDGER_KEY or pass --key");
    return false;
  }

  // The --idempotency-key flag, or a fresh random key that is printed with the result.
  std::string IdempotencyKey() {
    std::string key = absl::GetFlag(FLAGS_idempotency_key);
    if (key.empty()) {
      key = RandomIdempotencyKey();
      generated_key_ = key;
    }
    return key;
  }

  int Fail(const grpc::Status& status) const {
    std::cerr << "error: " << StatusCodeName(status.error_code()) << ": " << status.error_message()
              << "\n";
    if (!generated_key_.empty() && !json_) {
      std::cerr << "(to retry safely: --idempotency-key " << generated_key_ << ")\n";
    }
    return kExitRpcError;
  }

  int Print(const pb::Message& response) const {
    if (json_) {
      PrintJson(response);
      return kExitOk;
    }
    Rows extra;
    if (!generated_key_.empty()) extra.emplace_back("idempotency_key", generated_key_);
    PrintHuman(response, extra);
    return kExitOk;
  }

  template <class Stub, class Request, class Response>
  int Call(Stub* stub, grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
           const Request& request) {
    grpc::ClientContext ctx;
    SetUp(&ctx, /*with_key=*/true);
    Response response;
    const grpc::Status status = (stub->*rpc)(&ctx, request, &response);
    if (!status.ok()) return Fail(status);
    return Print(response);
  }

  std::unique_ptr<v1::AdminService::Stub> Admin() const {
    return v1::AdminService::NewStub(channel_);
  }
  std::unique_ptr<v1::BudgetService::Stub> Budget() const {
    return v1::BudgetService::NewStub(channel_);
  }
  std::unique_ptr<v1::AuthorizationService::Stub> Authz() const {
    return v1::AuthorizationService::NewStub(channel_);
  }

 private:
  std::string key_;
  bool json_;
  double timeout_s_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string generated_key_;
};

using Args = std::vector<std::string>;

// ---- health: grpc.health.v1 without its generated code ------------------------------------------

// Reads a base-128 varint at *pos; false when truncated.
bool ReadVarint(const std::string& in, size_t* pos, uint64_t* out) {
  *out = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in[(*pos)++]);
    *out |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// HealthCheckResponse { ServingStatus status = 1; }: returns the status, -1 when malformed.
int DecodeHealthStatus(const std::string& in) {
  int status = 0;  // absent field: UNKNOWN
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t tag = 0;
    uint64_t value = 0;
    if (!ReadVarint(in, &pos, &tag)) return -1;
    switch (tag & 7) {
      case 0:
        if (!ReadVarint(in, &pos, &value)) return -1;
        if ((tag >> 3) == 1) status = static_cast<int>(value);
        break;
      case 1:
        pos += 8;
        break;
      case 2:
        if (!ReadVarint(in, &pos, &value) || value > in.size() - pos) return -1;
        pos += value;
        break;
      case 5:
        pos += 4;
        break;
      default:
        return -1;
    }
  }
  return pos == in.size() ? status : -1;
}

std::string HealthStatusName(int status) {
  switch (status) {
    case 0:
      return "UNKNOWN";
    case 1:
      return "SERVING";
    case 2:
      return "NOT_SERVING";
    case 3:
      return "SERVICE_UNKNOWN";
    default:
      return absl::StrCat("STATUS_", status);
  }
}

int RunHealth(Cli& cli, const Args& args) {
  if (args.size() > 1) return UsageError("usage: health [service]");
  const std::string service = args.empty() ? "" : args[0];
  // HealthCheckRequest { string service = 1; }
  std::string request;
  if (!service.empty()) {
    request.push_back(0x0a);
    for (uint64_t n = service.size();; n >>= 7) {
      request.push_back(static_cast<char>((n & 0x7f) | (n >= 0x80 ? 0x80 : 0)));
      if (n < 0x80) break;
    }
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::GenericStub stub(cli.channel());
  grpc::ClientContext ctx;
  cli.SetUp(&ctx, /*with_key=*/false);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, kHealthCheckMethod, request_buffer, &cq);
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  call->StartCall();
  call->Finish(&response_buffer, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) return cli.Fail(status);

  std::vector<grpc::Slice> slices;
  std::string response;
  if (response_buffer.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      response.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  const int serving = DecodeHealthStatus(response);
  if (serving < 0) {
    return cli.Fail(grpc::Status(grpc::StatusCode::INTERNAL, "malformed health response"));
  }
  const std::string name = HealthStatusName(serving);
  if (cli.json()) {
    std::cout << absl::StrFormat("{\"status\":\"%s\"}\n", name);
  } else {
    PrintRows({{"status", name}});
  }
  return serving == 1 ? kExitOk : kExitNotServing;
}

// ---- commands -----------------------------------------------------------------------------------

int RunTenantCreate(Cli& cli, const Args& args) {
  if (args.size() != 1) return UsageError("usage: tenant create <tenant_id> [--display-name X]");
  v1::CreateTenantRequest req;
  req.set_tenant_id(args[0]);
  req.set_display_name(absl::GetFlag(FLAGS_display_name));
  req.set_unit(absl::GetFlag(FLAGS_unit));
  req.set_timezone(absl::GetFlag(FLAGS_timezone));
  req.set_idempotency_key(cli.IdempotencyKey());
  return cli.Call(cli.Admin().get(), &v1::AdminService::Stub::CreateTenant, req);
}

int RunKeyCreate(Cli& cli, const Args& args) {
  if (args.size() != 1) return UsageError("usage: key create <role> [--tenant T]");
  v1::CreateApiKeyRequest req;
  req.set_tenant_id(absl::GetFlag(FLAGS_tenant));
  req.set_role(args[0]);
  req.set_idempotency_key(cli.IdempotencyKey());
  const int rc = cli.Call(cli.Admin().get(), &v1::AdminService::Stub::CreateApiKey, req);
  if (rc == kExitOk && !cli.json()) std::cout << "(the key is shown once: store it now)\n";
  return rc;
}

int RunKeyRevoke(Cli& cli, const Args& args) {
  if (args.size() != 1) return UsageError("usage: key revoke <key_id>");
  v1::RevokeApiKeyRequest req;
  req.set_key_id(args[0]);
  req.set_idempotency_key(cli.IdempotencyKey());
  return cli.Call(cli.Admin().get(), &v1::AdminService::Stub::RevokeApiKey, req);
}

int RunAccountUpsert(Cli& cli, const Args& args) {
  if (args.size() != 1) return UsageError("usage: account upsert <account_id> [flags]");
  v1::UpsertAccountRequest req;
  req.set_account_id(args[0]);
  req.set_display_name(absl::GetFlag(FLAGS_display_name));
  req.set_team_id(absl::GetFlag(FLAGS_team));
  const auto allocation = absl::GetFlag(FLAGS_monthly_allocation);
  const auto rollover = absl::GetFlag(FLAGS_rollover_max);
  const auto daily = absl::GetFlag(FLAGS_daily_limit);
  const auto overdraft = absl::GetFlag(FLAGS_overdraft_limit);
  if (allocation || rollover || daily || overdraft) {
    v1::Policy* policy = req.mutable_policy();
    policy->set_monthly_allocation(allocation.value_or(0));
    policy->set_rollover_max(rollover.value_or(0));
    policy->set_daily_limit(daily.value_or(0));
    policy->set_overdraft_limit(overdraft.value_or(0));
  }
  v1::AccountStatus status;
  if (!ParseStatus(&status)) return kExitUsage;
  req.set_status(status);
  req.set_idempotency_key(cli.IdempotencyKey());
  return cli.Call(cli.Budget().get(), &v1::BudgetService::Stub::UpsertAccount, req);
}

int RunTeamUpsert(Cli& cli, const Args& args) {
  if (args.size() != 1) return UsageError("usage: team upsert <team_id> [--monthly-cap N]");
  v1::UpsertTeamRequest req;
  req.set_team_id(args[0]);
  req.set_display_name(absl::GetFlag(FLAGS_display_name));
  req.set_monthly_cap(absl::GetFlag(FLAGS_monthly_cap));
  req.set_idempotency_key(cli.IdempotencyKey());
  return cli.Call(cli.Budget().get(), &v1::BudgetService::Stub::UpsertTeam, req);
}

int RunGrant(Cli& cli, const Args& args) {
  int64_t amount = 0;
  if (args.size() != 2) return UsageError("usage: grant <account_id> <amount> [--memo M]");
  if (!ParseAmount(args[1], "amount", &amount)) return kExitUsage;
  v1::GrantRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  req.set_memo(absl::GetFlag(FLAGS_memo));
  req.set_idempotency_key(cli.IdempotencyKey());
  return cli.Call(cli.Budget().get(), &v1::BudgetService::Stub::Grant, req);
}

int RunAdjust(Cli& cli, const Args& args) {
  int64_t delta = 0;
  if (args.size() != 2) return UsageError("usage: adjust <account_id> <amount_delta> [--memo M]");
  if (!ParseAmount(args[1], "amount_delta", &delta)) return kExitUsage;
  v1::AdjustRequest req;
  req.set_account_id(args[0]);
  req.set_amount_delta(delta);
  req.set_memo(absl::GetFlag(FLAGS_memo));
  req.set_idempotency_key(cli.IdempotencyKey());
  return cli.Call(cli.Budget().get(), &v1::BudgetService::Stub::Adjust, req);
}

int RunAuthorize(Cli& cli, const Args& args) {
  int64_t amount = 0;
  if (args.size() != 2) return UsageError("usage: authorize <account_id> <amount> [--ttl S]");
  if (!ParseAmount(args[1], "amount", &amount)) return kExitUsage;
  v1::AuthorizeRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  req.set_hold_ttl_seconds(absl::GetFlag(FLAGS_ttl));
  req.set_model(absl::GetFlag(FLAGS_model));
  if (!ParseMetadata(req.mutable_metadata())) return kExitUsage;
  req.set_idempotency_key(cli.IdempotencyKey());
  return cli.Call(cli.Authz().get(), &v1::AuthorizationService::Stub::Authorize, req);
}

int RunDebit(Cli& cli, const Args& args) {
  int64_t amount = 0;
  if (args.size() != 2) return UsageError("usage: debit <account_id> <amount> [--hold H]");
  if (!ParseAmount(args[1], "amount", &amount)) return kExitUsage;
  v1::DebitRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  req.set_hold_id(absl::GetFlag(FLAGS_hold));
  req.set_request_id(absl::GetFlag(FLAGS_request_id));
  req.set_model(absl::GetFlag(FLAGS_model));
  if (!ParseMetadata(req.mutable_metadata())) return kExitUsage;
  req.set_idempotency_key(cli.IdempotencyKey());
  return cli.Call(cli.Authz().get(), &v1::AuthorizationService::Stub::Debit, req);
}

int RunRelease(Cli& cli, const Args& args) {
  if (args.size() != 1) return UsageError("usage: release <hold_id>");
  v1::ReleaseRequest req;
  req.set_hold_id(args[0]);
  req.set_idempotency_key(cli.IdempotencyKey());
  return cli.Call(cli.Authz().get(), &v1::AuthorizationService::Stub::Release, req);
}

int RunCheck(Cli& cli, const Args& args) {
  int64_t amount = 0;
  if (args.size() != 2) return UsageError("usage: check <account_id> <amount>");
  if (!ParseAmount(args[1], "amount", &amount)) return kExitUsage;
  v1::CheckRequest req;
  req.set_account_id(args[0]);
  req.set_amount(amount);
  return cli.Call(cli.Authz().get(), &v1::AuthorizationService::Stub::Check, req);
}

int RunBalance(Cli& cli, const Args& args) {
  if (args.size() != 1) return UsageError("usage: balance <account_id>");
  v1::GetBalanceRequest req;
  req.set_account_id(args[0]);
  return cli.Call(cli.Budget().get(), &v1::BudgetService::Stub::GetBalance, req);
}

int RunTransfers(Cli& cli, const Args& args) {
  if (args.size() != 1) return UsageError("usage: transfers <account_id> [--limit N]");
  v1::ListTransfersRequest req;
  req.set_account_id(args[0]);
  req.set_page_size(absl::GetFlag(FLAGS_limit));
  req.set_page_token(absl::GetFlag(FLAGS_page_token));
  req.set_since(absl::GetFlag(FLAGS_since));
  req.set_until(absl::GetFlag(FLAGS_until));
  return cli.Call(cli.Budget().get(), &v1::BudgetService::Stub::ListTransfers, req);
}

int RunAudit(Cli& cli, const Args& args) {
  if (!args.empty()) return UsageError("usage: audit [--limit N] [--page-token T]");
  v1::ListAuditEventsRequest req;
  req.set_page_size(absl::GetFlag(FLAGS_limit));
  req.set_page_token(absl::GetFlag(FLAGS_page_token));
  return cli.Call(cli.Admin().get(), &v1::AdminService::Stub::ListAuditEvents, req);
}

int RunReconcile(Cli& cli, const Args& args) {
  if (!args.empty()) return UsageError("usage: reconcile [--fix]");
  v1::ReconcileRequest req;
  req.set_fix(absl::GetFlag(FLAGS_fix));
  return cli.Call(cli.Admin().get(), &v1::AdminService::Stub::Reconcile, req);
}

int RunResetsRun(Cli& cli, const Args& args) {
  if (!args.empty()) return UsageError("usage: resets run [--as-of US]");
  const int64_t as_of = absl::GetFlag(FLAGS_as_of);
  if (as_of < 0) return UsageError("--as-of must not be negative");
  v1::RunResetsRequest req;
  req.set_as_of(as_of);
  return cli.Call(cli.Admin().get(), &v1::AdminService::Stub::RunResets, req);
}

int RunStats(Cli& cli, const Args& args) {
  if (!args.empty()) return UsageError("usage: stats");
  v1::GetServerStatsRequest req;
  return cli.Call(cli.Admin().get(), &v1::AdminService::Stub::GetServerStats, req);
}

struct Command {
  const char* name;  // one or two words
  bool needs_key;
  int (*run)(Cli&, const Args&);
};

constexpr Command kCommands[] = {
    {"health", false, RunHealth},
    {"tenant create", true, RunTenantCreate},
    {"key create", true, RunKeyCreate},
    {"key revoke", true, RunKeyRevoke},
    {"account upsert", true, RunAccountUpsert},
    {"team upsert", true, RunTeamUpsert},
    {"grant", true, RunGrant},
    {"adjust", true, RunAdjust},
    {"authorize", true, RunAuthorize},
    {"debit", true, RunDebit},
    {"release", true, RunRelease},
    {"check", true, RunCheck},
    {"balance", true, RunBalance},
    {"transfers", true, RunTransfers},
    {"reconcile", true, RunReconcile},
    {"audit", true, RunAudit},
    {"resets run", true, RunResetsRun},
    {"stats", true, RunStats},
};

// Finds the command named by the first one or two positional arguments; sets *words.
const Command* FindCommand(const Args& positional, size_t* words) {
  for (const Command& c : kCommands) {
    const std::vector<std::string> parts = absl::StrSplit(c.name, ' ');
    if (positional.size() < parts.size()) continue;
    if (std::equal(parts.begin(), parts.end(), positional.begin())) {
      *words = parts.size();
      return &c;
    }
  }
  return nullptr;
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("tokenledger <command> [args] [flags]; run `tokenledger help`");
  std::vector<std::string> positional;
  bool want_help = false;
  if (!ParseArgs(argc, argv, &positional, &want_help)) return kExitUsage;
  if (want_help || (!positional.empty() && positional[0] == "help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  if (positional.empty()) {
    std::cerr << kHelp;
    return kExitUsage;
  }
  size_t words = 0;
  const Command* command = FindCommand(positional, &words);
  if (command == nullptr) {
    const bool group =
        positional.size() >= 2 &&
        (positional[0] == "tenant" || positional[0] == "key" || positional[0] == "account" ||
         positional[0] == "team" || positional[0] == "resets");
    return UsageError(absl::StrCat("unknown command '", positional[0],
                                   group ? absl::StrCat(" ", positional[1]) : "", "'"));
  }
  const double timeout_s = absl::GetFlag(FLAGS_timeout);
  if (!(timeout_s > 0)) return UsageError("--timeout must be > 0");
  std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty()) target = EnvOr("TOKENLEDGER_TARGET", kDefaultTarget);
  std::string key = absl::GetFlag(FLAGS_key);
  if (key.empty()) key = EnvOr("TOKENLEDGER_KEY", "");

  std::shared_ptr<grpc::ChannelCredentials> creds = ChannelCredentialsFromFlags();
  if (creds == nullptr) return kExitUsage;
  Cli cli(target, key, absl::GetFlag(FLAGS_json), timeout_s, std::move(creds));
  if (command->needs_key && !cli.RequireKey()) return kExitUsage;
  const Args args(positional.begin() + static_cast<std::ptrdiff_t>(words), positional.end());
  return command->run(cli, args);
}
