"""Prints the results table (markdown) from the report.json and command.txt files run-results.sh wrote."""
import json
import os
import sys

out = sys.argv[1]
print("| data | strategy | options | accuracy | macro-F1 | evaluated on | epochs (best) | train s | total s |")
print("|---|---|---|---|---|---|---|---|---|")
for name in sorted(os.listdir(out)):
    path = os.path.join(out, name, "report.json")
    if not os.path.exists(path):
        continue
    r = json.load(open(path))
    m = r["metrics"]
    ft = r.get("fineTune")
    epochs = "%d (%d)" % (ft["epochsRun"], ft["bestEpoch"]) if ft else "-"
    data = "hymenoptera" if name.startswith("h-") else "fashion-mnist"
    command = open(os.path.join(out, name, "command.txt")).read()
    options = command.split("--seed 42", 1)[1].split("--out", 1)[0].strip()
    print("| %s | %s | `%s` | %.3f | %.3f | %s (%d) | %s | %.0f | %.0f |" % (
        data, name[2:], options, m["accuracy"], m["macroF1"], r["evaluatedOn"], m["examples"], epochs,
        r["timings"]["trainSeconds"] + r["timings"]["featurizeSeconds"] * (0 if ft else 1), r["timings"]["totalSeconds"]))
