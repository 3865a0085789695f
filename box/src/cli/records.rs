//! `preau records export|import`: the learner records of a box as one file, for the same
//! school's box after a reflash (`preau_classroom::records` says what the file holds).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum RecordsCommand {
    /// Write the learner records and teachers' settings to one file (pupils' personal data).
    Export {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Add the records of an export to a fresh box (no class, no pupil yet).
    Import {
        #[arg(long)]
        data: PathBuf,
        file: PathBuf,
    },
}

pub fn run(c: RecordsCommand) -> Result<()> {
    match c {
        RecordsCommand::Export { data, out } => {
            let box_id = crate::identity::load_or_create(&data)?;
            let s = preau_classroom::records::export(&data, &box_id, env!("CARGO_PKG_VERSION"), &out)
                .with_context(|| format!("exporting the records of {}", data.display()))?;
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
        RecordsCommand::Import { data, file } => {
            let box_id = crate::identity::load_or_create(&data)?;
            let s = preau_classroom::records::import(&data, &box_id, &file)
                .with_context(|| format!("importing {}", file.display()))?;
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
    }
    Ok(())
}
