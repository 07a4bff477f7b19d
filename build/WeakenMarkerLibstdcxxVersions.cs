// MSBuild inline task (RoslynCodeTaskFactory, compiled against netstandard): see TorchSharpGlibcxx.targets for why.
// Hand-written ELF reading because no ELF library ships with the SDK and patchelf cannot set VER_FLG_WEAK
// (its --clear-symbol-version leaves the version requirement itself in place, which is what the loader rejects).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

/// <summary>
/// For each ELF shared library in <see cref="Files"/>: every libstdc++ version requirement (.gnu.version_r entry)
/// that the libstdc++ loaded in this process does not define, and that no dynamic relocation depends on,
/// is marked VER_FLG_WEAK, so the dynamic loader accepts the library on an older libstdc++.
/// A requirement that a relocation binds to is left alone (weakening it would only move the failure).
/// The file is rewritten beside and renamed into place, so a hard link into the NuGet cache is never edited.
/// </summary>
public class WeakenMarkerLibstdcxxVersions : Task
{
    const uint ShtRela = 4, ShtRel = 9, ShtDynsym = 11;
    const uint ShtGnuVerdef = 0x6ffffffd, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
    const ushort VerFlgWeak = 0x2;

    /// <summary>The copied native libraries to check (e.g. libLibTorchSharp.so in the output folder).</summary>
    [Required]
    public ITaskItem[] Files { get; set; }

    /// <summary>"auto": patch only versions the running libstdc++ lacks; "always": weaken marker-only libstdc++
    /// versions the running libstdc++ lacks or not (for deploying to an older system); "never": do nothing.</summary>
    public string Mode { get; set; }

