using MlNetTransfer.Backbones.Catalog;

namespace MlNetTransfer.Tests.Catalog;

/// <summary>Tests that set process-wide environment variables; they run alone so no other test sees them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "environment variables";
}

[Collection(EnvironmentCollection.Name)]
public sealed class EnvironmentMirrorTests : IDisposable
{
    private readonly CatalogTestBed _bed = new();
    private readonly string? _savedMirrors = Environment.GetEnvironmentVariable(InstallOptions.MirrorsVariable);
    private readonly string? _savedHome = Environment.GetEnvironmentVariable(InstallOptions.HomeVariable);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable(InstallOptions.MirrorsVariable, _savedMirrors);
        Environment.SetEnvironmentVariable(InstallOptions.HomeVariable, _savedHome);
        _bed.Dispose();
    }

    [Fact]
    public void Mirrors_from_the_environment_variable_are_searched_after_the_given_ones()
    {
        var absent = Path.Combine(_bed.Root, "not-there");
        Environment.SetEnvironmentVariable(InstallOptions.MirrorsVariable, absent + Path.PathSeparator + _bed.Mirror);
        var options = _bed.Options();
        options.UseEnvironmentMirrors = true;
        options.Mirrors.Add(Path.Combine(_bed.Root, "given"));

        Assert.Equal([Path.Combine(_bed.Root, "given"), absent, _bed.Mirror], options.EffectiveMirrors());
        var installed = _bed.Installer(options).Install("fake_tfjs");

        Assert.Equal(_bed.TfjsFiles["group1-shard1of2"], File.ReadAllBytes(Path.Combine(installed.Directory, "group1-shard1of2")));
        Assert.Contains(_bed.Log, l => l.Contains(absent) && l.Contains("does not exist"));
    }

    [Fact]
    public void Environment_mirrors_can_be_turned_off()
    {
        Environment.SetEnvironmentVariable(InstallOptions.MirrorsVariable, _bed.Mirror);
        var options = _bed.Options();
        options.UseEnvironmentMirrors = false;

        var error = Assert.Throws<MlNetTransferException>(() => _bed.Installer(options).Install("fake_onnx"));
        Assert.Contains(InstallOptions.MirrorsVariable, error.Message);
    }

    [Fact]
    public void The_cache_defaults_to_MLNET_TRANSFER_HOME_then_the_user_cache()
    {
        Environment.SetEnvironmentVariable(InstallOptions.HomeVariable, _bed.Cache);
        Assert.Equal(Path.Combine(_bed.Cache, "models"), new InstallOptions().CacheDirectory);

        Environment.SetEnvironmentVariable(InstallOptions.HomeVariable, null);
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = string.IsNullOrWhiteSpace(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache") : xdg;
        Assert.Equal(Path.Combine(home, "mlnet-transfer", "models"), new InstallOptions().CacheDirectory);
    }
}
