"""Prints run-auto.sh's results as one markdown table per data set: every leaderboard row with its fine-tuning epochs
(pretrained layers learning; the head-only warm-up not counted), its rung (0: heads; 1..: successive halving), median
training img/s, validation accuracy and status.
Usage: summarize_auto.py OUT_DIR [OUT_DIR_BEFORE]  (with two folders, the first column says which run a row is from)."""
import json
import os
import sys


def fmt(v, f):
    return "-" if v is None else f % v


def main():
    folders = sys.argv[1:]
    for name in ("hymenoptera", "hds_shapes", "fmnist"):
        lines = []
        for folder in folders:
            path = os.path.join(folder, name, "report.json")
            if not os.path.exists(path):
                continue
            report = json.load(open(path))
            board, budget = report["leaderboard"], report.get("budget") or {}
            scenario = (report.get("scenario") or {}).get("title", "?")
            tag = os.path.basename(os.path.normpath(folder))
            for e in board["entries"]:
                is_winner = e["candidate"] == board.get("winner") and board.get("winnerRung") in (None, e.get("rung"))
                winner = " **(winner)**" if is_winner else ""
                lines.append("| %s | %s%s | %s | %s | %s | %s | %s | %.0f | %s |" % (
                    tag, e["candidate"], winner, fmt(e.get("rung"), "%d"), fmt(e.get("freezeFraction"), "%.2f"), fmt(e.get("fineTuningEpochs"), "%d"),
                    fmt(e.get("imagesPerSecond"), "%.1f"), fmt(e.get("score"), "%.3f"), e["wallSeconds"], e["status"]))
            lines.append("| %s | budget %.0f s, used %.0f s; scenario: %s | | | | | | | |" % (
                tag, budget.get("budgetSeconds", 0), budget.get("elapsedSeconds", 0), scenario))
        if lines:
            print("\n%s\n" % name)
            print("| run | candidate | rung | freeze | fine-tuning epochs | img/s | val accuracy | seconds | status |")
            print("|---|---|---|---|---|---|---|---|---|")
            print("\n".join(lines))


if __name__ == "__main__":
    main()
