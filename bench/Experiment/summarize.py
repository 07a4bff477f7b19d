"""Prints an experiment's leaderboard (markdown) from its report.json: python3 summarize.py OUT_DIR/report.json [TITLE]."""
import json
import sys

report = json.load(open(sys.argv[1]))
title = sys.argv[2] if len(sys.argv) > 2 else report.get("dataPath", "")
board = report["leaderboard"]
curves = {c["candidate"]: c["points"] for c in report.get("candidateCurves", [])}
split = report.get("evaluatedOn", "validation")
print("| %s: candidate | freeze | val accuracy | val macro-F1 | seconds | status | epochs |" % title)
print("|---|---|---|---|---|---|---|")
for e in board["entries"]:
    score = "%.3f" % e["score"] if e.get("score") is not None else "-"
    f1 = "%.3f" % e["macroF1"] if e.get("macroF1") is not None else "-"
    mark = " **(winner)**" if e["candidate"] == board["winner"] else ""
    note = e.get("note") or ""
    epochs = note if e["candidate"] in curves else "-"
    print("| %s%s | %.2f | %s | %s | %.0f | %s | %s |" % (
        e["candidate"], mark, e.get("freezeFraction", 1), score, f1, e["wallSeconds"], e["status"], epochs))
b = report["budget"]
print()
print("Budget %.0f s, used %.0f s (overshoot %.1f s); %d skipped, %d stopped at the budget, %d failed." % (
    b["budgetSeconds"], b["elapsedSeconds"], b["overshootSeconds"], b["skippedCandidates"], b["stoppedCandidates"], b.get("failedCandidates", 0)))
if report.get("evaluatedOn") == "test":
    m = report["metrics"]
    print("The saved winner (%s) on the held-out test split (%d images): accuracy %.3f, macro-F1 %.3f." % (
        board["winner"], m["examples"], m["accuracy"], m["macroF1"]))
