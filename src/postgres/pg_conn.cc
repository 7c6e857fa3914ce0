// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "postgres/pg_conn.h"

#include <poll.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tokenledger {
namespace pg_internal {

std::string Message(const std::exception& e) {
  return std::string(absl::StripTrailingAsciiWhitespace(e.what()));
}

// Classifies the exception being handled (call only inside a catch block). `at_commit`: the
// exception came from COMMIT, where a lost connection leaves the outcome unknown; before COMMIT,
// a lost connection means the server rolled the transaction back.
bool ClosedByServer(const pqxx::connection& conn) {
  const int fd = conn.sock();
  if (fd < 0) return true;
  // An idle session gets nothing from the server unprompted but for this end (no LISTEN here).
  pollfd p{.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
  const int n = ::poll(&p, 1, /*timeout_ms=*/0);
  return n != 0;  // readable, hung up, or poll failed: do not send on it
}

Failure ClassifyCurrentException(bool at_commit) {
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return {absl::UnknownError(absl::StrCat("commit in doubt: ", Message(e))), true};
  } catch (const pqxx::statement_completion_unknown& e) {
    if (at_commit) {
      return {absl::UnknownError(absl::StrCat("commit in doubt: ", Message(e))), true};
    }
    return {absl::UnavailableError(absl::StrCat("database connection lost: ", Message(e))), true};
  } catch (const pqxx::transaction_rollback& e) {
    // Serialization failure or deadlock: the server rolled back; a retry may succeed.
    return {absl::UnavailableError(absl::StrCat("transaction rolled back: ", Message(e))), false};
  } catch (const pqxx::broken_connection& e) {
    if (at_commit) {
      return {absl::UnknownError(absl::StrCat("commit in doubt: ", Message(e))), true};
    }
    return {absl::UnavailableError(absl::StrCat("database unavailable: ", Message(e))), true};
  } catch (const pqxx::unique_violation& e) {
    return {absl::AlreadyExistsError(Message(e)), false};
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    // 08: connection exception; 57P: the server is shutting down or starting.
    if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P")) {
      return {absl::UnavailableError(absl::StrCat("database unavailable: ", Message(e))), true};
    }
    // 57014: statement timeout or cancel; 53: insufficient resources (disk full, memory, too
    // many connections). Nothing was committed and a later retry may succeed.
    if (state == "57014" || absl::StartsWith(state, "53")) {
      return {absl::UnavailableError(absl::StrCat("database unavailable: ", Message(e))), false};
    }
    return {absl::InternalError(absl::StrCat("database error ", state, ": ", Message(e))), false};
  } catch (const std::exception& e) {
    return {absl::InternalError(absl::StrCat("database client error: ", Message(e))), false};
  } catch (...) {
    return {absl::InternalError("database client error: unknown exception"), false};
  }
}

// Appends libpq connection parameters to a URI (postgresql://...) or to a key=value conninfo.
// Later parameters override earlier ones in both forms.
std::string WithConnParams(const std::string& url,
                           const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out = url;
  const bool uri = absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://");
  bool has_query = url.find('?') != std::string::npos;
  for (const auto& [k, v] : params) {
    if (uri) {
      out += has_query ? '&' : '?';
      has_query = true;
      out += k;
      out += '=';
      for (unsigned char c : v) {
        if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
          out += static_cast<char>(c);
        } else {
          absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
        }
      }
    } else {
      absl::StrAppend(&out, out.empty() ? "" : " ", k, "='");
      for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
      }
      out += '\'';
    }
  }
  return out;
}

}  // namespace pg_internal
}  // namespace tokenledger
