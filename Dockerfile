# Ingest daemon image: build with the .NET 10 SDK, run on the ASP.NET Core runtime as a non-root user.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src

# All of src/ (not a hand-kept list of project files), so a new project reference cannot break the image.
COPY *.props ./
COPY config/ config/
COPY src/ src/
RUN dotnet restore src/Ingest/Ingest.csproj
RUN dotnet publish src/Ingest/Ingest.csproj -c Release -o /app --no-restore -p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
# The daemon reads ingest.json from its content root (the application folder).
COPY config/ingest.json ./ingest.json
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1
# APP_UID is the unprivileged "app" user that the official .NET images define.
USER $APP_UID
EXPOSE 8186
ENTRYPOINT ["dotnet", "Ingest.dll"]
# Loopback inside a container would be unreachable from the port mapping; docker-compose.yml passes the
# same and opts into anonymous non-loopback writes explicitly.
CMD ["--urls", "http://0.0.0.0:8186"]
