# syntax=docker/dockerfile:1
#
# rectify: one static binary, and every role runs from this one image:
#   docker run -p 8080:8080 -v rectify-data:/data rectify serve --demo
# runs everything in one container (embedded store and NATS in /data);
# docker-compose.yml runs each role on its own against EventStoreDB and a
# NATS cluster (RECTIFY_ROLES, RECTIFY_ESDB_URL, RECTIFY_NATS_URL).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# modernc.org/sqlite is pure Go: no cgo, a static binary.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/rectify ./cmd/rectify
# The directories volumes are mounted on, so that a fresh named volume
# takes their owner, the non-root user.
RUN mkdir -p /out/data/evidence /out/secrets

# distroless/static: CA certificates, time zones, /etc/passwd with the
# user nonroot (65532), and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rectify /usr/local/bin/rectify
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/secrets /secrets
USER 65532:65532
ENV RECTIFY_DATA=/data \
    RECTIFY_ADDR=:8080
VOLUME ["/data"]
EXPOSE 8080
# No curl in the image: the binary probes itself (/healthz at RECTIFY_ADDR).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/rectify", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/rectify"]
CMD ["serve"]
