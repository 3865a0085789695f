//! `preau-image`: builds, personalizes and (on the box) applies Préau images.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use preau_image::pipeline::{self, BuildOptions, RootSource};
use preau_image::profile::{Board, Profile};
use preau_image::{config, cross, elf, firstboot, personalize};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "preau-image", version, about = "Flashable SD/disk images for the Préau box")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build an image: .img, compressed copy, .bmap, .sha256 and os_list JSON in --out.
    Build {
        #[arg(long)]
        profile: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The `preau` binary for the board (default: target/release/preau on PCs,
        /// target/cross/aarch64-unknown-linux-gnu/release/preau for the Pi).
        #[arg(long)]
        binary: Option<PathBuf>,
        /// A pack repository folder to preload (installed by the box at start).
        #[arg(long)]
        packs: Option<PathBuf>,
        /// The preau.toml to put on the boot partition (default: a commented template).
        #[arg(long)]
        config: Option<PathBuf>,
        /// preau-image for the board, run on the box at boot (default: this program on
        /// PCs, the one next to --binary for the Pi).
        #[arg(long)]
        image_tool: Option<PathBuf>,
        /// Keep the Debian root folder here and reuse it when the profile's packages
        /// have not changed (default: OUT/work/rootfs).
        #[arg(long)]
        rootfs: Option<PathBuf>,
        /// Where the compressed image will be downloaded from (os_list `url`).
        #[arg(long)]
        url_base: Option<String>,
    },
    /// Only make (or refresh) the Debian root folder of a profile, for a later `build --rootfs`.
    Rootfs {
        #[arg(long)]
        profile: PathBuf,
        #[arg(long)]
        rootfs: PathBuf,
    },
    /// Put a school's preau.toml on a built .img (rewrites the file on its FAT partition).
    Personalize {
        image: PathBuf,
        #[arg(long)]
        config: PathBuf,
    },
    /// Check a preau.toml as the box will, and show the network it describes.
    CheckConfig { config: PathBuf },
    /// Cross-compile preau and preau-image for aarch64 with Debian's Rust in a chroot.
    CrossBuild {
        /// The workspace root (default: the current folder).
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
        /// The build chroot (default: WORKSPACE/target/cross/chroot).
        #[arg(long)]
        chroot: Option<PathBuf>,
        #[arg(long, default_value = "http://deb.debian.org/debian")]
        mirror: String,
        #[arg(long, default_value = "http://deb.debian.org/debian-security")]
        security_mirror: String,
        /// PACKAGE:BINARY to build (repeatable; default: preau-box:preau and
        /// preau-image:preau-image).
        #[arg(long = "bin")]
        bins: Vec<String>,
    },
    /// On the box, at every boot: apply preau.toml (network files, hostname).
    Firstboot {
        #[arg(long, default_value = "/boot/firmware/preau.toml")]
        config: PathBuf,
        #[arg(long, default_value = "/run/preau")]
        run_dir: PathBuf,
        #[arg(long, default_value = "/etc/hostname")]
        hostname_file: PathBuf,
        /// The data partition: where a Wi-Fi passphrase made by the box is kept.
        #[arg(long, default_value = config::DATA_DIR)]
        data_dir: PathBuf,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("preau-image: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Build { profile, out, binary, packs, config, image_tool, rootfs, url_base } => {
            let profile = Profile::load(&profile)?;
            let binary = binary.unwrap_or_else(|| pipeline::default_binary(profile.board));
            let image_tool = match image_tool {
                Some(t) => t,
                None => default_image_tool(profile.board, &binary)?,
            };
            let root = RootSource::Mmdebstrap(rootfs.unwrap_or_else(|| out.join("work/rootfs")));
            let built =
                pipeline::build(&BuildOptions { profile, out, binary, image_tool, packs, config, root, url_base })?;
            println!("{}", built.image.display());
            Ok(())
        }
        Cmd::Rootfs { profile, rootfs } => {
            let profile = Profile::load(&profile)?;
            pipeline::debian_root(&profile, &rootfs)?;
            println!("{}", rootfs.display());
            Ok(())
        }
        Cmd::Personalize { image, config } => {
            personalize::personalize(&image, &config)?;
            println!("wrote {} into {}", config.display(), image.display());
            Ok(())
        }
        Cmd::CheckConfig { config } => {
            println!("{}", config::check_config(&config)?);
            Ok(())
        }
        Cmd::CrossBuild { workspace, chroot, mirror, security_mirror, mut bins } => {
            let chroot = chroot.unwrap_or_else(|| workspace.join("target/cross/chroot"));
            if bins.is_empty() {
                bins = cross::DEFAULT_BINS.iter().map(|s| s.to_string()).collect();
            }
            let out = cross::cross_build(&workspace, &chroot, &mirror, &security_mirror, &bins)?;
            println!("{}", out.display());
            Ok(())
        }
        Cmd::Firstboot { config, run_dir, hostname_file, data_dir } => {
            let preload = Path::new(config::PRELOAD_DIR).is_dir();
            let said = firstboot::apply(&config, &run_dir, &hostname_file, &data_dir, preload).context(
                "preau.toml on the boot partition is not valid; fix it on any computer (preau-image check-config)",
            )?;
            println!("{said}");
            Ok(())
        }
    }
}

/// preau-image runs on the box at boot, so it must be built for the board: this
/// program when it is, else the one cross-built next to the `preau` binary.
fn default_image_tool(board: Board, binary: &Path) -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    if elf::check_binary(&me, board, "preau-image").is_ok() {
        return Ok(me);
    }
    Ok(binary.with_file_name("preau-image"))
}
