//! The importer's errors. Each names the problem and, where it helps, the member of the
//! archive or the line of the file, so that the operator can fix the source.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a source Préau can import ({why})")]
    UnknownKind { path: PathBuf, why: String },
    #[error("{what} exceeds the limit: {detail}")]
    Limit { what: String, detail: String },
    #[error("unsafe archive member {member:?}: {why}")]
    UnsafePath { member: String, why: String },
    #[error("corrupt or truncated {what}: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("malformed XML in {what}: {detail}")]
    Xml { what: String, detail: String },
    #[error("not a Moodle backup: {0}")]
    NotMoodle(String),
    #[error("GIFT syntax error at line {line}: {detail}")]
    Gift { line: usize, detail: String },
    #[error("git repository {path}: {detail}")]
    Git { path: PathBuf, detail: String },
    #[error("{0}")]
    Pack(#[from] preau_pack::Error),
}

impl ImportError {
    pub(crate) fn limit(what: impl Into<String>, detail: impl Into<String>) -> ImportError {
        ImportError::Limit { what: what.into(), detail: detail.into() }
    }

    pub(crate) fn corrupt(what: impl Into<String>, detail: impl std::fmt::Display) -> ImportError {
        ImportError::Corrupt { what: what.into(), detail: detail.to_string() }
    }
}

pub type Result<T, E = ImportError> = std::result::Result<T, E>;
