//! Importers: Moodle `.mbz`, GIFT / Moodle XML question files, git repositories, ZIM.
//! Each turns a source into a [`preau_pack::source::SourceTree`] that the pack builder chunks and signs.
