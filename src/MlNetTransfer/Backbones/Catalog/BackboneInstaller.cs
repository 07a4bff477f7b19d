using System.Text;
using System.Text.Json;
using MlNetTransfer.Backbones.Onnx;

namespace MlNetTransfer.Backbones.Catalog;

/// <summary>
/// Puts a catalog backbone into the local cache, from the first source that has it: the cache itself (verified),
/// mirror folders, the npm registry (for npm-sourced entries), then an HTTPS download that resumes where a failed one
/// stopped. Every file is checked against its SHA-256 before use, and an install is atomic: files are gathered in a
/// staging folder and moved into place only when all of them verified.
/// </summary>
public sealed class BackboneInstaller
{
    /// <summary>File written into each install folder describing its entry, so a folder is self-describing
    /// (and a user's imported model can be found again by name).</summary>
    public const string ManifestFileName = "backbone.json";

    /// <summary>File holding an entry's inline class names.</summary>
    public const string InlineLabelsFileName = "labels.txt";

    private static readonly Lazy<HttpClient> SharedHttp = new(() =>
    {
        var client = new HttpClient { Timeout = Timeout.InfiniteTimeSpan }; // stalls are caught per read instead
        client.DefaultRequestHeaders.UserAgent.ParseAdd("mlnet-transfer");
        return client;
    });

    public BackboneInstaller(BackboneCatalog catalog, InstallOptions? options = null)
    {
        Catalog = catalog;
        Options = options ?? new InstallOptions();
    }

    public BackboneCatalog Catalog { get; }

    public InstallOptions Options { get; }

    /// <summary>The folder an entry is (or would be) installed in.</summary>
    public string InstallDirectory(CatalogEntry entry) => Path.Combine(Options.CacheDirectory, entry.InstallDirectoryName);

    /// <summary>Installs (or finds in the cache) the backbone called <paramref name="name"/>; see <see cref="InstallAsync"/>.</summary>
    public InstalledBackbone Install(string name, CancellationToken ct = default) => InstallAsync(name, ct).GetAwaiter().GetResult();

    /// <summary>
    /// Returns the verified install of <paramref name="name"/>, installing it first when needed. A catalog name is
    /// resolved cache → mirrors → npm → HTTPS; the name of a model the user imported earlier is found in the cache.
    /// When no source has a file, throws one <see cref="MlNetTransferException"/> that says what was tried and how to
    /// install from a file instead.
    /// </summary>
    public async Task<InstalledBackbone> InstallAsync(string name, CancellationToken ct = default)
    {
        var entry = Catalog.TryFind(name);
        if (entry is null)
        {
            if (FindImported(name) is { } imported)
            {
                var damage = Verify(imported, InstallDirectory(imported));
                if (damage.Count == 0) return Describe(imported, InstallDirectory(imported), custom: true);
                throw new MlNetTransferException(
                    $"Your imported model '{name}' in {InstallDirectory(imported)} is damaged ({string.Join("; ", damage)}). " +
                    $"Import it again with `mlnet-transfer backbones import PATH --name {name}`.");
            }
            entry = Catalog.Find(name); // throws, listing the known names
        }

        var target = InstallDirectory(entry);
        if (Directory.Exists(target))
        {
            var problems = Verify(entry, target);
            if (problems.Count == 0)
            {
                Log($"{entry.Name}: verified in the cache ({target}).");
                return Describe(entry, target, custom: false);
            }
            Log($"{entry.Name}: the cached copy in {target} is damaged ({string.Join("; ", problems)}); reinstalling.");
        }

        var staging = NewWorkDirectory(entry.InstallDirectoryName);
        try
        {
            var missing = entry.Files.ToList();
            var failures = new List<string>();
            await FromMirrorsAsync(entry, missing, staging, failures, ct).ConfigureAwait(false);
            if (missing.Any(f => f.NpmPath is not null)) await FromNpmAsync(entry, missing, staging, failures, ct).ConfigureAwait(false);
            if (missing.Count > 0) await DownloadAsync(entry, missing, staging, failures, ct).ConfigureAwait(false);
            if (missing.Count > 0) throw NoSource(entry, missing, failures);

            await InstallLabelsAsync(entry, staging, ct).ConfigureAwait(false);
            WriteManifest(entry, staging);
            Commit(staging, target);
            Log($"{entry.Name}: installed in {target}.");
        }
        finally
        {
            TryDeleteDirectory(staging);
        }
        return Describe(entry, target, custom: false);
    }

    /// <summary>The verified install of <paramref name="name"/> (a catalog entry or an imported model), or null when it
    /// is not installed or a file fails verification.</summary>
    public InstalledBackbone? TryGetInstalled(string name)
    {
        var entry = Catalog.TryFind(name);
        var custom = entry is null;
        entry ??= FindImported(name);
        if (entry is null) return null;
        var dir = InstallDirectory(entry);
        if (!Directory.Exists(dir)) return null;
        var problems = Verify(entry, dir);
        if (problems.Count > 0)
        {
            Log($"{entry.Name}: the cached copy in {dir} is damaged ({string.Join("; ", problems)}).");
            return null;
        }
        return Describe(entry, dir, custom);
    }

