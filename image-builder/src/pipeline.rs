//! `preau-image build`: profile → root filesystem → partitions → image → outputs.

use crate::config::BoxConfig;
use crate::partition::{self, Layout};
use crate::profile::{Board, Profile};
use crate::tools::{self, Tool};
use crate::units::{DATA_LABEL, ROOT_LABEL};
use crate::{boot, elf, image, outputs, rootfs};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the Debian root folder comes from.
pub enum RootSource {
    /// Run mmdebstrap into this folder, or reuse it if an earlier run with the same
    /// settings completed there.
    Mmdebstrap(PathBuf),
    /// A prepared folder used as it is (tests build small images from such a folder).
    Prepared(PathBuf),
}

pub struct BuildOptions {
    pub profile: Profile,
    pub out: PathBuf,
    pub binary: PathBuf,
    /// The preau-image binary for the board (runs `firstboot` on the box).
    pub image_tool: PathBuf,
    pub packs: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub root: RootSource,
    /// Prefix for the os_list `url` (Raspberry Pi Imager wants where to download from).
    pub url_base: Option<String>,
}

pub struct Built {
    pub image: PathBuf,
    pub compressed: PathBuf,
    pub bmap: PathBuf,
    pub sha256: PathBuf,
    pub os_list: PathBuf,
    pub layout: Layout,
}

pub const HOST_TOOLS: [&Tool; 7] = [
    &tools::MKFS_VFAT,
    &tools::MCOPY,
    &tools::SFDISK,
    &tools::MKE2FS,
    &tools::BMAPTOOL,
    &tools::SYSTEMCTL,
    &tools::DEBUGFS,
];

fn step(n: usize, total: usize, what: &str, start: Instant) {
    eprintln!("[{n}/{total}] {what} (at {:.0}s)", start.elapsed().as_secs_f64());
}

