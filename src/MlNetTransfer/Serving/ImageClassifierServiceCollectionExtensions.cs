using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MlNetTransfer.Serving;

/// <summary>Registers image models for dependency injection.</summary>
public static class ImageClassifierServiceCollectionExtensions
{
    /// <summary>Registers the default model: inject <see cref="IImageClassifier"/> (or <see cref="ImageClassifierPool"/>).</summary>
    public static IServiceCollection AddImageClassifier(this IServiceCollection services, string zipPath, Action<ImageClassifierOptions>? configure = null)
        => services.AddImageClassifier(ImageClassifierPool.DefaultModelName, zipPath, configure);

    /// <summary>Registers a named model: inject <c>[FromKeyedServices(name)] IImageClassifier</c> or
    /// <see cref="ImageClassifierPool"/> and call <c>pool.Get(name)</c>. All registered models load when the pool is
    /// first resolved; a bad zip then throws <see cref="MlNetTransferException"/> naming it.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The model's name; "" is the default model.</param>
    /// <param name="zipPath">The model zip (relative paths are taken from the current directory).</param>
    /// <param name="configure">Sets this model's <see cref="ImageClassifierOptions"/> (e.g. <c>o => o.ReloadOnChange = true</c>).</param>
    public static IServiceCollection AddImageClassifier(this IServiceCollection services, string name, string zipPath,
        Action<ImageClassifierOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(zipPath);
        if (services.Any(d => d.ImplementationInstance is ImageClassifierRegistration r && r.Name == name))
            throw new MlNetTransferException(
                $"An image classifier named {(name == "" ? "(default)" : $"'{name}'")} is already registered; give each model its own name.");

        services.AddOptions();
        if (configure is not null) services.Configure(name, configure);
        services.AddSingleton(new ImageClassifierRegistration(name, Path.GetFullPath(zipPath)));
        services.TryAddSingleton(sp => new ImageClassifierPool(sp.GetServices<ImageClassifierRegistration>(),
            sp.GetRequiredService<IOptionsMonitor<ImageClassifierOptions>>(), sp.GetService<ILoggerFactory>()));
        services.AddKeyedSingleton<IImageClassifier>(name, (sp, _) => sp.GetRequiredService<ImageClassifierPool>().Get(name));
        if (name == ImageClassifierPool.DefaultModelName)
            services.TryAddSingleton<IImageClassifier>(sp => sp.GetRequiredService<ImageClassifierPool>().Get(name));
        return services;
    }
}
