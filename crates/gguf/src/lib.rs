//! The GGUF header reader, apart from the engine: reading a model file's header needs
//! no llama.cpp, so that the engine opener, run manifests and the fuzz targets can read
//! one without building it.

pub mod ftype;
pub mod header;

pub use header::{check_file, metadata, read_bytes, read_header, GgufHeader, HeaderError};
