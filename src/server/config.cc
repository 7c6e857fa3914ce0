// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "server/config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "obs/log.h"
#include "server/metrics_http.h"
#include "toml++/toml.h"

extern char** environ;

namespace tokenledger {

namespace {

constexpr absl::string_view kEnvPrefix = "TOKENLEDGER_";
constexpr size_t kOperatorKeyMin = 32;

// What a setter sees: the config, and the operator key file (read once every source is in).
struct State {
  ServerConfig config;
  std::string key_file;
  std::string key_origin;  // where the key file's name (or the key) came from
};

// A value as given: the text (command line, environment) or a TOML value.
struct Value {
  std::string origin;  // "--write-queue-max", "TOKENLEDGER_WRITE_QUEUE_MAX", "f.toml:3:1: ..."
  std::string text;
  std::optional<int64_t> number;  // TOML integers
  bool from_file = false;
};

enum class Kind { kString, kInt };

struct FlagSpec {
  absl::string_view name;  // with dashes
  absl::string_view value_name;
  absl::string_view default_text;
  absl::string_view help;
  Kind kind = Kind::kString;
  int64_t min = 0;
  int64_t max = 0;
  // Stores a value whose type (and range, for kInt) is checked. Returns a problem, or "".
  std::string (*set)(State& s, const std::string& text, int64_t number);
};

std::string NonEmpty(absl::string_view what, const std::string& text) {
  return text.empty() ? absl::StrCat("must not be empty (", what, ")") : "";
}

std::string CheckAddress(const std::string& text) {
  if (text.empty()) return "";  // the endpoint is off
  auto hp = SplitHostPort(text);
  return hp.ok() ? "" : std::string(hp.status().message());
}

std::string CheckWord(const std::string& text) {
  constexpr size_t kWordMax = 256;
  if (text.size() > kWordMax) return "must be at most 256 characters";
  for (unsigned char c : text) {
    if (c <= ' ' || c >= 0x7F) return "must be printable characters without spaces";
  }
  return "";
}

constexpr FlagSpec kFlags[] = {
    {"listen", "HOST:PORT", "127.0.0.1:7443", "gRPC address to serve on.", Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.listen = v;
       return NonEmpty("HOST:PORT", v);
     }},
    {"database-url", "URL", "(required)",
     "PostgreSQL, e.g. postgresql://user:password@127.0.0.1:5432/tokenledger.", Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.database_url = v;
       return NonEmpty("a PostgreSQL URL", v);
     }},
    {"operator-key-file", "FILE", "none",
     "File holding the operator key (at least 32 characters). TOKENLEDGER_OPERATOR_KEY may hold "
     "the key itself instead.",
     Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.key_file = v;
       return NonEmpty("a file name", v);
     }},
    {"migrations-dir", "DIR", "the source tree's migrations/",
     "Directory of the NNNN_name.sql migrations applied at start.", Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.migrations_dir = v;
       return std::string();
     }},
    {"writer-flush-ms", "N", "0",
     "How long holds and expiries may wait to share a group commit, in ms (0 = commit at once).",
     Kind::kInt, 0, 1000,
     [](State& s, const std::string&, int64_t n) {
       s.config.writer.deferred_flush_interval = absl::Milliseconds(n);
       return std::string();
     }},
    {"hold-journal-delay-ms", "N", "0",
     "How long an Authorize's hold lives in memory only before it is written, in ms; a hold "
     "captured or released sooner is written once, closed (0 = write every hold at once).",
     Kind::kInt, 0, 60'000,
     [](State& s, const std::string&, int64_t n) {
       s.config.engine.hold_journal_delay = absl::Milliseconds(n);
       return std::string();
     }},
    {"write-queue-max", "N", "200000",
     "Writes queued for the group commit at most; past it calls fail RESOURCE_EXHAUSTED.",
     Kind::kInt, 1, 100'000'000,
     [](State& s, const std::string&, int64_t n) {
       s.config.writer.queue_mutations_max = static_cast<size_t>(n);
       return std::string();
     }},
    {"clock-offset-seconds", "N", "0",
     "Testing only: shifts the daemon's clock by N seconds (e.g. to cross a month boundary).",
     Kind::kInt, -3'153'600'000, 3'153'600'000,
     [](State& s, const std::string&, int64_t n) {
       s.config.clock_offset = absl::Seconds(n);
       return std::string();
     }},
    {"log-level", "LEVEL", "info", "trace, debug, info, warn or error (debug logs every call).",
     Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.log_level = v;
       return std::string(obs::ParseLogLevel(v) ? "" : "must be trace, debug, info, warn or error");
     }},
    {"log-format", "FORMAT", "text", "text (human-readable lines) or json (one object per line).",
     Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.log_format = v;
       return std::string(obs::ParseLogFormat(v) ? "" : "must be text or json");
     }},
    {"metrics-listen", "HOST:PORT", "127.0.0.1:9464",
     "HTTP address of /metrics (Prometheus), /healthz and /readyz; empty: no endpoint.",
     Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.metrics_listen = v;
       return CheckAddress(v);
     }},
    {"tls-cert", "FILE", "none (plaintext)",
     "PEM certificate chain of the gRPC server; needs --tls-key.", Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.tls_cert_file = v;
       return NonEmpty("a file name", v);
     }},
    {"tls-key", "FILE", "none", "PEM private key of --tls-cert.", Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.tls_key_file = v;
       return NonEmpty("a file name", v);
     }},
    {"tls-client-ca", "FILE", "none",
     "PEM CA certificates: clients must present a certificate they signed (mutual TLS); needs "
     "--tls-cert.",
     Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.tls_client_ca_file = v;
       return NonEmpty("a file name", v);
     }},
    {"node-id", "ID", "host:port", "This daemon's name in tenant leases.", Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.node_id = v;
       return CheckWord(v);
     }},
    {"advertise-address", "HOST:PORT", "--listen",
     "The address other daemons send callers to for tenants this daemon owns.", Kind::kString, 0, 0,
     [](State& s, const std::string& v, int64_t) {
       s.config.advertise_address = v;
       return CheckWord(v);
     }},
    {"lease-ttl-seconds", "N", "5", "How long a tenant lease lasts without renewal, in seconds.",
     Kind::kInt, 1, 300,
     [](State& s, const std::string&, int64_t n) {
       s.config.lease_ttl = absl::Seconds(n);
       return std::string();
     }},
    {"max-inflight-calls", "N", "20000",
     "Calls admitted at once; past it calls fail RESOURCE_EXHAUSTED.", Kind::kInt, 1, 10'000'000,
     [](State& s, const std::string&, int64_t n) {
       s.config.max_inflight_calls = static_cast<size_t>(n);
       return std::string();
     }},
};

