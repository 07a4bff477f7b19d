#!/usr/bin/env bash
# Proof from outside the repository that the packages work as a user gets them (scripts/test.sh runs it after the tests):
#   1. dotnet pack every package into artifacts/ (version 0.1.0-check.<run>, so the NuGet cache never serves an old one);
#   2. dotnet tool install --tool-path the CLI from artifacts/, make a data set with it and train with it: the
#      feature extractor, and fine-tuning for one epoch (the engine found, libLibTorchSharp.so loading: the GLIBCXX patch
#      is in the tool's files);
#   3. fresh console apps in a temp folder, each with a nuget.config whose sources are artifacts/ plus the machine's feed:
#        predict  - references only MlNetTransfer: loads the CLI's zip and predicts; fine-tuning must refuse, naming the
#                   package to add; its build output must hold no libtorch, TorchSharp or ScottPlot;
#        finetune - references only MlNetTransfer.FineTuning: fine-tunes one epoch through ml.TransferLearning() (the
#                   package's buildTransitive step patched libLibTorchSharp.so in its output) and predicts.
#        pipeline - references only MlNetTransfer: composes MapValueToKey -> FeaturizeImage -> SdcaMaximumEntropy ->
#                   MapKeyToValue itself on the generated shapes, evaluates with ML.NET's evaluator, saves with ml.Model.Save,
#                   reloads and predicts the same; no libtorch or ScottPlot in its output.
#      Another app is a new_app call (its csproj and Program.cs) plus a run_app call.
# Every failed check stops the script with a line starting "package-check: FAIL".
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$(date +%s)

fail() { echo "package-check: FAIL: $*" >&2; exit 1; }
say() { echo "package-check: $*"; }

prefix=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' Directory.Build.props)
[ -n "$prefix" ] || fail "no <VersionPrefix> in Directory.Build.props"
suffix="check.$(date -u +%Y%m%d%H%M%S).$$"
version="$prefix-$suffix"
packages=(MlNetTransfer MlNetTransfer.FineTuning MlNetTransfer.Reporting MlNetTransfer.Serving.AspNetCore MlNetTransfer.Cli)
cache=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')
work=$(mktemp -d "${TMPDIR:-/tmp}/mlnt-package-check.XXXXXX")
cleanup() {
  # PACKAGE_CHECK_KEEP=1 keeps the temp folder (apps, tool, logs) to look into.
  if [ "${PACKAGE_CHECK_KEEP:-}" = 1 ]; then echo "package-check: kept $work"; else rm -rf "$work"; fi
  # This run's packages only: a unique version is never asked for again.
  for id in "${packages[@]}"; do rm -rf "$cache/${id,,}/$version"; done
}
trap cleanup EXIT

# ---- 1. pack ----------------------------------------------------------------------------------------------------------
say "packing $version into artifacts/"
mkdir -p artifacts
rm -f artifacts/MlNetTransfer*.nupkg
# The tool package is the CLI's publish folder: start it empty so nothing stale goes in.
rm -rf src/MlNetTransfer.Cli/bin/Release/net10.0/publish
for id in "${packages[@]}"; do
  dotnet build "src/$id" -c Release -v:q -nologo -clp:NoSummary > "$work/build-$id.log" 2>&1 \
    || { cat "$work/build-$id.log" >&2; fail "src/$id does not build"; }
  dotnet pack "src/$id" -c Release --no-build --version-suffix "$suffix" -v:q -nologo -clp:NoSummary > "$work/pack-$id.log" 2>&1 \
    || { cat "$work/pack-$id.log" >&2; fail "dotnet pack src/$id failed"; }
  [ -f "artifacts/$id.$version.nupkg" ] || fail "dotnet pack src/$id made no artifacts/$id.$version.nupkg"
