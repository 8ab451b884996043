namespace Ingest.Transforms.Thresholds;

/// <summary>
/// The transition function of one rule on one series, kept free of the engine's bookkeeping so that its
/// semantics can be read in one place.
/// </summary>
/// <remarks>
/// <para>Conditions are judged against the <em>fired</em> level: a level at or below it holds until its reset
/// (hysteresis), a level above it needs its trigger. A CRIT condition is also a WARN condition.</para>
/// <para>Pending (<c>For</c>): each condition remembers since when it has held without a break; a level fires
/// at the first point at which it has held for at least <c>For</c>. One point that does not meet it clears it.</para>
/// <para>Dropping is immediate unless <c>KeepFiringFor</c> is set: then the fired level stays until the first
/// point at or after (first point without its condition) + <c>KeepFiringFor</c>; its condition returning in
/// between cancels the countdown.</para>
/// </remarks>
internal static class AlertStateMachine
{
    private const long NoTime = AlertState.NoTime;

    /// <summary>Evaluates one in-order value; true when the level changed (or left NoData).</summary>
    public static bool Evaluate(CompiledRule rule, ref AlertState state, double value, long timestamp, out AlertLevel previous)
    {
        previous = state.Level;
        var fired = previous == AlertLevel.NoData ? AlertLevel.Ok : previous;

        bool crit = rule.HasCrit && rule.Breaches(value, fired == AlertLevel.Crit ? rule.CritReset : rule.Crit);
        bool warn = crit || (rule.HasWarn && rule.Breaches(value, fired >= AlertLevel.Warn ? rule.WarnReset : rule.Warn));
        state.CritSince = crit ? (state.CritSince == NoTime ? timestamp : state.CritSince) : NoTime;
        state.WarnSince = warn ? (state.WarnSince == NoTime ? timestamp : state.WarnSince) : NoTime;

        var candidate = AlertLevel.Ok;
        if (crit && Elapsed(state.CritSince, timestamp) >= rule.ForNs) candidate = AlertLevel.Crit;
        else if (warn && rule.HasWarn && Elapsed(state.WarnSince, timestamp) >= rule.ForNs) candidate = AlertLevel.Warn;

        var next = candidate;
        if (candidate >= fired)
        {
            state.KeepFiringUntil = NoTime;
        }
        else if (rule.KeepFiringNs > 0)
        {
            if (state.KeepFiringUntil == NoTime) state.KeepFiringUntil = SaturatingAdd(timestamp, rule.KeepFiringNs);
            if (timestamp < state.KeepFiringUntil) next = fired;
            else state.KeepFiringUntil = NoTime;
        }

        state.LastEvaluated = timestamp;
        state.LastValue = value;
        if (next == previous) return false;
        state.Level = next;
        state.LevelSince = timestamp;
        state.AcknowledgedBy = null;
        state.AcknowledgedAt = NoTime;
        return true;
    }

    /// <summary>
    /// The no-data deadline of a state, or <see cref="long.MaxValue"/> when it has none (detection off, never
    /// evaluated, or already NoData).
    /// </summary>
    public static long NoDataDeadline(CompiledRule rule, in AlertState state) =>
        rule.NoDataNs == 0 || state.Level == AlertLevel.NoData || state.LastEvaluated == NoTime
            ? long.MaxValue
            : SaturatingAdd(state.LastEvaluated, rule.NoDataNs);

    /// <summary>Moves a silent series to NoData, forgetting pending and keep-firing progress: its data is gone.</summary>
    public static void GoSilent(ref AlertState state, long at)
    {
        state.Level = AlertLevel.NoData;
        state.LevelSince = at;
        state.WarnSince = NoTime;
        state.CritSince = NoTime;
        state.KeepFiringUntil = NoTime;
        state.AcknowledgedBy = null;
        state.AcknowledgedAt = NoTime;
    }

    private static long Elapsed(long since, long now) => now - since;

    internal static long SaturatingAdd(long at, long duration) => at > long.MaxValue - duration ? long.MaxValue : at + duration;
}
