namespace MlNetTransfer.FineTuning;

/// <summary>The phase plan needs the module's parameter groups, so it lives with the engine; as a static extension it is still
/// called <c>FineTunePhase.Plan</c>.</summary>
internal static class FineTunePhasePlanning
{
    extension(FineTunePhase)
    {
        /// <summary>Plans the phases for a module with a new head: the linear probe (<see cref="FineTuneOptions.LinearProbe"/>) or
        /// the head warm-up (<see cref="FineTuneOptions.HeadWarmupEpochs"/>),
        /// then one phase at the freeze depth, or chain-thaw's blocks alone (input side first), then everything.</summary>
        public static IReadOnlyList<FineTunePhase> Plan(OnnxTorchModule module, FineTuneOptions options)
        {
            ArgumentNullException.ThrowIfNull(module);
            ArgumentNullException.ThrowIfNull(options);
            if (!module.HasHead) throw new MlNetTransferException("Fine-tuning needs a module with a new head (set EmbeddingTensor and NumClasses).");
            var groups = module.ParameterGroups;
            var head = groups.Single(g => g.IsHead).Index;
            var pretrained = groups.Where(g => !g.IsHead).Select(g => g.Index).ToList();

            var phases = new List<FineTunePhase>();
            if (options.LinearProbe is not null) phases.Add(new(FineTunePhase.HeadPhase, new HashSet<int> { head }, 1, Augment: false, 0, IsLinearProbe: true));
            else if (options.HeadWarmupEpochs > 0) phases.Add(new(FineTunePhase.HeadPhase, new HashSet<int> { head }, options.HeadWarmupEpochs, Augment: false, options.HeadWarmupLearningRate));
            if (options.ChainThaw is { } chain)
            {
                var blocks = Math.Min(chain.Blocks, pretrained.Count);
                for (int b = 0; b < blocks; b++)
                {
                    // Contiguous, near-equal runs of layers: block b holds layers [b·P/n, (b+1)·P/n).
                    int from = b * pretrained.Count / blocks, to = (b + 1) * pretrained.Count / blocks;
                    phases.Add(new($"block {b + 1}/{blocks}", pretrained.GetRange(from, to - from).ToHashSet(), chain.EpochsPerPhase, true, options.LearningRate));
                }
                phases.Add(new("all", groups.Select(g => g.Index).ToHashSet(), options.Epoch, true, options.LearningRate));
                return phases;
            }

            int firstTrainable;
            if (options.TrainFromNode is { } node)
            {
                var match = groups.FirstOrDefault(g => !g.IsHead && g.NodeName == node)
                    ?? throw new MlNetTransferException(
                        $"TrainFromNode '{node}' is not a layer with weights in this network. Layers, input side first: " +
                        string.Join(", ", pretrained.Take(8).Select(i => $"'{groups[i].NodeName}'")) + (pretrained.Count > 8 ? $", ... '{groups[pretrained[^1]].NodeName}'." : "."));
                firstTrainable = match.Index;
            }
            else firstTrainable = (int)Math.Floor(options.FreezeFraction * pretrained.Count + 1e-9);
            var trainable = groups.Where(g => g.IsHead || g.Index >= firstTrainable).Select(g => g.Index).ToHashSet();
            phases.Add(new("fine-tune", trainable, options.Epoch, true, options.LearningRate));
            return phases;
        }
    }
}
