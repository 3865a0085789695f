//! Work given to a class (issue 15; Kolibri's class lessons and quizzes): the teacher
//! picks pages, activities and quizzes of installed packs, in an order, for the class or
//! some pupils, with an optional due date and a visibility switch; pupils find it under
//! « À faire » on their home page; the teacher sees each piece's progress per pupil.
//!
//! Routes: `POST /teacher/class/{id}/work`, `GET /teacher/work/{id}`,
//! `POST /teacher/work/{id}/visible`, `POST /teacher/work/{id}/delete`. What is done is
//! read from the pupils' events and submissions (`pupil::Done`), never stored twice.

use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use maud::{Markup, html};

use super::html::{Lang, Page, Sticky, message, not_found, url_path, url_seg};
use super::progress::{Done, outline, valid_pack_path};
use super::store::{MAX_NAME_CHARS, MAX_WORK_ITEMS, NewWork, Pupil, WorkItem};
use super::web::{Csrf, Form, Post, Shared, TeacherId, internal};

/// Where a pupil is with one item of a piece of work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum State3 {
    Todo,
    Started,
    Done,
}

/// An item is done when marked done, handed in or a quiz attempted, or (a page) when the
/// pupil went on to a later item: reaching the next page means this one was read.
pub fn item_state(done: &Done, items: &[WorkItem], i: usize) -> State3 {
    let it = &items[i];
    if done.has("completed", &it.pack, &it.path) || done.handed_in(&it.pack, &it.path).is_some() {
        return State3::Done;
    }
    if !done.has("opened", &it.pack, &it.path) {
        return State3::Todo;
    }
    let went_on = !it.path.starts_with('_')
        && items[i + 1..]
            .iter()
            .any(|l| done.has("opened", &l.pack, &l.path) || done.has("completed", &l.pack, &l.path));
    if went_on { State3::Done } else { State3::Started }
}

/// What a teacher can give: every offline activity of the installed courses, in course
/// order, and the entry page of packs without a course outline.
fn candidates(app: &Shared) -> Vec<(String, WorkItem)> {
    let mut out = Vec::new();
    for p in app.ctx.packs.list() {
        match outline(app, &p.id) {
            Some(o) => {
                for a in o.activities().filter(|a| a.available_offline && valid_pack_path(&a.path)) {
                    out.push((
                        p.title.clone(),
                        WorkItem { pack: p.id.clone(), path: a.path.clone(), title: a.title.clone() },
                    ));
                }
            }
            None if valid_pack_path(&p.entry) => out.push((
                p.title.clone(),
                WorkItem { pack: p.id.clone(), path: p.entry.clone(), title: p.title.clone() },
            )),
            None => {}
        }
    }
    // The teacher's own quizzes (built from the banks).
    for (id, title) in app.store().own_quizzes().unwrap_or_default() {
        let pack = super::player::OWN_PACK.to_string();
        out.push(("Quiz de l'enseignant".to_string(), WorkItem { pack, path: format!("_quiz/{id}"), title }));
    }
    out
}

fn key(it: &WorkItem) -> String {
    format!("{}/{}", it.pack, it.path)
}

/// The link a pupil follows: pages through `/pupil/open` (progress), quizzes and
/// assignments to the box's player.
pub(crate) fn pupil_href(it: &WorkItem) -> String {
    if it.path.starts_with("_quiz/") || it.path.starts_with("_assign/") {
        format!("/packs/{}/{}", url_seg(&it.pack), url_path(&it.path))
    } else {
        format!("/pupil/open/{}/{}", url_seg(&it.pack), url_path(&it.path))
    }
}

pub(crate) fn due_text(lang: Lang, due: Option<i64>, tz: i64) -> String {
    match due {
        // The due time is the end of the day: show the day.
        Some(t) => format!("{} {}", lang.t("pour le", "due"), lang.day(t, tz)),
        None => lang.t("sans date", "no due date").to_string(),
    }
}

