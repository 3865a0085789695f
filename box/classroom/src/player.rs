//! The quiz player: `/packs/{id}/_quiz/{quiz}`.
//!
//! The stored quiz (`_preau/quiz/<id>.json`, with answers) never reaches the browser:
//! the form is built from `quiz::public_view`, the submitted form is turned back into
//! `quiz::Response`s and marked on the server with `quiz::score`. The attempt is
//! committed before the pupil sees "saved", then shown back with feedback.

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use maud::{Markup, PreEscaped, html};

use super::html::{Lang, Page, message, strip_tags, url_seg};
use super::store::AnswerRecord;
use super::web::{Csrf, Form, Post, PupilId, Shared, internal};
use preau_pack::quiz::{
    self, GradeMethod, PublicKind, PublicQuestion, Question, QuestionKind, Quiz, ReviewOptions, ReviewTime,
};

/// The pack id under which a teacher's own quizzes (`bank`) are played
/// (`/packs/_enseignant/_quiz/q1`). Pack ids never start with `_`.
pub const OWN_PACK: &str = "_enseignant";

/// Largest quiz file the box reads.
const MAX_QUIZ_BYTES: usize = 4 * 1024 * 1024;
/// Longest text answer kept (an essay of a few pages).
const MAX_ANSWER_CHARS: usize = 20_000;

/// Reads and parses a pack's quiz.
pub fn load_quiz(app: &Shared, pack: &str, quiz_id: &str) -> Option<Quiz> {
    if !valid_id(pack) || !valid_id(quiz_id) {
        return None;
    }
    if pack == OWN_PACK {
        // A teacher's own quiz: built on this box from installed packs' questions, whose
        // HTML the packs' loader already cleaned.
        let json = app.store().own_quiz(quiz_id).ok()??;
        return quiz::from_json(json.as_bytes()).ok();
    }
    let bytes = app.ctx.packs.read(pack, &preau_pack::course::quiz_path(quiz_id))?;
    if bytes.len() > MAX_QUIZ_BYTES {
        return None;
    }
    quiz::from_json(&super::packtext::cleaned_bytes(&bytes)?).ok()
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.contains('/') && s != "." && s != ".."
}

/// The quiz as a pupil meets it on this box: the pack's quiz with the teacher's attempt
/// limit, and whether the teacher released the right answers.
fn pupil_quiz(app: &Shared, pack: &str, quiz_id: &str) -> Option<(Quiz, bool)> {
    let mut quiz = load_quiz(app, pack, quiz_id)?;
    // An unreadable setting must not lift a limit: the pack's values then stand.
    let s = app.store().quiz_settings(pack, quiz_id).unwrap_or_default();
    if let Some(n) = s.attempts_allowed {
        quiz.attempts_allowed = (n > 0).then_some(n);
    }
    Some((quiz, s.release_answers))
}

