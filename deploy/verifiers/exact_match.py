#!/usr/bin/env python3
"""exact_match.py: an external verifier ([task] verifier = python3
deploy/verifiers/exact_match.py --strip), Python 3 standard library only.

Reads one JSON request per line on stdin, writes one JSON reply per line
on stdout, in the same order (the protocol: README, "External verifiers").

  accuracy  1 if the completion equals the reference answer and the model
            stopped by itself (finished), else 0
  format    1 if the completion is one integer written without a needless
            leading zero (and finished), else 0
  reward    accuracy + 0.1 * format (the arith task's default weights)

Options:
  --strip    compare the completion with surrounding whitespace removed
  --reverse  the completion writes the answer's digits least-significant
             first, then '-' if negative, as the arith task does: "861"
             for 168, "2-" for -2
"""
import json
import re
import sys

INTEGER = re.compile(r"-?(0|[1-9][0-9]*)\Z")


def unreverse(text):
    """'861' -> '168', '2-' -> '-2' (arith's answer writing undone)."""
    sign = "-" if text.endswith("-") else ""
    return sign + text[: len(text) - len(sign)][::-1]


def score(req, strip, reverse):
    text = req["completion"]
    if strip:
        text = text.strip()
    if reverse:
        text = unreverse(text)
    finished = bool(req["finished"])
    well_formed = finished and INTEGER.match(text) is not None and text != "-0"
    accuracy = 1.0 if finished and text == req["answer"] else 0.0
    fmt = 1.0 if well_formed else 0.0
    return {"id": req["id"], "reward": accuracy + 0.1 * fmt,
            "components": {"accuracy": accuracy, "format": fmt}}


def main():
    strip = "--strip" in sys.argv[1:]
    reverse = "--reverse" in sys.argv[1:]
    for line in sys.stdin:
        reply = score(json.loads(line), strip, reverse)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()  # the trainer waits for each reply


if __name__ == "__main__":
    main()
