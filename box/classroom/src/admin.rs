//! The box page for teachers: packs (list, remove, add from a USB folder, disk use),
//! opening hours, the clock, and what the Wi-Fi can serve.

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::context::ImportSummary;
use super::context::InstallError;
use super::context::StickError;
use super::hours::Hours;
use maud::{Markup, html};

use super::html::{Lang, Page, Sticky, half, message};
use super::web::{Csrf, Form, MultipartPost, Post, Shared, TeacherId, internal, is_off_worker, off_worker, system_now};
use super::wifi;

const DAYS_FR: [&str; 7] = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"];
const DAYS_EN: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
/// The box's clock is "clearly behind" past this many seconds.
const CLOCK_SLACK: i64 = 300;

/// (total, available) bytes of the file system holding `dir`, from `df` (no libc call
/// needed; `df -P` output is specified by POSIX).
fn disk_space(dir: &std::path::Path) -> Option<(u64, u64)> {
    let out = std::process::Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let cols: Vec<&str> = text.lines().nth(1)?.split_whitespace().collect();
    Some((cols.get(1)?.parse::<u64>().ok()? * 1024, cols.get(3)?.parse::<u64>().ok()? * 1024))
}

/// Folders on removable media that look like a pack repository (`catalog.json`).
fn usb_repositories() -> Vec<std::path::PathBuf> {
    usb_folders(|dir| dir.join("catalog.json").is_file())
}

/// Folders on removable media where `keep` holds: mount points, their first-level
/// folders, and `preau/` or `repo/` inside them (at most 20).
fn usb_folders(keep: impl Fn(&std::path::Path) -> bool) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for root in ["/media", "/mnt", "/run/media"] {
        let Ok(level1) = std::fs::read_dir(root) else { continue };
        for a in level1.flatten().take(20) {
            let mut candidates = vec![a.path()];
            if let Ok(level2) = std::fs::read_dir(a.path()) {
                candidates.extend(level2.flatten().take(50).map(|e| e.path()));
            }
            for c in candidates {
                for dir in [c.clone(), c.join("preau"), c.join("repo")] {
                    if keep(&dir) && !found.contains(&dir) && found.len() < 20 {
                        found.push(dir);
                    }
                }
            }
        }
    }
    found
}

/// The largest file a teacher may import from the browser (the box's `[server]
/// max_body_bytes` caps every request before this route's own limit).
pub const IMPORT_LIMIT: usize = 1 << 30;