pub fn build(o: &BuildOptions) -> Result<Built> {
    let start = Instant::now();
    let p = &o.profile;
    // Every check that can fail fast runs before the long steps.
    let mut needed: Vec<&Tool> = HOST_TOOLS.to_vec();
    needed.push(match p.compression {
        crate::profile::Compression::Xz => &tools::XZ,
        crate::profile::Compression::Zstd => &tools::ZSTD,
    });
    if matches!(o.root, RootSource::Mmdebstrap(_)) {
        needed.push(&tools::MMDEBSTRAP);
    }
    tools::require(&needed)?;
    os_list_url(o.url_base.as_deref(), Path::new("check"))?;
    elf::check_binary(&o.binary, p.board, "preau")?;
    elf::check_binary(&o.image_tool, p.board, "preau-image (runs on the box at boot)")?;
    if let Some(packs) = &o.packs
        && !packs.is_dir()
    {
        bail!(
            "--packs {}: not a pack repository folder (make one with `preau pack build SRC --repo DIR --key KEY`)",
            packs.display()
        );
    }
    let config_text = match &o.config {
        Some(c) => {
            BoxConfig::load(c)?;
            std::fs::read_to_string(c)?
        }
        None => DEFAULT_CONFIG.to_string(),
    };
    std::fs::create_dir_all(&o.out).with_context(|| format!("cannot create {}", o.out.display()))?;
    let work = o.out.join("work");
    std::fs::create_dir_all(&work)?;
    let epoch = source_date_epoch();
    let total = 7;

    step(1, total, "root filesystem (mmdebstrap)", start);
    let root = match &o.root {
        RootSource::Prepared(d) => d.clone(),
        RootSource::Mmdebstrap(d) => {
            debian_root(p, d)?;
            d.clone()
        }
    };

    step(2, total, "the box, its units and first-boot helpers", start);
    rootfs::customize(
        &root,
        p,
        &rootfs::Additions { preau_binary: &o.binary, image_tool: &o.image_tool, packs: o.packs.as_deref() },
    )?;
    let kernel = rootfs::kernel_version(&root)?;

    step(3, total, "boot partition (FAT)", start);
    let stage = work.join("boot");
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    boot::stage(p.board, &root, &kernel, &config_text, &stage)?;
    let (boot_bytes, _) = rootfs::usage(&stage)?;
    if boot_bytes + 4 * partition::MIB > p.size.boot_mib * partition::MIB {
        bail!(
            "the boot partition is too small: its files take {} MiB; set size.boot_mib = {} or more",
            boot_bytes / partition::MIB + 1,
            boot_bytes / partition::MIB + 16
        );
    }
    let boot_img = work.join("boot.fat");
    image::make_fat(&boot_img, p.size.boot_mib, &stage, epoch)?;

    step(4, total, "root and data partitions (ext4)", start);
    // The FAT mount point must be empty in the root; it was emptied by customize.
    let (bytes, files) = rootfs::usage(&root)?;
    let needed_root = partition::root_mib_for(bytes, files);
    let root_mib = match p.size.root_mib {
        Some(m) if m < needed_root => bail!(
            "the root partition is too small: size.root_mib = {m}, but {} MiB in {files} files need {needed_root}; set size.root_mib = {needed_root} or more (or leave it out)",
            bytes / partition::MIB
        ),
        Some(m) => m,
        None => needed_root,
    };
    let layout = Layout::new(p.board, p.size.boot_mib, root_mib, p.size.data_mib, p.size.image_mib)?;
    image::check_free_space(&o.out, image::bytes_needed_on_disk(bytes + boot_bytes))?;
    let root_img = work.join("root.ext4");
    image::make_ext4(&root_img, root_mib, ROOT_LABEL, Some(&root), &uuid_for(p.board, 2), epoch)?;
    let data_img = work.join("data.ext4");
    image::make_ext4(&data_img, p.size.data_mib, DATA_LABEL, None, &uuid_for(p.board, 3), epoch)?;

    step(5, total, "disk image (sfdisk, partitions at their offsets)", start);
    let name = format!("preau-{}-{}", p.board.name(), p.version);
    let img = o.out.join(format!("{name}.img"));
    image::assemble(&img, &layout, &boot_img, &root_img, &data_img)?;
    for f in [&boot_img, &root_img, &data_img] {
        let _ = std::fs::remove_file(f);
    }

    step(6, total, "bmap and compressed copy", start);
    let bmap = outputs::bmap(&img)?;
    let compressed = outputs::compress(&img, p.compression)?;

    step(7, total, "checksums and os_list", start);
    let img_sha = outputs::sha256_file(&img)?;
    let comp_sha = outputs::sha256_file(&compressed)?;
    let file_name = |f: &Path| f.file_name().unwrap().to_string_lossy().into_owned();
    let sha256 = o.out.join(format!("{name}.sha256"));
    std::fs::write(&sha256, format!("{img_sha}  {}\n{comp_sha}  {}\n", file_name(&img), file_name(&compressed)))?;
    let url = os_list_url(o.url_base.as_deref(), &compressed)?;
    let entry = outputs::OsEntry {
        board: p.board,
        version: &p.version,
        url,
        extract_size: layout.image_size,
        extract_sha256: img_sha,
        download_size: std::fs::metadata(&compressed)?.len(),
        download_sha256: comp_sha,
        release_date: outputs::date_of(epoch),
    };
    let os_list = o.out.join(format!("{name}.os_list.json"));
    std::fs::write(&os_list, serde_json::to_string_pretty(&outputs::os_list(&entry))? + "\n")?;

    let mib = |f: &Path| std::fs::metadata(f).map(|m| m.len() / partition::MIB).unwrap_or(0);
    eprintln!(
        "built {} in {:.0}s\n  image      {} ({} MiB: boot {} + root {} + data {} MiB, data grows at first boot)\n  compressed {} ({} MiB)\n  bmap       {}\n  sha256     {}\n  os_list    {}\n  kernel {kernel}, preau {}, packs {}, config {}",
        p.board.name(),
        start.elapsed().as_secs_f64(),
        img.display(),
        layout.image_size / partition::MIB,
        p.size.boot_mib,
        root_mib,
        layout.data.size / partition::MIB,
        compressed.display(),
        mib(&compressed),
        bmap.display(),
        sha256.display(),
        os_list.display(),
        o.binary.display(),
        o.packs.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none".into()),
        o.config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "default (hotspot \"Preau\", passphrase made at first boot)".into()),
    );
    Ok(Built { image: img, compressed, bmap, sha256, os_list, layout })
}

