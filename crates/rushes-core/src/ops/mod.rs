//! Store operations, one module per resource.
pub mod segments;
