//! Browser bindings over skupper-core (being written).
