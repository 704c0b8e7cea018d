//! TAMS resources as Rust types, validated at the edge.
