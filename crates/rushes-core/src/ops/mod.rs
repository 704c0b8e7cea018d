//! Store operations, one module per resource.
