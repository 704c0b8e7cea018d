//! Background workers: deletion requests and garbage collection of media objects.
