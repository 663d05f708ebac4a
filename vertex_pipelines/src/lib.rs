//! Pipeline definitions for Vertex AI and the local runner (later issues), and the `mlops`
//! command-line tool (`src/main.rs`).
