using System.Threading.RateLimiting;
using Ingest.Configuration;
using Ingest.Sources.Http;
using Microsoft.AspNetCore.RateLimiting;

namespace Ingest.Hosting;

/// <summary>
/// A token bucket per token (per client address while auth is off): <c>Auth:RateLimitPerSecond</c> requests a
/// second, <c>Auth:RateLimitBurst</c> at once. Over it, 429 with <c>Retry-After</c>. Health, readiness, ping and
/// metrics are never limited: monitoring must see a daemon that is busy refusing a client.
/// </summary>
public static class RateLimits
{
    /// <summary>
    /// Exempts an endpoint that monitoring polls from the limit. The exemption is endpoint metadata, so it applies to
    /// whatever routing sends to the endpoint (<c>/metrics</c>, <c>/metrics/</c>, <c>/METRICS</c>), exactly as the
    /// endpoint's own scope check does; a list of paths compared as text would drift from routing's rules.
    /// </summary>
    public static TBuilder ForMonitoring<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.DisableRateLimiting();

    public static void Add(IServiceCollection services)
    {
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = (context, _) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = "1";
                return ValueTask.CompletedTask;
            };
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                var credentials = context.RequestServices.GetRequiredService<WriteCredentials>();
                var auth = credentials.Options;
                if (auth.RateLimitPerSecond <= 0) return RateLimitPartition.GetNoLimiter("");
                var token = credentials.Authenticate(context.Request);
                // Requests without a valid token share their address's bucket, so guessing cannot go unbounded.
                var who = token is not null && token != ApiToken.Anonymous ? "token:" + token.Name : "ip:" + context.Connection.RemoteIpAddress;
                var key = $"{auth.RateLimitPerSecond}/{auth.RateLimitBurst}/{who}";
                return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = auth.RateLimitBurst,
                    TokensPerPeriod = auth.RateLimitPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
        });
    }

    /// <summary>Must run after routing (which <see cref="WebApplication"/> puts first), so that the endpoint's exemption is known.</summary>
    public static void Use(WebApplication app) => app.UseRateLimiter();
}
