# flearectl in a small image: a static binary (no cgo) on distroless/static,
# running as the image's non-root user (65532). Build from the repository root:
#
#   docker build -t fleare-manager .
#   docker run --rm -v $PWD/examples/configs:/etc/fleare-manager:ro fleare-manager \
#       serve -f /etc/fleare-manager/minimal.yaml
#
# The admin socket goes under /tmp (a private per-user directory); give the
# container a writable /tmp when the root filesystem is read-only.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags='-s -w' -o /out/flearectl ./cmd/flearectl

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flearectl /usr/local/bin/flearectl
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/flearectl"]
CMD ["serve", "-f", "/etc/fleare-manager/fleare.yaml"]