/// Free space kept on the card whatever is imported (learner records, logs, updates).
/// `PREAU_FREE_FLOOR_BYTES` overrides it, for tests that simulate a full card.
fn free_floor() -> u64 {
    std::env::var("PREAU_FREE_FLOOR_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(64 << 20)
}

/// Bytes of card an import of `len` bytes needs: the upload itself while it is read,
/// the pack in the box's own repository and the installed copy.
fn import_needs(len: u64) -> u64 {
    len.saturating_mul(3)
}

/// Raw course files on removable media (an Éléa/Moodle backup, a GIFT or Moodle XML
/// file, an archive of a site, a git bundle). The name only lists candidates: the
/// importer decides the kind from the content.
fn usb_files() -> Vec<std::path::PathBuf> {
    const EXTS: [&str; 9] = ["mbz", "gift", "txt", "xml", "tar", "tgz", "gz", "zip", "bundle"];
    let mut found = Vec::new();
    for root in ["/media", "/mnt", "/run/media"] {
        let Ok(level1) = std::fs::read_dir(root) else { continue };
        for a in level1.flatten().take(20) {
            let mut dirs = vec![a.path()];
            if let Ok(level2) = std::fs::read_dir(a.path()) {
                dirs.extend(level2.flatten().take(50).map(|e| e.path()).filter(|p| p.is_dir()));
            }
            for d in dirs {
                let Ok(entries) = std::fs::read_dir(&d) else { continue };
                for e in entries.flatten().take(200) {
                    let p = e.path();
                    let ext = p.extension().and_then(|x| x.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
                    if p.is_file() && EXTS.contains(&ext.as_str()) && found.len() < 50 {
                        found.push(p);
                    }
                }
            }
        }
    }
    found
}

pub async fn page(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(TeacherId(t)): Extension<TeacherId>,
) -> Response {
    admin_view(&app, lang, &csrf.input(), t, "", &Sticky::default())
}

/// The admin page; the form named `which` ("hours", "teachers", "password") filled with
/// `sticky`, a refused form (passwords are never sent back), and its error shown.
pub fn admin_view(app: &Shared, lang: Lang, f: &Markup, t: i64, which: &str, sticky: &Sticky) -> Response {
    let fresh = Sticky::default();
    let hours_form = if which == "hours" { sticky } else { &fresh };
    let now = app.now();
    let tz = app.tz_minutes();
    let (hours, teacher) = {
        let store = app.store();
        (store.setting("hours").ok().flatten().unwrap_or_default(), store.teacher_name(t).ok().flatten())
    };
    let parsed = Hours::parse(&hours).unwrap_or_else(|_| Hours::parse("").expect("empty parses"));
    let names = if lang == Lang::Fr { DAYS_FR } else { DAYS_EN };
    let ranges = match hours_form.is_error() {
        true => hours_form.get("ranges").unwrap_or("").to_string(),
        false => hours.split_once(' ').map(|(_, r)| r).unwrap_or_default().to_string(),
    };
    let packs = app.ctx.packs.list();
    let total: u64 = packs.iter().map(|p| p.size).sum();
    let disk = match disk_space(&app.ctx.data_dir) {
        Some((size, free)) => format!(
            "{} {} — {} {} / {}",
            lang.t("Contenus :", "Content:"),
            lang.size(total),
            lang.t("libre sur la carte :", "free on the card:"),
            lang.size(free),
            lang.size(size)
        ),
        None => format!("{} {}", lang.t("Contenus :", "Content:"), lang.size(total)),
    };
    let found = usb_repositories();
    let files = usb_files();
    // Importing a raw course file from this device.
    let free = disk_space(&app.ctx.data_dir).map(|(_, free)| free.saturating_sub(free_floor()));
    let max = free.map_or(IMPORT_LIMIT as u64, |f| (f / 3).min(IMPORT_LIMIT as u64));
    // Safe HTML: the CSRF field, made by `html::csrf_input`.
    let body = html! {
        (super::html::teacher_nav(lang))
        @if let Some(n) = &app.ctx.config_problem {
            (super::html::config_notice(n, lang))
        }
        // Clock: shown by preau.js when the box is clearly behind or ahead of this browser
        // (a box set from a wrong device must be correctable from a right one).
        form #clock-form.warn.hidden method="post" action="/admin/clock" data-box-time=(now) {
            (f)
            p {
                span #clock-dir
                    data-behind=(lang.t("L'heure de la boîte est en retard d'environ", "The box's clock is behind by about"))
                    data-ahead=(lang.t("L'heure de la boîte est en avance d'environ", "The box's clock is ahead by about")) {}
                " "
                span #clock-late { "?" }
                " min. "
                (lang.t(
                    "(Elle n'a pas d'horloge sauvegardée.) Préau enregistre l'écart et l'utilise pour dater le travail des élèves ; l'horloge du système n'est pas modifiée.",
                    "(It has no battery-backed clock.) Préau records the difference and uses it to date pupils' work; the system clock is not changed."
                ))
            }
            input type="hidden" name="browser_time";
            input type="hidden" name="tz_minutes";
            button { (lang.t("Mettre la boîte à l'heure de cet appareil", "Set the box to this device's time")) }
        }
        p { (lang.t("Heure de la boîte :", "Box time:")) " " (lang.date(now, tz)) }

        h2 { (lang.t("Wi-Fi", "Wi-Fi")) }
        @if let Some((ssid, pass)) = &app.ctx.hotspot {
            p #hotspot {
                (lang.t("Réseau des élèves :", "Pupils' network:")) " " strong { (ssid) }
                " · " (lang.t("mot de passe :", "passphrase:")) " " strong { code { (pass) } }
            }
        }
        @match wifi::connected_devices(system_now()) {
            Some((n, how)) => {
                p #devices { (lang.t("Appareils connectés :", "Connected devices:")) " " strong { (n) } " " small { "(" (how) ")" } }
                @if n > wifi::BUILTIN_AP_DEVICES {
                    p.error { (lang.t(
                        "C'est plus que ce que le Wi-Fi intégré sert correctement : des élèves risquent d'être déconnectés.",
                        "That is more than the built-in Wi-Fi serves well: pupils may get disconnected."
                    )) }
                }
            }
            None => p { (lang.t(
                "La boîte ne peut pas compter les appareils connectés ici.",
                "The box cannot count connected devices here."
            )) },
        }
        p.warn { (lang.t(
            "Le Wi-Fi intégré du Raspberry Pi ne sert qu'environ 8 à 10 appareils. Pour une classe entière, branchez la boîte en Ethernet sur un point d'accès externe (ou ajoutez un adaptateur Wi-Fi USB).",
            "The Raspberry Pi's built-in Wi-Fi serves only about 8 to 10 devices. For a full class, connect the box by Ethernet to an external access point (or add a USB Wi-Fi adapter)."
        )) }

        h2 { (lang.t("Heures d'ouverture", "Opening hours")) }
        p { (lang.t(
            "En dehors de ces heures, les élèves voient une page « fermé » ; les enseignants entrent toujours. Laissez les heures vides pour ouvrir tout le temps.",
            "Outside these hours pupils see a \"closed\" page; teachers always get in. Leave the hours empty to stay open all the time."
        )) }
        form method="post" action="/admin/hours" {
            (f)
            (hours_form.error())
            fieldset {
                legend { (lang.t("Jours", "Days")) }
                @for (i, d) in names.iter().enumerate() {
                    @let saved = if hours.is_empty() { i < 5 } else { parsed.days[i] };
                    // The first day box carries the error about days, so that the focus lands there.
                    @let bad = i == 0 && hours_form.is_invalid("day");
                    label.inline {
                        input type="checkbox" name="day" value=(i + 1) checked[hours_form.is_checked("day", &(i + 1).to_string(), saved)]
                            aria-invalid=[bad.then_some("true")] aria-describedby=[bad.then_some("form-error")];
                        " " (d)
                    }
                    " "
                }
            }
            label {
                (lang.t("Heures (HH:MM-HH:MM, séparées par des virgules) :", "Hours (HH:MM-HH:MM, comma separated):")) " "
                input name="ranges" value=(ranges) placeholder="08:30-12:00,13:30-16:30" maxlength="200"
                    aria-invalid=[hours_form.is_invalid("ranges").then_some("true")]
                    aria-describedby=[hours_form.is_invalid("ranges").then_some("form-error")];
            }
            input type="hidden" name="tz_minutes";
            button { (lang.t("Enregistrer", "Save")) }
        }
        p {
            (lang.t("En ce moment, pour les élèves :", "Right now, for pupils:")) " "
            (if app.is_open() { lang.t("ouvert", "open") } else { lang.t("fermé", "closed") })
        }

        (sync_section(lang, app, now, tz))
        (upstream_section(lang, app, tz))
        (teachers_section(lang, f, &app.store(), t, which, sticky))

        h2 { (lang.t("Contenus installés", "Installed content")) }
        div.table-wrap {
            table {
                tr {
                    th { (lang.t("Titre", "Title")) } th { (lang.t("Identifiant", "Id")) }
                    th { (lang.t("Taille", "Size")) } th { (lang.t("Retirer", "Remove")) }
                }
                @for p in &packs {
                    tr {
                        td { (p.title) } td { (p.id) } td { (lang.size(p.size)) }
                        td {
                            form method="post" action="/admin/packs/remove" {
                                (f)
                                input type="hidden" name="pack" value=(p.id);
                                label { input type="checkbox" name="confirm" value="yes" required; " " (lang.t("sûr ?", "sure?")) }
                                button.danger { (lang.t("Retirer", "Remove")) }
                            }
                        }
                    }
                }
            }
        }
        p { (disk) }
        h3 { (lang.t("Ajouter depuis une clé USB", "Add from a USB stick")) }
        p { (lang.t(
            "Branchez la clé qui contient un dépôt Préau (un dossier avec catalog.json). Les contenus sont vérifiés (signatures) avant d'être installés.",
            "Plug in the stick holding a Préau repository (a folder with catalog.json). Content is verified (signatures) before it is installed."
        )) }
        form method="post" action="/admin/packs/add" {
            (f)
            (radios(&found))
            @if found.is_empty() {
                p { (lang.t("Aucune clé avec un dépôt n'est détectée.", "No stick with a repository detected.")) }
            }
            @for (i, dir) in files.iter().enumerate() {
                @let d = dir.display().to_string();
                label {
                    input type="radio" name="folder" value=(d) checked[found.is_empty() && i == 0];
                    " " (d) " " small { "(" (lang.t("fichier à importer", "file to import")) ")" }
                }
            }
            label {
                (lang.t("ou chemin du dossier ou du fichier :", "or path of the folder or file:")) " "
                input name="other" maxlength="500" placeholder="/media/usb/preau";
            }
            button { (lang.t("Installer", "Install")) }
        }
        (stick_section(lang, f))
        (records_section(lang, f))
        h3 { (lang.t("Importer un cours depuis cet appareil", "Import a course from this device")) }
        p { (lang.t(
            "Une sauvegarde Éléa/Moodle (.mbz), un fichier de questions GIFT ou Moodle XML, une archive (tar) d'un site. La boîte l'importe, le signe avec sa propre clé (connue d'elle seule) et l'installe ; vous voyez ensuite le rapport d'import.",
            "An Éléa/Moodle backup (.mbz), a GIFT or Moodle XML question file, an archive (tar) of a site. The box imports it, signs it with its own key (known to it only) and installs it; you then see the import report."
        )) }
        form #upload-form data-max=(max) method="post" enctype="multipart/form-data" action="/admin/packs/upload" {
            (f)
            label { (lang.t("Fichier :", "File:")) " " input type="file" name="file" required; }
            button { (lang.t("Importer", "Import")) }
            p #upload-note role="status"
                data-running=(lang.t(
                    "Envoi et import en cours… Ne fermez pas cette page : le rapport s'affichera ici.",
                    "Uploading and importing… Keep this page open: the report will show here."
                ))
                data-too-big=(lang.t(
                    "Ce fichier est trop gros pour la place libre sur la carte.",
                    "This file is too large for the free space on the card."
                )) {}
        }
        p { small {
            (lang.t(
                "Taille maximale d'un import (selon la place libre sur la carte) :",
                "Largest import (from the free space on the card):"
            )) " " (lang.size(max))
        } }
    };
    let mut page = Page::new(lang, lang.t("La boîte", "The box"), body);
    page.user = teacher;
    if sticky.is_error() {
        page = page.status(StatusCode::BAD_REQUEST);
    }
    page.into_response()
}