    /// <summary>The entry recorded for a model the user imported as <paramref name="name"/>, or null.</summary>
    private CatalogEntry? FindImported(string name)
    {
        if (!CatalogEntry.SafeName().IsMatch(name)) return null;
        var entry = ReadManifest(Path.Combine(Options.CacheDirectory, name));
        return entry is not null && string.Equals(entry.Name, name, StringComparison.OrdinalIgnoreCase)
               && Catalog.TryFind(entry.Name) is null ? entry : null;
    }

    /// <summary>Quick check by file presence and size only (no hashing), for listings.</summary>
    public BackboneStatus GetStatus(CatalogEntry entry)
    {
        var dir = InstallDirectory(entry);
        if (!Directory.Exists(dir)) return BackboneStatus.NotInstalled;
        foreach (var f in entry.Files)
        {
            var info = new FileInfo(Path.Combine(dir, f.Name));
            if (!info.Exists || info.Length != f.Size) return BackboneStatus.Damaged;
        }
        return BackboneStatus.Installed;
    }

    /// <summary>Whether every file of <paramref name="entry"/> is in a mirror folder (by name; the hashes are checked on install).</summary>
    public bool IsInMirrors(CatalogEntry entry) => entry.Files.All(f => MirrorCandidates(entry, f, Options.EffectiveMirrors()).Any(File.Exists));

    /// <summary>Models the user imported under names the catalog does not have (not hash-verified; see <see cref="TryGetInstalled"/>).</summary>
    public IReadOnlyList<InstalledBackbone> ListImported()
    {
        if (!Directory.Exists(Options.CacheDirectory)) return [];
        var catalogDirectories = Catalog.All.Select(e => e.InstallDirectoryName).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var found = new List<InstalledBackbone>();
        foreach (var dir in Directory.GetDirectories(Options.CacheDirectory).Order(StringComparer.Ordinal))
        {
            var folder = Path.GetFileName(dir);
            if (folder.StartsWith('.') || catalogDirectories.Contains(folder)) continue;
            if (ReadManifest(dir) is { } entry && Catalog.TryFind(entry.Name) is null) found.Add(Describe(entry, dir, custom: true));
        }
        return found;
    }

    /// <summary>Human-readable lines saying where <paramref name="entry"/> is or would be installed from, in resolution order.</summary>
    public IReadOnlyList<string> DescribeSources(CatalogEntry entry)
    {
        var lines = new List<string>();
        var dir = InstallDirectory(entry);
        lines.Add($"cache: {dir} ({GetStatus(entry) switch { BackboneStatus.Installed => "installed", BackboneStatus.Damaged => "damaged, would be replaced", _ => "not installed" }})");

        var mirrors = Options.EffectiveMirrors();
        if (mirrors.Count == 0) lines.Add($"mirrors: none (give --mirror DIR or set {InstallOptions.MirrorsVariable})");
        foreach (var mirror in mirrors)
        {
            var hits = entry.Files.Select(f => MirrorCandidates(entry, f, [mirror]).FirstOrDefault(File.Exists)).Where(p => p is not null).ToList();
            lines.Add(!Directory.Exists(mirror) ? $"mirror: {mirror} (folder does not exist)"
                : hits.Count == 0 ? $"mirror: {mirror} (has none of the files)"
                : hits.Count == 1 ? $"mirror: {hits[0]}"
                : $"mirror: {mirror} ({hits.Count} of {entry.Files.Count} files, e.g. {hits[0]})");
        }

        if (entry.Npm is { } npm && entry.Files.Any(f => f.NpmPath is not null))
        {
            var exe = NpmPackage.Find(Options.NpmCommand);
            lines.Add(!Options.AllowNpm ? $"npm: {npm.Spec} (npm disabled)"
                : exe is not null ? $"npm: `npm pack {npm.Spec}` with {exe}"
                : $"npm: {npm.Spec} ('{Options.NpmCommand}' is not on PATH{(npm.TarballUrl is null ? "" : $"; would download {npm.TarballUrl}")})");
        }

        var urls = entry.Files.Where(f => f.Url is not null).ToList();
        if (urls.Count > 0)
        {
            var state = Options.AllowDownload ? "" : " (downloads disabled)";
            lines.Add(urls.Count == 1 ? $"download: {urls[0].Url}{state}" : $"download: {urls.Count} files from {CommonUrlBase(urls)}{state}");
        }
        return lines;
    }

    /// <summary>Synchronous <see cref="ImportFileAsync"/>.</summary>
    public InstalledBackbone ImportFile(string path, string? name = null) => ImportFileAsync(path, name).GetAwaiter().GetResult();