    public override bool Execute()
    {
        var mode = string.IsNullOrEmpty(Mode) ? "auto" : Mode.ToLowerInvariant();
        if (mode == "never") return true;
        if (mode != "auto" && mode != "always")
        {
            Log.LogError("TorchSharpGlibcxxPatch must be auto, always or never, not '{0}'.", Mode);
            return false;
        }

        string systemLibstdcxx = mode == "auto" ? LoadedLibstdcxx() : null;
        if (mode == "auto" && systemLibstdcxx == null)
            Log.LogMessage(MessageImportance.Normal,
                "No libstdc++ is loaded in this process, so which versions it has is unknown; marker-only libstdc++ versions are weakened anyway (harmless where present).");
        HashSet<string> provided = null;
        if (systemLibstdcxx != null)
        {
            try { provided = DefinedVersions(File.ReadAllBytes(systemLibstdcxx)); }
            catch (Exception e) { Log.LogWarning("Cannot read the version definitions of {0}: {1}", systemLibstdcxx, e.Message); }
        }

        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            if (!File.Exists(path)) { Log.LogMessage(MessageImportance.Low, "{0}: not there, nothing to patch.", path); continue; }
            try { Patch(path, provided, systemLibstdcxx); }
            catch (Exception e)
            {
                Log.LogError("{0}: could not patch its libstdc++ version requirements: {1}", path, e.Message);
                return false;
            }
        }
        return !Log.HasLoggedErrors;
    }

    /// <summary>The libstdc++ the dotnet host has already loaded; TorchSharp, loaded later into a .NET process, binds to this same one.</summary>
    static string LoadedLibstdcxx()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var i = line.IndexOf('/');
                if (i < 0) continue;
                var p = line.Substring(i).Trim();
                if (Path.GetFileName(p).StartsWith("libstdc++.so", StringComparison.Ordinal)) return p;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    void Patch(string path, HashSet<string> provided, string systemLibstdcxx)
    {
        path = Path.GetFullPath(path);
        var elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
        {
            Log.LogMessage(MessageImportance.Low, "{0}: not a 64-bit little-endian ELF file, left alone.", path);
            return;
        }

        var sections = Sections(elf);
        var verneed = sections.FirstOrDefault(s => s.Type == ShtGnuVerneed);
        var versym = sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
        var dynsymIndex = sections.FindIndex(s => s.Type == ShtDynsym);
        if (verneed == null || versym == null || dynsymIndex < 0)
        {
            Log.LogMessage(MessageImportance.Low, "{0}: no symbol versioning, nothing to patch.", path);
            return;
        }
        var dynsym = sections[dynsymIndex];
        var verStrtab = sections[(int)verneed.Link];
        var symStrtab = sections[(int)dynsym.Link];

        // Version indexes that some dynamic relocation really needs resolved.
        var relocated = new HashSet<int>();
        foreach (var rel in sections.Where(s => (s.Type == ShtRela || s.Type == ShtRel) && s.Link == dynsymIndex))
        {
            var entSize = rel.EntSize != 0 ? rel.EntSize : (rel.Type == ShtRela ? 24UL : 16UL);
            for (ulong o = 0; o + entSize <= rel.Size; o += entSize)
            {
                var sym = (int)(BitConverter.ToUInt64(elf, (int)(rel.Offset + o + 8)) >> 32);
                if (sym != 0) relocated.Add(BitConverter.ToUInt16(elf, (int)versym.Offset + 2 * sym) & 0x7fff);
            }
        }

        var tmp = path + ".glibcxx-patch.tmp";
        var changes = new List<string>();
        var entry = (int)verneed.Offset;
        for (uint n = 0; n < verneed.Info; n++)
        {
            var count = BitConverter.ToUInt16(elf, entry + 2);
            var file = CString(elf, verStrtab.Offset + BitConverter.ToUInt32(elf, entry + 4));
            var aux = entry + (int)BitConverter.ToUInt32(elf, entry + 8);
            for (int a = 0; a < count; a++)
            {
                var flags = BitConverter.ToUInt16(elf, aux + 4);
                var index = BitConverter.ToUInt16(elf, aux + 6) & 0x7fff;
                var name = CString(elf, verStrtab.Offset + BitConverter.ToUInt32(elf, aux + 8));
                var missing = provided == null || !provided.Contains(name);
                if (file.StartsWith("libstdc++.so", StringComparison.Ordinal) && missing && (flags & VerFlgWeak) == 0)
                {
                    var users = SymbolsOfVersion(elf, dynsym, symStrtab, versym, index);
                    if (relocated.Contains(index))
                        Log.LogWarning("{0}: needs {1} from libstdc++ for {2}, which the system libstdc++{3} lacks; it is really used, so it is left as is and loading may fail.",
                            path, name, string.Join(", ", users), systemLibstdcxx == null ? "" : " (" + systemLibstdcxx + ")");
                    else
                    {
                        var f = (ushort)(flags | VerFlgWeak);
                        elf[aux + 4] = (byte)f;
                        elf[aux + 5] = (byte)(f >> 8);
                        changes.Add(name + " (only a link-time marker: " + string.Join(", ", users) + ", never relocated)");
                    }
                }
                var next = BitConverter.ToUInt32(elf, aux + 12);
                if (next == 0) break;
                aux += (int)next;
            }
            var nextEntry = BitConverter.ToUInt32(elf, entry + 12);
            if (nextEntry == 0) break;
            entry += (int)nextEntry;
        }

        if (changes.Count == 0)
        {
            Log.LogMessage(MessageImportance.Low, "{0}: every libstdc++ version it needs is present or already weak.", path);
            return;
        }

        // Copy keeps the file mode; rename replaces the directory entry, so a hard link to the NuGet cache is not written through.
        var stamp = File.GetLastWriteTimeUtc(path);
        File.Copy(path, tmp, true);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.Write)) fs.Write(elf, 0, elf.Length);
            File.SetLastWriteTimeUtc(tmp, stamp); // same size and time as the package copy: incremental builds do not re-copy it
            File.Replace(tmp, path, null); // an atomic rename on Unix
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
        Log.LogMessage(MessageImportance.High, "{0}: marked weak: {1}; the system libstdc++{2} lacks it.",
            path, string.Join("; ", changes), systemLibstdcxx == null ? "" : " (" + systemLibstdcxx + ")");
    }

    static List<string> SymbolsOfVersion(byte[] elf, Section dynsym, Section strtab, Section versym, int index)
    {
        var names = new List<string>();
        var count = (int)(dynsym.Size / 24);
        for (int s = 1; s < count; s++)
            if ((BitConverter.ToUInt16(elf, (int)versym.Offset + 2 * s) & 0x7fff) == index)
                names.Add(CString(elf, strtab.Offset + BitConverter.ToUInt32(elf, (int)dynsym.Offset + 24 * s)));
        return names;
    }

    static HashSet<string> DefinedVersions(byte[] elf)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        var sections = Sections(elf);
        var verdef = sections.FirstOrDefault(s => s.Type == ShtGnuVerdef);
        if (verdef == null) return set;
        var strtab = sections[(int)verdef.Link];
        var entry = (int)verdef.Offset;
        for (uint n = 0; n < verdef.Info; n++)
        {
            var aux = entry + (int)BitConverter.ToUInt32(elf, entry + 12);
            set.Add(CString(elf, strtab.Offset + BitConverter.ToUInt32(elf, aux)));
            var next = BitConverter.ToUInt32(elf, entry + 16);
            if (next == 0) break;
            entry += (int)next;
        }
        return set;
    }

    sealed class Section
    {
        public uint Type, Link, Info;
        public ulong Offset, Size, EntSize;
    }

    static List<Section> Sections(byte[] elf)
    {
        var shoff = BitConverter.ToUInt64(elf, 0x28);
        var shentsize = BitConverter.ToUInt16(elf, 0x3a);
        var shnum = BitConverter.ToUInt16(elf, 0x3c);
        if (shoff == 0 || shnum == 0 || shoff + (ulong)shentsize * shnum > (ulong)elf.Length)
            throw new InvalidDataException("no usable section header table");
        var list = new List<Section>(shnum);
        for (int i = 0; i < shnum; i++)
        {
            var h = (int)shoff + i * shentsize;
            list.Add(new Section
            {
                Type = BitConverter.ToUInt32(elf, h + 4),
                Offset = BitConverter.ToUInt64(elf, h + 24),
                Size = BitConverter.ToUInt64(elf, h + 32),
                Link = BitConverter.ToUInt32(elf, h + 40),
                Info = BitConverter.ToUInt32(elf, h + 44),
                EntSize = BitConverter.ToUInt64(elf, h + 56),
            });
        }
        return list;
    }

    static string CString(byte[] elf, ulong offset)
    {
        var start = (int)offset;
        var end = Array.IndexOf(elf, (byte)0, start);
        return Encoding.ASCII.GetString(elf, start, end - start);
    }
}
