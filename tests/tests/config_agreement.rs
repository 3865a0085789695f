//! `preau.toml` is read by two programs: `preau serve` (box/src/config.rs) and
//! `preau-image` (image-builder/src/config.rs, which writes the image's copy and derives
//! hostapd/dnsmasq settings). Both refuse unknown keys, so they must agree on every key
//! a technician may write: the documented example and the image's default file.

use preau_box::config::Config;
use preau_image::config::BoxConfig;

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
