namespace MlNetTransfer.Tests.Strategy;

/// <summary>
/// Tests whose outcome depends on wall time (a budget stops or skips candidates): they run alone, after the parallel
/// tests, so two cores shared with other tests cannot push a candidate past its budget.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BudgetedRunsCollection
{
    public const string Name = "budgeted runs";
}
