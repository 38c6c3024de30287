#!/usr/bin/env python3
"""faulty.py MODE [K | DIR]: an external verifier that scores like the
arith task's own verifier (accuracy, format; reward = accuracy + 0.1 *
format) and misbehaves as MODE says, on the K-th request this process
reads (counting from 1), for test_external_verifier.c:

  good            never misbehaves
  crash K         exits (status 3) without replying
  hang K          sleeps a minute without replying
  garbage K       replies with a line that is not JSON
  long K          replies with a line of 70000 bytes (over the 64 KiB cap)
  badcomp K       replies with accuracy 1.5 (outside [0, 1])
  nan K           replies with reward NaN (not a finite number)
  twice K         replies twice
  wrongid K       replies with another id
  exit_after K    exits (status 0) right after replying
  closein K       replies, closes its stdin, exits 0.3 s later (the next
                  request, with pipeline 1, is written to a closed pipe)
  exit_first DIR  exits at start on its first launch only (marker DIR/started)
  always_exit     exits at start every time, after a line on stderr
  slowstart S     sleeps S seconds at start (loading a model), then good
  echo            reward = the number after 'c' in the completion ("c17": 17),
                  after a random pause of up to 2 ms (replies race across processes)
  fds             reward = how many fds above 2 it inherited
"""
import json
import os
import random
import re
import sys
import time

INTEGER = re.compile(r"-?(0|[1-9][0-9]*)\Z")


def arith_score(req):
    text = req["completion"]
    sign = "-" if text.endswith("-") else ""
    text = sign + text[: len(text) - len(sign)][::-1]
    form = req["finished"] and INTEGER.match(text) is not None and text != "-0"
    acc = 1.0 if form and text == req["answer"] else 0.0
    fmt = 1.0 if form else 0.0
    return {"id": req["id"], "reward": acc + 0.1 * fmt,
            "components": {"accuracy": acc, "format": fmt}}


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    mode = sys.argv[1]
    arg = sys.argv[2] if len(sys.argv) > 2 else "0"
    if mode == "always_exit":
        sys.stderr.write("faulty.py: cannot load the reward model (always_exit)\n")
        sys.exit(2)
    if mode == "exit_first":
        try:
            os.close(os.open(os.path.join(arg, "started"), os.O_CREAT | os.O_EXCL, 0o644))
            sys.exit(1)
        except FileExistsError:
            pass
    if mode == "slowstart":
        time.sleep(float(arg))
    inherited = len([f for f in os.listdir("/proc/self/fd") if int(f) > 2]) - 1
    k = int(arg) if arg.isdigit() else 0
    n = 0
    for line in sys.stdin:
        n += 1
        req = json.loads(line)
        reply = arith_score(req)
        if mode == "echo":
            time.sleep(random.random() * 0.002)
            reply = {"id": req["id"], "reward": float(req["completion"][1:])}
        elif mode == "fds":
            reply = {"id": req["id"], "reward": inherited}
        if n == k:
            if mode == "crash":
                sys.exit(3)
            if mode == "hang":
                time.sleep(60)
            if mode == "garbage":
                sys.stdout.write("this is not json\n")
                sys.stdout.flush()
                continue
            if mode == "long":
                reply["pad"] = "x" * 70000
            if mode == "badcomp":
                reply["components"]["accuracy"] = 1.5
            if mode == "nan":
                reply["reward"] = float("nan")
            if mode == "twice":
                send(reply)
            if mode == "wrongid":
                reply["id"] = req["id"] + 1000
        send(reply)
        if n == k and mode == "exit_after":
            sys.exit(0)
        if n == k and mode == "closein":
            os.close(0)
            time.sleep(0.3)
            sys.exit(0)


if __name__ == "__main__":
    main()
