using System.Text.Json;
using System.Text.RegularExpressions;
using MlNetTransfer.Reporting;
using MlNetTransfer.Tests.TestSupport;
using SkiaSharp;

namespace MlNetTransfer.Tests.Reporting;

public class HtmlReportTests
{
    private static readonly string[] AllPlots =
    [
        HtmlReport.PlotNames.ScenarioMatrix, HtmlReport.PlotNames.AccuracyVersusTime, HtmlReport.PlotNames.Losses,
        HtmlReport.PlotNames.ValidationAccuracy, HtmlReport.PlotNames.ConfusionMatrix,
    ];

    private static List<(string Name, byte[] Png)> Plots(string html)
        => Regex.Matches(html, "<img class=\"plot\" data-plot=\"([^\"]+)\"[^>]*src=\"data:image/png;base64,([^\"]+)\"")
            .Select(m => (m.Groups[1].Value, Convert.FromBase64String(m.Groups[2].Value))).ToList();

    [Fact]
    public void The_page_is_self_contained_and_holds_every_plot_as_a_real_png()
    {
        var html = HtmlReport.Render(ReportSamples.Training(), ReportSamples.Details());
        var plots = Plots(html);
        Assert.Equal(AllPlots.Order(), plots.Select(p => p.Name).Order());
        foreach (var (name, png) in plots)
        {
            using var bitmap = SKBitmap.Decode(png);
            Assert.NotNull(bitmap);
            Assert.True(bitmap.Width >= 400 && bitmap.Height >= 300, $"{name}: {bitmap.Width}×{bitmap.Height}");
            var colours = new HashSet<uint>();
            for (int y = 0; y < bitmap.Height; y += 3)
                for (int x = 0; x < bitmap.Width; x += 3) colours.Add((uint)bitmap.GetPixel(x, y));
            Assert.True(colours.Count > 20, $"{name}: only {colours.Count} colours — an empty plot?");
        }
        // Nothing fetched from elsewhere, nothing executed.
        Assert.DoesNotMatch("(src|href)=\"(https?:|//)", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<link", html);
    }

    [Fact]
    public void A_winner_within_the_validation_noise_of_the_other_kind_is_flagged_under_the_leaderboard()
    {
        var details = ReportSamples.Details();
        var board = details.Leaderboard!;
        var winner = board.Entries.Single(board.IsWinner);
        var margin = WinnerMargin.Measure(winner, board.Entries, 200)!; // lbfgs 0.930 against fine-tune-top 0.925: 1 image of 200
        Assert.True(margin.WithinNoise);
        var html = HtmlReport.Render(ReportSamples.Training(), details with { Leaderboard = board with { Margin = margin } });
        Assert.Contains("<p class=\"warn\">" + System.Net.WebUtility.HtmlEncode(margin.Description) + "</p>", html);
        Assert.DoesNotContain("class=\"warn\"", HtmlReport.Render(ReportSamples.Training(), details));

        var json = JsonSerializer.Serialize(board with { Margin = margin }, TrainingReport.JsonOptions);
        Assert.Equal(margin, JsonSerializer.Deserialize<Leaderboard>(json, TrainingReport.JsonOptions)!.Margin);
    }

    [Fact]
    public void The_page_states_the_decision_the_leaderboard_and_the_metrics()
    {
        var details = ReportSamples.Details();
        var html = HtmlReport.Render(ReportSamples.Training(), details);
        Assert.Contains("Strategy: " + details.Scenario!.Title, html);
        Assert.Contains(System.Net.WebUtility.HtmlEncode(details.Scenario.Explanation), html);
        Assert.Contains("600 s budget (over by 12.5 s)", html);
        Assert.Matches("<tr class=\"winner\"><td class=\"n\">1</td><td>feature-extractor/lbfgs ★</td>", html);
        // Ranked by score: the unfinished candidate last.
        Assert.True(html.IndexOf("fine-tune-top/freeze-70</td>", StringComparison.Ordinal) < html.IndexOf("from-scratch</td>", StringComparison.Ordinal));
        Assert.Contains("stopped at budget — budget spent", html);
        Assert.Contains("88.0%", html);
        Assert.Contains("/data/insects &lt;&amp;&gt; &quot;quoted&quot;", html);
        Assert.Contains("<td>wasps</td><td class=\"n\">60</td><td class=\"n\">15</td><td class=\"n\">15</td>", html);
        Assert.Contains("truncated JPEG", html);
    }

    [Fact]
    public void Without_details_only_the_evaluation_plot_is_drawn()
    {
        var html = HtmlReport.Render(ReportSamples.Training());
        Assert.Equal([HtmlReport.PlotNames.ConfusionMatrix], Plots(html).Select(p => p.Name));
        Assert.DoesNotContain("Leaderboard", html);
    }

    [Fact]
    public void Details_round_trip_through_the_report_json()
    {
        var details = ReportSamples.Details();
        var json = JsonSerializer.Serialize(details, TrainingReport.JsonOptions);
        var back = JsonSerializer.Deserialize<ExperimentDetails>(json, TrainingReport.JsonOptions)!;
        Assert.Equal(details.Leaderboard!.Entries, back.Leaderboard!.Entries);
        Assert.Equal(details.Leaderboard.Winner, back.Leaderboard.Winner);
        Assert.Equal(details.LearningCurves.Count, back.LearningCurves.Count);
        Assert.Equal(details.LearningCurves[1].Points, back.LearningCurves[1].Points);
        Assert.Equal(details.Scenario!.Explanation, back.Scenario!.Explanation);
    }

    [Theory]
    [InlineData(CandidateStatus.Completed, "completed")]
    [InlineData(CandidateStatus.Promoted, "promoted")]
    [InlineData(CandidateStatus.Eliminated, "eliminated")]
    [InlineData(CandidateStatus.StoppedAtBudget, "stopped at budget")]
    [InlineData(CandidateStatus.Skipped, "skipped")]
    [InlineData(CandidateStatus.Failed, "failed")]
    [InlineData(CandidateStatus.Interrupted, "interrupted")]
    public void Leaderboard_statuses_keep_their_report_json_words(CandidateStatus status, string word)
    {
        var entry = new LeaderboardEntry { Candidate = "c", Rung = 2, Status = status };
        var json = JsonSerializer.Serialize(entry, TrainingReport.JsonOptions);
        Assert.Contains($"\"status\": \"{word}\"", json);
        Assert.Contains("\"rung\": 2", json);
        Assert.Equal(entry, JsonSerializer.Deserialize<LeaderboardEntry>(json, TrainingReport.JsonOptions));
        Assert.Equal(word, status.Text());
    }

    [Fact]
    public void A_non_square_confusion_matrix_is_refused()
    {
        var bad = new ConfusionMatrixReport { Classes = ["a", "b"], Counts = [[1, 2]] };
        Assert.Contains("square", Assert.Throws<MlNetTransferException>(() => ReportPlots.ConfusionMatrix(bad)).Message);
    }

    [Fact]
    public void Headless_chromium_shows_every_plot()
    {
        using var dir = new TempDirectory("mlnt-report");
        var reportPath = dir.Combine("report.html");
        HtmlReport.Save(reportPath, ReportSamples.Training(), ReportSamples.Details());
        Assert.Equal(AllPlots.Length, Plots(File.ReadAllText(reportPath)).Count);

        // A copy with a probe script that records, once the page has loaded, whether the browser decoded each image.
        var probePath = dir.Combine("probe.html");
        File.WriteAllText(probePath, File.ReadAllText(reportPath).Replace("</body>", """
            <script>
            window.addEventListener('load', () => {
              for (const img of document.images) img.setAttribute('data-decoded', img.complete && img.naturalWidth > 0 ? img.naturalWidth + 'x' + img.naturalHeight : 'no');
              document.body.setAttribute('data-probed', String(document.images.length));
            });
            </script>
            </body>
            """));
        var dom = Chromium.Run(probePath, dir.Combine("profile-dom"), "--dump-dom");
        Assert.Contains($"data-probed=\"{AllPlots.Length}\"", dom);
        foreach (var name in AllPlots)
            Assert.Matches($"<img[^>]*data-plot=\"{name}\"[^>]*data-decoded=\"[1-9][0-9]*x[1-9][0-9]*\"", dom);

        // And what a person sees: the page as a screenshot is not blank.
        var shot = dir.Combine("page.png");
        Chromium.Run(reportPath, dir.Combine("profile-shot"), $"--screenshot={shot}", "--window-size=1100,2400");
        using var bitmap = SKBitmap.Decode(shot);
        Assert.NotNull(bitmap);
        var colours = new HashSet<uint>();
        for (int y = 0; y < bitmap.Height; y += 4)
            for (int x = 0; x < bitmap.Width; x += 4) colours.Add((uint)bitmap.GetPixel(x, y));
        Assert.True(colours.Count > 50, $"the screenshot has only {colours.Count} colours");

        // To look at the page: MLNT_REPORT_OUT=/some/folder dotnet test --filter Headless_chromium_shows_every_plot
        if (Environment.GetEnvironmentVariable("MLNT_REPORT_OUT") is { Length: > 0 } keep)
        {
            Directory.CreateDirectory(keep);
            File.Copy(reportPath, Path.Combine(keep, "report.html"), overwrite: true);
            Chromium.Run(reportPath, dir.Combine("profile-full"), $"--screenshot={Path.Combine(keep, "report.png")}", "--window-size=1100,7000");
        }
    }
}