/// Which candidate a random question shows: fixed for a pupil, quiz and attempt number,
/// so the page and its submission agree without trusting the browser.
fn pick(pupil_uuid: &str, quiz_id: &str, qid: &str, attempt_no: usize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let h = blake3::hash(format!("{pupil_uuid}\0{quiz_id}\0{qid}\0{attempt_no}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    (u64::from_le_bytes(b) % n as u64) as usize
}

/// The order questions are shown in: the author's, or for a quiz that shuffles them a
/// permutation fixed per pupil and attempt (a reload shows the same order). Form
/// fields keep the author's numbering, so marking does not depend on the order.
pub(super) fn question_order(quiz: &Quiz, pupil_uuid: &str, attempt_no: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..quiz.questions.len()).collect();
    if quiz.shuffle_questions {
        order.sort_by_key(|i| {
            *blake3::hash(format!("{pupil_uuid}\0{}\0{attempt_no}\0{i}", quiz.id).as_bytes()).as_bytes()
        });
    }
    order
}

/// A pupil's attempts at a quiz (newest first), how many, and the pupil.
fn attempts_so_far(
    store: &super::store::Store,
    pupil: i64,
    pack: &str,
    quiz: &str,
) -> Result<(Vec<i64>, usize, super::store::Pupil), String> {
    let attempts = store.attempts_of(pupil, pack, quiz).map_err(|e| e.to_string())?;
    let used = store.attempt_count(pupil, pack, quiz).map_err(|e| e.to_string())?;
    let p = store.pupil(pupil).map_err(|e| e.to_string())?.ok_or("pupil vanished")?;
    Ok((attempts, used, p))
}

/// Time allowed after a timed quiz's limit for the automatic submission to arrive.
const TIME_LIMIT_GRACE_SECS: i64 = 30;

fn minutes_seconds(secs: i64) -> String {
    let s = secs.max(0);
    format!("{}:{:02}", s / 60, s % 60)
}

fn not_found(lang: Lang) -> Response {
    message(
        lang,
        StatusCode::NOT_FOUND,
        lang.t("Quiz introuvable", "Quiz not found"),
        lang.t("Ce quiz n'existe pas dans ce contenu.", "This quiz does not exist in this content."),
    )
}

/// `GET /packs/{id}/_quiz/{quiz}`
pub async fn quiz_page(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Extension(PupilId(pupil)): Extension<PupilId>,
    Path((pack, quiz_id)): Path<(String, String)>,
) -> Response {
    if load_quiz(&app, &pack, &quiz_id).is_none() {
        return not_found(lang);
    }
    let now = app.now();
    let _ = app.store().record_event(pupil, "opened", &pack, &format!("_quiz/{quiz_id}"), now);
    quiz_form_page(&app, lang, &csrf, pupil, &pack, &quiz_id, None, None)
}

/// The quiz form, filled with `prefill` (back from the summary) and with `notice` on top.
#[allow(clippy::too_many_arguments)]
fn quiz_form_page(
    app: &Shared,
    lang: Lang,
    csrf: &Csrf,
    pupil: i64,
    pack: &str,
    quiz_id: &str,
    prefill: Option<&Form>,
    notice: Option<&str>,
) -> Response {
    let Some((quiz, _)) = pupil_quiz(app, pack, quiz_id) else { return not_found(lang) };
    let (attempts, used, p) = match attempts_so_far(&app.store(), pupil, pack, quiz_id) {
        Ok(x) => x,
        Err(e) => return internal(lang, e),
    };
    let now = app.now();
    let public = quiz::public_view(&quiz);
    let allowed = public.attempts_allowed.map(|a| a as usize);
    let out_of_attempts = allowed.is_some_and(|a| used >= a);
    // The clock starts when the form is first shown, on the box's clock; the browser only
    // counts down the seconds left and submits at zero.
    let timer = match quiz.time_limit_secs {
        Some(limit) if !out_of_attempts => match app.store().quiz_start(pupil, pack, quiz_id, used, now) {
            Ok(started) => Some((limit, (started + limit as i64 - now).max(0))),
            Err(e) => return internal(lang, e),
        },
        _ => None,
    };
    let order = question_order(&quiz, &p.uuid, used);
    let body = html! {
        @if let Some(n) = notice {
            p.error role="alert" #quiz-notice { (n) }
        }
        @if !public.intro_html.is_empty() {
            // Safe HTML: sanitised by `packtext::parse` when the quiz was read.
            div.card { (PreEscaped(&public.intro_html)) }
        }
        @if !attempts.is_empty() {
            h2 { (lang.t("Mes essais", "My attempts")) }
            ul {
                @for (i, id) in attempts.iter().enumerate() {
                    li { a href={ "/pupil/attempt/" (id) } { (lang.t("Essai", "Attempt")) " " (used - i) } }
                }
            }
        }
        @if out_of_attempts {
            p.msg { (lang.t("Tu as utilisé tous tes essais pour ce quiz.", "You have used all your attempts at this quiz.")) }
        } @else {
            @if let Some((limit, left)) = timer {
                p.msg.timer role="timer" {
                    (lang.t("Temps limité :", "Time limit:")) " " (limit.div_ceil(60)) " min. "
                    (lang.t("Temps restant :", "Time left:")) " "
                    strong #quiz-timer data-remaining=(left) { (minutes_seconds(left)) }
                }
            }
            // `step=summary`: the form's only button, and what Enter in a text field sends,
            // leads to the summary page; nothing is marked before the pupil confirms there.
            form #quiz-form method="post" action={ "/packs/" (url_seg(pack)) "/_quiz/" (url_seg(quiz_id)) } {
                (csrf.input())
                input type="hidden" name="n" value=(used);
                input type="hidden" name="step" value="summary";
                @for (pos, &i) in order.iter().enumerate() {
                    @if let Some(q) = public.questions.get(i) {
                        @let shown = shown_candidate(q, &p.uuid, quiz_id, used);
                        // One fieldset per question: a screen reader ties its inputs to it,
                        // and the text describes the group.
                        fieldset.question id={ "q" (i) } aria-describedby={ "q" (i) "-text" } {
                            (render_question(lang, &format!("q{i}"), shown, (pos + 1, public.questions.len()), prefill))
                        }
                    }
                }
                button { (lang.t("Terminer l'essai…", "Finish attempt…")) }
            }
        }
        p { a href="/pupil/" { (lang.t("← Ma progression", "← My progress")) } }
    };
    let mut page = Page::new(lang, quiz.title.clone(), body);
    page.user = Some(p.name);
    page.katex = has_maths(&quiz);
    if notice.is_some() {
        page = page.status(StatusCode::UNPROCESSABLE_ENTITY);
    }
    page.into_response()
}

/// The question a pupil is shown in a slot: a random slot's drawn candidate.
fn shown_candidate<'a>(q: &'a PublicQuestion, pupil_uuid: &str, quiz_id: &str, used: usize) -> &'a PublicQuestion {
    match &q.kind {
        PublicKind::Random { candidates } => {
            let k = pick(pupil_uuid, quiz_id, &q.id, used, candidates.len());
            candidates.get(k).unwrap_or(q)
        }
        _ => q,
    }
}

/// Whether a quiz holds TeX for KaTeX (its delimiters as `preau.js` configures them):
/// pages without maths do not load KaTeX's 100 KB.
pub fn has_maths(quiz: &Quiz) -> bool {
    let tex = |t: &str| t.contains("$$") || t.contains("\\(") || t.contains("\\[") || t.matches('$').count() >= 2;
    let json = serde_json::to_string(quiz).unwrap_or_default();
    // JSON escapes a backslash: look for both forms.
    tex(&quiz.intro_html) || tex(&json) || json.contains("\\\\(") || json.contains("\\\\[")
}

