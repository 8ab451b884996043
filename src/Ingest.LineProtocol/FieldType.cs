namespace Ingest.LineProtocol;

/// <summary>The five line-protocol field value types.</summary>
public enum FieldType : byte
{
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
}