/// The class page's section: the class's work, and the form to give more.
/// `sticky`: the form as the teacher sent it when it was refused (opened, filled in);
/// `f`: the CSRF field (`Csrf::field`, made by `html::csrf_input`).
pub fn class_section(app: &Shared, lang: Lang, f: &Markup, class_id: i64, pupils: &[Pupil], sticky: &Sticky) -> Markup {
    let tz = app.tz_minutes();
    let works = app.store().works_of_class(class_id).unwrap_or_default();
    let cands = candidates(app);
    let bad = |name: &str| sticky.is_invalid(name).then_some("true");
    let described = |name: &str| sticky.is_invalid(name).then_some("form-error");
    html! {
        h2 #work { (lang.t("Travail donné", "Work given")) }
        @if works.is_empty() {
            p { (lang.t("Aucun travail pour l'instant.", "No work yet.")) }
        } @else {
            ul {
                @for w in &works {
                    li {
                        a href={ "/teacher/work/" (w.id) } { (w.title) }
                        " — " (due_text(lang, w.due, tz)) ", " (w.items.len()) " " (lang.t("élément(s)", "item(s)"))
                        @if !w.visible { (lang.t(" (masqué)", " (hidden)")) }
                    }
                }
            }
        }
        details.card open[sticky.is_error()] {
            summary { (lang.t("Donner du travail à la classe", "Give work to the class")) }
            form method="post" action={ "/teacher/class/" (class_id) "/work" } {
                // Safe HTML: the CSRF field, made by `html::csrf_input`.
                (f)
                (sticky.error())
                label {
                    (lang.t("Titre :", "Title:")) " "
                    input name="title" required maxlength=(MAX_NAME_CHARS * 2) value=[sticky.get("title")]
                        aria-invalid=[bad("title")] aria-describedby=[described("title")];
                }
                label {
                    (lang.t("À faire pour le (facultatif) :", "Due on (optional):")) " "
                    input type="date" name="due" value=[sticky.get("due")] aria-invalid=[bad("due")] aria-describedby=[described("due")];
                }
                label {
                    input type="checkbox" name="visible" value="1" checked[sticky.is_checked("visible", "1", true)];
                    " " (lang.t("Visible par les élèves", "Visible to pupils"))
                }
                fieldset {
                    legend { (lang.t("Pages, activités et quiz (l'ordre : celui du cours, ou les numéros)", "Pages, activities and quizzes (in course order, or by the numbers)")) }
                    @for (k, (pack_title, it)) in cands.iter().enumerate() {
                        @if *pack_title != cands.get(k.wrapping_sub(1)).map_or("", |c| c.0.as_str()) {
                            p { strong { (pack_title) } }
                        }
                        @let v = key(it);
                        div.work-pick {
                            label.inline {
                                input type="checkbox" name="item" value=(v) checked[sticky.is_checked("item", &v, false)];
                                " " (it.title)
                            }
                            " "
                            input type="number" name={ "order:" (v) } min="1" max=(MAX_WORK_ITEMS) size="3"
                                aria-label={ (lang.t("Ordre de l'élément", "Order of item")) " " (k) }
                                value=[sticky.get(&format!("order:{v}"))];
                        }
                    }
                }
                @if !pupils.is_empty() {
                    fieldset {
                        legend { (lang.t("Pour (aucun coché : toute la classe)", "For (none ticked: the whole class)")) }
                        @for p in pupils {
                            label.inline {
                                input type="checkbox" name="pupil" value=(p.id) checked[sticky.is_checked("pupil", &p.id.to_string(), false)];
                                " " (p.name)
                            }
                            " "
                        }
                    }
                }
                button { (lang.t("Donner ce travail", "Give this work")) }
            }
        }
    }
}

/// "YYYY-MM-DD" → the end of that day at the school (`tz` minutes east of UTC).
fn end_of_day(date: &str, tz: i64) -> Option<i64> {
    let mut it = date.splitn(3, '-');
    let (y, m, d) = (it.next()?.parse::<i32>().ok()?, it.next()?.parse::<u8>().ok()?, it.next()?.parse::<u8>().ok()?);
    let month = time::Month::try_from(m).ok()?;
    let day = time::Date::from_calendar_date(y, month, d).ok()?;
    if !(2000..=2100).contains(&y) {
        return None;
    }
    Some(day.midnight().assume_utc().unix_timestamp() + 86_399 - tz * 60)
}

fn refused(lang: Lang, text: &str) -> Response {
    message(lang, axum::http::StatusCode::BAD_REQUEST, lang.t("Saisie refusée", "Input refused"), text)
}