    /// <summary>
    /// Copies a user's model into the cache. <paramref name="path"/> is an .onnx file, a TF.js model folder, a folder
    /// holding a catalog entry's files, or an npm .tgz. When <paramref name="name"/> is a catalog entry (or the file's
    /// hash identifies one) every file must match the catalog's SHA-256; otherwise the model is stored under
    /// <paramref name="name"/> (default: the file name) as the user's own, with its hashes recorded.
    /// </summary>
    public async Task<InstalledBackbone> ImportFileAsync(string path, string? name = null, CancellationToken ct = default)
    {
        var full = Path.GetFullPath(path);
        var isDirectory = Directory.Exists(full);
        if (!isDirectory && !File.Exists(full)) throw new MlNetTransferException($"{path}: no such file or folder.");

        var entry = name is null ? FindCatalogMatch(full, isDirectory) : Catalog.TryFind(name);
        if (entry is not null) return await ImportCatalogEntryAsync(entry, full, isDirectory, ct).ConfigureAwait(false);
        return await ImportCustomAsync(full, isDirectory, name, ct).ConfigureAwait(false);
    }

    private async Task FromMirrorsAsync(CatalogEntry entry, List<CatalogFile> missing, string staging, List<string> failures, CancellationToken ct)
    {
        var mirrors = Options.EffectiveMirrors();
        if (mirrors.Count == 0)
        {
            failures.Add($"mirrors: none given (use --mirror DIR or set {InstallOptions.MirrorsVariable})");
            return;
        }
        foreach (var mirror in mirrors.Where(m => !Directory.Exists(m)))
        {
            failures.Add($"mirror folder {mirror} does not exist");
            Log($"{entry.Name}: mirror folder {mirror} does not exist.");
        }
        var taken = new List<string>();
        foreach (var file in missing.ToList())
            foreach (var candidate in MirrorCandidates(entry, file, mirrors).Where(File.Exists))
            {
                if (!await TakeVerifiedAsync(entry, file, candidate, $"mirror {candidate}", staging, failures, ct).ConfigureAwait(false)) continue;
                missing.Remove(file);
                taken.Add(candidate);
                break;
            }
        LogTaken(entry, taken, "copied from mirror");
        if (missing.Count > 0)
            failures.Add($"mirrors ({string.Join(", ", mirrors)}): no verified copy of {DescribeFiles(missing)}");
    }