/// Free bytes on the stick holding `dir` (`statvfs`). `PREAU_STICK_FREE_BYTES`
/// overrides it, for tests that simulate a small stick.
fn stick_free(dir: &std::path::Path) -> Option<u64> {
    if let Some(v) = std::env::var("PREAU_STICK_FREE_BYTES").ok().and_then(|v| v.parse().ok()) {
        return Some(v);
    }
    rustix::fs::statvfs(dir).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}

/// One radio button per folder, the first one checked.
fn radios(found: &[std::path::PathBuf]) -> Markup {
    html! {
        @for (i, dir) in found.iter().enumerate() {
            @let d = dir.display().to_string();
            label { input type="radio" name="folder" value=(d) checked[i == 0]; " " (d) }
        }
    }
}

/// Mules: a box without internet writes its want-list on a stick; a box that has the
/// packs (or internet) fills the stick; the first box installs it with "add from a USB
/// stick" above. `f`: the CSRF field.
fn stick_section(lang: Lang, f: &Markup) -> Markup {
    let sticks = usb_folders(|d| d.is_dir());
    let lists = usb_folders(|d| d.join(super::context::WANTS_FILE).is_file());
    html! {
        h3 { (lang.t("Écrire la liste des besoins sur une clé USB", "Write the want-list on a USB stick")) }
        p { (lang.t(
            "Sans internet ? La boîte écrit sur la clé ce qu'elle a déjà (preau-wants.json). Une boîte qui a les contenus, ou internet, remplit ensuite la clé avec ce qui manque ; rebranchez-la ici et utilisez « Ajouter depuis une clé USB ».",
            "No internet? The box writes on the stick what it already has (preau-wants.json). A box that has the content, or internet, then fills the stick with what is missing; plug it back in here and use \"Add from a USB stick\"."
        )) }
        form method="post" action="/admin/stick/wants" {
            (f)
            (radios(&sticks))
            @if sticks.is_empty() {
                p { (lang.t("Aucune clé n'est détectée.", "No stick detected.")) }
            }
            label { (lang.t("ou chemin du dossier :", "or path of the folder:")) " " input name="other" maxlength="500" placeholder="/media/usb"; }
            button { (lang.t("Écrire la liste", "Write the list")) }
        }
        h3 { (lang.t("Remplir une clé pour une autre boîte", "Fill a stick for another box")) }
        p { (lang.t(
            "Branchez la clé où une autre boîte a écrit sa liste des besoins (preau-wants.json). Cette boîte y écrit ce qui lui manque, depuis ses propres contenus ou, s'il le faut, depuis le dépôt national.",
            "Plug in the stick where another box wrote its want-list (preau-wants.json). This box writes onto it what that box lacks, from its own content or, if needed, from the national repository."
        )) }
        form method="post" action="/admin/stick/fill" {
            (f)
            (radios(&lists))
            @if lists.is_empty() {
                p { (lang.t("Aucune clé avec une liste des besoins n'est détectée.", "No stick with a want-list detected.")) }
            }
            label { (lang.t("ou chemin du dossier :", "or path of the folder:")) " " input name="other" maxlength="500" placeholder="/media/usb"; }
            button { (lang.t("Remplir la clé", "Fill the stick")) }
        }
    }
}

/// A two-column table of the sync and upstream sections.
fn facts(id: Option<&str>, rows: &[(&str, String)]) -> Markup {
    html! {
        table.sync id=[id] {
            @for (k, v) in rows {
                tr { th { (k) } td { (v) } }
            }
        }
    }
}

