"""The tables auto-vs-experiment.sh prints: per data set, auto at 5 minutes against the best row of the 60-minute
experiment and the best frozen head, on the same split. python3 auto_vs_experiment.py OUT_DIR

Two tables. Validation accuracy is what both runs ranked their candidates and epochs by, so each run's best is also the
luckiest of the values it looked at, and the experiment looks at many more (every epoch of every row for an hour) than
auto does: its best validation score is the more inflated one. Where the split has a test set, which neither run saw
while choosing, the second table compares the chosen models on it: the fair comparison of the two procedures."""
import json
import os
import sys

out = sys.argv[1]
SETS = ("hymenoptera", "hds_shapes", "hds_shapes_3way", "fmnist")


def report(name):
    path = os.path.join(out, name, "report.json")
    return json.load(open(path)) if os.path.exists(path) else None


def best(entries, keep=lambda e: True):
    scored = [e for e in entries if e.get("score") is not None and keep(e)]
    return max(scored, key=lambda e: e["score"]) if scored else None


def fmt(e):
    return "%.3f (%s)" % (e["score"], e["candidate"]) if e else "-"


def is_head(e):
    return e["candidate"].startswith("feature-extractor/")


def points(a, b):
    return "%+.1f" % (100 * (a - b)) if a is not None and b is not None else "-"


def test_accuracy(r):
    return (r.get("testMetrics") or {}).get("accuracy") if r else None


print("Validation accuracy (what both runs chose by):")
print()
print("| data set | auto, 5 min | experiment, 60 min: best row | best frozen head (either run) | auto − best row | auto − best head |")
print("|---|---|---|---|---|---|")
tests = []
for name in SETS:
    auto, exp = report("auto-" + name), report("experiment-" + name)
    if auto is None:
        continue
    board, exp_board = auto["leaderboard"], exp["leaderboard"] if exp else None
    winner = next((e for e in board["entries"] if e["candidate"] == board["winner"]), None)
    top = best(exp_board["entries"]) if exp_board else None
    head = best((exp_board["entries"] if exp_board else []) + board["entries"], is_head)
    score = winner["score"] if winner else None
    print("| %s | %s | %s | %s | %s | %s |" % (name, fmt(winner), fmt(top), fmt(head),
                                              points(score, top and top["score"]), points(score, head and head["score"])))
    if test_accuracy(auto) is not None and test_accuracy(exp) is not None:
        # The experiment's saved model is its best row's, so its test metrics are that row's.
        tests.append((name, auto, exp, board["winner"], exp_board["winner"]))
print()
print("Points are percentage points; 'done' for issue 17 means auto − best row ≥ −1 and auto − best head ≥ 0.")
if tests:
    print()
    print("Test accuracy of the model each run chose (a split neither run looked at while choosing):")
    print()
    print("| data set | test images | auto, 5 min | experiment, 60 min | auto − experiment | validation − test: auto | validation − test: experiment |")
    print("|---|---|---|---|---|---|---|")
    for name, auto, exp, auto_winner, exp_winner in tests:
        a, e = test_accuracy(auto), test_accuracy(exp)
        n = (auto.get("counts") or {}).get("test", "?")
        va, ve = auto["validationMetrics"]["accuracy"], exp["validationMetrics"]["accuracy"]
        print("| %s | %s | %.3f (%s) | %.3f (%s) | %s | %s | %s |" % (name, n, a, auto_winner, e, exp_winner, points(a, e), points(va, a), points(ve, e)))
