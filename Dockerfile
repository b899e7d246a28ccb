# Builds the notifier binary into a small image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/notifier ./cmd/notifier

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/notifier /notifier
EXPOSE 8080
ENTRYPOINT ["/notifier"]
CMD ["serve"]