/// The upstream push: what waits, what went, what the LRS refused and why, and one
/// statement exactly as it will leave the box.
fn upstream_section(lang: Lang, app: &Shared, tz: i64) -> Markup {
    use preau_sync::upstream::{SqliteOutbox, publish};
    let heading = html! { h2 #upstream { (lang.t("Envoi des activités des élèves", "Sending pupils' activity")) } };
    let Some(up) = &app.ctx.upstream else {
        return html! {
            (heading)
            p { (lang.t(
                "Les activités restent dans la boîte : aucun entrepôt d'activités (LRS) n'est configuré (la clé lrs de la section [upstream] de preau.toml).",
                "Activity stays on the box: no learning record store (LRS) is configured (lrs in the [upstream] section of preau.toml)."
            )) }
        };
    };
    let outbox = match SqliteOutbox::open(&app.ctx.data_dir.join(preau_sync::upstream::DB_FILE)) {
        Ok(o) => o,
        Err(e) => return html! { (heading) p.error { (e.to_string()) } },
    };
    let counts = outbox.counts().unwrap_or_default();
    let status = outbox.status().unwrap_or_default();
    let when = |t: Option<i64>| t.map_or_else(|| lang.t("jamais", "never").to_string(), |t| lang.date(t, tz));
    let rows = [
        (lang.t("Destination", "Destination"), up.lrs.clone()),
        (lang.t("En attente", "Waiting"), counts.waiting.to_string()),
        (lang.t("Envoyées", "Sent"), counts.sent_total.to_string()),
        (
            lang.t("En quarantaine (refusées, jamais renvoyées)", "Quarantined (refused, never resent)"),
            counts.quarantined.to_string(),
        ),
        (lang.t("Dernier envoi réussi", "Last successful send"), when(status.last_success)),
    ];
    let quarantined = outbox.quarantined(5).unwrap_or_default();
    let example = outbox
        .first_waiting()
        .ok()
        .flatten()
        .and_then(|text| serde_json::from_str(&text).ok())
        .and_then(|v| publish(&v, &up.publish).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    html! {
        (heading)
        (facts(Some("upstream-counts"), &rows))
        @if let Some((t, e)) = &status.last_error {
            p.error { (lang.t("Dernière erreur", "Last error")) " (" (lang.date(*t, tz)) ") " (e) }
        }
        @if counts.dropped > 0 {
            p.warn {
                (counts.dropped) " "
                (lang.t(
                    "activités jamais envoyées ont été supprimées de la file, les plus anciennes d'abord (ouvertures de pages avant le reste), car elle dépassait sa limite (max_outbox dans la section [upstream] de preau.toml). Les résultats des élèves dans la boîte sont intacts.",
                    "never-sent activity records were dropped from the queue, oldest first (page openings before the rest), because it went past its limit (max_outbox in the [upstream] section of preau.toml). Pupils' results on the box are intact."
                ))
                " " (up.max_outbox)
            }
        }
        @if !quarantined.is_empty() {
            h3 { (lang.t("Refusées par l'entrepôt", "Refused by the store")) }
            ul {
                @for (id, why, t) in &quarantined {
                    li { code { (id) } " (" (lang.date(*t, tz)) ") : " (why) }
                }
            }
        }
        p {
            (lang.t(
                "Les élèves y sont désignés par un identifiant aléatoire, jamais par leur nom ; les réponses écrites restent dans la boîte (seuls une empreinte et une longueur partent) sauf décision de l'école (send_responses dans preau.toml). Les activités envoyées sont effacées de la boîte après",
                "Pupils appear there under a random id, never their name; written answers stay on the box (only a digest and a length leave) unless the school decides otherwise (send_responses in preau.toml). Sent records are erased from the box after"
            ))
            " " (up.keep_days) " " (lang.t("jours.", "days."))
        }
        @if let Some(json) = example {
            details #upstream-example {
                summary { (lang.t(
                    "Exemple : la prochaine activité telle qu'elle partira",
                    "Example: the next record exactly as it will leave"
                )) }
                pre { (json) }
            }
        }
    }
}

/// The background sync: what it is doing, the last result, what is stale.
fn sync_section(lang: Lang, app: &Shared, now: i64, tz: i64) -> Markup {
    let heading = html! { h2 #sync { (lang.t("Mises à jour des contenus", "Content updates")) } };
    let Some(status) = &app.ctx.sync_status else {
        return html! {
            (heading)
            p { (lang.t(
                "La boîte ne se met pas à jour toute seule : aucun dépôt national n'est configuré (la clé repository de la section [sync] de preau.toml). Ajoutez des contenus depuis une clé USB ci-dessous.",
                "The box does not update by itself: no national repository is configured (repository in the [sync] section of preau.toml). Add content from a USB stick below."
            )) }
        };
    };
    let st = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let state = match st.state.as_str() {
        "starting" => lang.t("démarrage", "starting"),
        "waiting-hours" => lang.t("en attente des heures de synchronisation", "waiting for the sync hours"),
        "probing" => lang.t("recherche d'une source", "looking for a source"),
        "unreachable" => lang.t("aucune source joignable (nouvel essai plus tard)", "no source reachable (will retry)"),
        "pulling" => lang.t("téléchargement en cours", "downloading"),
        "idle" => lang.t("à jour", "up to date"),
        "stopped" => lang.t("arrêtée", "stopped"),
        other => other,
    };
    let mut rows: Vec<(&str, String)> = vec![(lang.t("État", "State"), state.to_string())];
    if let Some(src) = &st.source {
        rows.push((lang.t("Source", "Source"), src.clone()));
    }
    if st.state == "pulling" {
        rows.push((lang.t("Reçu", "Received"), lang.size(st.bytes_in_progress)));
    }
    // The loop stamps times with the system clock; pages show the corrected clock.
    let offset = now - system_now();
    let when =
        |t: Option<u64>| t.map_or_else(|| lang.t("jamais", "never").to_string(), |t| lang.date(t as i64 + offset, tz));
    rows.push((lang.t("Dernière réussite", "Last success"), when(st.last_success)));
    rows.push((lang.t("Dernier essai", "Last attempt"), when(st.last_attempt)));
    if let Some(s) = &st.last_summary {
        let updated: Vec<String> = s.updated.iter().map(|u| format!("{} (v{})", u.id, u.version)).collect();
        rows.push((
            lang.t("Dernier résultat", "Last result"),
            format!(
                "{} — {} {}",
                if updated.is_empty() {
                    lang.t("rien de nouveau", "nothing new").to_string()
                } else {
                    updated.join(", ")
                },
                lang.size(s.bytes_downloaded),
                lang.t("téléchargés", "downloaded")
            ),
        ));
    }
    if st.next_check_secs > 0 && st.state != "pulling" {
        rows.push((lang.t("Prochain essai", "Next check"), lang.date(now + st.next_check_secs as i64, tz)));
    }
    html! {
        (heading)
        (facts(None, &rows))
        @if let Some(e) = &st.last_error {
            p.error { (lang.t("Dernière erreur :", "Last error:")) " " (e) }
        }
        @if !st.stale.is_empty() {
            p.warn {
                (lang.t(
                    "Pas à jour (la dernière synchronisation n'a pas pu les compléter) :",
                    "Out of date (the last sync could not complete them):"
                ))
                " " (st.stale.join(", "))
            }
        }
    }
}

fn back() -> Response {
    Redirect::to("/admin/").into_response()
}

fn tz_from(form: &super::web::Form) -> Option<i64> {
    form.get("tz_minutes")?.parse::<i64>().ok().filter(|m| (-14 * 60..=14 * 60).contains(m))
}

pub async fn set_hours(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Post { who: TeacherId(t), form }: Post<TeacherId>,
) -> Response {
    let refused = |text: &str, field: &'static str| {
        admin_view(&app, lang, &csrf.input(), t, "hours", &Sticky::new(&form, text, field))
    };
    let ranges = form.get("ranges").unwrap_or("").trim().to_string();
    let spec = if ranges.is_empty() {
        String::new()
    } else {
        let mut days: Vec<&str> =
            form.all("day").into_iter().filter(|d| matches!(*d, "1" | "2" | "3" | "4" | "5" | "6" | "7")).collect();
        days.sort_unstable();
        days.dedup();
        if days.is_empty() {
            return refused(lang.t("Choisissez au moins un jour.", "Choose at least one day."), "day");
        }
        format!("{} {}", days.concat(), ranges)
    };
    if let Err(e) = Hours::parse(&spec) {
        return refused(
            &format!("{} {}", lang.t("Heures illisibles :", "Unreadable hours:"), half(lang, &e)),
            "ranges",
        );
    }
    let store = app.store();
    let saved = store.set_setting("hours", Some(&spec)).and_then(|_| match tz_from(&form) {
        Some(tz) => store.set_setting("tz_minutes", Some(&tz.to_string())),
        None => Ok(()),
    });
    drop(store);
    match saved {
        Ok(()) => back(),
        Err(e) => internal(lang, e),
    }
}

/// Records the difference between the teacher's device and the box's clock.
pub async fn set_clock(State(app): State<Shared>, lang: Lang, Post { form, .. }: Post<TeacherId>) -> Response {
    let Some(browser) = form.get("browser_time").and_then(|v| v.parse::<i64>().ok()) else {
        return message(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Saisie refusée", "Input refused"),
            lang.t(
                "L'heure de cet appareil manque : rechargez la page.",
                "This device's time is missing: reload the page.",
            ),
        );
    };
    // A device in 2020-2100: anything else is a broken clock on the other side.
    if !(1_577_836_800..=4_102_444_800).contains(&browser) {
        return message(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Saisie refusée", "Input refused"),
            lang.t("L'heure envoyée par cet appareil n'est pas plausible.", "This device sent an implausible time."),
        );
    }
    let offset = browser - system_now();
    let offset = if offset.abs() <= CLOCK_SLACK { 0 } else { offset };
    if let Err(e) = app.set_clock_offset(offset) {
        return internal(lang, e);
    }
    if let Some(tz) = tz_from(&form) {
        let _ = app.store().set_setting("tz_minutes", Some(&tz.to_string()));
    }
    tracing::info!(offset, "clock offset recorded from a teacher's browser");
    back()
}

pub async fn remove_pack(State(app): State<Shared>, lang: Lang, Post { form, .. }: Post<TeacherId>) -> Response {
    if form.get("confirm") != Some("yes") {
        return message(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Saisie refusée", "Input refused"),
            lang.t("Cochez la case pour confirmer.", "Tick the box to confirm."),
        );
    }
    let Some(pack) = form.text("pack", 200) else {
        return message(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Saisie refusée", "Input refused"),
            lang.t("Aucun contenu choisi.", "No content chosen."),
        );
    };
    let packs = app.ctx.packs.clone();
    match tokio::task::spawn_blocking(move || packs.remove(&pack)).await {
        Ok(Ok(summary)) => {
            message(lang, StatusCode::OK, lang.t("Contenu retiré", "Content removed"), half(lang, &summary))
        }
        Ok(Err(e)) => {
            message(lang, StatusCode::BAD_REQUEST, lang.t("Impossible de retirer", "Cannot remove"), half(lang, &e))
        }
        Err(e) => internal(lang, e),
    }
}

pub async fn add_packs(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    let folder = form.text("other", 500).or_else(|| form.text("folder", 500));
    let Some(folder) = folder else {
        return message(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Saisie refusée", "Input refused"),
            lang.t("Choisissez un dossier.", "Choose a folder."),
        );
    };
    let path = std::path::PathBuf::from(&folder);
    if path.is_absolute() && path.is_file() {
        // A raw course file on the stick: imported like an upload, read in place.
        let packs = app.ctx.packs.clone();
        return match tokio::task::spawn_blocking(move || packs.import_file(&path)).await {
            Ok(r) => import_result(lang, r),
            Err(e) => internal(lang, e),
        };
    }
    if !path.is_absolute() || !path.join("catalog.json").is_file() {
        return message(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Pas un dépôt Préau", "Not a Préau repository"),
            lang.t("Ce dossier ne contient pas de catalog.json.", "This folder holds no catalog.json."),
        );
    }
    let trust = form.text("trust", 64);
    if trust.is_some() && form.get("confirm") != Some("yes") {
        return message(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Saisie refusée", "Input refused"),
            lang.t("Cochez la case pour confirmer.", "Tick the box to confirm."),
        );
    }
    let packs = app.ctx.packs.clone();
    // Installing verifies and copies many megabytes: off the async workers.
    match tokio::task::spawn_blocking(move || packs.install_from_folder(&path, trust.as_deref())).await {
        Ok(Ok(summary)) => {
            message(lang, StatusCode::OK, lang.t("Contenus installés", "Content installed"), half(lang, &summary))
        }
        Ok(Err(InstallError::UnknownPublisher { key, .. })) => unknown_publisher(lang, &csrf, &folder, &key),
        Ok(Err(e @ InstallError::Rollback { .. })) => {
            message(lang, StatusCode::CONFLICT, lang.t("Installation refusée", "Installation refused"), &e.to_string())
        }
        Ok(Err(e)) => message(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Installation refusée", "Installation refused"),
            &e.to_string(),
        ),
        Err(e) => internal(lang, e),
    }
}

/// `POST /admin/stick/wants`: writes this box's want-list into the chosen stick folder.
pub async fn stick_wants(State(app): State<Shared>, lang: Lang, post: Post<TeacherId>) -> Response {
    stick_step(app, lang, post.form, false).await
}

/// `POST /admin/stick/fill`: fills the chosen stick folder for the box whose want-list
/// it holds.
pub async fn stick_fill(State(app): State<Shared>, lang: Lang, post: Post<TeacherId>) -> Response {
    stick_step(app, lang, post.form, true).await
}

async fn stick_step(app: Shared, lang: Lang, form: Form, fill: bool) -> Response {
    let Some(folder) = form.text("other", 500).or_else(|| form.text("folder", 500)) else {
        return message(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Saisie refusée", "Input refused"),
            lang.t("Choisissez un dossier.", "Choose a folder."),
        );
    };
    let path = std::path::PathBuf::from(folder);
    let packs = app.ctx.packs.clone();
    // The need is known only once the box has read what the list asks for: the check
    // runs inside the step, before a byte is written.
    let room = move |dir: std::path::PathBuf| {
        move |need: u64| match stick_free(&dir) {
            Some(free) if free < need => Err(format!(
                "Clé trop petite : place libre {} ({free} octets) ; il faut {} ({need} octets). Libérez de la place ou prenez une clé plus grande. / Stick too small: {} free, {} needed.",
                Lang::Fr.size(free),
                Lang::Fr.size(need),
                Lang::En.size(free),
                Lang::En.size(need)
            )),
            _ => Ok(()),
        }
    };
    let result = tokio::task::spawn_blocking(move || {
        let room = room(path.clone());
        if fill { packs.fill_stick(&path, &room) } else { packs.write_wants(&path, &room) }
    })
    .await;
    let (done, refused) = if fill {
        (lang.t("Clé remplie", "Stick filled"), lang.t("Clé non remplie", "Stick not filled"))
    } else {
        (lang.t("Liste des besoins écrite", "Want-list written"), lang.t("Liste non écrite", "List not written"))
    };
    match result {
        Ok(Ok(summary)) => message(lang, StatusCode::OK, done, half(lang, &summary)),
        Ok(Err(e @ StickError::TooSmall(_))) => {
            message(lang, StatusCode::INSUFFICIENT_STORAGE, refused, half(lang, &e.to_string()))
        }
        Ok(Err(e)) => message(lang, StatusCode::BAD_REQUEST, refused, half(lang, &e.to_string())),
        Err(e) => internal(lang, e),
    }
}

/// The folder is signed by a publisher this box has never trusted: show who (the key's
/// fingerprint, to compare with what the publisher gave) and let the teacher decide.
fn unknown_publisher(lang: Lang, csrf: &Csrf, folder: &str, key: &str) -> Response {
    let grouped: Vec<&str> = key.as_bytes().chunks(8).map(|c| std::str::from_utf8(c).unwrap_or("?")).collect();
    let body = html! {
        p.warn { (lang.t(
            "Ces contenus sont signés par un éditeur que la boîte ne connaît pas encore.",
            "This content is signed by a publisher this box does not know yet."
        )) }
        p { (lang.t(
            "Si c'est votre propre cours (construit avec « preau pack build ») ou un éditeur en qui vous avez confiance, vérifiez que son empreinte est bien celle-ci, puis confirmez. La boîte acceptera ensuite ses mises à jour.",
            "If it is your own course (built with \"preau pack build\") or a publisher you trust, check that its fingerprint is this one, then confirm. The box will then accept its updates."
        )) }
        p { code.key { (grouped.join(" ")) } }
        form method="post" action="/admin/packs/add" {
            (csrf.input())
            input type="hidden" name="other" value=(folder);
            input type="hidden" name="trust" value=(key);
            label { input type="checkbox" name="confirm" value="yes" required; " " (lang.t("Je fais confiance à cet éditeur", "I trust this publisher")) }
            button { (lang.t("Faire confiance et installer", "Trust and install")) }
        }
        p { a href="/admin/" { (lang.t("Annuler", "Cancel")) } }
    };
    let page = Page::new(lang, lang.t("Éditeur inconnu", "Unknown publisher"), body);
    page.status(StatusCode::CONFLICT).into_response()
}

/// The "Enseignants" section of the admin page (its forms are handled in `accounts`).
/// `which`/`sticky`: a refused form of this section ("teachers" or "password"), shown
/// with its error and the field in error marked; passwords are never sent back.
fn teachers_section(
    lang: Lang,
    f: &Markup,
    store: &super::store::Store,
    me: i64,
    which: &str,
    sticky: &Sticky,
) -> Markup {
    use super::passwords::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
    use super::store::MAX_NAME_CHARS;
    let fresh = Sticky::default();
    let form = |name: &str| if name == which { sticky } else { &fresh };
    let pw = |form: &Sticky, name: &str, auto: &str, label: &str| {
        html! {
            label {
                (label) " "
                input type="password" name=(name) autocomplete=(auto) required minlength=(MIN_PASSWORD_CHARS) maxlength=(MAX_PASSWORD_CHARS)
                    aria-invalid=[form.is_invalid(name).then_some("true")]
                    aria-describedby=[form.is_invalid(name).then_some("form-error")];
            }
        }
    };
    let (add, password) = (form("teachers"), form("password"));
    html! {
        h2 #teachers { (lang.t("Enseignants", "Teachers")) }
        ul {
            @for (id, name) in store.teachers().unwrap_or_default() {
                @if id == me {
                    li { (name) " " small { "(" (lang.t("vous", "you")) ")" } }
                } @else {
                    li {
                        (name) " "
                        form.inline method="post" action={ "/admin/teacher/" (id) "/delete" } {
                            (f)
                            label { input type="checkbox" name="confirm" value="yes" required; " " (lang.t("sûr ?", "sure?")) }
                            button.danger { (lang.t("Supprimer le compte", "Delete the account")) }
                        }
                    }
                }
            }
        }
        h3 { (lang.t("Ajouter un collègue", "Add a colleague")) }
        form method="post" action="/admin/teachers" {
            (f)
            (add.error())
            label {
                (lang.t("Nom", "Name")) " "
                input name="name" required maxlength=(MAX_NAME_CHARS) autocomplete="off" value=[add.get("name")]
                    aria-invalid=[add.is_invalid("name").then_some("true")]
                    aria-describedby=[add.is_invalid("name").then_some("form-error")];
            }
            (pw(add, "password", "new-password", lang.t("Mot de passe provisoire", "Temporary password")))
            (pw(add, "password2", "new-password", lang.t("Mot de passe (encore)", "Password (again)")))
            button { (lang.t("Ajouter", "Add")) }
        }
        h3 { (lang.t("Sessions", "Sessions")) }
        form method="post" action="/admin/sessions/end" {
            (f)
            p { (lang.t(
                "Déconnecte tous les élèves et enseignants, sur tous les appareils, sauf cette session-ci (un appareil perdu, un mot de passe vu par un élève).",
                "Signs out every pupil and teacher on every device except this session (a lost device, a password seen by a pupil)."
            )) }
            label { input type="checkbox" name="confirm" value="yes" required; " " (lang.t("sûr ?", "sure?")) }
            button.danger { (lang.t("Déconnecter toutes les sessions", "End all sessions")) }
        }
        h3 { (lang.t("Changer mon mot de passe", "Change my password")) }
        form method="post" action="/admin/password" {
            (f)
            (password.error())
            (pw(password, "current", "current-password", lang.t("Mot de passe actuel", "Current password")))
            (pw(password, "password", "new-password", lang.t("Nouveau mot de passe", "New password")))
            (pw(password, "password2", "new-password", lang.t("Nouveau mot de passe (encore)", "New password (again)")))
            button { (lang.t("Changer", "Change")) }
        }
        p { small { (lang.t(
            "Mot de passe oublié : écrivez un nouveau code à la ligne setup_code de preau.toml (carte SD), redémarrez la boîte, puis ouvrez /teacher/setup.",
            "Forgotten password: write a new code on the setup_code line of preau.toml (SD card), restart the box, then open /teacher/setup."
        )) } }
    }
}

fn refused(lang: Lang, status: StatusCode, text: &str) -> Response {
    message(lang, status, lang.t("Import refusé", "Import refused"), text)
}

/// The records backup section (`records_web`): what the file holds, the export link, the import form.
fn records_section(lang: Lang, f: &Markup) -> Markup {
    html! {
        section.card #records {
            h2 { (lang.t("Sauvegarde des élèves", "Pupils' records backup")) }
            p { (lang.t(
                "Un seul fichier avec les données personnelles des élèves (classes, noms, codes, activité, réponses, travaux rendus, notes) et des enseignants (noms, mots de passe chiffrés), et vos réglages. À garder en lieu sûr pour remettre sur la boîte de l'école après une réinstallation, puis à effacer. Il ne contient ni le mot de passe Wi-Fi ni les contenus.",
                "One file with the pupils' personal data (classes, names, codes, activity, answers, handed-in work, marks) and the teachers' (names, password hashes), and your settings. Keep it safe, to put back on the school's box after a reflash, then delete it. It holds neither the Wi-Fi passphrase nor the content packs."
            )) }
            p { a.button href="/admin/records/export" download { (lang.t("Exporter les données des élèves", "Export the pupils' records")) } }
            form method="post" enctype="multipart/form-data" action="/admin/records/import" {
                (f)
                label { (lang.t("Importer sur une boîte neuve :", "Import on a fresh box:")) " " input type="file" name="file" required; }
                button { (lang.t("Importer", "Import")) }
            }
        }
    }
}

