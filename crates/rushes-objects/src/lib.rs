//! Media object storage of a Rushes store, with signed URLs.