done
# Listings go to files first: grep -q closing a pipe early would fail the pipeline under pipefail.
engine_pkg="artifacts/MlNetTransfer.FineTuning.$version.nupkg"
unzip -Z1 "$engine_pkg" > "$work/engine.files"
unzip -Z1 "artifacts/MlNetTransfer.$version.nupkg" > "$work/core.files"
for f in buildTransitive/MlNetTransfer.FineTuning.targets buildTransitive/WeakenMarkerLibstdcxxVersions.cs; do
  grep -qx "$f" "$work/engine.files" || fail "$engine_pkg lacks $f (the GLIBCXX fix its users need)"
done
grep -qx "models/catalog.json" "$work/core.files" || fail "the MlNetTransfer package lacks models/catalog.json"
if grep -qiE "torch|scottplot" "$work/core.files"; then fail "the MlNetTransfer package holds TorchSharp or ScottPlot files"; fi
for id in MlNetTransfer MlNetTransfer.FineTuning; do
  unzip -p "artifacts/$id.$version.nupkg" "$id.nuspec" > "$work/$id.nuspec"
  grep -q '<license type="expression">MIT</license>' "$work/$id.nuspec" || fail "$id.nuspec has no MIT licence expression"
  grep -q '<repository ' "$work/$id.nuspec" || fail "$id.nuspec has no repository URL"
  grep -q '<readme>README.md</readme>' "$work/$id.nuspec" || fail "$id.nuspec has no README"
done
if grep -qiE '<dependency id="[^"]*(torch|scottplot)' "$work/MlNetTransfer.nuspec"; then fail "the MlNetTransfer package depends on TorchSharp/libtorch"; fi
say "packed: $(cd artifacts && ls -- *"$version".nupkg | tr '\n' ' ')"

# ---- 2. the CLI as a .NET tool ----------------------------------------------------------------------------------------
say "dotnet tool install --tool-path MlNetTransfer.Cli $version"
dotnet tool install MlNetTransfer.Cli --version "$version" --tool-path "$work/tool" --add-source "$repo/artifacts" > "$work/tool-install.log" 2>&1 \
  || { cat "$work/tool-install.log" >&2; fail "dotnet tool install MlNetTransfer.Cli failed"; }
tool="$work/tool/mlnet-transfer"
[ -x "$tool" ] || fail "the tool install made no mlnet-transfer command"
patched=$(find "$work/tool/.store" -name libLibTorchSharp.so -print -quit)
[ -n "$patched" ] || fail "the tool's files hold no libLibTorchSharp.so"

cli() { # name, args...: runs the installed tool, its output kept in $work/<name>.log
  local name=$1; shift
  "$tool" "$@" > "$work/$name.log" 2>&1 || { tail -30 "$work/$name.log" >&2; fail "mlnet-transfer $* exited non-zero"; }
}
cli data data synthetic --out "$work/shapes" --images-per-class 12 --size 64
cli train-fe train --data "$work/shapes" --backbone synthetic-cnn --strategy feature-extractor --head-cv 0 --out "$work/fe/model.zip"
[ -s "$work/fe/model.zip" ] || fail "mlnet-transfer train (feature-extractor) wrote no model.zip"
cli train-ft train --data "$work/shapes" --backbone synthetic-cnn --strategy fine-tune --epochs 1 --out "$work/ft/model.zip"
[ -s "$work/ft/model.zip" ] || fail "mlnet-transfer train --strategy fine-tune wrote no model.zip"
python3 - "$work/ft/report.json" <<'PY' || fail "the fine-tune run's report.json is not that of a 1-epoch fine-tune run"
import json, sys
report = json.load(open(sys.argv[1]))
tuned = [e for e in report["learningCurve"] if e["phase"] == "fine-tune"]
sys.exit(0 if report["strategy"] == "fine-tune" and len(tuned) == 1 else 1)
PY
say "the installed tool trained a feature-extractor and a 1-epoch fine-tuned model on generated shapes"

