// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The daemon's log lines, through spdlog's default logger on stderr: human-readable text
//   2026-05-04T10:00:00.123456Z info call failed tenant=acme method=Authorize status=NOT_FOUND
// or JSON lines, one object per line
//   {"ts":"2026-05-04T10:00:00.123456Z","level":"info","msg":"call failed","tenant":"acme",...}
// Plain spdlog calls (spdlog::info("...")) come out in the same format without fields.
//
// Thread-safe. Fields reach the formatter through a thread-local, so the logger must stay
// synchronous (no spdlog async logger).
#ifndef TOKENLEDGER_OBS_LOG_H_
#define TOKENLEDGER_OBS_LOG_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "spdlog/common.h"

namespace tokenledger::obs {

enum class LogFormat { kText, kJson };
std::optional<LogFormat> ParseLogFormat(std::string_view name);  // "text" or "json"
// trace, debug, info, warn, error (spdlog::level::from_str turns unknown names into "off").
std::optional<spdlog::level::level_enum> ParseLogLevel(std::string_view name);

// Makes spdlog's default logger write to stderr in `format`, at `level` and above.
void InitLogging(LogFormat format, spdlog::level::level_enum level);

struct LogField {
  std::string_view key;
  std::string_view value;
  bool number = false;  // JSON: written unquoted (the caller passes digits)
};

// Logs `msg` with `fields` at `level`; nothing is formatted when the level is off.
void Log(spdlog::level::level_enum level, std::string_view msg, absl::Span<const LogField> fields);

// One record as a line without the newline (exposed for tests).
std::string FormatRecord(LogFormat format, absl::Time ts, spdlog::level::level_enum level,
                         std::string_view msg, absl::Span<const LogField> fields);

// `s` as the inside of a JSON string: quotes, backslashes and control characters escaped,
// invalid UTF-8 replaced by U+FFFD.
std::string JsonEscape(std::string_view s);

// A database URL or libpq connection string with its password replaced by "***":
// postgresql://user:***@host/db, "host=h password=*** dbname=d", ?password=***.
std::string RedactDatabaseUrl(std::string_view url);

}  // namespace tokenledger::obs

#endif  // TOKENLEDGER_OBS_LOG_H_