std::string EnvName(absl::string_view flag) {
  std::string out = absl::StrCat(kEnvPrefix, flag);
  std::replace(out.begin(), out.end(), '-', '_');
  return absl::AsciiStrToUpper(out);
}

// "database_url" and "database-url" name the same flag.
std::string Canonical(absl::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

const FlagSpec* Find(absl::string_view canonical) {
  for (const FlagSpec& f : kFlags) {
    if (f.name == canonical) return &f;
  }
  return nullptr;
}

absl::Status Invalid(absl::string_view origin, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(origin, ": ", problem));
}

absl::Status Apply(const FlagSpec& f, const Value& v, State& s) {
  int64_t n = 0;
  std::string text = v.text;
  if (f.kind == Kind::kInt) {
    if (v.from_file ? !v.number.has_value() : !absl::SimpleAtoi(v.text, &n)) {
      return Invalid(v.origin,
                     absl::StrCat("must be an integer from ", f.min, " to ", f.max,
                                  v.from_file ? "" : absl::StrCat(", got '", v.text, "'")));
    }
    if (v.from_file) n = *v.number;
    if (n < f.min || n > f.max) {
      return Invalid(v.origin, absl::StrCat("must be from ", f.min, " to ", f.max, ", got ", n));
    }
  } else if (v.from_file && v.number.has_value()) {
    return Invalid(v.origin, "must be a string");
  }
  if (std::string problem = f.set(s, text, n); !problem.empty()) {
    return Invalid(v.origin, problem);
  }
  if (f.name == "operator-key-file") s.key_origin = v.origin;
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view origin) {
  std::ifstream in(path);
  std::stringstream ss;
  if (!in || !(ss << in.rdbuf())) {
    return Invalid(origin, absl::StrCat("cannot read ", path));
  }
  return ss.str();
}

