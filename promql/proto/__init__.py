"""Generated protobuf code of Prometheus remote write (see remote.proto)."""
