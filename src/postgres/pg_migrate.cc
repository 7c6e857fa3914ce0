// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "postgres/pg_migrate.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tokenledger {
namespace {

// Key of the session advisory lock that serializes migration runs across processes ("tl-migr").
constexpr int64_t kMigrationLockKey = 0x746c2d6d69677200;
// Bounds: a migrations directory is small and hand-written.
constexpr size_t kMigrationFilesMax = 10000;
constexpr uintmax_t kMigrationBytesMax = uintmax_t{16} << 20;

struct Migration {
  int version = 0;
  std::string name;  // the file name
  std::string sql;
};

// "0001_init.sql" -> 1; nullopt for a file that is not a migration.
std::optional<int> VersionOf(absl::string_view name) {
  if (!absl::EndsWith(name, ".sql")) return std::nullopt;
  const size_t underscore = name.find('_');
  if (underscore == 0 || underscore == absl::string_view::npos || underscore > 9) {
    return std::nullopt;
  }
  const absl::string_view digits = name.substr(0, underscore);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return std::nullopt;
  }
  int version = 0;
  if (!absl::SimpleAtoi(digits, &version)) return std::nullopt;
  return version;
}

absl::StatusOr<std::vector<Migration>> ReadMigrations(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("migrations directory ", dir, ": ", ec.message()));
  }
  std::vector<Migration> out;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("migrations directory ", dir, ": ", ec.message()));
    }
    const std::string name = it->path().filename().string();
    std::optional<int> version = VersionOf(name);
    if (!version.has_value() || !it->is_regular_file(ec)) continue;
    if (out.size() >= kMigrationFilesMax) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", kMigrationFilesMax, " migrations in ", dir));
    }
    const uintmax_t size = fs::file_size(it->path(), ec);
    if (ec || size > kMigrationBytesMax) {
      return absl::InvalidArgumentError(absl::StrCat(
          "migration ", name, ": unreadable or larger than ", kMigrationBytesMax, " bytes"));
    }
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream contents;
    contents << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return absl::InvalidArgumentError(absl::StrCat("migration ", name, ": read failed"));
    }
    out.push_back(Migration{*version, name, contents.str()});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      return absl::InvalidArgumentError(absl::StrCat("migrations ", out[i - 1].name, " and ",
                                                     out[i].name, " have the same number"));
    }
  }
  return out;
}

std::string Message(const std::exception& e) {
  return std::string(absl::StripTrailingAsciiWhitespace(e.what()));
}

}  // namespace

absl::Status ApplyMigrations(const std::string& url, const std::string& dir,
                             std::vector<std::string>* applied) {
  // Read every file before touching the database: a bad directory changes nothing.
  absl::StatusOr<std::vector<Migration>> migrations = ReadMigrations(dir);
  if (!migrations.ok()) return migrations.status();
  std::string current;  // the migration being applied, for error messages
  try {
    pqxx::connection conn(url);
    pqxx::quiet_errorhandler quiet(conn);  // no notices on stderr: the store does not log
    std::set<int> done;
    {
      pqxx::nontransaction txn(conn);
      // A session lock: held across the per-migration transactions below, released by the
      // explicit unlock or, on any failure, when the connection closes. A second process waits
      // here, then finds the migrations applied.
      txn.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
      txn.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "version int PRIMARY KEY, name text NOT NULL, "
          "applied_at timestamptz NOT NULL DEFAULT now())");
      for (const pqxx::row& r : txn.exec("SELECT version FROM schema_migrations")) {
        done.insert(r[0].as<int>());
      }
    }
    for (const Migration& m : *migrations) {
      if (done.contains(m.version)) continue;
      current = m.name;
      pqxx::work txn(conn);
      txn.exec(m.sql);
      txn.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                       m.name);
      txn.commit();
      if (applied != nullptr) applied->push_back(m.name);
    }
    current.clear();
    pqxx::nontransaction txn(conn);
    txn.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(absl::StrCat("database unavailable: ", Message(e)));
  } catch (const pqxx::sql_error& e) {
    if (absl::StartsWith(e.sqlstate(), "08") || absl::StartsWith(e.sqlstate(), "57P")) {
      return absl::UnavailableError(absl::StrCat("database unavailable: ", Message(e)));
    }
    return absl::InternalError(absl::StrCat(current.empty() ? "migrations" : current, ": ",
                                            e.sqlstate(), ": ", Message(e)));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat(current.empty() ? "migrations" : current, ": ", Message(e)));
  }
  return absl::OkStatus();
}

std::string DefaultMigrationsDir() {
#ifdef TOKENLEDGER_MIGRATIONS_DIR
  return TOKENLEDGER_MIGRATIONS_DIR;
#else
  return "migrations";
#endif
}

}  // namespace tokenledger
