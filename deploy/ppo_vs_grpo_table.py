#!/usr/bin/env python3
"""ppo_vs_grpo_table.py OUT TASK...: the results of deploy/ppo_vs_grpo.sh.

Reads every run's metrics.jsonl and summary.json under OUT/TASK/ and writes
OUT/curves.tsv (one row per step: task, run, step, elapsed_s, the score
the task is judged by, the learned reward, the alarm), OUT/results.tsv (one
row per run) and prints the table. The score: held-out greedy accuracy for
arith (the steps with an evaluation); for review the hidden true preference
of the step's sampled completions (reward_preference_mean), which the
policy never trains on."""
import json
import os
import sys


def read_jsonl(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.endswith("\n"):
                break  # a line still being written
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not JSON: {e}")
    return rows


def score_of(task, row):
    if task == "arith":
        return row.get("eval_greedy_acc")
    return row.get("reward_preference_mean")


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: ppo_vs_grpo_table.py OUT TASK...")
    out, tasks = sys.argv[1], sys.argv[2:]
    curves, results = [], []
    for task in tasks:
        tdir = os.path.join(out, task)
        for run in ("grpo", "ppo", "ppo_beta0"):
            rdir = os.path.join(tdir, run)
            mpath = os.path.join(rdir, "metrics.jsonl")
            if not os.path.exists(mpath):
                continue
            rows = read_jsonl(mpath)
            with open(os.path.join(rdir, "summary.json")) as f:
                summ = json.load(f)
            completions = sum(r.get("completions", 0) for r in rows)
            tokens = sum(r.get("completions", 0) * (r.get("len_mean") or 0) for r in rows)
            scores = []
            for r in rows:
                s = score_of(task, r)
                if r.get("step", 0) == 0 and task == "review":
                    continue  # step 0 is the starting model's evaluation only
                # step 0 is the starting model's evaluation, at time 0
                curves.append((task, run, r.get("step"), r.get("elapsed_s", 0), s,
                               r.get("reward_rm_mean"), r.get("overopt_alarm", 0)))
                if s is not None:
                    scores.append((r.get("elapsed_s", 0), s))
            alarm_steps = sum(1 for r in rows if r.get("overopt_alarm"))
            first_alarm = next((r["step"] for r in rows if r.get("overopt_alarm")), None)
            first = scores[0][1] if scores else float("nan")
            last = scores[-1][1] if scores else float("nan")
            best = max((v for _, v in scores), default=float("nan"))
            if task == "review" and len(scores) >= 5:  # sampled: average 5 steps
                last = sum(s for _, s in scores[-5:]) / 5
                first = sum(s for _, s in scores[:5]) / 5
                best = max(sum(v for _, v in scores[k - 5:k]) / 5 for k in range(5, len(scores) + 1))
            # seconds to the target: held-out 0.9 (arith); the start + 0.05,
            # 5-step mean (review)
            t_target = None
            if task == "arith":
                t_target = next((t for t, v in scores if v >= 0.9), None)
            else:
                for k in range(5, len(scores) + 1):
                    if sum(v for _, v in scores[k - 5:k]) / 5 >= first + 0.05:
                        t_target = scores[k - 1][0]
                        break
            results.append({
                "task": task, "run": run, "steps": summ.get("steps_done"),
                "start": first, "end": last, "best": best,
                "train_s": summ.get("train_seconds"),
                "completions": completions, "tokens": round(tokens),
                "peak_rss_mib": summ.get("learner_peak_rss_mib"),
                "alarm_steps": alarm_steps,
                "first_alarm": first_alarm if first_alarm is not None else "-",
                "t_target": round(t_target, 1) if t_target is not None else "-",
            })
    with open(os.path.join(out, "curves.tsv"), "w") as f:
        f.write("task\trun\tstep\telapsed_s\tscore\trm\talarm\n")
        for c in curves:
            f.write("\t".join("" if v is None else str(v) for v in c) + "\n")
    cols = ["task", "run", "steps", "start", "end", "best", "t_target", "train_s", "completions",
            "tokens", "peak_rss_mib", "alarm_steps", "first_alarm"]
    with open(os.path.join(out, "results.tsv"), "w") as f:
        f.write("\t".join(cols) + "\n")
        for r in results:
            f.write("\t".join(str(r[c]) for c in cols) + "\n")
    print("score: arith = held-out greedy accuracy; review = hidden true preference of the sampled")
    print("completions (mean of the first / last / best 5 steps); t_target: training seconds to held-out")
    print("0.9 (arith) or to the start + 0.05 (review); peak RSS of the learner rank; alarm: steps")
    print("the over-optimisation alarm was on, and the first")
    print(f"{'task':7} {'run':10} {'steps':>5} {'start':>7} {'end':>7} {'best':>7} {'t_target':>8} "
          f"{'train_s':>8} {'completions':>11} {'tokens':>9} {'peak_MiB':>9} {'alarm':>5} "
          f"{'first':>5}")
    for r in results:
        print(f"{r['task']:7} {r['run']:10} {r['steps']:>5} {r['start']:7.3f} {r['end']:7.3f} "
              f"{r['best']:7.3f} "
              f"{r['t_target']:>8} {r['train_s']:8.1f} {r['completions']:11d} {r['tokens']:9d} "
              f"{r['peak_rss_mib']:9.1f} {r['alarm_steps']:5d} {r['first_alarm']:>5}")


if __name__ == "__main__":
    main()
