//! `preau.toml` is read by two programs: `preau serve` (box/src/config.rs) and
//! `preau-image` (image-builder/src/config.rs, which writes the image's copy and derives
//! hostapd/dnsmasq settings). Both use the `preau-config` schema; these tests keep them
//! agreeing on every file a technician may write: the documented example, the image's
//! default file, and a table of good and bad files (same verdict, same message).

use preau_box::config::Config;
use preau_image::config::{BoxConfig, ImageConfig};

/// The `preau.toml` example of ARCHITECTURE.md (the first ```toml block after its heading).
fn documented_example() -> String {
    let doc = include_str!("../../ARCHITECTURE.md");
    let start = doc.find("### Config file").expect("ARCHITECTURE.md documents the config file");
    let block = &doc[start..];
    let body = &block[block.find("```toml").expect("a toml block") + "```toml".len()..];
    body[..body.find("```").expect("the block ends")].to_string()
}

#[test]
fn the_documented_example_is_accepted_by_the_box_and_the_image_builder() {
    // The example has placeholders where real keys go.
    let key = "ab".repeat(32);
    let example = documented_example().replace("<hex ed25519 public key>", &key);
    Config::parse(&example).unwrap_or_else(|e| panic!("preau serve refuses the documented example: {e:#}"));
    let image =
        BoxConfig::parse(&example).unwrap_or_else(|e| panic!("preau-image refuses the documented example: {e:#}"));
    // What the image writes back onto the card, the box reads.
    let written = image.effective(true).to_toml();
    Config::parse(&written).unwrap_or_else(|e| panic!("preau serve refuses the image's preau.toml: {e:#}\n{written}"));
}