std::string Where(const std::string& path, const toml::source_region& r) {
  return absl::StrCat(path, ":", r.begin.line, ":", r.begin.column);
}

// The file's keys (each flag at most once).
absl::Status ApplyFile(const std::string& path, absl::string_view origin, State& s) {
  auto content = ReadFile(path, origin);
  if (!content.ok()) return content.status();
  toml::table table;
  try {
    table = toml::parse(*content, path);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(path, e.source()), ": not valid TOML: ", std::string(e.description())));
  }
  std::vector<std::string> seen;
  for (auto&& [key, node] : table) {
    const std::string name(key.str());
    const std::string where = absl::StrCat(Where(path, key.source()), ": ", name);
    const FlagSpec* f = Find(Canonical(name));
    if (f == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(path, key.source()), ": unknown key '", name,
                       "' (known: ", absl::StrJoin(FlagNames(), ", "), ")"));
    }
    if (std::find(seen.begin(), seen.end(), f->name) != seen.end()) {
      return Invalid(where, "given twice (with dashes and with underscores)");
    }
    seen.emplace_back(f->name);
    Value v{.origin = where, .from_file = true};
    if (node.is_string()) {
      v.text = node.as_string()->get();
    } else if (node.is_integer()) {
      v.number = node.as_integer()->get();
    } else {
      return Invalid(where, f->kind == Kind::kInt ? "must be an integer" : "must be a string");
    }
    if (absl::Status st = Apply(*f, v, s); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status ApplyEnvironment(const Environment& env, State& s) {
  for (const FlagSpec& f : kFlags) {
    const std::string name = EnvName(f.name);
    if (auto it = env.find(name); it != env.end()) {
      if (absl::Status st = Apply(f, Value{.origin = name, .text = it->second}, s); !st.ok()) {
        return st;
      }
    }
  }
  // The key itself, instead of a file holding it.
  if (auto it = env.find("TOKENLEDGER_OPERATOR_KEY"); it != env.end()) {
    if (env.contains(EnvName("operator-key-file"))) {
      return Invalid("TOKENLEDGER_OPERATOR_KEY",
                     "set either it or TOKENLEDGER_OPERATOR_KEY_FILE, not both");
    }
    s.key_file.clear();
    s.config.operator_key = std::string(absl::StripAsciiWhitespace(it->second));
    s.key_origin = "TOKENLEDGER_OPERATOR_KEY";
  }
  return absl::OkStatus();
}

// Command-line flags in order: --name value, --name=value; dashes or underscores.
struct ParsedArgs {
  LoadedConfig::Action action = LoadedConfig::Action::kRun;
  std::vector<std::pair<const FlagSpec*, Value>> values;
  std::optional<std::string> config_file;
};

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      out.action = LoadedConfig::Action::kHelp;
      return out;
    }
    if (a == "--version") {
      out.action = LoadedConfig::Action::kVersion;
      return out;
    }
    if (a == "--migrate-only" || a == "--migrate_only") {
      out.action = LoadedConfig::Action::kMigrate;
      continue;
    }
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", a, "' (flags are --name value; see --help)"));
    }
    const size_t eq = a.find('=');
    const std::string name = Canonical(a.substr(2, eq == std::string::npos ? a.npos : eq - 2));
    const std::string origin = absl::StrCat("--", name);
    std::string value;
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Invalid(origin, "needs a value");
    }
    if (name == "config") {
      out.config_file = value;
      continue;
    }
    const FlagSpec* f = Find(name);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", origin, " (see --help)"));
    }
    out.values.emplace_back(f, Value{.origin = origin, .text = value});
  }
  return out;
}

