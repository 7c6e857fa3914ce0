// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// Log lines: the text and JSON formats, escaping, and what is masked.
#include "obs/log.h"

#include <string>

#include "gtest/gtest.h"

namespace tokenledger::obs {
namespace {

const absl::Time kTs = absl::FromUnixMicros(1'777'777'777'123'456);

TEST(LogTest, JsonLinesCarryTimeLevelMessageAndFields) {
  const LogField fields[] = {{"tenant", "acme"},
                             {"method", "Authorize"},
                             {"request_id", "r-1"},
                             {"status", "OK"},
                             {"duration_us", "42", true}};
  EXPECT_EQ(FormatRecord(LogFormat::kJson, kTs, spdlog::level::debug, "call", fields),
            R"({"ts":"2026-05-03T03:09:37.123456Z","level":"debug","msg":"call",)"
            R"("tenant":"acme","method":"Authorize","request_id":"r-1","status":"OK",)"
            R"("duration_us":42})");
  EXPECT_EQ(FormatRecord(LogFormat::kJson, kTs, spdlog::level::warn, "plain", {}),
            R"({"ts":"2026-05-03T03:09:37.123456Z","level":"warn","msg":"plain"})");
}

TEST(LogTest, TextLinesQuoteOnlyWhatNeedsIt) {
  const LogField fields[] = {
      {"tenant", ""}, {"method", "Grant"}, {"error", "account_id: \"x y\" unknown"}};
  EXPECT_EQ(FormatRecord(LogFormat::kText, kTs, spdlog::level::info, "call failed", fields),
            R"(2026-05-03T03:09:37.123456Z info call failed tenant="" method=Grant )"
            R"(error="account_id: \"x y\" unknown")");
}

TEST(LogTest, NoValueCanBreakALineOrTheJson) {
  const LogField fields[] = {{"k", "a\nb\r\t\x01\x7f\"\\"}};
  EXPECT_EQ(FormatRecord(LogFormat::kJson, kTs, spdlog::level::err, "m\n{\"fake\":1}", fields),
            R"({"ts":"2026-05-03T03:09:37.123456Z","level":"error",)"
            R"("msg":"m\n{\"fake\":1}","k":"a\nb\r\t\u0001\u007f\"\\"})");
  const std::string text =
      FormatRecord(LogFormat::kText, kTs, spdlog::level::info, "two\nlines", fields);
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
}

TEST(LogTest, JsonEscapeKeepsUtf8AndReplacesWhatIsNot) {
  EXPECT_EQ(JsonEscape("plain"), "plain");
  EXPECT_EQ(JsonEscape("Zürich €5 \xF0\x9F\x98\x80"), "Zürich €5 \xF0\x9F\x98\x80");
  EXPECT_EQ(JsonEscape("bad \xFF byte"), "bad \\ufffd byte");
  EXPECT_EQ(JsonEscape("cut \xE2\x82"), "cut \\ufffd\\ufffd");
  EXPECT_EQ(JsonEscape("surrogate \xED\xA0\x80"), "surrogate \\ufffd\\ufffd\\ufffd");
  EXPECT_EQ(JsonEscape("overlong \xC0\xAF"), "overlong \\ufffd\\ufffd");
}

TEST(LogTest, DatabasePasswordsAreMasked) {
  EXPECT_EQ(RedactDatabaseUrl("postgresql://ledger:s3cr%40t@db.internal:5432/tokenledger"),
            "postgresql://ledger:***@db.internal:5432/tokenledger");
  EXPECT_EQ(RedactDatabaseUrl("postgres://ledger@db/tl?sslmode=require&password=hunter2&x=1"),
            "postgres://ledger@db/tl?sslmode=require&password=***&x=1");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://db/tl?password=hunter2"),
            "postgresql://db/tl?password=***");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://ledger@db:5432/tl"), "postgresql://ledger@db:5432/tl");
  EXPECT_EQ(RedactDatabaseUrl("host=db user=ledger password=hunter2 dbname=tl"),
            "host=db user=ledger password=*** dbname=tl");
  EXPECT_EQ(RedactDatabaseUrl("host=db password = 'two words\\' here' dbname=tl"),
            "host=db password = *** dbname=tl");
}

TEST(LogTest, LevelsAndFormatsParse) {
  EXPECT_EQ(ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(ParseLogLevel("error"), spdlog::level::err);
  EXPECT_FALSE(ParseLogLevel("loud").has_value());
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("xml").has_value());
}

}  // namespace
}  // namespace tokenledger::obs