# ---- 3. fresh apps that reference the packages ------------------------------------------------------------------------
cat > "$work/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<!-- The machine's own feeds (user configuration) plus this run's packages. -->
<configuration>
  <packageSources>
    <add key="mlnettransfer-artifacts" value="$repo/artifacts" />
  </packageSources>
</configuration>
EOF

new_app() { # name, package ids...; Program.cs on stdin
  local name=$1; shift
  mkdir -p "$work/$name"
  {
    echo '<Project Sdk="Microsoft.NET.Sdk">'
    echo '  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings><Nullable>enable</Nullable></PropertyGroup>'
    echo '  <ItemGroup>'
    for id in "$@"; do echo "    <PackageReference Include=\"$id\" Version=\"$version\" />"; done
    echo '  </ItemGroup>'
    echo '</Project>'
  } > "$work/$name/$name.csproj"
  cat > "$work/$name/Program.cs"
  dotnet build "$work/$name" -c Release -nologo -clp:NoSummary > "$work/$name-build.log" 2>&1 \
    || { grep -E "error|warn" "$work/$name-build.log" | sort -u >&2; fail "the fresh '$name' app referencing $* does not build"; }
}
run_app() { # name, args...
  local name=$1; shift
  dotnet "$work/$name/bin/Release/net10.0/$name.dll" "$@" > "$work/$name-run.log" 2>&1 \
    || { cat "$work/$name-run.log" >&2; fail "the '$name' app exited non-zero"; }
  sed 's/^/  /' "$work/$name-run.log"
}
output_mb() { du -sm "$work/$1/bin/Release/net10.0" | cut -f1; }

new_app predict MlNetTransfer <<'EOF'
using Microsoft.ML;
using MlNetTransfer;

