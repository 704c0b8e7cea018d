#!/usr/bin/env python3
"""Answer time questions with BBC's `mediatimestamp`, for the differential test of rushes-time.

Reads one JSON object per line on stdin and writes one JSON object per line on stdout,
in the same order: {"ok": <answer>} or {"err": "<message>"}. Integers travel as decimal
strings so that no JSON reader rounds them.

Requests ("op" and its fields):
  ts_parse        s                   -> canonical "sec:nsec" text of Timestamp.from_str(s)
  ts_format       ns                  -> Timestamp(ns=ns).to_sec_nsec()
  tr_parse        s                   -> TimeRange.from_str(s).to_sec_nsec_range()
  tr_contains     r, t                -> Timestamp t in TimeRange r (bool)
  tr_overlaps     a, b                -> {"overlaps": bool, "intersection": text}
  tr_intersection a, b                -> text of a.intersect_with(b)
  tr_extend       a, b                -> text of a.extend_to_encompass_timerange(b)
  tr_shift        r, ns               -> text of r with both bounds moved by ns
  count_to_ts     count, num, den     -> nanoseconds of Timestamp.from_count(count, num, den)
  ts_to_count     ns, num, den, rounding ("down" | "nearest" | "up")
                                      -> Timestamp(ns=ns).to_count(num, den, rounding)

Exit status 3 with a message on stderr when mediatimestamp cannot be imported.
Install: python3 -m venv .venv && .venv/bin/pip install -r tools/python-requirements.txt
"""

import json
import sys

try:
    from mediatimestamp.immutable import Timestamp, TimeRange
except ImportError as e:  # pragma: no cover - reported to the Rust test
    sys.stderr.write(
        "mediatimestamp is not importable by {}: {}\n"
        "Install it: python3 -m venv .venv && .venv/bin/pip install -r tools/python-requirements.txt\n".format(
            sys.executable, e
        )
    )
    sys.exit(3)

ROUNDING = {
    "down": Timestamp.ROUND_DOWN,
    "nearest": Timestamp.ROUND_NEAREST,
    "up": Timestamp.ROUND_UP,
}


def ts_from_ns(text):
    return Timestamp(ns=int(text))


def shift(r, by):
    if r.is_empty():
        return TimeRange.never()
    start = None if r.start is None else r.start + by
    end = None if r.end is None else r.end + by
    return TimeRange(start, end, r.inclusivity)


def answer(req):
    op = req["op"]
    if op == "ts_parse":
        return Timestamp.from_str(req["s"]).to_sec_nsec()
    if op == "ts_format":
        return ts_from_ns(req["ns"]).to_sec_nsec()
    if op == "tr_parse":
        return TimeRange.from_str(req["s"]).to_sec_nsec_range()
    if op == "tr_contains":
        return Timestamp.from_str(req["t"]) in TimeRange.from_str(req["r"])
    if op == "tr_overlaps":
        a, b = TimeRange.from_str(req["a"]), TimeRange.from_str(req["b"])
        return {
            "overlaps": a.overlaps_with_timerange(b),
            "intersection": a.intersect_with(b).to_sec_nsec_range(),
        }
    if op == "tr_intersection":
        a, b = TimeRange.from_str(req["a"]), TimeRange.from_str(req["b"])
        return a.intersect_with(b).to_sec_nsec_range()
    if op == "tr_extend":
        a, b = TimeRange.from_str(req["a"]), TimeRange.from_str(req["b"])
        return a.extend_to_encompass_timerange(b).to_sec_nsec_range()
    if op == "tr_shift":
        return shift(TimeRange.from_str(req["r"]), ts_from_ns(req["ns"])).to_sec_nsec_range()
    if op == "count_to_ts":
        return str(Timestamp.from_count(int(req["count"]), int(req["num"]), int(req["den"])).to_nanosec())
    if op == "ts_to_count":
        ts = ts_from_ns(req["ns"])
        return str(ts.to_count(int(req["num"]), int(req["den"]), ROUNDING[req["rounding"]]))
    raise ValueError("unknown op {!r}".format(op))


def main():
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            reply = {"ok": answer(json.loads(line))}
        except Exception as e:  # every failure is an answer, never a crash
            reply = {"err": "{}: {}".format(type(e).__name__, e)}
        out.write(json.dumps(reply))
        out.write("\n")
    out.flush()


if __name__ == "__main__":
    main()