/// One question's text and inputs; form names start with `name`. `prefill`: the answers
/// to show again (from the summary page).
fn render_question(
    lang: Lang,
    name: &str,
    q: &PublicQuestion,
    (n, total): (usize, usize),
    prefill: Option<&Form>,
) -> Markup {
    let value = |n: &str| prefill.and_then(|f| f.get(n)).unwrap_or("").to_string();
    let checked = |n: &str, v: &str| prefill.is_some_and(|f| f.all(n).contains(&v));
    // The question's text is sanitised HTML (`packtext::parse`); cloze markers in it are
    // replaced by inputs built here.
    let text = match &q.kind {
        PublicKind::MultiAnswer { parts } => fill_markers(&q.text_html, "{#", "}", |k| {
            let field = format!("{name}.{}", k.wrapping_sub(1));
            parts.get(k.wrapping_sub(1)).map(|p| inline_input(lang, &field, p, &value(&field)).into_string())
        }),
        PublicKind::GapSelect { gaps } | PublicKind::DdWtos { gaps } => fill_markers(&q.text_html, "[[", "]]", |k| {
            let field = format!("{name}.{}", k.wrapping_sub(1));
            gaps.get(k.wrapping_sub(1)).map(|opts| select(&field, opts, lang, &value(&field)).into_string())
        }),
        _ => q.text_html.clone(),
    };
    html! {
        legend {
            (lang.t("Question", "Question")) " " (n) " / " (total)
            @if q.mark > 0.0 { " · " (lang.num(q.mark, 2)) " pt" }
        }
        // Safe HTML: sanitised text with inputs made by `select`/`inline_input`.
        div.text id={ (name) "-text" } { (PreEscaped(text)) }
        @match &q.kind {
            PublicKind::MultiChoice { single, choices } => {
                div.choices {
                    @for (k, c) in choices.iter().enumerate() {
                        // Safe HTML: a choice is sanitised by `packtext::parse`.
                        label {
                            input type=(if *single { "radio" } else { "checkbox" }) name=(name) value=(k)
                                checked[checked(name, &k.to_string())];
                            " " (PreEscaped(c))
                        }
                    }
                }
            }
            PublicKind::TrueFalse => {
                div.choices {
                    label { input type="radio" name=(name) value="true" checked[checked(name, "true")]; " " (lang.t("Vrai", "True")) }
                    label { input type="radio" name=(name) value="false" checked[checked(name, "false")]; " " (lang.t("Faux", "False")) }
                }
            }
            PublicKind::ShortAnswer => {
                label {
                    (lang.t("Ta réponse :", "Your answer:")) " "
                    input name=(name) value=(value(name)) maxlength="500" autocomplete="off";
                }
            }
            PublicKind::Numerical { units } => {
                label {
                    (lang.t("Ta réponse :", "Your answer:")) " "
                    input name=(name) value=(value(name)) inputmode="decimal" maxlength="100" autocomplete="off";
                }
                @if !units.is_empty() {
                    @let field = format!("{name}u");
                    label { (lang.t("Unité :", "Unit:")) " " (select(&field, units, lang, &value(&field))) }
                }
            }
            PublicKind::Match { stems, options } => {
                table {
                    @for (j, stem) in stems.iter().enumerate() {
                        @let field = format!("{name}.{j}");
                        // Safe HTML: a stem is sanitised by `packtext::parse`.
                        tr { td { (PreEscaped(stem)) } td { (select(&field, options, lang, &value(&field))) } }
                    }
                }
            }
            PublicKind::Essay { template_html, .. } => {
                label {
                    (lang.t("Ta réponse :", "Your answer:")) " "
                    textarea name=(name) maxlength=(MAX_ANSWER_CHARS) {
                        (match prefill { Some(_) => value(name), None => strip_tags(template_html) })
                    }
                }
            }
            PublicKind::Description
            | PublicKind::MultiAnswer { .. }
            | PublicKind::GapSelect { .. }
            | PublicKind::DdWtos { .. }
            | PublicKind::Random { .. } => {}
        }
    }
}

/// A drop-down list; option values are positions in `options`; `chosen` is selected.
fn select(name: &str, options: &[String], lang: Lang, chosen: &str) -> Markup {
    html! {
        select name=(name) aria-label=(lang.t("Choisir", "Choose")) {
            option value="" {}
            @for (k, o) in options.iter().enumerate() {
                option value=(k) selected[chosen == k.to_string()] { (strip_tags(o)) }
            }
        }
    }
}

/// The input of one cloze part, holding `value`.
fn inline_input(lang: Lang, name: &str, kind: &PublicKind, value: &str) -> Markup {
    match kind {
        PublicKind::MultiChoice { choices, .. } => select(name, choices, lang, value),
        _ => html! {
            input name=(name) value=(value) size="10" maxlength="200" autocomplete="off" aria-label=(lang.t("Réponse", "Answer"));
        },
    }
}

