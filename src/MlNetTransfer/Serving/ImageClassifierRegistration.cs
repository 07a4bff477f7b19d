namespace MlNetTransfer.Serving;

/// <summary>One <c>AddImageClassifier</c> call: a model name and its zip (its options are the named
/// <see cref="ImageClassifierOptions"/> of the same name).</summary>
internal sealed record ImageClassifierRegistration(string Name, string ModelPath);
