#!/usr/bin/python3
"""Scrapes a tokenledgerd /metrics endpoint and parses it with Prometheus' own text parser.

Usage: /usr/bin/python3 scrape_metrics.py http://127.0.0.1:PORT/metrics

Prints, on success (exit 0):
  content-type <the Content-Type header>
  family <name> <type>                          one per metric family
  sample <name>{<label>="<value>",...} <value>  one per sample, labels sorted by name
Exits 1 with a message when the endpoint cannot be read or the text does not parse.
"""

import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(argv[1], timeout=10) as response:
            content_type = response.headers.get("Content-Type", "")
            text = response.read().decode("utf-8")
    except OSError as e:
        print(f"scrape_metrics: cannot read {argv[1]}: {e}", file=sys.stderr)
        return 1
    lines = [f"content-type {content_type}"]
    try:
        for family in text_string_to_metric_families(text):
            lines.append(f"family {family.name} {family.type}")
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                lines.append(f"sample {s.name}{{{labels}}} {s.value!r}")
    except Exception as e:  # the parser raises ValueError and others on malformed text
        print(f"scrape_metrics: the exposition does not parse: {e!r}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