/// Replaces `open N close` markers in `text` by `f(N)` (markers `f` declines stay).
fn fill_markers(text: &str, open: &str, close: &str, f: impl Fn(usize) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        out.push_str(&rest[..start]);
        let after = &rest[start + open.len()..];
        let replaced = after.find(close).and_then(|end| {
            let n: usize = after[..end].parse().ok()?;
            Some((f(n)?, end))
        });
        match replaced {
            Some((html, end)) => {
                out.push_str(&html);
                rest = &after[end + close.len()..];
            }
            None => {
                out.push_str(open);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Turns the submitted form back into a response for a question shown as `kind`.
fn response_from(form: &Form, name: &str, kind: &PublicKind) -> quiz::Response {
    let text = |n: &str| -> Option<String> {
        form.get(n).map(|v| v.chars().take(MAX_ANSWER_CHARS).collect::<String>()).filter(|v| !v.trim().is_empty())
    };
    let index = |n: &str| form.get(n).and_then(|v| v.parse::<usize>().ok());
    match kind {
        PublicKind::MultiChoice { .. } => {
            let mut selected: Vec<usize> = form.all(name).iter().filter_map(|v| v.parse().ok()).take(100).collect();
            selected.sort_unstable();
            selected.dedup();
            if selected.is_empty() { quiz::Response::Empty } else { quiz::Response::Choice { selected } }
        }
        PublicKind::TrueFalse => match form.get(name) {
            Some("true") => quiz::Response::TrueFalse { value: true },
            Some("false") => quiz::Response::TrueFalse { value: false },
            _ => quiz::Response::Empty,
        },
        PublicKind::ShortAnswer | PublicKind::Essay { .. } => match text(name) {
            Some(t) => quiz::Response::Text { text: t },
            None => quiz::Response::Empty,
        },
        PublicKind::Numerical { units } => match text(name) {
            Some(t) => {
                let unit = index(&format!("{name}u")).and_then(|k| units.get(k)).cloned().unwrap_or_default();
                let text = if unit.is_empty() { t } else { format!("{} {unit}", t.trim()) };
                quiz::Response::Text { text }
            }
            None => quiz::Response::Empty,
        },
        PublicKind::Match { stems, .. } => {
            quiz::Response::Select { choices: (0..stems.len()).map(|j| index(&format!("{name}.{j}"))).collect() }
        }
        PublicKind::GapSelect { gaps } | PublicKind::DdWtos { gaps } => {
            quiz::Response::Select { choices: (0..gaps.len()).map(|j| index(&format!("{name}.{j}"))).collect() }
        }
        PublicKind::MultiAnswer { parts } => quiz::Response::Cloze {
            parts: parts
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    let n = format!("{name}.{j}");
                    match p {
                        PublicKind::MultiChoice { .. } => match index(&n) {
                            Some(k) => quiz::Response::Choice { selected: vec![k] },
                            None => quiz::Response::Empty,
                        },
                        _ => match text(&n) {
                            Some(t) => quiz::Response::Text { text: t },
                            None => quiz::Response::Empty,
                        },
                    }
                })
                .collect(),
        },
        PublicKind::Description | PublicKind::Random { .. } => quiz::Response::Empty,
    }
}

/// What the pupil answered, in words, to show back and to export.
fn summary(kind: &PublicKind, r: &quiz::Response, lang: Lang) -> String {
    match (kind, r) {
        (_, quiz::Response::Empty) => String::new(),
        (PublicKind::MultiChoice { choices, .. }, quiz::Response::Choice { selected }) => {
            selected.iter().filter_map(|k| choices.get(*k)).map(|c| strip_tags(c)).collect::<Vec<_>>().join("; ")
        }
        (_, quiz::Response::TrueFalse { value }) => {
            let word = if *value { lang.t("Vrai", "True") } else { lang.t("Faux", "False") };
            word.to_string()
        }
        (_, quiz::Response::Text { text }) => text.clone(),
        (PublicKind::Match { options, .. }, quiz::Response::Select { choices }) => choices
            .iter()
            .map(|c| c.and_then(|k| options.get(k)).map(|o| strip_tags(o)).unwrap_or_else(|| "—".into()))
            .collect::<Vec<_>>()
            .join("; "),
        (PublicKind::GapSelect { gaps } | PublicKind::DdWtos { gaps }, quiz::Response::Select { choices }) => choices
            .iter()
            .enumerate()
            .map(|(j, c)| c.and_then(|k| gaps.get(j)?.get(k)).map(|o| strip_tags(o)).unwrap_or_else(|| "—".into()))
            .collect::<Vec<_>>()
            .join("; "),
        (PublicKind::MultiAnswer { parts }, quiz::Response::Cloze { parts: rs }) => parts
            .iter()
            .zip(rs)
            .map(|(k, r)| summary(k, r, lang))
            .map(|s| if s.is_empty() { "—".to_string() } else { s })
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    }
}

// Markers around stored feedback that the review options decide on when the pupil looks.
// Pack HTML cannot hold them: the sanitiser drops comments.
const SPECIFIC_OPEN: &str = "<!--preau:specific-->";
const SPECIFIC_CLOSE: &str = "<!--/preau:specific-->";
const GENERAL_OPEN: &str = "<!--preau:general-->";
const GENERAL_CLOSE: &str = "<!--/preau:general-->";

/// Stored feedback with the marked parts the review options do not allow now removed
/// (`specific`, `general`: allowed). Feedback stored without markers is kept as it is.
fn review_feedback(stored: &str, specific: bool, general: bool) -> String {
    let mut out = stored.to_string();
    for (open, close, keep) in [(SPECIFIC_OPEN, SPECIFIC_CLOSE, specific), (GENERAL_OPEN, GENERAL_CLOSE, general)] {
        while let Some(a) = out.find(open) {
            let Some(b) = out[a..].find(close).map(|b| a + b) else { break };
            let inner = out[a + open.len()..b].to_string();
            out.replace_range(a..b + close.len(), if keep { &inner } else { "" });
        }
    }
    out.trim().to_string()
}

/// Marks every question of a submitted form. Descriptions (no marks) are left out.
/// `released`: the teacher released the right answers of this quiz on the box.
pub fn mark_form(
    quiz: &Quiz,
    form: &Form,
    pupil_uuid: &str,
    attempt_no: usize,
    released: bool,
    lang: Lang,
) -> Vec<AnswerRecord> {
    let public = quiz::public_view(quiz);
    // With Moodle's review options, specific and general feedback are stored with the
    // attempt inside markers, and what shows is decided when the pupil looks
    // (`review_feedback`): "immediately after" and "later while open" may differ. Right
    // answers are not stored but listed when the pupil looks (`attempt_page`).
    // Without review options (GIFT, Moodle XML, folders), feedback shows, and right answers
    // only with the last allowed attempt (issue 14: any submission, even blank, showed
    // them, and the next attempt scored full marks); without a limit there is no last one.
    let marked = quiz.review.is_some();
    let reveal = released || (!marked && quiz.attempts_allowed.is_some_and(|a| attempt_no + 1 >= a as usize));
    let mut records = Vec::new();
    for (i, (q, pq)) in quiz.questions.iter().zip(&public.questions).enumerate() {
        let name = format!("q{i}");
        // A random question: mark the drawn candidate.
        let (kind, response) = match (&q.kind, &pq.kind) {
            (QuestionKind::Random(rq), PublicKind::Random { candidates }) => {
                let k = pick(pupil_uuid, &quiz.id, &q.id, attempt_no, rq.candidates.len());
                let Some(c) = candidates.get(k) else { continue };
                let inner = response_from(form, &name, &c.kind);
                (&c.kind, quiz::Response::Random { picked: k, response: Box::new(inner) })
            }
            _ => (&pq.kind, response_from(form, &name, &pq.kind)),
        };
        if matches!(kind, PublicKind::Description) {
            continue;
        }
        // General feedback is scored apart so each kind follows its own review option.
        let mark = if q.general_feedback_html.is_empty() {
            quiz::score(q, &response)
        } else {
            quiz::score(&Question { general_feedback_html: String::new(), ..q.clone() }, &response)
        };
        let shown = match &response {
            quiz::Response::Random { response, .. } => summary(kind, response, lang),
            r => summary(kind, r, lang),
        };
        let general = q.general_feedback_html.trim();
        let specific = !mark.feedback_html.trim().is_empty();
        let right_answer = reveal
            && !mark.needs_grading
            && mark.fraction.is_some_and(|f| f < 1.0 - 1e-9)
            && !mark.right_answer_summary.is_empty();
        // Feedback texts are sanitised HTML (`packtext::parse`); the markers are ours.
        let feedback = html! {
            @if specific {
                @if marked { (PreEscaped(SPECIFIC_OPEN)) (PreEscaped(&mark.feedback_html)) (PreEscaped(SPECIFIC_CLOSE)) }
                @else { (PreEscaped(&mark.feedback_html)) }
            }
            @if !general.is_empty() {
                @if specific { "\n" }
                @if marked { (PreEscaped(GENERAL_OPEN)) (PreEscaped(general)) (PreEscaped(GENERAL_CLOSE)) }
                @else { (PreEscaped(general)) }
            }
            @if right_answer {
                p { strong { (lang.t("Bonne réponse :", "Right answer:")) } " " (strip_tags(&mark.right_answer_summary)) }
            }
        }
        .into_string();
        records.push(AnswerRecord {
            question: q.id.clone(),
            response: shown,
            score: if mark.needs_grading { None } else { Some(mark.fraction.unwrap_or(0.0) * q.mark) },
            max: q.mark,
            feedback,
        });
    }
    records
}

/// `POST /packs/{id}/_quiz/{quiz}`: marks the attempt, commits it, then shows it.
pub async fn submit(
    State(app): State<Shared>,
    lang: Lang,
    csrf: Csrf,
    Path((pack, quiz_id)): Path<(String, String)>,
    Post { who: PupilId(pupil), form }: Post<PupilId>,
) -> Response {
    let Some((quiz, released)) = pupil_quiz(&app, &pack, &quiz_id) else { return not_found(lang) };
    let store = app.store();
    let (attempts, used, p) = match attempts_so_far(&store, pupil, &pack, &quiz_id) {
        Ok(x) => x,
        Err(e) => return internal(lang, e),
    };
    // `n` is the attempt number the form was made for: a second submission of the same
    // form (a double click, a resend after a lost answer) is not a new attempt.
    let n = form.get("n").and_then(|v| v.parse::<usize>().ok());
    if n != Some(used) {
        let body = html! {
            p.msg { (lang.t(
                "Ces réponses ont déjà été enregistrées (ou le quiz a changé). Recharge le quiz pour un nouvel essai.",
                "These answers were already saved (or the quiz changed). Reload the quiz for a new attempt.",
            )) }
            p {
                @if let Some(id) = attempts.first() {
                    " "
                    a href={ "/pupil/attempt/" (id) } { (lang.t("Voir le résultat", "See the result")) }
                }
            }
        };
        return Page::new(lang, lang.t("Déjà envoyé", "Already submitted"), body)
            .status(StatusCode::CONFLICT)
            .into_response();
    }
    if quiz.attempts_allowed.is_some_and(|a| used >= a as usize) {
        return message(
            lang,
            StatusCode::CONFLICT,
            lang.t("Plus d'essai", "No attempts left"),
            lang.t("Tu as utilisé tous tes essais pour ce quiz.", "You have used all your attempts at this quiz."),
        );
    }
    let now = app.now();
    let time_up = match quiz.time_limit_secs {
        Some(limit) => match store.quiz_start(pupil, &pack, &quiz_id, used, now) {
            Ok(started) => now - started >= limit as i64,
            Err(e) => return internal(lang, e),
        },
        None => false,
    };
    let answered = answered_questions(&quiz, &form, &p.uuid, used);
    drop(store);
    match form.get("step") {
        // Moodle's flow: the quiz form leads to a summary, and only its confirmation
        // ends the attempt. A timed quiz whose time is up is ended as it is.
        Some("summary") if !time_up => return summary_page(lang, &csrf, &pack, &quiz, &form, &p, &answered),
        Some("edit") if !time_up => {
            return quiz_form_page(&app, lang, &csrf, pupil, &pack, &quiz_id, Some(&form), None);
        }
        _ => {}
    }
    // Nothing answered is not an attempt (it would use one up, and showed answers).
    if !time_up && answered.iter().all(|(_, a)| !a) {
        let text = lang.t(
            "Tu n'as répondu à aucune question : réponds à au moins une question avant de terminer.",
            "You have not answered any question: answer at least one before finishing.",
        );
        return quiz_form_page(&app, lang, &csrf, pupil, &pack, &quiz_id, Some(&form), Some(text));
    }
    let mut store = app.store();
    let records = mark_form(&quiz, &form, &p.uuid, used, released, lang);
    let over_time = match quiz.time_limit_secs {
        Some(limit) => match store.quiz_start(pupil, &pack, &quiz_id, used, now) {
            Ok(started) => (now - started - limit as i64 - TIME_LIMIT_GRACE_SECS).max(0),
            Err(e) => return internal(lang, e),
        },
        None => 0,
    };
    match store.save_timed_attempt(pupil, &pack, &quiz_id, &records, now, over_time) {
        // Committed: now the pupil may be told.
        Ok(id) => Redirect::to(&format!("/pupil/attempt/{id}")).into_response(),
        Err(e) => internal(lang, e),
    }
}

/// For each question slot in the order shown (descriptions left out): its position
/// and whether the form holds an answer to it.
fn answered_questions(quiz: &Quiz, form: &Form, pupil_uuid: &str, used: usize) -> Vec<(usize, bool)> {
    let public = quiz::public_view(quiz);
    let mut out = Vec::new();
    for (pos, &i) in question_order(quiz, pupil_uuid, used).iter().enumerate() {
        let Some(q) = public.questions.get(i) else { continue };
        let shown = shown_candidate(q, pupil_uuid, &quiz.id, used);
        if matches!(shown.kind, PublicKind::Description) {
            continue;
        }
        out.push((pos + 1, !is_blank(&response_from(form, &format!("q{i}"), &shown.kind))));
    }
    out
}

fn is_blank(r: &quiz::Response) -> bool {
    match r {
        quiz::Response::Empty => true,
        quiz::Response::Select { choices } => choices.iter().all(Option::is_none),
        quiz::Response::Cloze { parts } => parts.iter().all(is_blank),
        quiz::Response::Random { response, .. } => is_blank(response),
        _ => false,
    }
}

/// The summary before finishing (Moodle's): which questions have an answer, with the
/// answers carried in hidden fields; back to the attempt, or send everything.
fn summary_page(
    lang: Lang,
    csrf: &Csrf,
    pack: &str,
    quiz: &Quiz,
    form: &Form,
    p: &super::store::Pupil,
    answered: &[(usize, bool)],
) -> Response {
    let missing: Vec<usize> = answered.iter().filter(|(_, a)| !a).map(|(n, _)| *n).collect();
    let all_blank = answered.iter().all(|(_, a)| !a);
    let body = html! {
        @if missing.is_empty() {
            p.msg.ok role="status" { (lang.t("Tu as répondu à toutes les questions.", "You have answered every question.")) }
        } @else {
            p.warn role="alert" #unanswered {
                (if missing.len() == 1 {
                    lang.t("Une question est sans réponse :", "One question has no answer:")
                } else {
                    lang.t("Questions sans réponse :", "Questions without an answer:")
                })
                " " (missing.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")) "."
            }
        }
        div.table-wrap {
            table #summary {
                tr { th { (lang.t("Question", "Question")) } th { (lang.t("État", "Status")) } }
                @for (n, a) in answered {
                    tr class=(if *a { "answered" } else { "unanswered" }) {
                        td { (n) }
                        td { (if *a { lang.t("Réponse enregistrée", "Answer saved") } else { lang.t("Sans réponse", "Not answered") }) }
                    }
                }
            }
        }
        form #summary-form method="post" action={ "/packs/" (url_seg(pack)) "/_quiz/" (url_seg(&quiz.id)) } {
            (csrf.input())
            @for (k, v) in &form.0 {
                @if !(k == "csrf" || k == "step" || !(k == "n" || k.starts_with('q'))) {
                    input type="hidden" name=(k) value=(v);
                }
            }
            p {
                button name="step" value="edit" class="secondary" { (lang.t("Revenir à l'essai", "Return to attempt")) }
                " "
                @if !all_blank {
                    button name="step" value="finish" #finish { (lang.t("Tout envoyer et terminer", "Submit all and finish")) }
                }
            }
            @if all_blank {
                p { (lang.t(
                    "Réponds à au moins une question pour pouvoir terminer.",
                    "Answer at least one question to be able to finish."
                )) }
            } @else {
                p { small { (lang.t(
                    "Une fois envoyées, tes réponses ne pourront plus être modifiées.",
                    "Once submitted, your answers can no longer be changed."
                )) } }
            }
        }
    };
    let title = format!("{} — {}", quiz.title, lang.t("Résumé de l'essai", "Attempt summary"));
    let mut page = Page::new(lang, title, body);
    page.user = Some(p.name.clone());
    page.into_response()
}