/// `POST /teacher/class/{id}/work` once the class is known (`teacher::create_work`):
/// the new work's page, or the refusal `(text, field in error)` that the class page shows
/// with this form open and as it was filled in (`field` empty: about the form as a whole).
pub(crate) fn create(app: &Shared, lang: Lang, class_id: i64, form: &Form) -> Result<Response, (String, &'static str)> {
    let refused = |text: &str, field: &'static str| Err((text.to_string(), field));
    let Some(title) = form.text("title", MAX_NAME_CHARS * 2) else {
        return refused(
            lang.t("Donnez un titre (120 caractères au plus).", "Give a title (at most 120 characters)."),
            "title",
        );
    };
    let tz = app.tz_minutes();
    let due = match form.get("due").map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match end_of_day(d, tz) {
            Some(t) => Some(t),
            None => {
                return refused(
                    lang.t(
                        "Date illisible : choisissez un jour dans le calendrier.",
                        "Unreadable date: pick a day in the calendar.",
                    ),
                    "due",
                );
            }
        },
    };
    let items = match chosen_items(app, form) {
        Ok(i) => i,
        // About the list as a whole: the error itself takes the focus.
        Err(text) => return refused(lang.t(text.0, text.1), ""),
    };
    let pupils: Vec<i64> = form.all("pupil").iter().filter_map(|v| v.parse().ok()).take(200).collect();
    let new = NewWork {
        class_id,
        title: &title,
        due,
        visible: form.get("visible") == Some("1"),
        items: &items,
        pupils: &pupils,
    };
    let now = app.now();
    // (The store's lock is let go before a refusal builds the page again.)
    let created = app.store().create_work(&new, now);
    match created {
        Ok(Some(id)) => Ok(Redirect::to(&format!("/teacher/work/{id}")).into_response()),
        Ok(None) => refused(
            lang.t(
                "Ce travail ne peut pas être donné : trop de travaux pour cette classe, ou un élève qui n'en fait pas partie.",
                "This work cannot be given: too much work for this class, or a pupil not in it.",
            ),
            "",
        ),
        Err(e) => Ok(internal(lang, e)),
    }
}

/// The items ticked, in the teacher's order (numbers first, then course order), each
/// checked against what the installed packs offer.
fn chosen_items(app: &Shared, form: &Form) -> Result<Vec<WorkItem>, (&'static str, &'static str)> {
    let cands = candidates(app);
    let mut picked: Vec<(u32, usize, WorkItem)> = Vec::new();
    for v in form.all("item") {
        let Some(k) = cands.iter().position(|(_, it)| key(it) == v) else {
            return Err((
                "Un élément choisi n'est plus installé : rechargez la page.",
                "A chosen item is no longer installed: reload the page.",
            ));
        };
        if picked.iter().any(|(_, j, _)| *j == k) {
            continue;
        }
        let order = form.get(&format!("order:{v}")).and_then(|o| o.trim().parse::<u32>().ok()).unwrap_or(u32::MAX);
        picked.push((order, k, cands[k].1.clone()));
    }
    if picked.is_empty() {
        return Err(("Cochez au moins une page, activité ou quiz.", "Tick at least one page, activity or quiz."));
    }
    if picked.len() > MAX_WORK_ITEMS {
        return Err(("50 éléments au plus par travail.", "At most 50 items per piece of work."));
    }
    picked.sort_by_key(|(o, k, _)| (*o, *k));
    Ok(picked.into_iter().map(|(_, _, it)| it).collect())
}

pub(crate) fn mark(s: State3) -> &'static str {
    match s {
        State3::Done => "✔",
        State3::Started => "◐",
        State3::Todo => "○",
    }
}

pub(crate) fn state_word(lang: Lang, s: State3) -> &'static str {
    match s {
        State3::Done => lang.t("fait", "done"),
        State3::Started => lang.t("commencé", "started"),
        State3::Todo => lang.t("à faire", "to do"),
    }
}

/// A pupil with their events (verb, pack, path) and submissions.
type PupilRecords = (Pupil, Vec<(String, String, String)>, Vec<super::store::Submission>);

