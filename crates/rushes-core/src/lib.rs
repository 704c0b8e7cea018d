//! The operations and rules of a Rushes store.
