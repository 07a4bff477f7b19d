using System.CommandLine;
using MlNetTransfer.Cli.Commands;

var root = new RootCommand(
    "mlnet-transfer: train an image classifier from a few hundred labelled images on a CPU by reusing a pretrained " +
    "network (transfer learning on ML.NET). Saves one ML.NET model zip that apps load with MLContext.Model.Load.")
{
    TrainCommand.Create(),
    FeaturizeCommand.Create(),
    ExperimentCommand.Create(),
    PredictCommand.Create(),
    ExportCommand.Create(),
    ExplainCommand.Create(),
    InspectCommand.Create(),
    DemoCommand.Create(),
    DataCommand.Create(),
    BackbonesCommand.Create(),
    ServeCommand.Create(),
};
return Cli.Run(root, args);