    private async Task FromNpmAsync(CatalogEntry entry, List<CatalogFile> missing, string staging, List<string> failures, CancellationToken ct)
    {
        var npm = entry.Npm!;
        if (!Options.AllowNpm)
        {
            failures.Add($"npm: {npm.Spec} not tried (npm is disabled)");
            return;
        }
        var work = NewWorkDirectory("npm-" + npm.Package);
        string? downloaded = null;
        string? tarball = null;
        try
        {
            var exe = NpmPackage.Find(Options.NpmCommand);
            if (exe is null)
                failures.Add($"npm: the '{Options.NpmCommand}' command is not on PATH");
            else
            {
                Log($"{entry.Name}: running `npm pack {npm.Spec}`.");
                Report(entry, $"{npm.Package}-{npm.Version}.tgz", $"npm {npm.Spec}", 0, null);
                try
                {
                    tarball = await NpmPackage.PackAsync(exe, npm, work, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception)
                {
                    failures.Add($"npm: {e.Message}");
                    Log($"{entry.Name}: {e.Message}");
                }
            }

            if (tarball is null && npm.TarballUrl is not null)
            {
                if (!Options.AllowDownload)
                    failures.Add($"download {npm.TarballUrl}: not tried (downloads are disabled)");
                else
                {
                    downloaded = PartialPath(".npm", $"{npm.Package}-{npm.Version}.tgz");
                    try
                    {
                        await Downloader().RunAsync(npm.TarballUrl, downloaded, null,
                            (done, total) => Report(entry, Path.GetFileName(downloaded), npm.TarballUrl, done, total), ct).ConfigureAwait(false);
                        if (npm.Integrity is not null && !FileHashing.MatchesIntegrity(downloaded, npm.Integrity))
                        {
                            File.Delete(downloaded);
                            failures.Add($"refused download {npm.TarballUrl}: it does not match the registry integrity {npm.Integrity}; deleted it");
                        }
                        else tarball = downloaded;
                    }
                    catch (Exception e) when (e is HttpRequestException or IOException)
                    {
                        failures.Add($"download {npm.TarballUrl}: failed ({Reason(e)})");
                    }
                }
            }
            if (tarball is null) return;

            var npmFiles = missing.Where(f => f.NpmPath is not null).ToList();
            var wanted = npmFiles.ToDictionary(f => f.NpmPath!, f => Path.Combine(staging, f.Name), StringComparer.Ordinal);
            foreach (var destination in wanted.Values) File.Delete(destination);
            Dictionary<string, string> hashes;
            try
            {
                hashes = await NpmPackage.ExtractAsync(tarball, wanted,
                    (p, done, total) => Report(entry, Path.GetFileName(p), $"npm {npm.Spec}", done, total), ct).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                failures.Add($"npm {npm.Spec}: {tarball} is not a readable .tgz ({e.Message})");
                return;
            }
            var taken = new List<string>();
            foreach (var file in npmFiles)
            {
                if (!hashes.TryGetValue(file.NpmPath!, out var actual))
                {
                    failures.Add($"npm {npm.Spec}: the package has no {file.NpmPath}");
                    continue;
                }
                if (actual != file.Sha256)
                {
                    File.Delete(wanted[file.NpmPath!]);
                    Refuse(entry, failures, $"{file.NpmPath} from npm {npm.Spec}", file, actual);
                    continue;
                }
                missing.Remove(file);
                taken.Add(file.NpmPath!);
            }
            LogTaken(entry, taken, $"from npm {npm.Spec}:");
        }
        finally
        {
            TryDeleteDirectory(work);
            // A complete tarball is not needed once unpacked; an interrupted one stays for the next attempt to resume.
            if (tarball is not null && tarball == downloaded && File.Exists(downloaded)) File.Delete(downloaded);
        }
    }

    private async Task DownloadAsync(CatalogEntry entry, List<CatalogFile> missing, string staging, List<string> failures, CancellationToken ct)
    {
        var downloadable = missing.Where(f => f.Url is not null).ToList();
        if (downloadable.Count == 0) return;
        if (!Options.AllowDownload)
        {
            failures.Add($"download: not tried (downloads are disabled); {DescribeFiles(downloadable)} would come from {CommonUrlBase(downloadable)}");
            return;
        }
        var downloader = Downloader();
        var taken = new List<string>();
        try
        {
            await DownloadEachAsync(entry, downloadable, missing, staging, failures, downloader, taken, ct).ConfigureAwait(false);
        }
        finally
        {
            LogTaken(entry, taken, "downloaded from");
        }
    }

    private async Task DownloadEachAsync(CatalogEntry entry, List<CatalogFile> downloadable, List<CatalogFile> missing, string staging,
        List<string> failures, ResumableDownload downloader, List<string> taken, CancellationToken ct)
    {
        for (var i = 0; i < downloadable.Count; i++)
        {
            var file = downloadable[i];
            var partial = PartialPath(entry.InstallDirectoryName, file.Name);
            try
            {
                await downloader.RunAsync(file.Url!, partial, file.Size, (done, total) => Report(entry, file.Name, file.Url!, done, total), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                var kept = File.Exists(partial) ? new FileInfo(partial).Length : 0;
                failures.Add($"download {file.Url}: failed ({Reason(e)})"
                             + (kept > 0 ? $"; {kept} of {file.Size} bytes are kept in {partial} and the next install resumes from there" : ""));
                // Without a network every further request would fail the same way; say so once.
                if (e is HttpRequestException { StatusCode: null } && i + 1 < downloadable.Count)
                {
                    failures.Add($"download: {downloadable.Count - i - 1} more file(s) not tried after that failure");
                    return;
                }
                continue;
            }
            var actual = FileHashing.Sha256OfFile(partial);
            if (actual != file.Sha256)
            {
                File.Delete(partial);
                Refuse(entry, failures, $"download {file.Url}", file, actual);
                continue;
            }
            File.Move(partial, Path.Combine(staging, file.Name), overwrite: true);
            missing.Remove(file);
            taken.Add(file.Url!);
        }
    }

    /// <summary>Copies <paramref name="source"/> into staging if it is the catalog's file; otherwise records why not.</summary>
    private async Task<bool> TakeVerifiedAsync(CatalogEntry entry, CatalogFile file, string source, string what, string staging, List<string> failures, CancellationToken ct)
    {
        var destination = Path.Combine(staging, file.Name);
        if (new FileInfo(source).Length != file.Size)
        {
            Refuse(entry, failures, what, file, FileHashing.Sha256OfFile(source));
            return false;
        }
        File.Delete(destination);
        var actual = await FileHashing.CopyAndHashAsync(source, destination, done => Report(entry, file.Name, source, done, file.Size), ct).ConfigureAwait(false);
        if (actual == file.Sha256) return true;
        File.Delete(destination);
        Refuse(entry, failures, what, file, actual);
        return false;
    }

    private void Refuse(CatalogEntry entry, List<string> failures, string what, CatalogFile file, string actual)
    {
        var message = $"refused {what}: {file.Name} has SHA-256 {actual} but the catalog expects {file.Sha256}; the copy was not used";
        failures.Add(message);
        Log($"{entry.Name}: {message}.");
    }

    private async Task InstallLabelsAsync(CatalogEntry entry, string staging, CancellationToken ct)
    {
        if (entry.Labels is not null)
        {
            await File.WriteAllLinesAsync(Path.Combine(staging, InlineLabelsFileName), entry.Labels, ct).ConfigureAwait(false);
            return;
        }
        if (entry.LabelsFile is null) return;

        var labels = Catalog.FindLabelFile(entry.LabelsFile)!;
        var asFile = new CatalogFile { Name = labels.Name, Sha256 = labels.Sha256, Size = labels.Size, Url = labels.Url };
        var failures = new List<string>();
        var candidates = new[] { Path.Combine(Catalog.BaseDirectory, labels.Name) }
            .Concat(MirrorCandidates(entry, asFile, Options.EffectiveMirrors()));
        foreach (var candidate in candidates.Where(File.Exists))
            if (await TakeVerifiedAsync(entry, asFile, candidate, candidate, staging, failures, ct).ConfigureAwait(false))
            {
                LogTaken(entry, [candidate], "copied from");
                return;
            }

        if (labels.Url is not null && Options.AllowDownload)
        {
            var missing = new List<CatalogFile> { asFile };
            await DownloadAsync(entry, missing, staging, failures, ct).ConfigureAwait(false);
            if (missing.Count == 0) return;
        }
        throw new MlNetTransferException(
            $"Cannot install backbone '{entry.Name}': its class-name list {labels.Name} (SHA-256 {labels.Sha256}) is not beside the catalog " +
            $"({Catalog.BaseDirectory}) nor in a mirror folder{(labels.Url is null ? "" : $", and {labels.Url} could not be used")}." +
            (failures.Count > 0 ? " " + string.Join("; ", failures) + "." : ""));
    }

    private async Task<InstalledBackbone> ImportCatalogEntryAsync(CatalogEntry entry, string path, bool isDirectory, CancellationToken ct)
    {
        var staging = NewWorkDirectory(entry.InstallDirectoryName);
        try
        {
            if (!isDirectory && path.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase))
            {
                if (entry.Files.Any(f => f.NpmPath is null))
                    throw new MlNetTransferException($"{path}: backbone '{entry.Name}' does not come from an npm package; import its file or folder instead.");
                var wanted = entry.Files.ToDictionary(f => f.NpmPath!, f => Path.Combine(staging, f.Name), StringComparer.Ordinal);
                Dictionary<string, string> hashes;
                try
                {
                    hashes = await NpmPackage.ExtractAsync(path, wanted, (p, done, total) => Report(entry, Path.GetFileName(p), path, done, total), ct).ConfigureAwait(false);
                }
                catch (InvalidDataException e)
                {
                    throw new MlNetTransferException($"{path}: not a readable npm .tgz ({e.Message}).", e);
                }
                foreach (var file in entry.Files)
                {
                    if (!hashes.TryGetValue(file.NpmPath!, out var actual))
                        throw new MlNetTransferException($"{path}: the package has no {file.NpmPath}, which backbone '{entry.Name}' needs (is it {entry.Npm!.Spec}?).");
                    if (actual != file.Sha256) throw NotOfficial(entry, file, $"{path} ({file.NpmPath})", actual);
                }
            }
            else if (!isDirectory)
            {
                if (entry.Files.Count != 1)
                    throw new MlNetTransferException($"{path}: backbone '{entry.Name}' has {entry.Files.Count} files ({DescribeFiles(entry.Files)}); import the folder that holds them.");
                var file = entry.Files[0];
                var actual = await FileHashing.CopyAndHashAsync(path, Path.Combine(staging, file.Name), done => Report(entry, file.Name, path, done, file.Size), ct).ConfigureAwait(false);
                if (actual != file.Sha256) throw NotOfficial(entry, file, path, actual);
            }
            else
            {
                foreach (var file in entry.Files)
                {
                    var source = MirrorCandidates(entry, file, [path]).FirstOrDefault(File.Exists)
                                 ?? throw new MlNetTransferException($"{path}: has no {file.Name}, which backbone '{entry.Name}' needs (it needs {DescribeFiles(entry.Files)}).");
                    var actual = await FileHashing.CopyAndHashAsync(source, Path.Combine(staging, file.Name), done => Report(entry, file.Name, source, done, file.Size), ct).ConfigureAwait(false);
                    if (actual != file.Sha256) throw NotOfficial(entry, file, source, actual);
                }
            }

            await InstallLabelsAsync(entry, staging, ct).ConfigureAwait(false);
            WriteManifest(entry, staging);
            var target = InstallDirectory(entry);
            Commit(staging, target);
            Log($"{entry.Name}: imported from {path} and verified against the catalog; installed in {target}.");
            return Describe(entry, target, custom: false);
        }
        finally
        {
            TryDeleteDirectory(staging);
        }
    }

    private static MlNetTransferException NotOfficial(CatalogEntry entry, CatalogFile file, string source, string actual) =>
        new($"{source}: SHA-256 {actual} does not match backbone '{entry.Name}' (its {file.Name} has SHA-256 {file.Sha256}), " +
            "so this is not the official file and it was not imported. To use it anyway as your own model, import it under another --name.");

    private async Task<InstalledBackbone> ImportCustomAsync(string path, bool isDirectory, string? name, CancellationToken ct)
    {
        name ??= SanitizeName(isDirectory ? Path.GetFileName(path.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar)) : Path.GetFileNameWithoutExtension(path));
        if (!CatalogEntry.SafeName().IsMatch(name))
            throw new MlNetTransferException($"--name '{name}': use letters, digits, '_', '-' or '.', not starting with '.'.");
        if (Catalog.All.Any(e => string.Equals(e.InstallDirectoryName, name, StringComparison.OrdinalIgnoreCase)))
            throw new MlNetTransferException($"--name '{name}': that folder belongs to a catalog backbone; choose another name.");

        var (format, mainFile, sources) = DescribeUserModel(path, isDirectory);
        var entry = new CatalogEntry
        {
            Name = name,
            Title = $"imported from {path}",
            Format = format,
            Directory = name,
            MainFile = mainFile,
            HashSource = $"computed when imported from {path} on {DateTime.UtcNow:yyyy-MM-dd}",
            Notes = "The user's own model: preprocessing fields are defaults until the model is inspected.",
        };
        var staging = NewWorkDirectory(name);
        try
        {
            var files = new List<CatalogFile>();
            foreach (var source in sources)
            {
                var fileName = Path.GetFileName(source);
                var hash = await FileHashing.CopyAndHashAsync(source, Path.Combine(staging, fileName), done => Report(entry, fileName, source, done, null), ct).ConfigureAwait(false);
                files.Add(new CatalogFile { Name = fileName, Sha256 = hash, Size = new FileInfo(source).Length });
            }
            entry = entry with { Files = files };
            WriteManifest(entry, staging);
            var target = InstallDirectory(entry);
            Commit(staging, target);
            Log($"{name}: imported {files.Count} file(s) from {path} into {target}.");
            return Describe(entry, target, custom: true);
        }
        finally
        {
            TryDeleteDirectory(staging);
        }
    }

