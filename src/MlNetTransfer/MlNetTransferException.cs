namespace MlNetTransfer;

/// <summary>
/// A problem with the user's input (a file, a folder, an option) that the user can fix.
/// The message names the culprit and the problem; the CLI prints it without a stack trace and exits non-zero.
/// </summary>
public class MlNetTransferException : Exception
{
    public MlNetTransferException(string message) : base(message) { }
    public MlNetTransferException(string message, Exception inner) : base(message, inner) { }
}