/// `GET /pupil/attempt/{id}`: the pupil's attempt with scores and feedback.
pub async fn attempt_page(
    State(app): State<Shared>,
    lang: Lang,
    Extension(PupilId(pupil)): Extension<PupilId>,
    Path(id): Path<i64>,
) -> Response {
    let (mut attempt, name) = {
        let store = app.store();
        match (store.attempt(id), store.pupil(pupil)) {
            (Ok(Some(a)), Ok(Some(p))) if a.pupil_id == pupil => (a, p.name),
            (Err(e), _) | (_, Err(e)) => return internal(lang, e),
            // Another pupil's attempt is "not found", not "forbidden": nothing to learn.
            _ => return super::html::not_found(lang, "Cet essai", "This attempt"),
        }
    };
    let quiz = load_quiz(&app, &attempt.pack, &attempt.quiz);
    let now = app.now();
    let shown = shown_to_pupil(quiz.as_ref(), attempt.at, now);
    // The source quiz's review options decide, now, which stored feedback shows.
    let review = quiz.as_ref().and_then(|q| q.review);
    let when = review_time(attempt.at, now);
    if let Some(r) = review {
        let (specific, general) =
            (ReviewOptions::allows(r.specific_feedback, when), ReviewOptions::allows(r.general_feedback, when));
        for (_, a) in &mut attempt.answers {
            a.feedback = review_feedback(&a.feedback, specific, general);
        }
    }
    // Moodle's overall feedback for the attempt's grade, once every answer is marked.
    let overall = match &quiz {
        Some(q) if review.is_none_or(|r| ReviewOptions::allows(r.overall_feedback, when)) && !attempt.pending() => {
            let (got, max) = attempt.score();
            let grade = if max > 0.0 { got / max * q.max_grade } else { 0.0 };
            quiz::overall_feedback_for(q, grade)
        }
        _ => None,
    };
    // The teacher's release reaches attempts marked before it; the source quiz's review
    // options say when right answers show.
    let released = app.store().quiz_settings(&attempt.pack, &attempt.quiz).is_ok_and(|s| s.release_answers);
    let right = quiz.as_ref().and_then(|q| {
        let by_review = q.review.is_some_and(|r| ReviewOptions::allows(r.right_answer, review_time(attempt.at, now)));
        let heading = if released {
            lang.t("Bonnes réponses (publiées par l'enseignant)", "Right answers (released by the teacher)")
        } else {
            lang.t("Bonnes réponses", "Right answers")
        };
        (released || by_review).then(|| right_answers(q, &attempt, heading, lang))
    });
    let body = html! {
        (render_attempt(&attempt, quiz.as_ref(), shown, lang, app.tz_minutes(), None))
        @if let Some(text) = overall {
            // Safe HTML: sanitised by `packtext::parse` when the quiz was read.
            div.card #overall-feedback { h2 { (lang.t("Commentaire général", "Overall feedback")) } (PreEscaped(text)) }
        }
        @if let Some(right) = right { (right) }
        p {
            a.button href={ "/packs/" (url_seg(&attempt.pack)) "/_quiz/" (url_seg(&attempt.quiz)) } {
                (lang.t("Retour au quiz", "Back to the quiz"))
            }
            " "
            a href="/pupil/" { (lang.t("Ma progression", "My progress")) }
        }
    };
    let title = quiz.as_ref().map(|q| q.title.clone()).unwrap_or_else(|| attempt.quiz.clone());
    let mut page = Page::new(lang, title, body);
    page.user = Some(name);
    page.katex = quiz.as_ref().is_some_and(has_maths);
    page.into_response()
}

