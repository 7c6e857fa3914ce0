// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "obs/log.h"

#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "spdlog/formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace tokenledger::obs {

namespace {

// The fields of the record being logged on this thread (see Log()).
thread_local absl::Span<const LogField> t_fields;

const char* LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// The length of the valid UTF-8 sequence at s[i], or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

// JSON string escaping; for text lines (json false) quotes and backslashes stay as they are.
std::string Escape(std::string_view s, bool json) {
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8Length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += json ? "\\\"" : "\"";
        break;
      case '\\':
        out += json ? "\\\\" : "\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

// Text values are written bare when they are plain words, else quoted and escaped like JSON.
bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7F) return true;
  }
  return false;
}

void AppendTextValue(std::string& out, std::string_view v) {
  if (NeedsQuotes(v)) {
    absl::StrAppend(&out, "\"", JsonEscape(v), "\"");
  } else {
    out.append(v);
  }
}

class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line =
        FormatRecord(format_, absl::FromChrono(msg.time), msg.level,
                     std::string_view(msg.payload.data(), msg.payload.size()), t_fields);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  const LogFormat format_;
};

// Replaces the value that starts at `from` (up to a character of `stops` or the end) by ***.
std::string MaskUntil(std::string_view s, size_t from, std::string_view stops) {
  const size_t end = s.find_first_of(stops, from);
  std::string out(s.substr(0, from));
  out += "***";
  if (end != std::string_view::npos) out.append(s.substr(end));
  return out;
}

std::string RedactUrl(std::string_view url) {
  std::string out(url);
  const size_t start = out.find("://") + 3;
  const size_t auth_end = std::min(out.find_first_of("/?", start), out.size());
  const size_t at = out.rfind('@', auth_end);
  if (at != std::string::npos && at >= start) {
    const size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) {
      out = absl::StrCat(out.substr(0, colon + 1), "***", out.substr(at));
    }
  }
  for (size_t q = out.find('?'); q != std::string::npos;) {
    const size_t param = q + 1;
    if (out.compare(param, 9, "password=") == 0) out = MaskUntil(out, param + 9, "&");
    q = out.find('&', param);
  }
  return out;
}

// libpq "key=value key='quoted value'" strings.
std::string RedactKeywords(std::string_view conninfo) {
  std::string out(conninfo);
  for (size_t p = out.find("password"); p != std::string::npos; p = out.find("password", p + 1)) {
    if (p > 0 && !absl::ascii_isspace(static_cast<unsigned char>(out[p - 1]))) continue;
    size_t v = p + 8;
    while (v < out.size() && out[v] == ' ') ++v;
    if (v >= out.size() || out[v] != '=') continue;
    ++v;
    while (v < out.size() && out[v] == ' ') ++v;
    if (v < out.size() && out[v] == '\'') {
      size_t e = v + 1;
      while (e < out.size() && out[e] != '\'') e += out[e] == '\\' ? 2 : 1;
      out = absl::StrCat(out.substr(0, v), "***", e < out.size() ? out.substr(e + 1) : "");
    } else {
      out = MaskUntil(out, v, " \t\n");
    }
  }
  return out;
}

}  // namespace

std::optional<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  for (auto l : {spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
                 spdlog::level::warn, spdlog::level::err}) {
    if (name == LevelName(l)) return l;
  }
  return std::nullopt;
}

void InitLogging(LogFormat format, spdlog::level::level_enum level) {
  auto logger = std::make_shared<spdlog::logger>("tokenledgerd",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(std::make_unique<LineFormatter>(format));
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
}

void Log(spdlog::level::level_enum level, std::string_view msg, absl::Span<const LogField> fields) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  t_fields = fields;
  logger->log(level, spdlog::string_view_t(msg.data(), msg.size()));
  t_fields = {};
}

std::string FormatRecord(LogFormat format, absl::Time ts, spdlog::level::level_enum level,
                         std::string_view msg, absl::Span<const LogField> fields) {
  const std::string when = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", ts, absl::UTCTimeZone());
  std::string out;
  if (format == LogFormat::kJson) {
    absl::StrAppend(&out, "{\"ts\":\"", when, "\",\"level\":\"", LevelName(level), "\",\"msg\":\"",
                    JsonEscape(msg), "\"");
    for (const LogField& f : fields) {
      absl::StrAppend(&out, ",\"", JsonEscape(f.key), "\":");
      if (f.number && !f.value.empty()) {
        out.append(f.value);
      } else {
        absl::StrAppend(&out, "\"", JsonEscape(f.value), "\"");
      }
    }
    out += "}";
    return out;
  }
  absl::StrAppend(&out, when, " ", LevelName(level), " ");
  // Control characters in the message are escaped: a newline must not start a line that looks
  // like a record of its own.
  out += Escape(msg, false);
  for (const LogField& f : fields) {
    out += ' ';
    out.append(f.key);
    out += '=';
    AppendTextValue(out, f.value);
  }
  return out;
}

std::string JsonEscape(std::string_view s) { return Escape(s, true); }

std::string RedactDatabaseUrl(std::string_view url) {
  if (url.find("://") != std::string_view::npos) return RedactUrl(url);
  return RedactKeywords(url);
}

}  // namespace tokenledger::obs
