//! Errors of the task layer.

/// Errors of the task layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown task {name:?}; built-in tasks: {known}")]
    UnknownTask { name: String, known: String },
    #[error("{path}: {message}")]
    Data { path: String, message: String },
    #[error("{path}:{line}: field `{field}`: {message}")]
    TaskFile {
        path: String,
        line: usize,
        field: String,
        message: String,
    },
    #[error("--num-fewshot cannot be used with {task}: {message}")]
    FewShot { task: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