// A model zip trained by mlnet-transfer, loaded and used by an app that has only the MlNetTransfer package.
var (zip, images) = (args[0], args[1]);
var ml = new MLContext(seed: 0);
using var classifier = ImageClassifier.Load(ml, zip);
var files = Directory.GetFiles(images, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
var matches = 0;
foreach (var file in files)
{
    var prediction = classifier.Predict(file);
    if (!classifier.Classes.Contains(prediction.Label)) throw new Exception($"{file}: predicted '{prediction.Label}', not one of the model's classes");
    if (prediction.Label == Path.GetFileName(Path.GetDirectoryName(file))) matches++;
}
Console.WriteLine($"predicted {files.Count} images with {zip}: {matches} agree with their folder");

// Without MlNetTransfer.FineTuning, fine-tuning refuses and names the package.
try
{
    ml.TransferLearning().Train(new TransferLearningOptions { DataPath = images, Backbone = "synthetic-cnn", Strategy = TransferLearningOptions.FineTuneStrategy });
    Console.Error.WriteLine("fine-tuning ran without the MlNetTransfer.FineTuning package");
    return 1;
}
catch (MlNetTransferException e) when (e.Message.Contains("dotnet add package MlNetTransfer.FineTuning"))
{
    Console.WriteLine($"fine-tune without the engine package: {e.Message}");
}
return 0;
EOF
run_app predict "$work/fe/model.zip" "$work/shapes"
heavy=$(cd "$work/predict/bin/Release/net10.0" && find . \( -iname '*torch*' -o -iname '*scottplot*' \) -print)
[ -z "$heavy" ] || fail "the predict-only app's build output holds $heavy (MlNetTransfer must not bring TorchSharp, libtorch or ScottPlot)"
[ -f "$work/predict/bin/Release/net10.0/models/catalog.json" ] || fail "the predict-only app's output lacks models/catalog.json (buildTransitive/MlNetTransfer.targets)"
predict_mb=$(output_mb predict)

new_app finetune MlNetTransfer.FineTuning <<'EOF'
using Microsoft.ML;
using MlNetTransfer;

// An app with the MlNetTransfer.FineTuning package: the facade finds the engine and fine-tunes.
var (images, zip) = (args[0], args[1]);
var ml = new MLContext(seed: 0);
var options = new TransferLearningOptions { DataPath = images, Backbone = "synthetic-cnn", Strategy = TransferLearningOptions.FineTuneStrategy };
options.FineTune.Epoch = 1;
var result = ml.TransferLearning().Train(options);
if (result.Report.FineTune is null || result.Report.LearningCurve.Count(e => e.Phase == "fine-tune") != 1) throw new Exception("the fine-tune run did not train its one epoch");
result.Save(zip);
using var classifier = ImageClassifier.Load(ml, zip);
var first = Directory.GetFiles(images, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First();
Console.WriteLine($"fine-tuned 1 epoch (validation accuracy {result.Report.Metrics.Accuracy:0.000}); {Path.GetFileName(first)} -> {classifier.Predict(first).Label}");
return 0;
EOF
# The package's buildTransitive step patches the copy in the app's output where this machine's libstdc++ needs it.
if ! grep -q "GLIBCXX_3.4.32" /usr/lib/x86_64-linux-gnu/libstdc++.so.6 2>/dev/null; then
  grep -q "libLibTorchSharp.so: marked weak" "$work/finetune-build.log" \
    || fail "building an app that references MlNetTransfer.FineTuning did not patch libLibTorchSharp.so (buildTransitive/MlNetTransfer.FineTuning.targets)"
fi
run_app finetune "$work/shapes" "$work/finetune.zip"
finetune_mb=$(output_mb finetune)

new_app pipeline MlNetTransfer <<'EOF'
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Featurization;

// ML.NET's own composition with only the MlNetTransfer package: MapValueToKey -> FeaturizeImage -> SdcaMaximumEntropy -> MapKeyToValue,
// evaluated with ML.NET's evaluator, saved with ml.Model.Save, reloaded and compared.
var (images, zip) = (args[0], args[1]);
var ml = new MLContext(seed: 0);
var rows = Directory.GetFiles(images, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
    .Select(f => new Row { ImagePath = f, Label = Path.GetFileName(Path.GetDirectoryName(f))! }).ToList();
var data = ml.Data.LoadFromEnumerable(rows);
var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(ml.Transforms.FeaturizeImage(backbone: "synthetic-cnn"))
    .AppendCacheCheckpoint(ml)
    .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(featureColumnName: "embedding"))
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
var model = pipeline.Fit(data);
var scored = model.Transform(data);
var metrics = ml.MulticlassClassification.Evaluate(scored);
var classes = rows.Select(r => r.Label).Distinct().Count();
Console.WriteLine($"{rows.Count} images, {classes} classes: training micro-accuracy {metrics.MicroAccuracy:0.000}, log-loss {metrics.LogLoss:0.000}");
if (metrics.MicroAccuracy < 1.5 / classes) throw new Exception($"accuracy {metrics.MicroAccuracy:0.000} is not above chance ({1.0 / classes:0.000}) by half");
ml.Model.Save(model, data.Schema, zip);
var reloaded = ml.Model.Load(zip, out _);
var before = scored.GetColumn<string>("PredictedLabel").ToArray();
var after = reloaded.Transform(data).GetColumn<string>("PredictedLabel").ToArray();
if (!before.SequenceEqual(after)) throw new Exception("the reloaded pipeline predicts differently");
Console.WriteLine($"saved with ml.Model.Save, reloaded: the same {after.Length} predictions");
return 0;

sealed class Row
{
    public string ImagePath { get; set; } = "";
    public string Label { get; set; } = "";
}
EOF
run_app pipeline "$work/shapes" "$work/pipeline.zip"
heavy=$(cd "$work/pipeline/bin/Release/net10.0" && find . \( -iname '*torch*' -o -iname '*scottplot*' \) -print)
[ -z "$heavy" ] || fail "the catalog-pipeline app's build output holds $heavy"

say "build output: predict-only app (MlNetTransfer) ${predict_mb} MB; with MlNetTransfer.FineTuning ${finetune_mb} MB"
say "passed in $(( $(date +%s) - started )) s"