/// The os_list's `url`, which Raspberry Pi Imager downloads: `--url-base` and the file
/// name for a published image, else the file itself (`file://`, this machine only).
pub fn os_list_url(url_base: Option<&str>, compressed: &Path) -> Result<String> {
    let name = compressed.file_name().context("no file name")?.to_string_lossy();
    match url_base {
        Some(b) if b.starts_with("https://") || b.starts_with("http://") => {
            Ok(format!("{}/{name}", b.trim_end_matches('/')))
        }
        Some(b) => bail!("--url-base {b:?}: use the http(s):// address where the images will be published"),
        None => {
            let abs = std::path::absolute(compressed)?;
            Ok(format!("file://{}", abs.display()))
        }
    }
}

/// Runs mmdebstrap into `dir`, unless an earlier run with the same settings completed
/// there (a marker file holds the command line).
pub fn debian_root(p: &Profile, dir: &Path) -> Result<()> {
    let marker = dir.join(".preau-mmdebstrap");
    // The command line with the target folder left out: the folder may be moved.
    let cmd = rootfs::mmdebstrap_command(p, Path::new("ROOT"));
    let want = format!("{:?}", cmd.get_args().collect::<Vec<_>>());
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) {
        eprintln!("      reusing {}", dir.display());
        return Ok(());
    }
    tools::require(&[&tools::MMDEBSTRAP])?;
    rootfs::mmdebstrap(p, dir)?;
    std::fs::write(&marker, &want)?;
    Ok(())
}

/// The config written when none is given: every key commented, so the technician sees
/// what can be set. No passphrase: the box makes one at its first boot (never an open
/// hotspot) and shows it on the screen, the serial console and the teacher's admin page.
pub const DEFAULT_CONFIG: &str = "# Préau box settings. Edit with any text editor; every key is optional.\n\
# See image-builder/README.md. Unknown keys are errors.\n\
\n\
[box]\n\
# school = \"École de Saint-Martin\"\n\
# hostname = \"preau\"            # pupils open http://preau/\n\
# setup_code = \"483920\"         # one-time teacher setup code\n\
\n\
[wifi]\n\
mode = \"hotspot\"                # or \"ethernet\" behind an external access point (a full class)\n\
ssid = \"Preau\"\n\
# passphrase = \"8 to 63 characters\"   # without one the box makes one at first boot and shows it\n\
channel = 6\n\
country = \"FR\"\n\
\n\
[sync]\n\
# repository = \"https://example.org/preau/\"\n\
# trusted_keys = [\"<hex ed25519 public key>\"]\n\
# hours = \"22:00-06:00\"\n\
# max_rate = 250000\n\
# peer_token = \"ecole-st-martin-7f3k9q2x\"   # the same on every box of the school: they share quiz answers\n";

fn source_date_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    })
}

/// Fixed file-system UUIDs per board and partition: images are reproducible, and no
/// per-box identity lives in them anyway (that is made at first boot).
fn uuid_for(board: Board, part: u8) -> String {
    let b = match board {
        Board::PcAmd64 => 1,
        Board::RpiArm64 => 2,
    };
    format!("50524541-5500-4{b:03}-8000-00000000000{part}")
}

/// The default location of the `preau` binary for a board, relative to the workspace.
pub fn default_binary(board: Board) -> PathBuf {
    match board {
        Board::PcAmd64 => PathBuf::from("target/release/preau"),
        Board::RpiArm64 => crate::cross::output_dir(Path::new("")).join("preau"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_list_url_is_absolute() {
        let f = Path::new("out/preau-rpi-arm64-1.img.xz");
        assert_eq!(
            os_list_url(Some("https://images.example.org/preau/"), f).unwrap(),
            "https://images.example.org/preau/preau-rpi-arm64-1.img.xz"
        );
        let local = os_list_url(None, f).unwrap();
        assert!(local.starts_with("file:///") && local.ends_with("/out/preau-rpi-arm64-1.img.xz"), "{local}");
        let err = os_list_url(Some("images.example.org"), f).unwrap_err();
        assert!(format!("{err:#}").contains("http(s)://"), "{err:#}");
    }
}