/// `GET /teacher/work/{id}`: the piece of work and each pupil's progress in it.
pub async fn page(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(TeacherId(t)): Extension<TeacherId>,
    Path(id): Path<i64>,
) -> Response {
    let tz = app.tz_minutes();
    let (w, pupils, teacher) = {
        let store = app.store();
        let w = match store.work(id) {
            Ok(Some(w)) => w,
            Ok(None) => return not_found(lang, "Ce travail", "This work"),
            Err(e) => return internal(lang, e),
        };
        let mut pupils = match store.pupils(w.class_id) {
            Ok(p) => p,
            Err(e) => return internal(lang, e),
        };
        if !w.pupils.is_empty() {
            pupils.retain(|p| w.pupils.contains(&p.id));
        }
        let pupils: Vec<PupilRecords> = pupils
            .into_iter()
            .map(|p| {
                let ev = store.events(p.id).unwrap_or_default();
                let sub = store.submissions(Some(p.id)).unwrap_or_default();
                (p, ev, sub)
            })
            .collect();
        (w, pupils, store.teacher_name(t).ok().flatten())
    };
    let (label, value) = if w.visible {
        (lang.t("Masquer aux élèves", "Hide from pupils"), "0")
    } else {
        (lang.t("Montrer aux élèves", "Show to pupils"), "1")
    };
    let body = html! {
        (super::html::teacher_nav(lang))
        p {
            (due_text(lang, w.due, tz)) " — "
            (if w.visible {
                lang.t("visible par les élèves", "visible to pupils")
            } else {
                lang.t("masqué aux élèves", "hidden from pupils")
            })
        }
        p { a href={ "/teacher/class/" (w.class_id) "#work" } { (lang.t("← La classe", "← The class")) } }
        div.table-wrap {
            table #work-progress {
                tr {
                    th { (lang.t("Élève", "Pupil")) }
                    @for (i, it) in w.items.iter().enumerate() {
                        th { (i + 1) ". " (it.title) }
                    }
                    th { (lang.t("Fait", "Done")) }
                }
                @for (p, events, subs) in &pupils {
                    @let done = Done { events, submissions: subs };
                    @let states: Vec<State3> = (0..w.items.len()).map(|i| item_state(&done, &w.items, i)).collect();
                    tr {
                        td { (p.name) }
                        @for s in &states {
                            td { span aria-hidden="true" { (mark(*s)) } " " (state_word(lang, *s)) }
                        }
                        td { (states.iter().filter(|s| **s == State3::Done).count()) " / " (w.items.len()) }
                    }
                }
            }
        }
        form method="post" action={ "/teacher/work/" (id) "/visible" } {
            (csrf.input())
            input type="hidden" name="visible" value=(value);
            button.secondary { (label) }
        }
        form method="post" action={ "/teacher/work/" (id) "/delete" } {
            (csrf.input())
            label { input type="checkbox" name="confirm" value="yes" required; " " (lang.t("sûr ?", "sure?")) }
            button.danger { (lang.t("Retirer ce travail", "Remove this work")) }
        }
    };
    let mut page = Page::new(lang, w.title.clone(), body);
    page.user = teacher;
    page.into_response()
}

/// `POST /teacher/work/{id}/visible`
pub async fn set_visible(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    match app.store().set_work_visible(id, form.get("visible") == Some("1")) {
        Ok(true) => Redirect::to(&format!("/teacher/work/{id}")).into_response(),
        Ok(false) => not_found(lang, "Ce travail", "This work"),
        Err(e) => internal(lang, e),
    }
}

/// `POST /teacher/work/{id}/delete`
pub async fn delete(
    State(app): State<Shared>,
    lang: Lang,
    Path(id): Path<i64>,
    Post { form, .. }: Post<TeacherId>,
) -> Response {
    if form.get("confirm") != Some("yes") {
        return refused(lang, lang.t("Cochez la case pour confirmer.", "Tick the box to confirm."));
    }
    let class = app.store().work(id).ok().flatten().map(|w| w.class_id);
    match (app.store().delete_work(id), class) {
        (Ok(true), Some(c)) => Redirect::to(&format!("/teacher/class/{c}#work")).into_response(),
        (Ok(_), _) => not_found(lang, "Ce travail", "This work"),
        (Err(e), _) => internal(lang, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_dates_end_the_day_at_the_school() {
        // 2026-12-08 23:59:59 in Paris (UTC+1) is 22:59:59 UTC.
        assert_eq!(end_of_day("2026-12-08", 60), Some(1_796_770_799));
        assert_eq!(end_of_day("2026-02-30", 60), None);
        assert_eq!(end_of_day("8/12/2026", 60), None);
        assert_eq!(end_of_day("1890-01-01", 60), None);
    }

    #[test]
    fn a_page_is_done_once_a_later_item_is_opened() {
        let item = |path: &str| WorkItem { pack: "p".into(), path: path.into(), title: path.into() };
        let items = [item("a.html"), item("b.html"), item("_quiz/q")];
        let ev = |v: &str, p: &str| (v.to_string(), "p".to_string(), p.to_string());
        let events = vec![ev("opened", "a.html"), ev("opened", "b.html")];
        let done = Done { events: &events, submissions: &[] };
        assert_eq!(item_state(&done, &items, 0), State3::Done);
        assert_eq!(item_state(&done, &items, 1), State3::Started);
        assert_eq!(item_state(&done, &items, 2), State3::Todo);
        let events = vec![ev("opened", "b.html"), ev("opened", "_quiz/q"), ev("completed", "_quiz/q")];
        let done = Done { events: &events, submissions: &[] };
        assert_eq!(item_state(&done, &items, 0), State3::Todo, "not opened: not read");
        assert_eq!(item_state(&done, &items, 1), State3::Done);
        assert_eq!(item_state(&done, &items, 2), State3::Done);
    }
}
