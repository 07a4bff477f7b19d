using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;

namespace MlNetTransfer.Serving;

/// <summary>Creates prediction engines for an <see cref="ObjectPool{T}"/>. An engine keeps no state between
/// predictions, so every returned engine is kept (up to the pool's size).</summary>
internal sealed class PredictionEnginePolicy<TSrc, TDst>(Func<PredictionEngine<TSrc, TDst>> create) : IPooledObjectPolicy<PredictionEngine<TSrc, TDst>>
    where TSrc : class
    where TDst : class, new()
{
    public PredictionEngine<TSrc, TDst> Create() => create();

    public bool Return(PredictionEngine<TSrc, TDst> obj) => true;
}