/// An upload received into `DATA/uploads/<random>/`, removed when dropped.
pub(crate) struct Upload {
    pub(crate) path: std::path::PathBuf,
    folder: std::path::PathBuf,
}

impl Drop for Upload {
    // On the blocking pool when dropped on an async worker.
    fn drop(&mut self) {
        let dir = std::mem::take(&mut self.folder);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if !is_off_worker() => drop(rt.spawn_blocking(move || std::fs::remove_dir_all(dir))),
            _ => drop(std::fs::remove_dir_all(dir)),
        }
    }
}

/// Receives a multipart upload whose first field proved to be the CSRF token
/// (`MultipartPost`), then `file`: refused before a byte is read when it is over
/// `IMPORT_LIMIT` or cannot fit on the card; streamed to `DATA/uploads/` with a size cap
/// (never held in memory). The error is the answer to send.
pub(crate) async fn receive_upload<R: crate::web::Role>(
    app: &Shared,
    headers: &HeaderMap,
    lang: Lang,
    post: MultipartPost<R>,
) -> Result<Upload, Response> {
    let Some(len) = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Err(refused(
            lang,
            StatusCode::LENGTH_REQUIRED,
            lang.t(
                "La taille de l'envoi est inconnue (en-tête Content-Length).",
                "The upload's size is unknown (Content-Length).",
            ),
        ));
    };
    if len > IMPORT_LIMIT as u64 {
        return Err(refused(
            lang,
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "{} {}.",
                lang.t("Fichier trop gros : au plus", "File too large: at most"),
                lang.size(IMPORT_LIMIT as u64)
            ),
        ));
    }
    let data_dir = app.ctx.data_dir.clone();
    if let Some((_, free)) = off_worker(move || disk_space(&data_dir)).await {
        let usable = free.saturating_sub(free_floor());
        if import_needs(len) > usable {
            return Err(refused(
                lang,
                StatusCode::INSUFFICIENT_STORAGE,
                &format!(
                    "{} {} ; {} {} ({} {}). {}",
                    lang.t("Carte pleine : place libre", "Card full: free space"),
                    lang.size(free),
                    lang.t("cet import demande environ", "this import needs about"),
                    lang.size(import_needs(len)),
                    lang.t("en gardant", "keeping"),
                    lang.size(free_floor()),
                    lang.t(
                        "Retirez des contenus ci-dessous pour faire de la place.",
                        "Remove content below to make room."
                    )
                ),
            ));
        }
    }
    let mut multipart = post.fields().await?;
    let uploads = app.ctx.data_dir.join("uploads");
    let mut token = [0u8; 12];
    if getrandom::fill(&mut token).is_err() {
        return Err(internal(lang, "no randomness"));
    }
    // One folder per upload, holding the file under its own name: importers take a
    // question file's title from its name.
    let folder = uploads.join(hex::encode(token));
    // Removed whatever happens below (a refused upload, a failed import, a panic).
    let mut upload = Upload { path: folder.join("cours"), folder: folder.clone() };
    let made = {
        let folder = folder.clone();
        off_worker(move || std::fs::create_dir_all(&uploads).and_then(|_| std::fs::create_dir(&folder))).await
    };
    if let Err(e) = made {
        return Err(internal(lang, e));
    }
    let mut got = 0u64;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                return Err(refused(
                    lang,
                    StatusCode::BAD_REQUEST,
                    lang.t("Envoi trop gros ou interrompu.", "Upload too large or interrupted."),
                ));
            }
        };
        match field.name() {
            Some("file") if got == 0 => {
                upload.path = folder.join(upload_name(field.file_name().unwrap_or("")));
                let mut out = match tokio::fs::File::create(&upload.path).await {
                    Ok(f) => f,
                    Err(e) => return Err(internal(lang, e)),
                };
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) => {
                            got += c.len() as u64;
                            if got > len {
                                return Err(refused(lang, StatusCode::BAD_REQUEST, "more bytes than Content-Length"));
                            }
                            if let Err(e) = tokio::io::AsyncWriteExt::write_all(&mut out, &c).await {
                                return Err(internal(lang, e));
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            return Err(refused(
                                lang,
                                StatusCode::BAD_REQUEST,
                                lang.t("Envoi trop gros ou interrompu.", "Upload too large or interrupted."),
                            ));
                        }
                    }
                }
                if let Err(e) = tokio::io::AsyncWriteExt::flush(&mut out).await {
                    return Err(internal(lang, e));
                }
            }
            _ => {}
        }
    }
    if got == 0 {
        return Err(refused(
            lang,
            StatusCode::BAD_REQUEST,
            lang.t("Choisissez un fichier non vide.", "Choose a non-empty file."),
        ));
    }
    Ok(upload)
}

