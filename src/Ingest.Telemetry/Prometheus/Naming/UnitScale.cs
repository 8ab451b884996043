namespace Ingest.Telemetry.Prometheus.Naming;

/// <summary>
/// Converts a recorded value into the Prometheus base unit. Sub-units are stored as a divisor because
/// <c>5 / 1000.0</c> rounds to the same double as the literal 0.005 while <c>5 * 0.001</c> does not.
/// </summary>
internal readonly record struct UnitScale(double Multiplier, double Divisor)
{
    public static readonly UnitScale Identity = new(1, 1);

    public static UnitScale Times(double m) => new(m, 1);

    public static UnitScale Over(double d) => new(1, d);

    public bool IsIdentity => Multiplier == 1 && Divisor == 1;

    public double Apply(double value) => value * Multiplier / Divisor;

    /// <summary>Inverse of <see cref="Apply"/>: expresses a base-unit value in the instrument's unit.</summary>
    public double Unapply(double baseValue) => baseValue * Divisor / Multiplier;
}
