"""The table auto-vs-experiment.sh prints: per data set, auto at 5 minutes against the best row of the 60-minute
experiment and the best frozen head (validation accuracy, same split). python3 auto_vs_experiment.py OUT_DIR"""
import json
import os
import sys

out = sys.argv[1]


def board(name):
    path = os.path.join(out, name, "report.json")
    return json.load(open(path))["leaderboard"] if os.path.exists(path) else None


def best(entries, keep=lambda e: True):
    scored = [e for e in entries if e.get("score") is not None and keep(e)]
    return max(scored, key=lambda e: e["score"]) if scored else None


def fmt(e):
    return "%.3f (%s)" % (e["score"], e["candidate"]) if e else "-"


def is_head(e):
    return e["candidate"].startswith("feature-extractor/")


print("| data set | auto, 5 min | experiment, 60 min: best row | best frozen head (either run) | auto − best row | auto − best head |")
print("|---|---|---|---|---|---|")
for name in ("hymenoptera", "hds_shapes", "fmnist"):
    auto, exp = board("auto-" + name), board("experiment-" + name)
    if auto is None:
        continue
    winner = next((e for e in auto["entries"] if e["candidate"] == auto["winner"]), None)
    top = best(exp["entries"]) if exp else None
    head = best((exp["entries"] if exp else []) + auto["entries"], is_head)
    gap = lambda other: "%+.1f" % (100 * (winner["score"] - other["score"])) if winner and other else "-"
    print("| %s | %s | %s | %s | %s | %s |" % (name, fmt(winner), fmt(top), fmt(head), gap(top), gap(head)))
print()
print("Points are percentage points of validation accuracy; 'done' for issue 17 means auto − best row ≥ −1 and auto − best head ≥ 0.")