/// `POST /admin/packs/upload` (multipart: `csrf` first, then `file`): a raw course file
/// from the teacher's device. Refused before a byte is read when it cannot fit on the
/// card; streamed to `DATA/uploads/` with a size cap (never held in memory); imported,
/// signed and installed off the async workers; the import report is the answer.
pub async fn upload(
    State(app): State<Shared>,
    headers: HeaderMap,
    lang: Lang,
    post: MultipartPost<TeacherId>,
) -> Response {
    let upload = match receive_upload(&app, &headers, lang, post).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let packs = app.ctx.packs.clone();
    // Importing and signing read and compress the whole course: off the async workers.
    let result = off_worker(move || {
        let r = packs.import_file(&upload.path);
        drop(upload);
        r
    })
    .await;
    import_result(lang, result)
}

/// A safe file name from the browser's: letters (accents included), digits, spaces and
/// `-_.`, at most 100 characters, never hidden; `cours` when nothing is left.
fn upload_name(browser: &str) -> String {
    // Some browsers send a whole Windows path.
    let base = browser.rsplit(['/', '\\']).next().unwrap_or("");
    let kept: String =
        base.chars().filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')).take(100).collect();
    let kept = kept.trim_start_matches('.').trim().to_string();
    if kept.is_empty() { "cours".into() } else { kept }
}

