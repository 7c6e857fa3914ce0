// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "cli/output.h"

#include <algorithm>
#include <ctime>
#include <iostream>
#include <map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace tokenledger::cli {

namespace {

namespace pb = ::google::protobuf;

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

// A repeated message field's rows as text, by column; columns empty in every row are left out.
struct TableText {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> cells;  // one vector per row
  std::vector<size_t> widths;
};

// One cell of a table: field `f` of `row`. An unset time (0) is empty, as is any field of a
// sub-message the row does not have (`parent`: that sub-message's field, else null).
std::string Cell(const pb::Message& row, const pb::FieldDescriptor* parent,
                 const pb::FieldDescriptor* f) {
  const pb::Message* m = &row;
  if (parent != nullptr) {
    if (!row.GetReflection()->HasField(row, parent)) return "";
    m = &row.GetReflection()->GetMessage(row, parent);
  }
  if (f->is_map()) return FormatMap(*m, f);
  if (IsTimeField(f) && m->GetReflection()->GetInt64(*m, f) == 0) return "";
  return FormatScalar(*m, f, -1);
}

// Adds field `f` (of sub-message `parent` when not null) of every row of `t` as a column named
// after `f`, unless all its values are empty.
void AddColumn(const Table& t, const pb::FieldDescriptor* parent, const pb::FieldDescriptor* f,
               int n, TableText* text) {
  const pb::Reflection* r = t.message->GetReflection();
  std::vector<std::string> values;
  bool any = false;
  for (int i = 0; i < n; ++i) {
    values.push_back(Cell(r->GetRepeatedMessage(*t.message, t.field, i), parent, f));
    any = any || !values.back().empty();
  }
  if (!any) return;
  size_t width = f->name().size();
  for (int i = 0; i < n; ++i) {
    width = std::max(width, values[i].size());
    text->cells[i].push_back(values[i]);
  }
  text->header.push_back(f->name());
  text->widths.push_back(width);
}

bool IsScalarOrMap(const pb::FieldDescriptor* f) {
  if (f->is_map()) return true;
  return !f->is_repeated() && f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE;
}

void PrintTableLine(const std::vector<std::string>& line, const std::vector<size_t>& widths) {
  std::string out;
  for (size_t c = 0; c < line.size(); ++c) {
    const bool last = c + 1 == line.size();
    absl::StrAppend(&out, last ? line[c] : absl::StrFormat("%-*s  ", widths[c], line[c]));
  }
  absl::StripTrailingAsciiWhitespace(&out);
  std::cout << out << "\n";
}

// A repeated message field as an aligned table, a sub-message's fields as columns of their own;
// columns empty in every row are left out.
void PrintTable(const Table& t) {
  const pb::Reflection* r = t.message->GetReflection();
  const int n = r->FieldSize(*t.message, t.field);
  std::cout << "\n" << t.field->name() << " (" << n << ")" << (n == 0 ? "\n" : ":\n");
  if (n == 0) return;
  const pb::Descriptor* d = t.field->message_type();
  TableText text;
  text.cells.resize(n);
  for (int c = 0; c < d->field_count(); ++c) {
    const pb::FieldDescriptor* f = d->field(c);
    if (IsScalarOrMap(f)) {
      AddColumn(t, nullptr, f, n, &text);
    } else if (!f->is_repeated()) {  // a sub-message (e.g. usage): a column per scalar field
      const pb::Descriptor* sub = f->message_type();
      for (int k = 0; k < sub->field_count(); ++k) {
        if (IsScalarOrMap(sub->field(k))) AddColumn(t, f, sub->field(k), n, &text);
      }
    }
  }
  PrintTableLine(text.header, text.widths);
  for (const auto& line : text.cells) PrintTableLine(line, text.widths);
}

}  // namespace

void PrintRows(const Rows& rows) {
  size_t width = 0;
  for (const auto& [name, value] : rows) width = std::max(width, name.size());
  for (const auto& [name, value] : rows) {
    std::string line = absl::StrFormat("%-*s  %s", static_cast<int>(width), name, value);
    absl::StripTrailingAsciiWhitespace(&line);
    std::cout << line << "\n";
  }
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

}  // namespace tokenledger::cli
