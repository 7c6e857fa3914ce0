#!/usr/bin/python3
"""Checks a tokenledgerd log written with --log-format json: every line is one JSON object with
ts, level and msg. Prints one tab-separated line per call record (msg "call" or "call failed"):
  level, method, status, tenant, request_id
Exits 1, naming the line, when a line does not parse or lacks a field.

Usage: /usr/bin/python3 check_json_log.py LOG_FILE
"""

import json
import sys

CALL_FIELDS = ("method", "status", "tenant", "request_id")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = []
    with open(argv[1], encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except ValueError as e:
                print(f"line {number} is not JSON ({e}): {line!r}", file=sys.stderr)
                return 1
            if not isinstance(record, dict) or not {"ts", "level", "msg"} <= record.keys():
                print(f"line {number} lacks ts, level or msg: {line!r}", file=sys.stderr)
                return 1
            if record["msg"] not in ("call", "call failed"):
                continue
            missing = [k for k in CALL_FIELDS if not isinstance(record.get(k), str)]
            if missing:
                print(f"line {number}: call record without {missing}: {line!r}", file=sys.stderr)
                return 1
            out.append("\t".join([record["level"]] + [record[k] for k in CALL_FIELDS]))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
