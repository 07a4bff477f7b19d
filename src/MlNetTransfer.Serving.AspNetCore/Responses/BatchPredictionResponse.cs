namespace MlNetTransfer.Serving.AspNetCore;

/// <summary>The JSON answer of <c>POST /predict/batch</c>: one prediction per uploaded file, in upload order, all from
/// the same model generation.</summary>
public sealed record BatchPredictionResponse(int Generation, IReadOnlyList<PredictionResponse> Predictions);
