//! HTTP API of a Rushes store: TAMS v8.2 routes, errors, pagination, media endpoint.