    /// <summary>The format, main file and files of a user's model file or folder.</summary>
    private static (string Format, string MainFile, List<string> Files) DescribeUserModel(string path, bool isDirectory)
    {
        const string accepted = "an .onnx file, a TensorFlow.js model folder (model.json and its weight files), or a catalog entry's files with --name";
        if (!isDirectory)
        {
            if (!path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
                throw new MlNetTransferException($"{path}: import takes {accepted}.");
            OnnxModelFile.Load(path); // a clear error now beats a broken model later
            return ("onnx", Path.GetFileName(path), [path]);
        }

        var modelJson = Path.Combine(path, "model.json");
        if (File.Exists(modelJson))
        {
            var files = new List<string> { modelJson };
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(modelJson));
                if (doc.RootElement.TryGetProperty("weightsManifest", out var manifest))
                    foreach (var group in manifest.EnumerateArray())
                        foreach (var shard in group.GetProperty("paths").EnumerateArray())
                        {
                            var shardName = shard.GetString() ?? "";
                            var shardPath = Path.Combine(path, shardName);
                            if (!CatalogEntry.IsPlainFileName(shardName) || !File.Exists(shardPath))
                                throw new MlNetTransferException($"{modelJson}: weight file '{shardName}' listed in weightsManifest is not in {path}.");
                            if (!files.Contains(shardPath)) files.Add(shardPath);
                        }
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
            {
                throw new MlNetTransferException($"{modelJson}: not a TensorFlow.js model.json ({e.Message}).", e);
            }
            return ("tfjs-layers", "model.json", files);
        }
        var umd = Path.Combine(path, "model.min.js");
        if (File.Exists(umd))
            return ("tfjs-umd", "model.min.js", [umd, .. Directory.GetFiles(path, "group*.min.js").Order(StringComparer.Ordinal)]);

        var onnx = Directory.GetFiles(path, "*.onnx");
        if (onnx.Length == 1) return DescribeUserModel(onnx[0], isDirectory: false);
        throw new MlNetTransferException(onnx.Length > 1
            ? $"{path}: holds {onnx.Length} .onnx files ({string.Join(", ", onnx.Select(Path.GetFileName))}); import one of them."
            : $"{path}: no model found; import takes {accepted}.");
    }