/// The right answers of an attempt's questions not fully right whose stored feedback does
/// not already give them. A random question's drawn candidate is not stored with the
/// answer, so it is left out.
fn right_answers(quiz: &Quiz, attempt: &super::store::Attempt, heading: &str, lang: Lang) -> Markup {
    let mut items = Vec::new();
    for (i, (_, a)) in attempt.answers.iter().enumerate() {
        let shown = a.feedback.contains("Bonne réponse :") || a.feedback.contains("Right answer:");
        if shown || a.score.is_none_or(|s| s >= a.max - 1e-9) {
            continue;
        }
        let Some(q) = quiz.questions.iter().find(|q| q.id == a.question) else { continue };
        if matches!(q.kind, QuestionKind::Random(_)) {
            continue;
        }
        let right = quiz::score(q, &quiz::Response::Empty).right_answer_summary;
        if !right.is_empty() {
            items.push((i + 1, strip_tags(&right)));
        }
    }
    html! {
        @if !items.is_empty() {
            div.card #right-answers {
                h2 { (heading) }
                ul {
                    @for (n, right) in &items {
                        li { (lang.t("Question", "Question")) " " (n) " : " (right) }
                    }
                }
            }
        }
    }
}

/// An attempt with its answers, marks and feedback (shared with the teacher's view).
/// What of an attempt's marking is shown: everything to the teacher; to a pupil, what the
/// source quiz's review options allow at that moment.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    pub marks: bool,
    pub correctness: bool,
    /// The page speaks to the teacher ("the pupil's answer"), not to the pupil.
    pub teacher: bool,
}