#[test]
fn the_images_default_file_is_accepted_by_the_box() {
    let text = preau_image::pipeline::DEFAULT_CONFIG;
    let parsed = BoxConfig::parse(text).expect("preau-image reads its own default");
    Config::parse(text).unwrap_or_else(|e| panic!("preau serve refuses the image's default preau.toml: {e:#}"));
    Config::parse(&parsed.effective(true).to_toml()).expect("and its effective form");
    // Every commented-out example line, once uncommented, is accepted by both.
    let uncommented: String = text
        .lines()
        .map(|l| l.strip_prefix("# ").filter(|r| r.contains(" = ")).unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let uncommented = uncommented.replace("<hex ed25519 public key>", &"cd".repeat(32));
    Config::parse(&uncommented).unwrap_or_else(|e| panic!("preau serve: {e:#}\n{uncommented}"));
    BoxConfig::parse(&uncommented).unwrap_or_else(|e| panic!("preau-image: {e:#}\n{uncommented}"));
}

/// Files a technician may write, good and bad: `preau serve --config` (the box's loader)
/// and `preau-image check-config` must accept the same ones and refuse the same ones with
/// the same message, which names the problem (`want`). A file the image tool passes and
/// the box refuses would leave a card whose box does not start.
#[test]
fn the_box_and_the_image_builder_accept_and_refuse_the_same_files_with_the_same_messages() {
    let key = "ab".repeat(32);
    let good = format!(
        "[sync]\ntrusted_keys = [\"{key}\"]\nhours = \"22:00-06:00\"\npeer_token = \"ecole-st-martin-7f3k9q2x\"\n"
    );
    // (file, None when valid, else a part of the message both must give)
    let cases: Vec<(String, Option<&str>)> = vec![
        (String::new(), None),
        (good, None),
        ("[box]\nhostname = \"salle-3\"\n[wifi]\nmode = \"ethernet\"\n".into(), None),
        ("[wifi]\nchannel = 13\ncountry = \"BE\"\npassphrase = \"correct horse\"\n".into(), None),
        ("[server]\nmax_connections = 64\nmdns = false\ncache_bytes = 0\n".into(), None),
        (
            "[upstream]\nlrs = \"https://lrs.example.org/xapi/\"\nusername = \"box-12\"\npassword = \"s3cret\"\n\
             keep_days = 90\nsend_responses = true\nmax_outbox = 5000\nhome_page = \"https://ent.example.org/\"\n"
                .into(),
            None,
        ),
        // [box]
        ("[box]\nhostname = \"Preau\"\n".into(), Some("box.hostname: \"Preau\" is not a host name")),
        ("[box]\nhostname = \"my box\"\n".into(), Some("box.hostname")),
        ("[box]\nscool = \"x\"\n".into(), Some("unknown field `scool`")),
        ("[box]\nsetup_code = \"123\"\n".into(), Some("box.setup_code: 3 characters, expected 6 to 64")),
        ("[box]\nlisten = \"80\"\n".into(), Some("box.listen: \"80\" is not an address and port")),
        ("[boxx]\n".into(), Some("unknown field `boxx`")),
        // [wifi]
        ("[wifi]\nssdi = \"x\"\n".into(), Some("unknown field `ssdi`")),
        ("[wifi]\npassphrase = \"short\"\n".into(), Some("wifi.passphrase: 5 characters, expected 8 to 63")),
        ("[wifi]\nchannel = 14\n".into(), Some("wifi.channel: 14 is not a 2.4 GHz Wi-Fi channel (1 to 13)")),
        ("[wifi]\ncountry = \"fr\"\n".into(), Some("wifi.country: \"fr\" is not a two-letter country code")),
        ("[wifi]\nmode = \"mesh\"\n".into(), Some("unknown variant `mesh`")),
        ("[wifi]\nssid = \"\"\n".into(), Some("wifi.ssid: 0 characters, expected 1 to 32")),
        // [sync]
        ("[sync]\npeer_token = \"short\"\n".into(), Some("sync.peer_token: 5 characters, expected 16 to 200")),
        (
            "[sync]\npeer_token = \"has a space in the middle\"\n".into(),
            Some("sync.peer_token: use printable ASCII characters without spaces"),
        ),
        (
            "[sync]\nhours = \"25:00-06:00\"\n".into(),
            Some("sync.hours: \"25:00-06:00\": \"25:00\" is not a time of day"),
        ),
        ("[sync]\nhours = \"nights\"\n".into(), Some("sync.hours: \"nights\": expected HH:MM-HH:MM")),
        ("[sync]\ntrusted_keys = [\"abc\"]\n".into(), Some("sync.trusted_keys: \"abc\" is not an ed25519 public key")),
        (
            "[sync]\nrepository = \"ftp://example.org/\"\n".into(),
            Some("sync.repository: \"ftp://example.org/\" is not an http"),
        ),
        ("[sync]\nmax_rate = 0\n".into(), Some("sync.max_rate: must be more than 0")),
        ("[sync]\nhour = \"22:00-06:00\"\n".into(), Some("unknown field `hour`")),
        // [server]
        ("[server]\nmax_connections = 0\n".into(), Some("server.max_connections: 0 is outside 1 to 100000")),
        (
            "[server]\nrequest_timeout_secs = 7200\n".into(),
            Some("server.request_timeout_secs: 7200 is outside 1 to 3600"),
        ),
        ("[server]\nmax_body_bytes = 10\n".into(), Some("server.max_body_bytes: 10 is outside 1024")),
        ("[server]\nmdns = \"yes\"\n".into(), Some("invalid type: string \"yes\", expected a boolean")),
        ("[server]\nmax_conections = 10\n".into(), Some("unknown field `max_conections`")),
        // [upstream]
        (
            "[upstream]\nlrs = \"https://lrs.example.org/xapi\"\n".into(),
            Some("upstream.lrs: \"https://lrs.example.org/xapi\" must end with '/'"),
        ),
        ("[upstream]\nlrs = \"lrs.example.org/\"\n".into(), Some("upstream.lrs: \"lrs.example.org/\" is not an http")),
        ("[upstream]\nkeep_days = 0\n".into(), Some("upstream.keep_days: 0 is outside 1 to 3650")),
        ("[upstream]\nkeep_days = 4000\n".into(), Some("upstream.keep_days: 4000 is outside 1 to 3650")),
        ("[upstream]\nmax_outbox = 10\n".into(), Some("upstream.max_outbox: 10 is outside 1000")),
        ("[upstream]\nusername = \"u\"\npassword = \"p\"\n".into(), Some("upstream.lrs: missing")),
        (
            "[upstream]\nlrs = \"https://lrs.example.org/\"\nusername = \"u\"\n".into(),
            Some("upstream: set both username and password, or neither"),
        ),
        ("[upstream]\nhome_page = \"ent\"\n".into(), Some("upstream.home_page: \"ent\" is not an http")),
        ("[upstream]\nenabled = 1\n".into(), Some("invalid type: integer `1`, expected a boolean")),
        ("[upstream]\nendpoint = \"https://x/\"\n".into(), Some("unknown field `endpoint`")),
    ];
    assert!(cases.iter().filter(|c| c.1.is_some()).count() >= 20);
    let dir = std::env::temp_dir().join(format!("preau-config-agreement-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (i, (text, want)) in cases.iter().enumerate() {
        let file = dir.join(format!("case-{i}.toml"));
        std::fs::write(&file, text).unwrap();
        // `preau serve` stops with this error as it is (anyhow adds nothing: no source).
        let by_box = Config::load(&file).map(|_| ()).map_err(|e| e.to_string());
        let by_image = preau_image::config::check_config(&file).map(|_| ()).map_err(|e| e.to_string());
        let ok = match (want, &by_box, &by_image) {
            (None, Ok(()), Ok(())) => true,
            (Some(want), Err(b), Err(m)) => b == m && b.contains(want) && b.contains(&file.display().to_string()),
            _ => false,
        };
        if !ok {
            failures.push(format!("{text:?} (want {want:?}):\n  preau serve: {by_box:?}\n  preau-image: {by_image:?}"));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}