    /// <summary>The catalog entry whose official file <paramref name="path"/> is, found by hash, or null.</summary>
    private CatalogEntry? FindCatalogMatch(string path, bool isDirectory)
    {
        if (isDirectory)
            return Catalog.All.FirstOrDefault(e =>
                MirrorCandidates(e, e.Main, [path]).FirstOrDefault(File.Exists) is { } main
                && new FileInfo(main).Length == e.Main.Size && FileHashing.Sha256OfFile(main) == e.Main.Sha256);
        if (path.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase)) return null;
        var size = new FileInfo(path).Length;
        var candidates = Catalog.All.Where(e => e.Files.Count == 1 && e.Files[0].Size == size).ToList();
        if (candidates.Count == 0) return null;
        var hash = FileHashing.Sha256OfFile(path);
        return candidates.FirstOrDefault(e => e.Files[0].Sha256 == hash);
    }

    /// <summary>Where a file may sit in a mirror folder: in a sub-folder named like the entry's directory or name,
    /// at the top, or (npm files) in an unpacked package or node_modules.</summary>
    private static IEnumerable<string> MirrorCandidates(CatalogEntry entry, CatalogFile file, IEnumerable<string> mirrors)
    {
        foreach (var mirror in mirrors)
        {
            yield return Path.Combine(mirror, entry.InstallDirectoryName, file.Name);
            if (!string.Equals(entry.Name, entry.InstallDirectoryName, StringComparison.Ordinal))
                yield return Path.Combine(mirror, entry.Name, file.Name);
            yield return Path.Combine(mirror, file.Name);
            if (file.NpmPath is not null && entry.Npm is not null)
            {
                yield return Path.Combine(mirror, file.NpmPath);
                yield return Path.Combine(mirror, "package", file.NpmPath);
                yield return Path.Combine(mirror, entry.Npm.Package, file.NpmPath);
                yield return Path.Combine(mirror, "node_modules", entry.Npm.Package, file.NpmPath);
            }
        }
    }

    /// <summary>Problems with an installed copy (missing files, wrong sizes or hashes); empty when it verifies.</summary>
    private List<string> Verify(CatalogEntry entry, string dir)
    {
        var problems = new List<string>();
        var files = entry.Files.AsEnumerable();
        if (entry.LabelsFile is not null && Catalog.FindLabelFile(entry.LabelsFile) is { } labels)
            files = files.Append(new CatalogFile { Name = labels.Name, Sha256 = labels.Sha256, Size = labels.Size });
        foreach (var f in files)
        {
            var path = Path.Combine(dir, f.Name);
            var info = new FileInfo(path);
            if (!info.Exists) problems.Add($"{f.Name} is missing");
            else if (info.Length != f.Size) problems.Add($"{f.Name} is {info.Length} bytes, expected {f.Size}");
            else if (FileHashing.Sha256OfFile(path) is var actual && actual != f.Sha256)
                problems.Add($"{f.Name} has SHA-256 {actual}, expected {f.Sha256}");
        }
        if (entry.Labels is not null && !File.Exists(Path.Combine(dir, InlineLabelsFileName))) problems.Add($"{InlineLabelsFileName} is missing");
        return problems;
    }

    private InstalledBackbone Describe(CatalogEntry entry, string dir, bool custom) => new()
    {
        Entry = entry,
        Directory = dir,
        Files = entry.Files.Select(f => Path.Combine(dir, f.Name)).ToList(),
        MainPath = Path.Combine(dir, entry.MainFile),
        LabelsPath = entry.Labels is not null ? Path.Combine(dir, InlineLabelsFileName)
            : entry.LabelsFile is not null ? Path.Combine(dir, entry.LabelsFile)
            : null,
        IsCustom = custom,
    };

    private MlNetTransferException NoSource(CatalogEntry entry, List<CatalogFile> missing, List<string> failures)
    {
        var text = new StringBuilder();
        text.Append($"Cannot install backbone '{entry.Name}': no source has a verified copy of {DescribeFiles(missing)}.");
        text.AppendLine().Append($"  - cache: not installed in {InstallDirectory(entry)}");
        foreach (var failure in failures) text.AppendLine().Append("  - ").Append(failure);
        text.AppendLine().AppendLine().Append("To install it from a file instead:");

        var withUrl = entry.Files.Where(f => f.Url is not null).ToList();
        if (entry.Npm is { } npm && entry.Files.All(f => f.NpmPath is not null))
        {
            text.AppendLine().Append($"  1. where the npm registry is reachable, run `npm pack {npm.Spec}`{(npm.TarballUrl is null ? "" : $" (or download {npm.TarballUrl})")};");
            text.AppendLine().Append($"  2. copy the .tgz here and run `mlnet-transfer backbones import {npm.Package}-{npm.Version}.tgz --name {entry.Name}`,");
            text.AppendLine().Append($"     or unpack it into a folder DIR and run `mlnet-transfer backbones install {entry.Name} --mirror DIR`.");
        }
        else if (withUrl.Count == 1)
        {
            var f = withUrl[0];
            text.AppendLine().Append($"  1. download {f.Url} on a machine with internet access (SHA-256 {f.Sha256});");
            text.AppendLine().Append($"  2. run `mlnet-transfer backbones import PATH --name {entry.Name}` with PATH the downloaded file,");
            text.AppendLine().Append($"     or put it in a folder DIR and run `mlnet-transfer backbones install {entry.Name} --mirror DIR`.");
        }
        else
        {
            text.AppendLine().Append($"  1. download the {entry.Files.Count} files from {CommonUrlBase(withUrl)} into one folder on a machine with internet access");
            text.AppendLine().Append($"     (`mlnet-transfer backbones info {entry.Name}` lists them with their SHA-256);");
            text.AppendLine().Append($"  2. run `mlnet-transfer backbones import FOLDER --name {entry.Name}`,");
            text.AppendLine().Append($"     or put the folder at DIR/{entry.InstallDirectoryName} and run `mlnet-transfer backbones install {entry.Name} --mirror DIR`.");
        }
        return new MlNetTransferException(text.ToString());
    }

    private static string DescribeFiles(IReadOnlyCollection<CatalogFile> files) =>
        files.Count <= 3 ? string.Join(", ", files.Select(f => f.Name)) : $"{files.Count} files ({string.Join(", ", files.Take(2).Select(f => f.Name))}, ...)";

    private static string CommonUrlBase(IReadOnlyList<CatalogFile> files)
    {
        var urls = files.Select(f => f.Url!).ToList();
        var prefix = urls[0][..(urls[0].LastIndexOf('/') + 1)];
        return urls.All(u => u.StartsWith(prefix, StringComparison.Ordinal)) ? prefix : string.Join(", ", urls);
    }

    private static string Reason(Exception e) =>
        e.InnerException is { } inner && !string.IsNullOrWhiteSpace(inner.Message) && !e.Message.Contains(inner.Message)
            ? $"{e.Message} {inner.Message}" : e.Message;

    private static string SanitizeName(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' ? c : '_').ToArray();
        return new string(chars).TrimStart('.');
    }

    private static CatalogEntry? ReadManifest(string dir)
    {
        var path = Path.Combine(dir, ManifestFileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<CatalogEntry>(File.ReadAllText(path), BackboneCatalog.JsonOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void WriteManifest(CatalogEntry entry, string dir) =>
        File.WriteAllText(Path.Combine(dir, ManifestFileName), JsonSerializer.Serialize(entry, BackboneCatalog.JsonOptions));

    /// <summary>Moves a complete staging folder into place, replacing an older install.</summary>
    private void Commit(string staging, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        string? old = null;
        if (Directory.Exists(target))
        {
            old = NewWorkDirectory(Path.GetFileName(target) + ".old", create: false);
            Directory.Move(target, old);
        }
        try
        {
            Directory.Move(staging, target);
        }
        catch (IOException) when (old is not null)
        {
            Directory.Move(old, target);
            old = null;
            throw;
        }
        finally
        {
            if (old is not null) TryDeleteDirectory(old);
        }
    }

    private string NewWorkDirectory(string name, bool create = true)
    {
        var path = Path.Combine(Options.CacheDirectory, ".staging", $"{name}.{Guid.NewGuid():N}");
        if (create) Directory.CreateDirectory(path);
        else Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    /// <summary>Where a download in progress is kept between attempts, so a later install resumes it.</summary>
    private string PartialPath(string directory, string fileName) =>
        Path.Combine(Options.CacheDirectory, ".partial", directory, fileName + ".partial");

    private ResumableDownload Downloader() => new(Options.HttpClient ?? SharedHttp.Value, Options.StallTimeout);

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            // Remove the work root (.staging) too once nothing else is using it.
            var parent = Path.GetDirectoryName(path);
            if (parent is not null && Path.GetFileName(parent) == ".staging" && !Directory.EnumerateFileSystemEntries(parent).Any())
                Directory.Delete(parent);
        }
        catch (IOException)
        {
            // A leftover work folder under .staging is harmless and never mistaken for an install.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void Report(CatalogEntry entry, string file, string source, long done, long? total) =>
        Options.Progress?.Report(new InstallProgress(entry.Name, file, source, done, total));

    private void Log(string message) => Options.Log?.Invoke(message);

    /// <summary>One line per source: the file itself when there is one, else how many files from which folder.</summary>
    private void LogTaken(CatalogEntry entry, List<string> sources, string how)
    {
        if (sources.Count == 0) return;
        if (sources.Count == 1)
        {
            Log($"{entry.Name}: {Path.GetFileName(sources[0])} verified, {how} {sources[0]}.");
            return;
        }
        var folders = sources.Select(s => s[..(s.LastIndexOfAny(['/', '\\']) + 1)]).Distinct().ToList();
        Log($"{entry.Name}: {sources.Count} files verified, {how} {string.Join(", ", folders)}.");
    }
}
