//! Link admission policy module (being written).
