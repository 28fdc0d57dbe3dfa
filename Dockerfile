# logpipe image: build with the Swift toolchain, run on a slim Debian with the C libraries only.
#   docker build -t logpipe .        docker run logpipe --help
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends librabbitmq-dev libmongoc-dev libbson-dev libsqlite3-dev zlib1g-dev libsnappy-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits do not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
# SwiftPM checks the folder of every target in Package.swift, the test targets' too, before it builds anything:
# without Tests/ (small, and not compiled for the logpipe product) the build stops at "invalid custom path".
COPY Tests ./Tests
RUN swift build -c release --product logpipe --static-swift-stdlib \
 && mkdir -p /out \
 && cp .build/release/logpipe /out/ \
 && cp -R .build/release/logpipe_LogPipeApp.resources /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends librabbitmq4 libmongoc-1.0-0 libbson-1.0-0 libsqlite3-0 zlib1g libsnappy1v5 \
      ca-certificates curl tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data logpipe \
 && mkdir -p /data && chown logpipe /data
# The OpenAPI document travels next to the executable (served at GET /openapi.yaml).
COPY --from=build /out/ /usr/local/bin/
USER logpipe
WORKDIR /data
ENV LOGPIPE_SQLITE_PATH=/data/logpipe.sqlite LOGPIPE_LOG_FORMAT=json
EXPOSE 8000
ENTRYPOINT ["logpipe"]
CMD ["serve"]
