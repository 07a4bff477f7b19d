// Checks and measurements for bench/Scale (see run.sh and RESULTS.md):
//   compare DIR_A DIR_B          the embeddings shards of two runs hold the same rows (path, label, split, content and
//                                backbone SHA-256) and bit-identical embeddings; each path exactly once; exit 1 otherwise
//   gather N [DIM] [CLASSES] [TRAINER]  the gather step on N synthetic DIM-float embeddings: Parquet write and read of the rows,
//                                then each head fitted as 'train --embeddings --head-cv 0' fits it; seconds and peak memory
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetTransfer.Featurization;
using MlNetTransfer.Heads;
using Parquet.Serialization;

return args.FirstOrDefault() switch
{
    "compare" when args.Length == 3 => Compare(args[1], args[2]),
    "gather" when args.Length >= 2 => Gather(int.Parse(args[1]), args.Length > 2 ? int.Parse(args[2]) : 1280, args.Length > 3 ? int.Parse(args[3]) : 10,
        args.Length > 4 ? (args[4] == "none" ? [] : [HeadOptions.Parse(args[4])]) : [HeadTrainer.Lbfgs, HeadTrainer.Sdca]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: ScaleCheck compare DIR_A DIR_B | ScaleCheck gather N [DIM] [CLASSES] [sdca|lbfgs|svm]");
    return 2;
}

static List<EmbeddingShardRow> Rows(string dir)
{
    var rows = new List<EmbeddingShardRow>();
    foreach (var file in Directory.GetFiles(dir, "embeddings-*.parquet").Order(StringComparer.Ordinal))
    {
        rows.AddRange(GatheredEmbeddings.ReadRows(file));
    }
    return rows;
}

static int Compare(string a, string b)
{
    var (left, right) = (Rows(a), Rows(b));
    var duplicates = left.Count - left.Select(r => r.Path).Distinct().Count() + right.Count - right.Select(r => r.Path).Distinct().Count();
    var byPath = right.GroupBy(r => r.Path).ToDictionary(g => g.Key, g => g.First());
    int identical = 0, differing = 0, missing = 0;
    foreach (var row in left)
    {
        if (!byPath.Remove(row.Path, out var other)) { missing++; continue; }
        var same = row.Label == other.Label && row.Split == other.Split && row.ContentSha256 == other.ContentSha256
            && row.BackboneSha256 == other.BackboneSha256
            && MemoryMarshal.AsBytes(row.Embedding.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(other.Embedding.AsSpan()));
        if (same) identical++; else differing++;
    }
    var extra = byPath.Count;
    Console.WriteLine($"{a}: {left.Count} rows; {b}: {right.Count} rows; bit-identical {identical}, differing {differing}, " +
                      $"only in the first {missing}, only in the second {extra}, duplicated paths {duplicates}");
    return differing == 0 && missing == 0 && extra == 0 && duplicates == 0 && left.Count > 0 ? 0 : 1;
}

static int Gather(int n, int dim, int classes, HeadTrainer[] trainers)
{
    var random = new Random(1);
    // Class centres plus noise: separable enough that the trainers converge as on real embeddings, not instantly.
    var centres = Enumerable.Range(0, classes).Select(_ => Enumerable.Range(0, dim).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();
    var rows = new EmbeddingShardRow[n];
    for (var i = 0; i < n; i++)
    {
        var c = i % classes;
        var e = new float[dim];
        for (var j = 0; j < dim; j++) e[j] = centres[c][j] + (float)(random.NextDouble() * 2 - 1);
        rows[i] = new EmbeddingShardRow { Path = $"c{c}/img{i:D7}.jpg", Label = $"c{c}", ContentSha256 = new string('0', 64), BackboneSha256 = new string('0', 64), Embedding = e };
    }
    var file = Path.Combine(Path.GetTempPath(), $"scalecheck-{Environment.ProcessId}.parquet");
    var sw = Stopwatch.StartNew();
    using (var fs = File.Create(file)) ParquetSerializer.SerializeAsync(rows, fs).GetAwaiter().GetResult();
    var write = sw.Elapsed.TotalSeconds;
    var bytes = new FileInfo(file).Length;
    sw.Restart();
    rows = GatheredEmbeddings.ReadRows(file).ToArray();
    var read = sw.Elapsed.TotalSeconds;
    File.Delete(file);
    Console.WriteLine($"n={n} dim={dim} classes={classes}: parquet {bytes / 1e6:0.0} MB, write {write:0.0} s, read {read:0.0} s, peak working set so far {Peak()} MB");

    foreach (var trainer in trainers)
    {
        var ml = new MLContext(42);
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Embedding)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, dim);
        schema[nameof(Row.Embedding)].ColumnName = ImageFeaturizer.EmbeddingColumn;
        var data = ml.Data.LoadFromEnumerable(rows.Select(r => new Row { Label = r.Label, Embedding = r.Embedding }), schema);
        var keyed = ml.Transforms.Conversion.MapValueToKey(HeadEstimator.LabelColumn).Fit(data).Transform(data);
        sw.Restart();
        var cached = ml.Data.Cache(keyed);
        var options = new HeadOptions { Trainer = trainer, CrossValidationFolds = 0 };
        HeadEstimator.Create(ml, ImageFeaturizer.EmbeddingColumn, options).Fit(cached);
        Console.WriteLine($"  {trainer.ToString().ToLowerInvariant()}: fit {sw.Elapsed.TotalSeconds:0.0} s (head-cv 0), peak working set {Peak()} MB");
    }
    return 0;
}

static long Peak() => Process.GetCurrentProcess().PeakWorkingSet64 / (1024 * 1024);

sealed class Row
{
    public string Label { get; set; } = "";
    public float[] Embedding { get; set; } = [];
}