// Checks that need every source in: required values, pairs, the operator key.
absl::Status Finish(State& s) {
  ServerConfig& c = s.config;
  if (c.database_url.empty()) {
    return absl::InvalidArgumentError(
        "database-url: required (--database-url, TOKENLEDGER_DATABASE_URL or database_url in the "
        "--config file)");
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return absl::InvalidArgumentError(c.tls_cert_file.empty()
                                          ? "tls-key: given without tls-cert (both or neither)"
                                          : "tls-cert: given without tls-key (both or neither)");
  }
  if (!c.tls_client_ca_file.empty() && c.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "tls-client-ca: needs tls-cert and tls-key (mutual TLS is TLS first)");
  }
  if (!s.key_file.empty()) {
    auto key = ReadFile(s.key_file, s.key_origin);
    if (!key.ok()) return key.status();
    c.operator_key = std::string(absl::StripAsciiWhitespace(*key));
  }
  if (!c.operator_key.empty() && c.operator_key.size() < kOperatorKeyMin) {
    return Invalid(s.key_origin, "the operator key must be at least 32 characters");
  }
  return absl::OkStatus();
}

// `text` in lines of at most 80 characters, each indented by 6 spaces.
std::string Wrap(absl::string_view text) {
  constexpr size_t kWidth = 80;
  std::string out, line;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line.empty() && line.size() + 1 + word.size() > kWidth) {
      absl::StrAppend(&out, "      ", line, "\n");
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  if (!line.empty()) absl::StrAppend(&out, "      ", line, "\n");
  return out;
}

}  // namespace

Environment ProcessEnvironment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const absl::string_view entry(*e);
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos || entry.rfind(kEnvPrefix, 0) != 0) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

absl::StatusOr<LoadedConfig> LoadConfig(const std::vector<std::string>& args,
                                        const Environment& env) {
  auto parsed = ParseArgs(args);
  if (!parsed.ok()) return parsed.status();
  LoadedConfig out;
  out.action = parsed->action;
  if (out.action == LoadedConfig::Action::kHelp || out.action == LoadedConfig::Action::kVersion) {
    return out;
  }
  State s;
  std::string config_origin = "--config";
  if (parsed->config_file) {
    out.config_file = *parsed->config_file;
  } else if (auto it = env.find("TOKENLEDGER_CONFIG"); it != env.end()) {
    out.config_file = it->second;
    config_origin = "TOKENLEDGER_CONFIG";
  }
  if (parsed->config_file && parsed->config_file->empty()) {
    return Invalid("--config", "must not be empty");
  }
  // Lowest precedence first: each later source overrides what an earlier one set.
  if (!out.config_file.empty()) {
    if (absl::Status st = ApplyFile(out.config_file, config_origin, s); !st.ok()) return st;
  }
  if (absl::Status st = ApplyEnvironment(env, s); !st.ok()) return st;
  for (const auto& [f, v] : parsed->values) {
    if (absl::Status st = Apply(*f, v, s); !st.ok()) return st;
  }
  if (absl::Status st = Finish(s); !st.ok()) return st;
  out.server = std::move(s.config);
  return out;
}

std::vector<std::string> FlagNames() {
  std::vector<std::string> out = {"config"};
  for (const FlagSpec& f : kFlags) out.emplace_back(f.name);
  return out;
}

std::string HelpText() {
  std::string out =
      "tokenledgerd: the tokenledger budget ledger daemon (gRPC, PostgreSQL).\n\n"
      "Usage: tokenledgerd --database-url URL [flags]\n\n"
      "Every flag can also be set by its environment variable or by a key of the --config file\n"
      "(the flag's name with underscores or dashes: database_url = \"...\"). Precedence:\n"
      "command line > environment > config file > default.\n\n"
      "  --config FILE\n"
      "      TOML file of settings.\n"
      "      env TOKENLEDGER_CONFIG; default: none\n";
  for (const FlagSpec& f : kFlags) {
    absl::StrAppend(&out, "  --", f.name, " ", f.value_name, "\n", Wrap(f.help), "      env ",
                    EnvName(f.name), "; default: ", f.default_text, "\n");
  }
  absl::StrAppend(&out,
                  "\nTOKENLEDGER_OPERATOR_KEY holds the operator key itself (instead of "
                  "--operator-key-file).\n"
                  "  --migrate-only  apply the migrations (--database-url, --migrations-dir) "
                  "and exit 0\n"
                  "  --help     this text\n"
                  "  --version  the version\n");
  return out;
}

}  // namespace tokenledger