impl Shown {
    pub const ALL: Shown = Shown { marks: true, correctness: true, teacher: false };
    pub const TEACHER: Shown = Shown { marks: true, correctness: true, teacher: true };
}

/// How long after submitting an attempt counts as Moodle's "immediately after" (two
/// minutes, as Moodle's `quiz_attempt_state`).
const IMMEDIATELY_AFTER_SECS: i64 = 120;

/// What a pupil may see of an attempt submitted at `at`, at `now`. A quiz on the box has no
/// close date, so after the first minutes it is "later, while the quiz is still open".
fn review_time(at: i64, now: i64) -> ReviewTime {
    if now - at < IMMEDIATELY_AFTER_SECS { ReviewTime::ImmediatelyAfter } else { ReviewTime::LaterWhileOpen }
}

fn shown_to_pupil(quiz: Option<&Quiz>, at: i64, now: i64) -> Shown {
    let Some(r) = quiz.and_then(|q| q.review) else { return Shown::ALL };
    let when = review_time(at, now);
    Shown {
        marks: ReviewOptions::allows(r.marks, when),
        correctness: ReviewOptions::allows(r.correctness, when),
        teacher: false,
    }
}

/// `tz`: minutes east of UTC for the dates of teachers' marks; `edit`: the CSRF field,
/// to give the teacher a form per answer that changes its mark.
pub fn render_attempt(
    attempt: &super::store::Attempt,
    quiz: Option<&Quiz>,
    shown: Shown,
    lang: Lang,
    tz: i64,
    edit: Option<&Csrf>,
) -> Markup {
    let (got, max) = attempt.score();
    let grade = quiz.map(|q| q.max_grade).filter(|g| *g > 0.0);
    html! {
        @if !shown.teacher {
            p.msg.ok role="status" { (lang.t("Réponses enregistrées.", "Answers saved.")) }
        }
        @if attempt.over_time > 0 {
            p.warn #over-time {
                (lang.t("Envoyé après la fin du temps, de", "Sent after the time limit, by")) " "
                (minutes_seconds(attempt.over_time))
            }
        }
        @if shown.marks {
            p.msg {
                (lang.t("Score :", "Score:")) " "
                strong #score { (lang.num(got, 2)) " / " (lang.num(max, 2)) }
                @if let (Some(g), true) = (grade, max > 0.0) {
                    " (" (lang.t("note", "grade")) " " (lang.num(got / max * g, 1)) " / " (lang.num(g, 2)) ")"
                }
            }
        }
        @if attempt.pending() {
            p {
                (if shown.teacher {
                    lang.t("Des réponses attendent votre correction.", "Some answers wait for your marking.")
                } else {
                    lang.t(
                        "Certaines réponses seront corrigées par ton enseignant.",
                        "Some answers will be marked by your teacher.",
                    )
                })
            }
        }
        @for (i, (answer_id, a)) in attempt.answers.iter().enumerate() {
            @let class = match a.score {
                None => "pending",
                _ if !shown.correctness => "answered",
                Some(s) if s >= a.max - 1e-9 => "right",
                Some(_) => "wrong",
            };
            @let text = quiz
                .and_then(|q| q.questions.iter().find(|q| q.id == a.question))
                .map(|q| q.text_html.clone())
                .unwrap_or_default();
            div class={ "question " (class) } {
                p { small { (lang.t("Question", "Question")) " " (i + 1) } }
                // Safe HTML: sanitised by `packtext::parse` when the quiz was read.
                div.text { (PreEscaped(text)) }
                p {
                    (if shown.teacher {
                        lang.t("Réponse de l'élève :", "The pupil's answer:")
                    } else {
                        lang.t("Ta réponse :", "Your answer:")
                    })
                    " "
                    strong { (if a.response.is_empty() { "—" } else { &a.response }) }
                }
                p {
                    @if shown.marks {
                        @match a.score {
                            Some(s) => { (lang.num(s, 2)) " / " (lang.num(a.max, 2)) }
                            None => (lang.t("à corriger", "to be marked")),
                        }
                    }
                }
                @if !a.feedback.is_empty() {
                    // Safe HTML: built by `mark_form` (sanitised texts, escaped answers).
                    div.feedback { (PreEscaped(&a.feedback)) }
                }
                @if let Some(m) = attempt.marks.get(answer_id) {
                    p.teacher-mark {
                        (lang.t("Note donnée par l'enseignant", "Mark given by the teacher"))
                        " (" (m.by) ", " (lang.date(m.at, tz)) ")"
                        @if !m.comment.trim().is_empty() { " : " (m.comment) }
                    }
                }
                @if let Some(csrf) = edit {
                    form.mark-form method="post" action={ "/teacher/answer/" (answer_id) "/override" } {
                        (csrf.input())
                        label {
                            (lang.t("Note :", "Mark:")) " "
                            input name="score" inputmode="decimal" required size="5"
                                value=(a.score.map(|s| lang.num(s, 2)).unwrap_or_default());
                            " / " (lang.num(a.max, 2))
                        }
                        label {
                            (lang.t("Commentaire pour l'élève :", "Comment for the pupil:")) " "
                            textarea name="comment" maxlength="5000" {}
                        }
                        button.secondary { (lang.t("Changer la note", "Change the mark")) }
                    }
                }
            }
        }
    }
}