/// The answer to an import: the report in French, or why it was refused.
fn import_result(lang: Lang, r: Result<ImportSummary, InstallError>) -> Response {
    let s = match r {
        Ok(s) => s,
        Err(e @ InstallError::Rollback { .. }) => return refused(lang, StatusCode::CONFLICT, &e.to_string()),
        Err(e) => return refused(lang, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let body = html! {
        p.msg {
            (lang.t("Cours installé :", "Course installed:")) " « " (s.title) " » ("
            (lang.t("identifiant", "id")) " " (s.pack) ", " (lang.t("version", "version")) " " (s.version) ")."
        }
        @if s.mkdocs_unbuilt {
            p.warn { (lang.t(
                "C'est un projet MkDocs sans site construit : la boîte ne lance jamais de générateur de site, elle montre donc un rendu interne, moins fidèle (voir le rapport). Pour le vrai site, téléchargez sur la Forge l'artefact « Pages » du projet (Build → Artifacts, tâche « pages », dossier public/) et importez-le ici.",
                "This is a MkDocs project without a built site: the box never runs a site generator, so it shows an internal, less faithful rendering (see the report). For the real site, download the project's Pages artifact from the Forge (Build → Artifacts, job \"pages\", folder public/) and import it here."
            )) }
        }
        h2 { (lang.t("Rapport d'import", "Import report")) }
        pre.report { (s.report) }
        p {
            a href={ "/packs/" (s.pack) "/" } { (lang.t("Ouvrir le cours", "Open the course")) }
            " · "
            a href="/admin/" { (lang.t("Retour à la boîte", "Back to the box")) }
        }
    };
    Page::new(lang, lang.t("Cours importé", "Course imported"), body).into_response()
}
