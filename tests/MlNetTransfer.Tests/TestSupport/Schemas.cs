using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetTransfer.Tests.TestSupport;

public static class Schemas
{
    /// <summary>ML.NET makes a schema shape from a data view's schema internally only (SchemaShape.Create); the tests borrow it
    /// to call estimators' GetOutputSchema as a pipeline does.</summary>
    public static SchemaShape ShapeOf(DataViewSchema schema)
    {
        var create = typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic,
            [typeof(DataViewSchema)])!;
        return (SchemaShape)create.Invoke(null, [schema])!;
    }
}
