namespace Ingest.LineProtocol;

/// <summary>Where one <c>key=value</c> tag sits in a line: needed only to sort and to detect duplicates.</summary>
internal struct TagSpan
{
    public int KeyStart;
    public int KeyLength;
    public int End;
}