/// A pupil's grade for a quiz out of `max_grade`, from their attempts oldest first, each
/// as (score, max), by the quiz's grading method (Moodle's `grademethod`).
pub fn quiz_grade(method: GradeMethod, max_grade: f64, attempts: &[(f64, f64)]) -> Option<f64> {
    let ratios: Vec<f64> = attempts.iter().map(|(s, m)| if *m > 0.0 { s / m } else { 0.0 }).collect();
    let ratio = match method {
        GradeMethod::Highest => ratios.iter().copied().reduce(f64::max)?,
        GradeMethod::Average => ratios.iter().sum::<f64>() / ratios.len().max(1) as f64,
        GradeMethod::First => *ratios.first()?,
        GradeMethod::Last => *ratios.last()?,
    };
    if ratios.is_empty() { None } else { Some(ratio * max_grade) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiz_grade_follows_the_grading_method() {
        // Oldest first: 1/4, 4/4, 2/4, out of a quiz graded on 20.
        let a = [(1.0, 4.0), (4.0, 4.0), (2.0, 4.0)];
        assert_eq!(quiz_grade(GradeMethod::Highest, 20.0, &a), Some(20.0));
        assert!((quiz_grade(GradeMethod::Average, 20.0, &a).unwrap() - 35.0 / 3.0).abs() < 1e-9);
        assert_eq!(quiz_grade(GradeMethod::First, 20.0, &a), Some(5.0));
        assert_eq!(quiz_grade(GradeMethod::Last, 20.0, &a), Some(10.0));
        assert_eq!(quiz_grade(GradeMethod::Average, 20.0, &[]), None);
    }

    #[test]
    fn markers_are_replaced_and_unknown_ones_kept() {
        let out = fill_markers("a {#1} b {#2} c {#x}", "{#", "}", |n| (n == 1).then(|| "<I>".to_string()));
        assert_eq!(out, "a <I> b {#2} c {#x}");
        assert_eq!(fill_markers("[[1]] et [[2]]", "[[", "]]", |n| Some(format!("G{n}"))), "G1 et G2");
    }

    #[test]
    fn random_pick_is_stable_and_in_range() {
        for n in 1..10 {
            let a = pick("u", "q", "r", 3, n);
            assert!(a < n);
            assert_eq!(a, pick("u", "q", "r", 3, n));
        }
    }
}
